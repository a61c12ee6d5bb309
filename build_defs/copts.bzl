"""Compiler flags shared by every target of the project."""

# C code: warnings are errors; -Wshadow and -Wmissing-prototypes are cheap and catch real bugs.
HPC_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wmissing-prototypes",
    "-Wstrict-prototypes",
    "-Wno-unused-parameter",
    "-D_GNU_SOURCE",
]

# C++ test harness.
HPC_CXXOPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
    "-D_GNU_SOURCE",
]

GTEST_LINKOPTS = ["-lgtest", "-lgtest_main", "-lpthread"]

# What a C file that includes kernels/twosum.h needs: TwoSum is exact only if evaluated as
# written, so no product may be fused into its first add (-ffast-math is refused by the header).
HPC_TWOSUM_COPTS = ["-ffp-contract=off"]

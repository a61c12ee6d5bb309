"""The project's rules: its flags and test setup said once (build_defs/copts.bzl holds the flags)."""

load("//build_defs:copts.bzl", "GTEST_LINKOPTS", "HPC_COPTS", "HPC_CXXOPTS")

def hpc_cc_test(name, copts = [], linkopts = [], **kwargs):
    """A GoogleTest test of the C code, driven from C++: the warning flags and gtest_main.

    Runs under ThreadSanitizer in CI like every test (scripts/test.sh); one
    that cannot says why beside the tag "no_tsan".
    """
    native.cc_test(
        name = name,
        copts = HPC_CXXOPTS + copts,
        linkopts = GTEST_LINKOPTS + linkopts,
        **kwargs
    )

def hpc_c_library(name, copts = [], **kwargs):
    """A C library of the project, with its warning flags."""
    native.cc_library(
        name = name,
        copts = HPC_COPTS + copts,
        **kwargs
    )

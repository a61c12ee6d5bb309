"""The project's rules: its flags, the files of each backend and the setup of each kind of test said once.

build_defs/copts.bzl holds the flags. A target that needs something else
than these macros give it says so in its own BUILD file, with the reason.
"""

load("//build_defs:copts.bzl", "GTEST_LINKOPTS", "HPC_COPTS", "HPC_CXXOPTS")

# What a daemon needs on disk to serve each backend: the plugin, and the
# worker program it starts (found next to the plugin, in bazel-bin/plugins/
# and in every runfiles tree). Tests, benchmarks, the Python runtime and the
# install rules take their backends from here.
HPC_BACKENDS = {
    "forkpool": [
        "//plugins:libhpc_forkpool.so",
        "//plugins:hpc_forkpool_worker",
    ],
    "mpi": [
        "//plugins:libhpc_mpi.so",
        "//plugins:hpc_mpi_worker",
    ],
    "opencl": ["//plugins:libhpc_opencl.so"],
    "openmp": ["//plugins:libhpc_openmp.so"],
    "serial": ["//plugins:libhpc_serial.so"],
}

def hpc_backend_files(backends):
    """The files of the named backends (keys of HPC_BACKENDS), in order, once each."""
    out = []
    for b in backends:
        for f in HPC_BACKENDS[b]:
            if f not in out:
                out.append(f)
    return out

def hpc_cc_test(name, srcs = None, copts = [], linkopts = [], **kwargs):
    """A GoogleTest test of the C code, driven from C++: the warning flags and gtest_main.

    srcs defaults to NAME.cc. Runs under ThreadSanitizer in CI like every test
    (scripts/test.sh); one that cannot says why beside the tag "no_tsan".
    """
    native.cc_test(
        name = name,
        srcs = srcs if srcs != None else [name + ".cc"],
        copts = HPC_CXXOPTS + copts,
        linkopts = GTEST_LINKOPTS + linkopts,
        **kwargs
    )

def hpc_daemon_test(name, backends = [], tools = [], data = [], deps = [], size = "medium", **kwargs):
    """A test that starts the real daemon (//tests/e2e:harness) and real clients.

    It gets hpcd, the client library, the files of `backends` (serial always:
    the reference) and the named programs of //cli (`tools`, e.g. "hpcrun").
    """
    hpc_cc_test(
        name = name,
        size = size,
        data = ["//daemon:hpcd"] + ["//cli:" + t for t in tools] +
               hpc_backend_files(["serial"] + backends) + data,
        deps = [
            "//libhpc:hpc",
            "//tests/e2e:harness",
        ] + [d for d in deps if d not in ["//libhpc:hpc", "//tests/e2e:harness"]],
        **kwargs
    )

def hpc_c_library(name, copts = [], **kwargs):
    """A C library of the project, with its warning flags."""
    native.cc_library(
        name = name,
        copts = HPC_COPTS + copts,
        **kwargs
    )

def hpc_cc_library(name, copts = [], **kwargs):
    """A C++ library of the test harness (testonly), with its warning flags."""
    native.cc_library(
        name = name,
        testonly = True,
        copts = HPC_CXXOPTS + copts,
        **kwargs
    )

def hpc_c_binary(name, copts = [], **kwargs):
    """A C program of the project (a command, a worker, a benchmark), with its warning flags."""
    native.cc_binary(
        name = name,
        copts = HPC_COPTS + copts,
        **kwargs
    )

def hpc_test_plugin(name, srcs = None, copts = [], deps = ["//include:hpc"], **kwargs):
    """A small real plugin for the tests: libhpc_NAME.so from NAME.c, with the warning flags."""
    native.cc_binary(
        name = "libhpc_%s.so" % name,
        srcs = srcs if srcs != None else [name + ".c"],
        copts = HPC_COPTS + copts,
        linkshared = True,
        deps = deps,
        **kwargs
    )

// tests/opencl/cl_harness.h - what only the opencl tests need; the plugin
// harness and the bound against serial are //tests/common:plugin_harness.
#ifndef HPC_TESTS_OPENCL_CL_HARNESS_H
#define HPC_TESTS_OPENCL_CL_HARNESS_H

#include <stdlib.h>

#include <string>

#include "tests/common/plugin_harness.h"

namespace cltest
{

using namespace hpctest;

// PoCL caches compiled kernels under $HOME/.cache/pocl, which a test sandbox
// may not let it write: point it at the test's own scratch folder. Processes
// started later (the daemon) inherit it.
inline void UsePrivatePoclCache()
{
	const char *tmp = std::getenv("TEST_TMPDIR");
	std::string dir = std::string(tmp ? tmp : "/tmp") + "/pocl-cache";
	setenv("POCL_CACHE_DIR", dir.c_str(), 0);
}

} // namespace cltest

#endif // HPC_TESTS_OPENCL_CL_HARNESS_H

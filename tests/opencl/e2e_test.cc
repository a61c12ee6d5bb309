// The opencl backend through the real daemon: `hpcd --check` and `backends`
// name the device, a bad device setting stops the daemon at start with the
// file and line, and every op and type agrees with serial for jobs submitted
// through libhpc, with and without operand generations.
//
// Bound: tests/common/numerics.h (2 gamma(n) sum|terms| against serial).
#include <stdlib.h>

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "tests/common/daemon_compare.h"
#include "tests/e2e/harness.h"
#include "tests/opencl/cl_harness.h"

extern "C" {
#include "hpc/client.h"
#include "hpc/wire.h"
}

namespace
{

// The daemon inherits these: PoCL's kernel cache in the test's scratch
// folder (the sandbox's HOME may be unwritable), and, under ASan, the
// LeakSanitizer suppressions for the OpenCL runtime (lsan.supp).
void SetUpEnvironment()
{
	cltest::UsePrivatePoclCache();
	std::string supp = hpce::runfile("tests/opencl/lsan.supp");
	setenv("LSAN_OPTIONS", ("suppressions=" + supp).c_str(), 0);
}

const std::string kBackends = "[backend serial]\nplugin = serial\n"
			      "[backend cl]\nplugin = opencl\n"
			      "[backend clcopy]\nplugin = opencl\nzero_copy = off\nkernels = gpu\n";

TEST(OpenclDaemon, CheckAndBackendsNameTheDevice)
{
	SetUpEnvironment();
	hpce::Daemon d(kBackends);
	auto r = hpce::run({hpce::runfile("daemon/hpcd"), "-c", d.config(), "--check"});
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_NE(r.out.find("plugin=opencl"), std::string::npos) << r.out;
	EXPECT_NE(r.out.find("device=\""), std::string::npos) << r.out;
	EXPECT_NE(r.out.find("zero_copy=off kernels=gpu"), std::string::npos) << r.out;

	ASSERT_TRUE(d.start()) << d.log();
	char buf[8192];
	ASSERT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, buf, sizeof(buf)), 0);
	EXPECT_NE(std::string(buf).find("device=\""), std::string::npos) << buf;
	EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(OpenclDaemon, BadDeviceStopsTheStartWithFileAndLine)
{
	SetUpEnvironment();
	hpce::Daemon d("[backend cl]\nplugin = opencl\ndevice = nosuchdevice\n");
	auto r = hpce::run({hpce::runfile("daemon/hpcd"), "-c", d.config(), "--check"});
	EXPECT_NE(r.status, 0);
	EXPECT_NE(r.err.find("hpcd.ini:7:"), std::string::npos) << r.err;
	EXPECT_NE(r.err.find("device \"nosuchdevice\" matches no device name"), std::string::npos)
	    << r.err;
	EXPECT_FALSE(d.start());
}

TEST(OpenclDaemon, EveryOpAndTypeAgreesWithSerial)
{
	SetUpEnvironment();
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	const hpctest::Shape cases[] = {
	    {HPC_OP_MATVEC, 1, 1, 0},     {HPC_OP_MATVEC, 7, 33, 0},   {HPC_OP_MATVEC, 33, 7, 0},
	    {HPC_OP_MATVEC, 300, 257, 0}, {HPC_OP_MATVEC, 0, 5, 0},    {HPC_OP_MATMUL, 1, 1, 1},
	    {HPC_OP_MATMUL, 5, 7, 33},    {HPC_OP_MATMUL, 64, 65, 63}, {HPC_OP_DOT, 0, 0, 0},
	    {HPC_OP_DOT, 0, 1001, 0},     {HPC_OP_DOT, 0, 100003, 0},  {HPC_OP_SUM, 0, 17, 0},
	    {HPC_OP_SUM, 0, 1000001, 0},  {HPC_OP_AXPY, 0, 1, 0},      {HPC_OP_AXPY, 0, 4097, 0},
	};
	hpc_client *c;
	ASSERT_EQ(hpc_connect(d.socket().c_str(), 64 << 20, &c), 0);
	std::mt19937_64 rng(99);
	// Three times on opencl: without generations, then twice with (the second
	// run of a cached operand); every new content gets new generations.
	hpctest::DaemonCompare opt;
	opt.passes = 3;
	opt.gen = 1;
	[&] {
		for (const char *backend : {"cl", "clcopy"})
			for (uint32_t dtype : {HPC_F64, HPC_F32})
				for (const hpctest::Shape &cs : cases) {
					hpctest::CompareWithSerial(c, backend, cs, dtype, rng, opt);
					opt.gen += 2;
					if (HasFatalFailure())
						return;
				}
	}();
	hpc_close(c);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

} // namespace

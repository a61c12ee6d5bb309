// The opencl backend through the real daemon: `hpcd --check` and `backends`
// name the device, a bad device setting stops the daemon at start with the
// file and line, and every op and type agrees with serial for jobs submitted
// through libhpc, with and without operand generations.
//
// Bound: tests/common/numerics.h (2 gamma(n) sum|terms| against serial).
#include <stdlib.h>
#include <unistd.h>

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

namespace
{

// Sum of a cached (generation 1) vector, from a client that then leaves.
void sum_and_leave(const std::string &sock, const char *backend)
{
	hpc_client *c;
	ASSERT_EQ(hpc_connect(sock.c_str(), 8 << 20, &c), 0);
	const size_t n = 1 << 20; // 8 MB of device memory per client
	double *x = static_cast<double *>(hpc_alloc(c, n * sizeof(double)));
	for (size_t i = 0; i < n; i++)
		x[i] = 1.0;
	hpc_request r{};
	r.op = HPC_OP_SUM;
	r.n = n;
	r.a = x;
	r.a_gen = 1;
	r.backend = backend;
	hpc_completion done{};
	ASSERT_EQ(hpc_run(c, &r, &done), 0);
	EXPECT_EQ(done.result, (double)n);
	hpc_close(c);
}

std::string backends_of(const hpce::Daemon &d)
{
	char buf[16384];
	EXPECT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, buf, sizeof(buf)), 0);
	return buf;
}

// Departed clients' cached buffers are dropped when they leave, not kept
// until LRU eviction (the device memory of 12 clients, 96 MB here).
TEST(OpenclDaemon, DepartedClientsLeaveNoBuffersBehind)
{
	SetUpEnvironment();
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	for (int i = 0; i < 12; i++)
		sum_and_leave(d.socket(), "clcopy");
	std::string out;
	for (int i = 0; i < 500; i++) {
		out = backends_of(d);
		if (out.find("forgotten=12") != std::string::npos)
			break;
		usleep(10000);
	}
	// Both instances hear of every region; only clcopy cached anything.
	EXPECT_NE(out.find("zero_copy=off kernels=gpu"), std::string::npos) << out;
	size_t copy = out.find("zero_copy=off");
	std::string line = out.substr(copy, out.find('\n', copy) - copy);
	EXPECT_NE(line.find("cached=0 cache_mb=0.0 forgotten=12"), std::string::npos) << line;
	EXPECT_EQ(d.stop(), 0) << d.log();
}

} // namespace

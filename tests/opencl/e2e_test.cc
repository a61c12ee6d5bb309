// The opencl backend through the real daemon: `hpcd --check` and `backends`
// name the device, a bad device setting stops the daemon at start with the
// file and line, and every op and type agrees with serial for jobs submitted
// through libhpc, with and without operand generations.
//
// Bound (as in tests/e2e/conformance_test.cc): a sum of n products in any
// order is within gamma_n sum|a_i b_i| of the exact value (Higham, sec. 3.1),
// gamma_n = n u / (1 - n u); opencl and serial each are, so they differ by at
// most 2 gamma_n sum|a_i b_i| (axpy: n = 2 terms, alpha x_i and y_i).
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/e2e/harness.h"

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
	const char *tmp = getenv("TEST_TMPDIR");
	setenv("POCL_CACHE_DIR", (std::string(tmp ? tmp : "/tmp") + "/pocl-cache").c_str(), 0);
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

struct Case {
	uint32_t op;
	uint64_t m, n, k;
};

void *Fill(hpc_client *c, uint32_t dtype, uint64_t count, std::mt19937_64 &rng)
{
	void *p = hpc_alloc(c, count * hpc_dtype_size(dtype) + 1);
	std::uniform_real_distribution<double> d(-1, 1);
	for (uint64_t i = 0; i < count; i++) {
		if (dtype == HPC_F64)
			static_cast<double *>(p)[i] = d(rng);
		else
			static_cast<float *>(p)[i] = (float)d(rng);
	}
	return p;
}

double Get(const void *p, uint32_t dtype, uint64_t i)
{
	return dtype == HPC_F64 ? static_cast<const double *>(p)[i]
				: static_cast<const float *>(p)[i];
}

double GammaN(uint64_t n, double u)
{
	return (double)n * u / (1 - (double)n * u);
}

TEST(OpenclDaemon, EveryOpAndTypeAgreesWithSerial)
{
	SetUpEnvironment();
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	const Case cases[] = {
	    {HPC_OP_MATVEC, 1, 1, 0},     {HPC_OP_MATVEC, 7, 33, 0},   {HPC_OP_MATVEC, 33, 7, 0},
	    {HPC_OP_MATVEC, 300, 257, 0}, {HPC_OP_MATVEC, 0, 5, 0},    {HPC_OP_MATMUL, 1, 1, 1},
	    {HPC_OP_MATMUL, 5, 7, 33},    {HPC_OP_MATMUL, 64, 65, 63}, {HPC_OP_DOT, 0, 0, 0},
	    {HPC_OP_DOT, 0, 1001, 0},     {HPC_OP_DOT, 0, 100003, 0},  {HPC_OP_SUM, 0, 17, 0},
	    {HPC_OP_SUM, 0, 1000001, 0},  {HPC_OP_AXPY, 0, 1, 0},      {HPC_OP_AXPY, 0, 4097, 0},
	};
	hpc_client *c;
	ASSERT_EQ(hpc_connect(d.socket().c_str(), 64 << 20, &c), 0);
	std::mt19937_64 rng(99);
	uint64_t gen = 1;
	for (const char *backend : {"cl", "clcopy"}) {
		for (uint32_t dtype : {HPC_F64, HPC_F32}) {
			for (const Case &cs : cases) {
				SCOPED_TRACE(std::string(hpc_op_name(cs.op)) + " " +
					     hpc_dtype_name(dtype) + " m=" + std::to_string(cs.m) +
					     " n=" + std::to_string(cs.n) +
					     " k=" + std::to_string(cs.k) + " on " + backend);
				size_t es = hpc_dtype_size(dtype);
				uint64_t na = 0, nb = 0, nout = 0;
				hpc_request r{};
				r.op = cs.op;
				r.dtype = dtype;
				r.m = cs.m;
				r.n = cs.n;
				r.k = cs.k;
				switch (cs.op) {
				case HPC_OP_MATVEC:
					na = cs.m * cs.n, nb = cs.n, nout = cs.m;
					break;
				case HPC_OP_MATMUL:
					na = cs.m * cs.k, nb = cs.k * cs.n, nout = cs.m * cs.n;
					break;
				case HPC_OP_DOT:
					na = nb = cs.n;
					break;
				case HPC_OP_SUM:
					na = cs.n;
					break;
				case HPC_OP_AXPY:
					na = nout = cs.n;
					r.alpha = -0.75;
					break;
				}
				void *a = Fill(c, dtype, na, rng);
				void *b = nb ? Fill(c, dtype, nb, rng) : nullptr;
				void *out0 = nout ? Fill(c, dtype, nout, rng) : nullptr;
				void *out_ref = nout ? hpc_alloc(c, nout * es + 1) : nullptr;
				void *out = nout ? hpc_alloc(c, nout * es + 1) : nullptr;
				r.a = a;
				r.b = b;
				hpc_completion ref, got;
				r.backend = "serial";
				r.out = out_ref;
				if (nout)
					memcpy(out_ref, out0, nout * es);
				ASSERT_EQ(hpc_run(c, &r, &ref), 0)
				    << hpc_strerror(ref.status, ref.detail);
				// Twice on opencl: without generations, then with (the second
				// run of a cached operand); axpy starts from out0 each time.
				r.backend = backend;
				r.out = out;
				for (int pass = 0; pass < 3; pass++) {
					r.a_gen = pass ? gen : 0;
					r.b_gen = pass && b ? gen + 1 : 0;
					if (nout)
						memcpy(out, out0, nout * es);
					ASSERT_EQ(hpc_run(c, &r, &got), 0)
					    << hpc_strerror(got.status, got.detail);
					double u = dtype == HPC_F64 ? 0x1p-53 : 0x1p-24;
					if (cs.op == HPC_OP_DOT || cs.op == HPC_OP_SUM) {
						double mag = 0;
						for (uint64_t i = 0; i < cs.n; i++)
							mag +=
							    std::fabs(Get(a, dtype, i) *
								      (b ? Get(b, dtype, i) : 1.0));
						EXPECT_NEAR(got.result, ref.result,
							    2 * GammaN(cs.n, u) * mag + 1e-300);
						continue;
					}
					uint64_t rows = cs.op == HPC_OP_AXPY ? cs.n : cs.m;
					uint64_t cols = cs.op == HPC_OP_MATMUL ? cs.n : 1;
					uint64_t inner = cs.op == HPC_OP_MATVEC   ? cs.n
							 : cs.op == HPC_OP_MATMUL ? cs.k
										  : 2;
					int bad = 0;
					for (uint64_t i = 0; i < rows; i++) {
						for (uint64_t j = 0; j < cols; j++) {
							double mag = 0;
							if (cs.op == HPC_OP_AXPY) {
								mag =
								    std::fabs(r.alpha *
									      Get(a, dtype, i)) +
								    std::fabs(Get(out0, dtype, i));
							} else {
								for (uint64_t l = 0; l < inner;
								     l++) {
									double x =
									    Get(a, dtype,
										i * inner + l);
									double y =
									    cs.op == HPC_OP_MATVEC
										? Get(b, dtype, l)
										: Get(b, dtype,
										      l * cols + j);
									mag += std::fabs(x * y);
								}
							}
							double tol =
							    2 * GammaN(inner, u) * mag + 1e-300;
							double e = Get(out, dtype, i * cols + j);
							double want =
							    Get(out_ref, dtype, i * cols + j);
							if (!(std::fabs(e - want) <= tol) &&
							    bad++ < 3)
								ADD_FAILURE()
								    << "pass " << pass
								    << " element " << i << "," << j
								    << ": " << e << " vs serial "
								    << want << " (tol " << tol
								    << ")";
						}
					}
				}
				gen += 2;
				hpc_free(c, a);
				hpc_free(c, b);
				hpc_free(c, out0);
				hpc_free(c, out_ref);
				hpc_free(c, out);
			}
		}
	}
	hpc_close(c);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

} // namespace

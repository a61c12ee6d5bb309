// Every op x element type x backend, through the real daemon, against the
// serial backend.
//
// Bound used: a sum of n products computed in any order satisfies
//   |computed - exact| <= gamma_n * sum |a_i * b_i|,  gamma_n = n u / (1 - n u)
// (Higham, Accuracy and Stability of Numerical Algorithms, section 3.1), with
// u = 2^-53 for f64 and 2^-24 for f32. serial is at least that accurate, so a
// backend and serial differ by at most 2 gamma_n sum|a_i b_i|; the test allows
// exactly that plus a denormal-sized floor. axpy is one fused-or-not
// multiply-add per element: bound 2 u |alpha x + y| + 2u|alpha x| per side.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"

extern "C" {
#include "hpc/client.h"
#include "hpc/wire.h"
}

namespace {

struct Case {
	uint32_t op;
	uint64_t m, n, k;
};

double unit(uint32_t dtype)
{
	return dtype == HPC_F64 ? std::ldexp(1.0, -53) : std::ldexp(1.0, -24);
}

double gamma_n(uint64_t n, double u)
{
	double nu = (double)n * u;
	return nu / (1 - nu);
}

class Conformance : public ::testing::TestWithParam<std::string> {
      protected:
	static void SetUpTestSuite()
	{
		daemon_ = new hpce::Daemon("[backend serial]\nplugin = serial\n"
					   "[backend omp]\nplugin = openmp\nthreads = 2\n"
					   "[backend omp1]\nplugin = openmp\nthreads = 1\n"
					   "[backend omp3]\nplugin = openmp\nthreads = 3\n");
		ASSERT_TRUE(daemon_->start()) << daemon_->log();
	}
	static void TearDownTestSuite()
	{
		EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
		delete daemon_;
	}
	static hpce::Daemon *daemon_;
};
hpce::Daemon *Conformance::daemon_;

// Values in [-1, 1) of the given type, stored in the arena.
void *fill(hpc_client *c, uint32_t dtype, uint64_t count, std::mt19937_64 &rng)
{
	size_t es = hpc_dtype_size(dtype);
	void *p = hpc_alloc(c, count * es + 1);
	std::uniform_real_distribution<double> d(-1, 1);
	for (uint64_t i = 0; i < count; i++) {
		if (dtype == HPC_F64)
			static_cast<double *>(p)[i] = d(rng);
		else
			static_cast<float *>(p)[i] = (float)d(rng);
	}
	return p;
}

double get(const void *p, uint32_t dtype, uint64_t i)
{
	return dtype == HPC_F64 ? static_cast<const double *>(p)[i] : static_cast<const float *>(p)[i];
}

TEST_P(Conformance, EveryOpAndTypeAgreesWithSerial)
{
	const std::string backend = GetParam();
	const Case cases[] = {
		{HPC_OP_MATVEC, 1, 1, 0},   {HPC_OP_MATVEC, 7, 33, 0},  {HPC_OP_MATVEC, 33, 7, 0},
		{HPC_OP_MATVEC, 300, 257, 0}, {HPC_OP_MATVEC, 0, 5, 0},
		{HPC_OP_MATMUL, 1, 1, 1},   {HPC_OP_MATMUL, 5, 7, 33},  {HPC_OP_MATMUL, 64, 65, 63},
		{HPC_OP_DOT, 0, 0, 0},      {HPC_OP_DOT, 0, 1, 0},      {HPC_OP_DOT, 0, 1001, 0},
		{HPC_OP_DOT, 0, 100003, 0}, {HPC_OP_SUM, 0, 1, 0},      {HPC_OP_SUM, 0, 17, 0},
		{HPC_OP_SUM, 0, 1000001, 0}, {HPC_OP_AXPY, 0, 1, 0},    {HPC_OP_AXPY, 0, 4097, 0},
	};
	hpc_client *c;
	ASSERT_EQ(hpc_connect(daemon_->socket().c_str(), 64 << 20, &c), 0);
	std::mt19937_64 rng(1234);
	for (uint32_t dtype : {HPC_F64, HPC_F32}) {
		for (const Case &cs : cases) {
			SCOPED_TRACE(std::string(hpc_op_name(cs.op)) + " " + hpc_dtype_name(dtype) +
				     " m=" + std::to_string(cs.m) + " n=" + std::to_string(cs.n) +
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
			case HPC_OP_MATVEC: na = cs.m * cs.n, nb = cs.n, nout = cs.m; break;
			case HPC_OP_MATMUL: na = cs.m * cs.k, nb = cs.k * cs.n, nout = cs.m * cs.n; break;
			case HPC_OP_DOT: na = nb = cs.n; break;
			case HPC_OP_SUM: na = cs.n; break;
			case HPC_OP_AXPY: na = nout = cs.n; r.alpha = -0.75; break;
			}
			void *a = fill(c, dtype, na, rng);
			void *b = nb ? fill(c, dtype, nb, rng) : nullptr;
			void *out0 = nout ? fill(c, dtype, nout, rng) : nullptr;
			void *out_ref = nout ? hpc_alloc(c, nout * es + 1) : nullptr;
			void *out = nout ? hpc_alloc(c, nout * es + 1) : nullptr;
			if (nout) {
				memcpy(out_ref, out0, nout * es);  // axpy reads its output
				memcpy(out, out0, nout * es);
			}
			r.a = a;
			r.b = b;

			hpc_completion ref, got;
			r.backend = "serial";
			r.out = out_ref;
			ASSERT_EQ(hpc_run(c, &r, &ref), 0) << hpc_strerror(ref.status, ref.detail);
			r.backend = backend.c_str();
			r.out = out;
			ASSERT_EQ(hpc_run(c, &r, &got), 0) << hpc_strerror(got.status, got.detail);

			double u = unit(dtype);
			if (cs.op == HPC_OP_DOT || cs.op == HPC_OP_SUM) {
				double mag = 0;
				for (uint64_t i = 0; i < cs.n; i++)
					mag += std::fabs(get(a, dtype, i) * (b ? get(b, dtype, i) : 1.0));
				double tol = 2 * gamma_n(cs.n, u) * mag + 1e-300;
				EXPECT_NEAR(got.result, ref.result, tol);
				if (cs.n == 0) {
					EXPECT_EQ(got.result, 0.0);
				}
			} else {
				uint64_t rows = cs.op == HPC_OP_AXPY ? cs.n : cs.m;
				uint64_t cols = cs.op == HPC_OP_MATMUL ? cs.n : 1;
				uint64_t inner = cs.op == HPC_OP_MATVEC ? cs.n : cs.op == HPC_OP_MATMUL ? cs.k : 1;
				int bad = 0;
				for (uint64_t i = 0; i < rows; i++) {
					for (uint64_t j = 0; j < cols; j++) {
						double mag = 0;
						if (cs.op == HPC_OP_AXPY) {
							mag = std::fabs(r.alpha * get(a, dtype, i)) +
							      std::fabs(get(out0, dtype, i));
						} else {
							for (uint64_t l = 0; l < inner; l++) {
								double x = get(a, dtype, i * inner + l);
								double y = cs.op == HPC_OP_MATVEC
										   ? get(b, dtype, l)
										   : get(b, dtype, l * cols + j);
								mag += std::fabs(x * y);
							}
						}
						double tol = 2 * gamma_n(inner + 1, u) * mag + 1e-300;
						double e = get(out, dtype, i * cols + j);
						double want = get(out_ref, dtype, i * cols + j);
						if (!(std::fabs(e - want) <= tol) && bad++ < 3)
							ADD_FAILURE() << "element " << i << "," << j << ": " << e
								      << " vs serial " << want << " (tol " << tol << ")";
					}
				}
			}
			hpc_free(c, a);
			hpc_free(c, b);
			hpc_free(c, out0);
			hpc_free(c, out_ref);
			hpc_free(c, out);
		}
	}
	hpc_close(c);
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance,
			 ::testing::Values("serial", "omp", "omp1", "omp3"));

}  // namespace

// Every op x element type x backend, through the real daemon, against the
// serial backend. Bound: tests/common/numerics.h (a backend and serial differ
// by at most 2 gamma(n) sum|terms| per result, plus a denormal-sized floor).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/common/daemon_compare.h"
#include "tests/e2e/harness.h"

extern "C" {
#include "hpc/client.h"
}

namespace
{

class Conformance : public ::testing::TestWithParam<std::string>
{
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

TEST_P(Conformance, EveryOpAndTypeAgreesWithSerial)
{
	const std::string backend = GetParam();
	const hpctest::Shape cases[] = {
	    {HPC_OP_MATVEC, 1, 1, 0},     {HPC_OP_MATVEC, 7, 33, 0},   {HPC_OP_MATVEC, 33, 7, 0},
	    {HPC_OP_MATVEC, 300, 257, 0}, {HPC_OP_MATVEC, 0, 5, 0},    {HPC_OP_MATMUL, 1, 1, 1},
	    {HPC_OP_MATMUL, 5, 7, 33},    {HPC_OP_MATMUL, 64, 65, 63}, {HPC_OP_DOT, 0, 0, 0},
	    {HPC_OP_DOT, 0, 1, 0},        {HPC_OP_DOT, 0, 1001, 0},    {HPC_OP_DOT, 0, 100003, 0},
	    {HPC_OP_SUM, 0, 1, 0},        {HPC_OP_SUM, 0, 17, 0},      {HPC_OP_SUM, 0, 1000001, 0},
	    {HPC_OP_AXPY, 0, 1, 0},       {HPC_OP_AXPY, 0, 4097, 0},
	};
	hpc_client *c;
	ASSERT_EQ(hpc_connect(daemon_->socket().c_str(), 64 << 20, &c), 0);
	std::mt19937_64 rng(1234);
	[&] {
		for (uint32_t dtype : {HPC_F64, HPC_F32})
			for (const hpctest::Shape &cs : cases) {
				hpctest::CompareWithSerial(c, backend, cs, dtype, rng);
				if (HasFatalFailure())
					return;
			}
	}();
	hpc_close(c);
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance, ::testing::Values("serial", "omp", "omp1", "omp3"));

} // namespace

// The openmp kernels called in-process with team sizes the plugin would only
// use on large jobs: the plugin runs anything under ~128k elements on one
// thread, so uneven splits (fewer items than threads, remainders, short wide
// matrices) are exercised here on small shapes, against the serial kernels.
// Every instruction-set path the CPU has is forced in turn
// (hpc_omp_set_isa), so the AVX2 and plain x86-64 paths are tested on an
// AVX-512 machine too. Bound as in tests/common/numerics.h.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/openmp.h"
#include "kernels/serial.h"
#include "tests/common/numerics.h"

namespace hpctest
{
namespace
{

const double kAlpha = 1.25;

// The serial kernel's results and the openmp kernel's, for one shape.
template <typename T> struct Both {
	std::vector<double> serial, omp;
};

Both<double> Run(const Shape &s, const std::vector<double> &a, const std::vector<double> &b,
		 const std::vector<double> &y0, int t)
{
	Both<double> r;
	std::vector<double> o1 = y0, o2 = y0;
	switch (s.op) {
	case HPC_OP_MATVEC:
		hpc_serial_matvec_f64(a.data(), b.data(), o1.data(), s.m, s.n);
		hpc_omp_matvec_f64(a.data(), b.data(), o2.data(), s.m, s.n, t);
		break;
	case HPC_OP_MATMUL:
		hpc_serial_matmul_f64(a.data(), b.data(), o1.data(), s.m, s.n, s.k);
		hpc_omp_matmul_f64(a.data(), b.data(), o2.data(), s.m, s.n, s.k, t);
		break;
	case HPC_OP_DOT:
		o1 = {hpc_serial_dot_f64(a.data(), b.data(), s.n)};
		o2 = {hpc_omp_dot_f64(a.data(), b.data(), s.n, t)};
		break;
	case HPC_OP_SUM:
		o1 = {hpc_serial_sum_f64(a.data(), s.n)};
		o2 = {hpc_omp_sum_f64(a.data(), s.n, t)};
		break;
	case HPC_OP_AXPY:
		hpc_serial_axpy_f64(kAlpha, a.data(), o1.data(), s.n);
		hpc_omp_axpy_f64(kAlpha, a.data(), o2.data(), s.n, t);
		break;
	}
	r.serial = o1;
	r.omp = o2;
	return r;
}

Both<float> Run(const Shape &s, const std::vector<float> &a, const std::vector<float> &b,
		const std::vector<float> &y0, int t)
{
	Both<float> r;
	std::vector<float> o1 = y0, o2 = y0;
	switch (s.op) {
	case HPC_OP_MATVEC:
		hpc_serial_matvec_f32(a.data(), b.data(), o1.data(), s.m, s.n);
		hpc_omp_matvec_f32(a.data(), b.data(), o2.data(), s.m, s.n, t);
		break;
	case HPC_OP_MATMUL:
		hpc_serial_matmul_f32(a.data(), b.data(), o1.data(), s.m, s.n, s.k);
		hpc_omp_matmul_f32(a.data(), b.data(), o2.data(), s.m, s.n, s.k, t);
		break;
	case HPC_OP_DOT:
		r.serial = {hpc_serial_dot_f32(a.data(), b.data(), s.n)};
		r.omp = {hpc_omp_dot_f32(a.data(), b.data(), s.n, t)};
		return r;
	case HPC_OP_SUM:
		r.serial = {hpc_serial_sum_f32(a.data(), s.n)};
		r.omp = {hpc_omp_sum_f32(a.data(), s.n, t)};
		return r;
	case HPC_OP_AXPY:
		hpc_serial_axpy_f32(kAlpha, a.data(), o1.data(), s.n);
		hpc_omp_axpy_f32(kAlpha, a.data(), o2.data(), s.n, t);
		break;
	}
	r.serial.assign(o1.begin(), o1.end());
	r.omp.assign(o2.begin(), o2.end());
	return r;
}

template <typename T> void Check(const Shape &s, int t)
{
	size_t na, nb, nout;
	Sizes(s, &na, &nb, &nout);
	uint64_t seed = s.op * 7919 + s.m * 104729 + s.n * 1299709 + s.k * 15485863;
	std::vector<T> a = RandomVec<T>(na, seed), b = RandomVec<T>(nb, seed + 1);
	std::vector<T> y0 = s.op == HPC_OP_AXPY
				? RandomVec<T>(nout, seed + 2)
				: std::vector<T>(nout, std::numeric_limits<T>::quiet_NaN());
	Both<T> r = Run(s, a, b, y0, t);
	Both<T> again = Run(s, a, b, y0, t);

	const std::string what = Describe(s, DtypeOf<T>()) + " threads=" + std::to_string(t);
	ASSERT_EQ(r.omp.size(), r.serial.size()) << what;
	ASSERT_EQ(r.omp.size(), NumResults(s)) << what;
	const JobOperands o{s, DtypeOf<T>(), a.data(), b.data(), y0.data(), kAlpha};
	ExpectWithin(what, r.omp, r.serial,
		     [&](size_t i) { return BackendTol<T>(Terms(s), AbsSum(o, i)); });
	// Same team size, same bits.
	ASSERT_EQ(r.omp.size(), again.omp.size()) << what;
	EXPECT_TRUE(r.omp.empty() ||
		    std::memcmp(r.omp.data(), again.omp.data(), r.omp.size() * sizeof(double)) == 0)
	    << what << ": not reproducible";
}

std::vector<Shape> SmallShapes()
{
	std::vector<Shape> v;
	for (uint64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 257, 1001})
		for (uint32_t op : {HPC_OP_DOT, HPC_OP_SUM, HPC_OP_AXPY})
			v.push_back({op, 0, n, 0});
	for (uint64_t m : {0, 1, 2, 3, 5, 8, 13})
		for (uint64_t n : {0, 1, 3, 9, 64, 65})
			v.push_back({HPC_OP_MATVEC, m, n, 0});
	for (uint64_t m : {0, 1, 2, 3, 6})
		for (uint64_t n : {0, 1, 2, 5, 17})
			for (uint64_t k : {0, 1, 4, 33})
				v.push_back({HPC_OP_MATMUL, m, n, k});
	return v;
}

// Shapes that cross the matmul blocking (KC = 256 f64 / 512 f32, MC = 144,
// NC = 3072, register tiles up to 8 x 48, last row panels of every height
// 1..7 through the kernels for 1, 2, 4 or all rows), the vector loops' unrolling
// (4 vectors of up to 8 doubles or 16 floats) and the f32 float blocks (4 steps
// of 1, 8 or 16 floats per chain; 4 chains in dot and sum), with remainders
// everywhere.
std::vector<Shape> BlockShapes()
{
	std::vector<Shape> v;
	for (uint64_t n : {63, 64, 65, 127, 129, 255, 256, 257, 1023, 4099})
		for (uint32_t op : {HPC_OP_DOT, HPC_OP_SUM, HPC_OP_AXPY})
			v.push_back({op, 0, n, 0});
	for (uint64_t m : {4, 9, 31})
		for (uint64_t n : {15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 127, 200})
			v.push_back({HPC_OP_MATVEC, m, n, 0});
	const uint64_t mm[][3] = {{8, 24, 1},    {9, 25, 7},     {6, 8, 256},    {6, 8, 257},
				  {7, 49, 513},  {145, 50, 20},  {150, 70, 300}, {13, 3100, 3},
				  {289, 33, 9},  {17, 97, 600},  {1, 200, 260},  {12, 30, 40},
				  {20, 50, 300}, {258, 75, 260}, {100, 700, 600}};
	for (const auto &s : mm)
		v.push_back({HPC_OP_MATMUL, s[0], s[1], s[2]});
	return v;
}

// The instruction-set paths this CPU can run, narrowest first.
std::vector<int> Isas()
{
	std::vector<int> v;
	for (int i = HPC_OMP_ISA_SCALAR; i <= hpc_omp_isa_best(); i++)
		v.push_back(i);
	return v;
}

// Forces one path for the length of a test, and restores the default after.
class IsaScope
{
      public:
	explicit IsaScope(int isa) : old_(hpc_omp_isa())
	{
		got_ = hpc_omp_set_isa(isa);
	}
	~IsaScope()
	{
		hpc_omp_set_isa(old_);
	}
	int got() const
	{
		return got_;
	}

      private:
	int old_, got_;
};

class OmpKernels : public ::testing::TestWithParam<int>
{
};

TEST_P(OmpKernels, MatchSerialOnSmallAndUnevenShapes)
{
	for (int isa : Isas()) {
		IsaScope scope(isa);
		ASSERT_EQ(scope.got(), isa);
		SCOPED_TRACE(hpc_omp_isa_name(isa));
		for (const Shape &s : SmallShapes()) {
			Check<double>(s, GetParam());
			Check<float>(s, GetParam());
		}
	}
}

TEST_P(OmpKernels, MatchSerialAcrossBlocksAndVectorWidths)
{
	if (GetParam() > 8)
		GTEST_SKIP() << "the small shapes cover large teams; these cover the blocking";
	for (int isa : Isas()) {
		IsaScope scope(isa);
		SCOPED_TRACE(hpc_omp_isa_name(isa));
		for (const Shape &s : BlockShapes()) {
			Check<double>(s, GetParam());
			Check<float>(s, GetParam());
		}
	}
}

INSTANTIATE_TEST_SUITE_P(Threads, OmpKernels, ::testing::Values(0, 1, 2, 3, 4, 7, 64, 5000),
			 [](const ::testing::TestParamInfo<int> &p) {
				 return "threads" + std::to_string(p.param);
			 });

// The paths are named, and a request beyond the CPU falls back to its widest.
TEST(OmpIsa, NamesAndFallback)
{
	EXPECT_STREQ(hpc_omp_isa_name(HPC_OMP_ISA_SCALAR), "scalar");
	EXPECT_STREQ(hpc_omp_isa_name(HPC_OMP_ISA_AVX2), "avx2");
	EXPECT_STREQ(hpc_omp_isa_name(HPC_OMP_ISA_AVX512), "avx512");
	EXPECT_EQ(hpc_omp_isa_name(3), nullptr);
	EXPECT_EQ(hpc_omp_isa_name(-1), nullptr);
	int old = hpc_omp_isa();
	EXPECT_EQ(hpc_omp_set_isa(99), hpc_omp_isa_best());
	EXPECT_EQ(hpc_omp_set_isa(-1), hpc_omp_isa_best());
	EXPECT_EQ(hpc_omp_set_isa(HPC_OMP_ISA_SCALAR), HPC_OMP_ISA_SCALAR);
	EXPECT_EQ(hpc_omp_isa(), HPC_OMP_ISA_SCALAR);
	hpc_omp_set_isa(old);
}

// matmul and (with at least as many rows as threads) matvec give the same bits
// whatever the team size: every result is computed by the same operations.
TEST(OmpKernels, MatmulAndMatvecDoNotDependOnTheTeam)
{
	for (int isa : Isas()) {
		IsaScope scope(isa);
		SCOPED_TRACE(hpc_omp_isa_name(isa));
		// 257 rows: the teams split them unevenly, ending on a panel of one row. With
		// 600 columns the teams share column panels instead (fewer rows than a cache
		// block per thread; kernels/gemm_driver.h).
		const size_t shapes[][2] = {{150, 70}, {257, 70}, {257, 600}};
		for (const auto &mn : shapes) {
			const size_t m = mn[0], n = mn[1], k = 300;
			std::vector<double> a = RandomVec<double>(m * k, 5),
					    b = RandomVec<double>(k * n, 6);
			std::vector<double> c1(m * n), c3(m * n), y1(m), y3(m);
			hpc_omp_matmul_f64(a.data(), b.data(), c1.data(), m, n, k, 1);
			hpc_omp_matmul_f64(a.data(), b.data(), c3.data(), m, n, k, 3);
			EXPECT_EQ(std::memcmp(c1.data(), c3.data(), c1.size() * sizeof(double)), 0);
			hpc_omp_matvec_f64(a.data(), b.data(), y1.data(), m, k, 1);
			hpc_omp_matvec_f64(a.data(), b.data(), y3.data(), m, k, 3);
			EXPECT_EQ(std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(double)), 0);
			// f32 rows go through float blocks and double accumulators, in the four-row
			// pass or alone (150 rows in 3 parts of 50: 48 in passes of four, 2 alone).
			std::vector<float> af = RandomVec<float>(m * k, 7),
					   bf = RandomVec<float>(k * n, 8);
			std::vector<float> d1(m * n), d3(m * n), z1(m), z3(m);
			hpc_omp_matmul_f32(af.data(), bf.data(), d1.data(), m, n, k, 1);
			hpc_omp_matmul_f32(af.data(), bf.data(), d3.data(), m, n, k, 3);
			EXPECT_EQ(std::memcmp(d1.data(), d3.data(), d1.size() * sizeof(float)), 0);
			hpc_omp_matvec_f32(af.data(), bf.data(), z1.data(), m, k, 1);
			hpc_omp_matvec_f32(af.data(), bf.data(), z3.data(), m, k, 3);
			EXPECT_EQ(std::memcmp(z1.data(), z3.data(), z1.size() * sizeof(float)), 0);
		}
	}
}

} // namespace
} // namespace hpctest

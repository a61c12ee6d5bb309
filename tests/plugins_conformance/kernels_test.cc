// The openmp kernels called in-process with team sizes the plugin would only
// use on large jobs: the plugin runs anything under ~32k elements on one
// thread, so uneven splits (fewer items than threads, remainders, short wide
// matrices) are exercised here on small shapes, against the serial kernels.
// Bounds as in testutil.h.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "plugins/openmp/kernels.h"
#include "plugins/serial/kernels.h"
#include "tests/plugins_conformance/testutil.h"

namespace hpctest {
namespace {

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
	std::vector<T> y0 = s.op == HPC_OP_AXPY ? RandomVec<T>(nout, seed + 2)
						: std::vector<T>(nout, std::numeric_limits<T>::quiet_NaN());
	Reference ref = ComputeReference<T>(s, a, b, y0, kAlpha);
	Both<T> r = Run(s, a, b, y0, t);
	Both<T> again = Run(s, a, b, y0, t);

	const std::string what = Describe(s, std::is_same<T, double>::value ? HPC_F64 : HPC_F32) +
				 " threads=" + std::to_string(t);
	ASSERT_EQ(r.omp.size(), r.serial.size()) << what;
	ASSERT_EQ(r.omp.size(), ref.exact.size()) << what;
	int misses = 0;
	for (size_t i = 0; i < r.omp.size(); i++) {
		double tol = BackendTol<T>(ref.nterms, ref.abs_sum[i]);
		double d = std::fabs(r.omp[i] - r.serial[i]);
		if (!(d <= tol) && ++misses <= 5)
			ADD_FAILURE() << what << ": result " << i << " = " << r.omp[i]
				      << ", serial " << r.serial[i] << " +- " << tol;
	}
	EXPECT_EQ(misses, 0) << what;
	// Same team size, same bits.
	ASSERT_EQ(r.omp.size(), again.omp.size()) << what;
	EXPECT_TRUE(r.omp.empty() || std::memcmp(r.omp.data(), again.omp.data(),
						 r.omp.size() * sizeof(double)) == 0)
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

class OmpKernels : public ::testing::TestWithParam<int> {};

TEST_P(OmpKernels, MatchSerialOnSmallAndUnevenShapes)
{
	for (const Shape &s : SmallShapes()) {
		Check<double>(s, GetParam());
		Check<float>(s, GetParam());
	}
}

INSTANTIATE_TEST_SUITE_P(Threads, OmpKernels, ::testing::Values(0, 1, 2, 3, 4, 7, 64, 5000),
			 [](const ::testing::TestParamInfo<int> &p) {
				 return "threads" + std::to_string(p.param);
			 });

} // namespace
} // namespace hpctest

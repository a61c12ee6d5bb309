// tests/common/numerics.h - what every backend test needs to check a result:
// job shapes, random operands, and the bound a backend is held to against the
// serial reference. Part of //tests/common:plugin_harness.
//
// The bound (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
// sec. 3.1 and 4.2): a sum or dot product of n terms computed in floating
// point in any order, with any bracketing (a device's tree of partial sums, a
// reduction over MPI ranks, partials added in chunk order), satisfies
//
//     |computed - exact| <= gamma(n) * sum |terms|,   gamma(n) = n*u / (1 - n*u),
//
// with u = 2^-53 for f64 and 2^-24 for f32 (terms = a_i*b_i for a dot
// product, a_i for a sum). A backend and the serial reference each meet it,
// so a backend is checked against serial with tolerance
//
//     2 * gamma(n) * sum |terms|   (+ a tiny absolute floor for denormals),
//
// per scalar result (dot, sum), per element of matvec (n terms) and matmul
// (k terms), and per element of axpy (2 terms: alpha*a_i and out_i).
#ifndef HPC_TESTS_COMMON_NUMERICS_H
#define HPC_TESTS_COMMON_NUMERICS_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include "hpc/types.h"

namespace hpctest
{

// ---- shapes ------------------------------------------------------------------

// One job's shape; unused sizes are 0.
struct Shape {
	uint32_t op;
	uint64_t m, n, k;
};

// "matvec f64 m=3 n=4 k=0", for failure messages.
std::string Describe(const Shape &s, uint32_t dtype);

// Element counts of a, b and out for a shape (0 where the op has none).
void Sizes(const Shape &s, size_t *na, size_t *nb, size_t *nout);

// dot and sum return a scalar; the other ops write out.
inline bool IsScalar(uint32_t op)
{
	return op == HPC_OP_DOT || op == HPC_OP_SUM;
}

// How many results a job has: 1 for a scalar, else the elements of out.
size_t NumResults(const Shape &s);

// How many terms each result sums: n (matvec, dot, sum), k (matmul), 2 (axpy).
size_t Terms(const Shape &s);

template <typename T> constexpr uint32_t DtypeOf()
{
	return std::is_same<T, double>::value ? HPC_F64 : HPC_F32;
}

// ---- the bound -----------------------------------------------------------------

template <typename T> constexpr double UnitRoundoff()
{
	return std::is_same<T, double>::value ? 0x1p-53 : 0x1p-24;
}

inline double UnitRoundoff(uint32_t dtype)
{
	return dtype == HPC_F64 ? 0x1p-53 : 0x1p-24;
}

inline double Gamma(double n, double u)
{
	double nu = n * u;
	return nu >= 1.0 ? std::numeric_limits<double>::infinity() : nu / (1.0 - nu);
}

// Absolute floor under every tolerance: results that small are denormal noise.
template <typename T> constexpr double Floor()
{
	return 4.0 * static_cast<double>(std::numeric_limits<T>::min());
}

inline double Floor(uint32_t dtype)
{
	return dtype == HPC_F64 ? Floor<double>() : Floor<float>();
}

// The tolerance of a backend against serial for one result (see the top).
template <typename T> double BackendTol(size_t nterms, double abs_sum)
{
	return 2.0 * Gamma(static_cast<double>(nterms), UnitRoundoff<T>()) * abs_sum + Floor<T>();
}

inline double BackendTol(uint32_t dtype, double nterms, double abs_sum)
{
	return 2.0 * Gamma(nterms, UnitRoundoff(dtype)) * abs_sum + Floor(dtype);
}

// ---- operands --------------------------------------------------------------------

// Element i of an f64 or f32 array, as a double; and the other way.
inline double Get(const void *p, uint32_t dtype, uint64_t i)
{
	return dtype == HPC_F64 ? static_cast<const double *>(p)[i]
				: static_cast<const float *>(p)[i];
}

inline void Put(void *p, uint32_t dtype, uint64_t i, double v)
{
	if (dtype == HPC_F64)
		static_cast<double *>(p)[i] = v;
	else
		static_cast<float *>(p)[i] = static_cast<float>(v);
}

// Uniform values in [-1, 1), drawn from rng (which goes on from there) or
// from a fresh generator seeded with seed, so that a failure reproduces.
template <typename T> void FillRandom(T *p, size_t n, std::mt19937_64 &rng)
{
	std::uniform_real_distribution<double> dist(-1.0, 1.0);
	for (size_t i = 0; i < n; i++)
		p[i] = static_cast<T>(dist(rng));
}

template <typename T> void FillRandom(T *p, size_t n, uint64_t seed)
{
	std::mt19937_64 rng(seed);
	FillRandom(p, n, rng);
}

void FillRandom(void *p, uint32_t dtype, size_t n, std::mt19937_64 &rng);
void FillRandom(void *p, uint32_t dtype, size_t n, uint64_t seed);

template <typename T> std::vector<T> RandomVec(size_t n, uint64_t seed)
{
	std::vector<T> v(n);
	FillRandom(v.data(), n, seed);
	return v;
}

// ---- checking a backend against serial ---------------------------------------------

// What one job read: its shape, element type, inputs (out0: out before the
// job, which axpy reads) and alpha. Pointers may be null where the op has no
// such operand.
struct JobOperands {
	Shape shape;
	uint32_t dtype;
	const void *a, *b, *out0;
	double alpha;
};

// sum |terms| of result i (see the top).
double AbsSum(const JobOperands &o, size_t i);

// A job's results as doubles: the scalar of dot and sum, else every element of out.
std::vector<double> Results(const Shape &s, uint32_t dtype, double scalar, const void *out);

// Every |got[i] - want[i]| <= tol(i); reports the first few misses.
template <typename Tol>
void ExpectWithin(const std::string &what, const std::vector<double> &got,
		  const std::vector<double> &want, Tol tol)
{
	ASSERT_EQ(got.size(), want.size()) << what;
	int misses = 0;
	for (size_t i = 0; i < got.size(); i++) {
		double t = tol(i);
		double d = std::fabs(got[i] - want[i]);
		if (!(d <= t)) { // also catches NaN: an output never written
			if (++misses <= 5)
				ADD_FAILURE()
				    << what << ": result " << i << " is " << got[i] << ", expected "
				    << want[i] << " +- " << t << " (off by " << d << ")";
		}
	}
	EXPECT_EQ(misses, 0) << what;
}

// A backend's results (got) against serial's (want) for the same job: every
// result within 2 gamma(n) sum|terms| (+ floor); a scalar of an empty job is
// 0, and an f32 scalar is a float value, widened.
void ExpectMatchesSerial(const std::string &what, const JobOperands &o,
			 const std::vector<double> &got, const std::vector<double> &want);

} // namespace hpctest

#endif // HPC_TESTS_COMMON_NUMERICS_H

// tests/plugins_conformance/testutil.h - the in-process backends' own
// check of the serial reference: an "exact" value of every result in long
// double, and how far serial may be from it. Shapes, random operands and the
// bound of a backend against serial: tests/common/numerics.h.
//
// The serial reference itself is checked against a compensated sum in long
// double with the much tighter bound of compensated summation (Ogita, Rump
// and Oishi 2005, Prop. 4.5): u|s| + gamma(n-1)^2 * sum|terms|, plus u per
// rounded product; see SerialTol().
#ifndef HPC_TESTS_PLUGINS_TESTUTIL_H
#define HPC_TESTS_PLUGINS_TESTUTIL_H

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "hpc/types.h"
#include "tests/common/numerics.h"

namespace hpctest
{

// Compensated (TwoSum) accumulation in long double: its own error is far below
// anything a double or float result is checked to.
struct LdSum {
	long double hi = 0, lo = 0;
	void Add(long double x)
	{
		long double t = hi + x;
		long double z = t - hi;
		lo += (hi - (t - z)) + (x - z);
		hi = t;
	}
	long double Value() const
	{
		return hi + lo;
	}
};

// The exact-ish value of every result of a job, with the sum of |terms| of each.
struct Reference {
	std::vector<long double> exact;
	std::vector<double> abs_sum;
	size_t nterms = 0;     // terms per result
	bool products = false; // terms are products (rounded in the backends)
	bool reduction = true; // false for axpy: two plain roundings, no summation
};

template <typename T>
Reference ComputeReference(const Shape &s, const std::vector<T> &a, const std::vector<T> &b,
			   const std::vector<T> &out0, double alpha)
{
	Reference r;
	auto add_result = [&r](const LdSum &sum, long double abs) {
		r.exact.push_back(sum.Value());
		r.abs_sum.push_back(static_cast<double>(abs));
	};
	switch (s.op) {
	case HPC_OP_MATVEC:
		r.nterms = s.n;
		r.products = true;
		for (size_t i = 0; i < s.m; i++) {
			LdSum sum;
			long double abs = 0;
			for (size_t j = 0; j < s.n; j++) {
				long double p = (long double)a[i * s.n + j] * b[j];
				sum.Add(p);
				abs += std::fabs(p);
			}
			add_result(sum, abs);
		}
		break;
	case HPC_OP_MATMUL:
		r.nterms = s.k;
		r.products = true;
		for (size_t i = 0; i < s.m; i++) {
			for (size_t j = 0; j < s.n; j++) {
				LdSum sum;
				long double abs = 0;
				for (size_t p = 0; p < s.k; p++) {
					long double t =
					    (long double)a[i * s.k + p] * b[p * s.n + j];
					sum.Add(t);
					abs += std::fabs(t);
				}
				add_result(sum, abs);
			}
		}
		break;
	case HPC_OP_DOT:
	case HPC_OP_SUM: {
		r.nterms = s.n;
		r.products = s.op == HPC_OP_DOT;
		LdSum sum;
		long double abs = 0;
		for (size_t i = 0; i < s.n; i++) {
			long double t = r.products ? (long double)a[i] * b[i] : (long double)a[i];
			sum.Add(t);
			abs += std::fabs(t);
		}
		add_result(sum, abs);
		break;
	}
	case HPC_OP_AXPY:
		r.nterms = 2;
		r.products = true;
		r.reduction = false;
		for (size_t i = 0; i < s.n; i++) {
			LdSum sum;
			long double p = (long double)alpha * a[i];
			sum.Add(p);
			sum.Add(out0[i]);
			add_result(sum, std::fabs(p) + std::fabs((long double)out0[i]));
		}
		break;
	}
	return r;
}

// How far the serial reference may be from the exact value of result i.
template <typename T> double SerialTol(const Reference &r, size_t i)
{
	const double ud = 0x1p-53, uld = 0x1p-64;
	const double exact = std::fabs(static_cast<double>(r.exact[i]));
	const double abs = r.abs_sum[i];
	const double n = static_cast<double>(r.nterms);
	// Error of the long double reference itself: u_ld per product, and its own
	// compensated summation.
	double ref_err = (r.products ? 2 * uld * abs : 0) + 2 * uld * exact +
			 2 * Gamma(n, uld) * Gamma(n, uld) * abs;
	double g2 = Gamma(n, ud) * Gamma(n, ud);
	if (std::is_same<T, double>::value) {
		// Compensated summation of the rounded products: u|s| + gamma(n-1)^2 sum|p|,
		// plus u|a_i*b_i| per rounded product. Axpy, fl(fl(alpha*a) + y), is within
		// u|s| + u|alpha*a| (1 + u): the same shape.
		double prod = r.products ? 1.01 * ud * abs : 0;
		return ud * exact + prod + 2 * g2 * abs + ref_err + Floor<T>();
	}
	// f32: products of floats are exact in double, the compensated double sum
	// is off by e <= u_d|s| + gamma(n)^2 sum (axpy in double: <= 2 u_d sum), and
	// the one rounding to float adds u_f(|s| + e): nearly correctly rounded.
	const double uf = 0x1p-24;
	double e = r.reduction ? ud * exact + 2 * g2 * abs : 2.01 * ud * abs;
	return uf * exact + 2 * e + ref_err + Floor<T>();
}

} // namespace hpctest

#endif // HPC_TESTS_PLUGINS_TESTUTIL_H

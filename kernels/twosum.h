/*
 * kernels/twosum.h - compensated summation: Knuth's TwoSum and a running sum
 * built on it, as static inline functions, for the serial reference kernels
 * (kernels/serial.c) and for the forkpool backend, whose workers sum chunks
 * and whose plugin adds the chunks' partials the same way.
 *
 * TwoSum yields the rounded sum t = fl(a + b) and its exact error e
 * (t + e == a + b exactly, for any magnitudes, no branch). Adding every term
 * of a sum through it and summing the errors on the side is Sum2 of Ogita,
 * Rump and Oishi ("Accurate sum and dot product", SIAM J. Sci. Comput. 26(6),
 * 2005), with the bound given in kernels/serial.h.
 *
 * This is only exact if the compiler evaluates it as written: every file that
 * includes this header must be built with -ffp-contract=off (HPC_TWOSUM_COPTS
 * in build_defs/copts.bzl; a caller's product a*b fused into the first add
 * would leave its rounding error out of e) and never with -ffast-math (which
 * deletes e altogether, hence the #error below).
 */
#ifndef HPC_KERNELS_TWOSUM_H
#define HPC_KERNELS_TWOSUM_H

#if defined(__FAST_MATH__)
#error "compensated summation needs IEEE semantics: do not build with -ffast-math"
#endif

/* Returns fl(a + b) and stores its exact error in *err. */
static inline double hpc_twosum(double a, double b, double *err)
{
	double t = a + b;
	double z = t - a;
	*err = (a - (t - z)) + (b - z);
	return t;
}

/* A running compensated sum: the true sum is hi + lo, up to the bound above. */
struct hpc_csum {
	double hi;
	double lo;
};

/* Adds x to the sum: TwoSum of (hi, x), its error into lo. */
static inline void hpc_csum_add(struct hpc_csum *cs, double x)
{
	double e;
	cs->hi = hpc_twosum(cs->hi, x, &e);
	cs->lo += e;
}

/* The sum rounded to one double. */
static inline double hpc_csum_result(const struct hpc_csum *cs)
{
	return cs->hi + cs->lo;
}

#endif /* HPC_KERNELS_TWOSUM_H */

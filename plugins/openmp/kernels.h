/*
 * plugins/openmp/kernels.h - the kernels of the openmp backend, callable
 * in-process (tests, benchmarks).
 *
 * Shapes follow hpc/types.h; matrices are row-major; any size may be 0;
 * inputs and outputs must not overlap. nthreads is the team size to use
 * (clamped to [1, HPC_OMP_MAX_THREADS]); 1 runs on the calling thread
 * without entering a parallel region. The kernels never change global
 * OpenMP state (no omp_set_num_threads): every region names its team size.
 *
 * Results are deterministic for a given nthreads (fixed static partitions,
 * partial sums combined in a fixed order) but may differ in the last bits
 * between team sizes. Accuracy: plain summation with several accumulators,
 * so |computed - exact| <= gamma(n) * sum|terms| per reduction, with
 * gamma(n) = n*u / (1 - n*u):
 *  - f64: u = 2^-53.
 *  - f32 dot, sum and matvec accumulate in double (products of floats are
 *    exact there) and round to float once, so they are far inside the f32
 *    bound (u = 2^-24); the reads dominate the cost of these kernels, so the
 *    wider accumulators are nearly free. f32 matmul accumulates in float
 *    and meets gamma(k) with u = 2^-24.
 *  - f32 scalar results are returned as the float value widened to double.
 *  - axpy computes alpha*x + y per element (f32: in double, rounded once).
 */
#ifndef HPC_OMP_KERNELS_H
#define HPC_OMP_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest team a kernel will ask for. */
#define HPC_OMP_MAX_THREADS 1024

/* y[m] = a[m x n] . x[n]. Rows are shared out; with fewer rows than threads each row's
 * dot product is split instead. */
void hpc_omp_matvec_f64(const double *a, const double *x, double *y, size_t m, size_t n,
			int nthreads);
void hpc_omp_matvec_f32(const float *a, const float *x, float *y, size_t m, size_t n, int nthreads);

/* c[m x n] = a[m x k] . b[k x n], i-k-j order; rows (and, with fewer rows than threads,
 * column blocks) are shared out. */
void hpc_omp_matmul_f64(const double *a, const double *b, double *c, size_t m, size_t n, size_t k,
			int nthreads);
void hpc_omp_matmul_f32(const float *a, const float *b, float *c, size_t m, size_t n, size_t k,
			int nthreads);

/* Returns x[n] . y[n]; 0 when n = 0. */
double hpc_omp_dot_f64(const double *x, const double *y, size_t n, int nthreads);
double hpc_omp_dot_f32(const float *x, const float *y, size_t n, int nthreads);

/* Returns the sum of x[n]; 0 when n = 0. */
double hpc_omp_sum_f64(const double *x, size_t n, int nthreads);
double hpc_omp_sum_f32(const float *x, size_t n, int nthreads);

/* y[i] = alpha * x[i] + y[i]. */
void hpc_omp_axpy_f64(double alpha, const double *x, double *y, size_t n, int nthreads);
void hpc_omp_axpy_f32(double alpha, const float *x, float *y, size_t n, int nthreads);

#ifdef __cplusplus
}
#endif

#endif /* HPC_OMP_KERNELS_H */

/*
 * kernels/openmp.h - the multi-threaded, vectorised kernels: what the openmp
 * backend runs and the mpi backend's ranks run on their rows, also callable
 * in-process (tests, benchmarks).
 *
 * Shapes follow hpc/types.h; matrices are row-major; any size may be 0;
 * inputs and outputs must not overlap. nthreads is the team size to use
 * (clamped to [1, HPC_OMP_MAX_THREADS]); 1 runs on the calling thread
 * without entering a parallel region. The kernels never change global
 * OpenMP state (no omp_set_num_threads): every region names its team size.
 * While a team of two or more works on a short job (under 32 MiB of traffic,
 * 2^28 multiply-adds for matmul), its threads are bound to distinct CPUs (the
 * caller's own CPU mask is restored before the kernel returns; libgomp's pool
 * threads stay bound until a long job's team gives them their mask back),
 * unless OMP_PROC_BIND is set: see "where the team runs" in openmp.c for why.
 *
 * Each kernel has three instruction-set paths (AVX-512, AVX2 + FMA, and the
 * x86-64 baseline), chosen once at run time; see hpc_omp_isa() below.
 *
 * Results are deterministic for a given nthreads and path (fixed static
 * partitions, partial sums combined in a fixed order) but may differ in the
 * last bits between team sizes (dot, sum, and matvec with fewer rows than
 * threads) and between paths. Accuracy: plain summation with several
 * accumulators (FMA where the path has it), so
 * |computed - exact| <= gamma(n) * sum|terms| per reduction, with
 * gamma(n) = n*u / (1 - n*u):
 *  - f64: u = 2^-53.
 *  - f32 dot, sum and matvec add short runs in float (4 values per vector
 *    lane, error at most 4u(f32) per term) and everything else in double,
 *    rounding to float once, so they stay far inside the f32 bound
 *    (u = 2^-24) while converting to double only once per run (widening
 *    every float made these kernels conversion-bound from the caches).
 *    f32 matmul accumulates in float and meets gamma(k) with u = 2^-24.
 *  - f32 scalar results are returned as the float value widened to double.
 *  - axpy computes alpha*x + y per element, fused where the path has FMA
 *    (f32: in double, rounded once).
 */
#ifndef HPC_KERNELS_OPENMP_H
#define HPC_KERNELS_OPENMP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest team a kernel will ask for. */
#define HPC_OMP_MAX_THREADS 1024

/*
 * Instruction-set paths, narrowest first. The kernels use the widest the CPU
 * and the OS support, unless the environment variable HPC_OMP_ISA (read at
 * the first kernel call) names a narrower one: "scalar", "avx2" or "avx512".
 */
enum hpc_omp_isa {
	HPC_OMP_ISA_SCALAR = 0, /* plain C for any x86-64 (SSE2 at most; matmul uses it) */
	HPC_OMP_ISA_AVX2 = 1,   /* AVX2 + FMA, 4 doubles per register */
	HPC_OMP_ISA_AVX512 = 2, /* AVX-512F, 8 doubles per register */
};

/* The path the kernels use now (enum hpc_omp_isa). */
int hpc_omp_isa(void);

/* The widest path this CPU supports. */
int hpc_omp_isa_best(void);

/*
 * For tests and benchmarks: use path `isa` from now on, or the widest the
 * CPU supports when isa is out of range or beyond it. Returns the path now
 * in use. Must not race with running kernels.
 */
int hpc_omp_set_isa(int isa);

/* "scalar", "avx2", "avx512", or NULL for an unknown value. */
const char *hpc_omp_isa_name(int isa);

/* y[m] = a[m x n] . x[n]. Rows are shared out; with fewer rows than threads each row's
 * dot product is split instead. */
void hpc_omp_matvec_f64(const double *a, const double *x, double *y, size_t m, size_t n,
			int nthreads);
void hpc_omp_matvec_f32(const float *a, const float *x, float *y, size_t m, size_t n, int nthreads);

/* c[m x n] = a[m x k] . b[k x n], packed and blocked for the caches; rows (or, with fewer
 * rows than threads, column panels) are shared out. Results do not depend on nthreads. */
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

#endif /* HPC_KERNELS_OPENMP_H */

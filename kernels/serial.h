/*
 * kernels/serial.h - the reference kernels: what the serial backend runs,
 * the forkpool backend's workers run on their chunks, and every other backend
 * is checked against (tests, benchmarks). They favour accuracy over speed.
 *
 * Shapes follow hpc/types.h; matrices are row-major. Any size may be 0.
 * Inputs and outputs must not overlap (the daemon guarantees it for jobs).
 *
 * Accuracy (see serial.c for the why; TwoSum is kernels/twosum.h):
 *  - f64 reductions (dot, sum, each element of matvec and matmul) use
 *    compensated summation; with p_i the rounded terms and s their exact sum,
 *    |computed - s| <= u|s| + gamma(n-1)^2 * sum|p_i|, u = 2^-53, on top of
 *    the rounding of each product (|p_i - a_i*b_i| <= u|a_i*b_i|).
 *  - f32 operands are widened to double (their products are then exact), the
 *    same compensated summation runs in double, and the result is rounded to
 *    float once: nearly always the correctly rounded float of the exact value.
 *  - f32 scalar results are returned as the float value widened to double.
 */
#ifndef HPC_KERNELS_SERIAL_H
#define HPC_KERNELS_SERIAL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[m] = a[m x n] . x[n]; n = 0 gives zeros. */
void hpc_serial_matvec_f64(const double *a, const double *x, double *y, size_t m, size_t n);
void hpc_serial_matvec_f32(const float *a, const float *x, float *y, size_t m, size_t n);

/* c[m x n] = a[m x k] . b[k x n]; k = 0 gives zeros. */
void hpc_serial_matmul_f64(const double *a, const double *b, double *c, size_t m, size_t n,
			   size_t k);
void hpc_serial_matmul_f32(const float *a, const float *b, float *c, size_t m, size_t n, size_t k);

/* Returns x[n] . y[n]; 0 when n = 0. */
double hpc_serial_dot_f64(const double *x, const double *y, size_t n);
double hpc_serial_dot_f32(const float *x, const float *y, size_t n);

/* Returns the sum of x[n]; 0 when n = 0. */
double hpc_serial_sum_f64(const double *x, size_t n);
double hpc_serial_sum_f32(const float *x, size_t n);

/*
 * y[i] = alpha * x[i] + y[i]. The f32 variant computes in double with alpha
 * as given and rounds each element to float once.
 */
void hpc_serial_axpy_f64(double alpha, const double *x, double *y, size_t n);
void hpc_serial_axpy_f32(double alpha, const float *x, float *y, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* HPC_KERNELS_SERIAL_H */

/*
 * Reference kernels. Compensated summation, as Sum2 of Ogita, Rump and Oishi
 * ("Accurate sum and dot product", SIAM J. Sci. Comput. 26(6), 2005): every
 * addition s + x goes through Knuth's TwoSum (kernels/twosum.h), which yields
 * the rounded sum t and its exact error e (t + e == s + x exactly, for any
 * magnitudes), and the errors are summed on the side and added back at the
 * end. This is Neumaier's (Kahan-Babuska) algorithm with the magnitude test
 * replaced by the branch-free TwoSum, so it has the same bound (ORO Prop. 4.5):
 *
 *	|res - s| <= u|s| + gamma(n-1)^2 * sum|p_i|,  gamma(n) = n*u / (1 - n*u)
 *
 * i.e. the result is as accurate as if computed in twice the working
 * precision and then rounded. For a dot product the terms p_i = fl(a_i*b_i)
 * each carry a rounding of at most u|a_i*b_i|, so overall
 * |res - a.b| <= u|a.b| + (u + gamma(n)^2) * sum|a_i*b_i|, against
 * gamma(n) * sum|a_i*b_i| for plain recursive summation.
 *
 * TwoSum is only exact if the compiler evaluates it as written: this file
 * is built with -ffp-contract=off (a fused a*b+s would leave a product error
 * out of e) and must never see -ffast-math (which deletes e altogether).
 */
#include "kernels/serial.h"

#include "kernels/twosum.h"

static double dot_f64(const double *x, const double *y, size_t n)
{
	struct hpc_csum cs = {0.0, 0.0};
	for (size_t i = 0; i < n; i++)
		hpc_csum_add(&cs, x[i] * y[i]);
	return hpc_csum_result(&cs);
}

/* In double: a product of two floats (24-bit significands) is exact there. */
static double dot_f32(const float *x, const float *y, size_t n)
{
	struct hpc_csum cs = {0.0, 0.0};
	for (size_t i = 0; i < n; i++)
		hpc_csum_add(&cs, (double)x[i] * (double)y[i]);
	return hpc_csum_result(&cs);
}

void hpc_serial_matvec_f64(const double *a, const double *x, double *y, size_t m, size_t n)
{
	for (size_t i = 0; i < m; i++)
		y[i] = n ? dot_f64(a + i * n, x, n) : 0.0; /* a may be NULL when n = 0 */
}

void hpc_serial_matvec_f32(const float *a, const float *x, float *y, size_t m, size_t n)
{
	for (size_t i = 0; i < m; i++)
		y[i] = n ? (float)dot_f32(a + i * n, x, n) : 0.0f; /* a may be NULL when n = 0 */
}

/*
 * Columns of a row of C are accumulated a block at a time, walking B row by
 * row (i-k-j order) so that B is read contiguously; the per-column
 * compensated sums of a block live on the stack. The block loop has no
 * branches, so the compiler can vectorise it across columns.
 */
#define MATMUL_JB 64

void hpc_serial_matmul_f64(const double *a, const double *b, double *c, size_t m, size_t n,
			   size_t k)
{
	double hi[MATMUL_JB], lo[MATMUL_JB];

	for (size_t i = 0; i < m; i++) {
		const double *ai = a + i * k;
		for (size_t j0 = 0; j0 < n; j0 += MATMUL_JB) {
			size_t jn = n - j0 < MATMUL_JB ? n - j0 : MATMUL_JB;
			for (size_t j = 0; j < jn; j++)
				hi[j] = lo[j] = 0.0;
			for (size_t p = 0; p < k; p++) {
				const double aip = ai[p];
				const double *bp = b + p * n + j0;
				for (size_t j = 0; j < jn; j++) {
					/* hpc_csum_add() on (hi[j], lo[j]). */
					double e;
					hi[j] = hpc_twosum(hi[j], aip * bp[j], &e);
					lo[j] += e;
				}
			}
			for (size_t j = 0; j < jn; j++)
				c[i * n + j0 + j] = hi[j] + lo[j];
		}
	}
}

void hpc_serial_matmul_f32(const float *a, const float *b, float *c, size_t m, size_t n, size_t k)
{
	double hi[MATMUL_JB], lo[MATMUL_JB];

	for (size_t i = 0; i < m; i++) {
		const float *ai = a + i * k;
		for (size_t j0 = 0; j0 < n; j0 += MATMUL_JB) {
			size_t jn = n - j0 < MATMUL_JB ? n - j0 : MATMUL_JB;
			for (size_t j = 0; j < jn; j++)
				hi[j] = lo[j] = 0.0;
			for (size_t p = 0; p < k; p++) {
				const double aip = ai[p];
				const float *bp = b + p * n + j0;
				for (size_t j = 0; j < jn; j++) {
					double e; /* the product is exact */
					hi[j] = hpc_twosum(hi[j], aip * (double)bp[j], &e);
					lo[j] += e;
				}
			}
			for (size_t j = 0; j < jn; j++)
				c[i * n + j0 + j] = (float)(hi[j] + lo[j]);
		}
	}
}

double hpc_serial_dot_f64(const double *x, const double *y, size_t n)
{
	return dot_f64(x, y, n);
}

double hpc_serial_dot_f32(const float *x, const float *y, size_t n)
{
	return (float)dot_f32(x, y, n);
}

double hpc_serial_sum_f64(const double *x, size_t n)
{
	struct hpc_csum cs = {0.0, 0.0};
	for (size_t i = 0; i < n; i++)
		hpc_csum_add(&cs, x[i]);
	return hpc_csum_result(&cs);
}

double hpc_serial_sum_f32(const float *x, size_t n)
{
	struct hpc_csum cs = {0.0, 0.0};
	for (size_t i = 0; i < n; i++)
		hpc_csum_add(&cs, x[i]);
	return (float)hpc_csum_result(&cs);
}

void hpc_serial_axpy_f64(double alpha, const double *x, double *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = alpha * x[i] + y[i];
}

void hpc_serial_axpy_f32(double alpha, const float *x, float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = (float)(alpha * (double)x[i] + (double)y[i]);
}

/*
 * Kernels of the openmp backend. Each op is a sequential "range" function
 * (what one thread does with its share) plus a driver that splits the work
 * statically over a team of the requested size. The range functions are the
 * place to vectorise and block; the drivers fix how work is shared and in
 * which order partial results are combined, which is what makes results
 * reproducible for a given team size.
 *
 * Reductions keep four independent accumulators: without -ffast-math the
 * compiler may not reassociate, so one accumulator makes every add wait for
 * the previous one (see shared/notes/measured-here.md).
 */
#include "plugins/openmp/kernels.h"

#include <stddef.h>

static int clamp_threads(int nthreads)
{
	if (nthreads < 1)
		return 1;
	return nthreads > HPC_OMP_MAX_THREADS ? HPC_OMP_MAX_THREADS : nthreads;
}

/* A team no larger than the number of items to share: extra threads would only wake and wait. */
static inline int team(int t, size_t items)
{
	return items < (size_t)t ? (int)(items ? items : 1) : t;
}

/* [*lo, *hi) is part c of n items cut into `parts` nearly equal parts. */
static inline void split(size_t n, size_t parts, size_t c, size_t *lo, size_t *hi)
{
	size_t q = n / parts, r = n % parts;
	*lo = c * q + (c < r ? c : r);
	*hi = *lo + q + (c < r ? 1 : 0);
}

/* ---- ranges: what one thread does ------------------------------------- */

static double dot_f64_range(const double *x, const double *y, size_t n)
{
	double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += x[i] * y[i];
		s1 += x[i + 1] * y[i + 1];
		s2 += x[i + 2] * y[i + 2];
		s3 += x[i + 3] * y[i + 3];
	}
	for (; i < n; i++)
		s0 += x[i] * y[i];
	return (s0 + s1) + (s2 + s3);
}

static double dot_f32_range(const float *x, const float *y, size_t n)
{
	double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += (double)x[i] * y[i];
		s1 += (double)x[i + 1] * y[i + 1];
		s2 += (double)x[i + 2] * y[i + 2];
		s3 += (double)x[i + 3] * y[i + 3];
	}
	for (; i < n; i++)
		s0 += (double)x[i] * y[i];
	return (s0 + s1) + (s2 + s3);
}

static double sum_f64_range(const double *x, size_t n)
{
	double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += x[i];
		s1 += x[i + 1];
		s2 += x[i + 2];
		s3 += x[i + 3];
	}
	for (; i < n; i++)
		s0 += x[i];
	return (s0 + s1) + (s2 + s3);
}

static double sum_f32_range(const float *x, size_t n)
{
	double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += x[i];
		s1 += x[i + 1];
		s2 += x[i + 2];
		s3 += x[i + 3];
	}
	for (; i < n; i++)
		s0 += x[i];
	return (s0 + s1) + (s2 + s3);
}

/* Columns [j0, j1) of row i of c, in i-k-j order so B is read row by row. */
static void matmul_f64_tile(const double *a, const double *b, double *c, size_t n, size_t k,
			    size_t i, size_t j0, size_t j1)
{
	const double *ai = a + i * k;
	double *ci = c + i * n;
	for (size_t j = j0; j < j1; j++)
		ci[j] = 0.0;
	for (size_t p = 0; p < k; p++) {
		const double aip = ai[p];
		const double *bp = b + p * n;
		for (size_t j = j0; j < j1; j++)
			ci[j] += aip * bp[j];
	}
}

static void matmul_f32_tile(const float *a, const float *b, float *c, size_t n, size_t k, size_t i,
			    size_t j0, size_t j1)
{
	const float *ai = a + i * k;
	float *ci = c + i * n;
	for (size_t j = j0; j < j1; j++)
		ci[j] = 0.0f;
	for (size_t p = 0; p < k; p++) {
		const float aip = ai[p];
		const float *bp = b + p * n;
		for (size_t j = j0; j < j1; j++)
			ci[j] += aip * bp[j];
	}
}

/* ---- drivers ---------------------------------------------------------- */

/*
 * A reduction over n items: part(x, y, lo, len) reduces items [lo, lo+len).
 * One partial per thread, stored by chunk index and added up in chunk order
 * afterwards: a reduction clause would combine them in whatever order the
 * threads finish, and results would change from run to run.
 */
typedef double (*part_fn)(const void *x, const void *y, size_t lo, size_t len);

static double reduce(part_fn part, const void *x, const void *y, size_t n, int nthreads)
{
	if (n == 0)
		return 0.0; /* x and y may be NULL then */
	if (nthreads <= 1 || n < 2)
		return part(x, y, 0, n);

	double partial[HPC_OMP_MAX_THREADS];
	size_t t = (size_t)nthreads < n ? (size_t)nthreads : n;
#pragma omp parallel for num_threads(t) schedule(static, 1)
	for (size_t c = 0; c < t; c++) {
		size_t lo, hi;
		split(n, t, c, &lo, &hi);
		partial[c] = part(x, y, lo, hi - lo);
	}
	double s = 0.0;
	for (size_t c = 0; c < t; c++)
		s += partial[c];
	return s;
}

static double dot_f64_part(const void *x, const void *y, size_t lo, size_t len)
{
	return dot_f64_range((const double *)x + lo, (const double *)y + lo, len);
}

static double dot_f32_part(const void *x, const void *y, size_t lo, size_t len)
{
	return dot_f32_range((const float *)x + lo, (const float *)y + lo, len);
}

static double sum_f64_part(const void *x, const void *y, size_t lo, size_t len)
{
	return sum_f64_range((const double *)x + lo, len);
}

static double sum_f32_part(const void *x, const void *y, size_t lo, size_t len)
{
	return sum_f32_range((const float *)x + lo, len);
}

double hpc_omp_dot_f64(const double *x, const double *y, size_t n, int nthreads)
{
	return reduce(dot_f64_part, x, y, n, clamp_threads(nthreads));
}

double hpc_omp_dot_f32(const float *x, const float *y, size_t n, int nthreads)
{
	return (float)reduce(dot_f32_part, x, y, n, clamp_threads(nthreads));
}

double hpc_omp_sum_f64(const double *x, size_t n, int nthreads)
{
	return reduce(sum_f64_part, x, NULL, n, clamp_threads(nthreads));
}

double hpc_omp_sum_f32(const float *x, size_t n, int nthreads)
{
	return (float)reduce(sum_f32_part, x, NULL, n, clamp_threads(nthreads));
}

void hpc_omp_matvec_f64(const double *a, const double *x, double *y, size_t m, size_t n,
			int nthreads)
{
	int t = clamp_threads(nthreads);
	if (n == 0) { /* a may be NULL then */
		for (size_t i = 0; i < m; i++)
			y[i] = 0.0;
		return;
	}
	if (t == 1) {
		for (size_t i = 0; i < m; i++)
			y[i] = dot_f64_range(a + i * n, x, n);
	} else if (m < (size_t)t) {
		/* A short, wide matrix: rows alone would leave threads idle. */
		for (size_t i = 0; i < m; i++)
			y[i] = reduce(dot_f64_part, a + i * n, x, n, t);
	} else {
#pragma omp parallel for num_threads(t) schedule(static)
		for (size_t i = 0; i < m; i++)
			y[i] = dot_f64_range(a + i * n, x, n);
	}
}

void hpc_omp_matvec_f32(const float *a, const float *x, float *y, size_t m, size_t n, int nthreads)
{
	int t = clamp_threads(nthreads);
	if (n == 0) { /* a may be NULL then */
		for (size_t i = 0; i < m; i++)
			y[i] = 0.0f;
		return;
	}
	if (t == 1) {
		for (size_t i = 0; i < m; i++)
			y[i] = (float)dot_f32_range(a + i * n, x, n);
	} else if (m < (size_t)t) {
		for (size_t i = 0; i < m; i++)
			y[i] = (float)reduce(dot_f32_part, a + i * n, x, n, t);
	} else {
#pragma omp parallel for num_threads(t) schedule(static)
		for (size_t i = 0; i < m; i++)
			y[i] = (float)dot_f32_range(a + i * n, x, n);
	}
}

/*
 * Work is shared out as tiles of (row, column block); with at least as many
 * rows as threads a tile is a whole row, otherwise rows are cut into enough
 * column blocks to give every thread a tile.
 */
static size_t matmul_col_blocks(size_t m, size_t n, int t)
{
	if (m >= (size_t)t)
		return 1;
	size_t nb = ((size_t)t + m - 1) / m;
	return nb < n ? nb : n;
}

void hpc_omp_matmul_f64(const double *a, const double *b, double *c, size_t m, size_t n, size_t k,
			int nthreads)
{
	int t = clamp_threads(nthreads);
	if (m == 0 || n == 0)
		return;
	if (t == 1) {
		for (size_t i = 0; i < m; i++)
			matmul_f64_tile(a, b, c, n, k, i, 0, n);
		return;
	}
	size_t nb = matmul_col_blocks(m, n, t);
	t = team(t, m * nb);
#pragma omp parallel for num_threads(t) schedule(static)
	for (size_t tile = 0; tile < m * nb; tile++) {
		size_t j0, j1;
		split(n, nb, tile % nb, &j0, &j1);
		matmul_f64_tile(a, b, c, n, k, tile / nb, j0, j1);
	}
}

void hpc_omp_matmul_f32(const float *a, const float *b, float *c, size_t m, size_t n, size_t k,
			int nthreads)
{
	int t = clamp_threads(nthreads);
	if (m == 0 || n == 0)
		return;
	if (t == 1) {
		for (size_t i = 0; i < m; i++)
			matmul_f32_tile(a, b, c, n, k, i, 0, n);
		return;
	}
	size_t nb = matmul_col_blocks(m, n, t);
	t = team(t, m * nb);
#pragma omp parallel for num_threads(t) schedule(static)
	for (size_t tile = 0; tile < m * nb; tile++) {
		size_t j0, j1;
		split(n, nb, tile % nb, &j0, &j1);
		matmul_f32_tile(a, b, c, n, k, tile / nb, j0, j1);
	}
}

void hpc_omp_axpy_f64(double alpha, const double *x, double *y, size_t n, int nthreads)
{
	int t = team(clamp_threads(nthreads), n);
	if (t == 1) {
		for (size_t i = 0; i < n; i++)
			y[i] = alpha * x[i] + y[i];
		return;
	}
#pragma omp parallel for num_threads(t) schedule(static)
	for (size_t i = 0; i < n; i++)
		y[i] = alpha * x[i] + y[i];
}

void hpc_omp_axpy_f32(double alpha, const float *x, float *y, size_t n, int nthreads)
{
	int t = team(clamp_threads(nthreads), n);
	if (t == 1) {
		for (size_t i = 0; i < n; i++)
			y[i] = (float)(alpha * x[i] + y[i]);
		return;
	}
#pragma omp parallel for num_threads(t) schedule(static)
	for (size_t i = 0; i < n; i++)
		y[i] = (float)(alpha * x[i] + y[i]);
}

/*
 * llc_retention - how much of a stream the last-level cache keeps from one
 * pass to the next: a two-thread vectorised read of S MB, timed back to back
 * and timed after 256 MB of other traffic, for each size given. Where the two
 * differ, a read's back-to-back passes measure partly the cache, and
 * kernels_bench does not judge memory-bound targets there.
 *
 *   bazel run //bench:llc_retention [-- 40 80 128 800]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "bench/bench_util.h"

enum { PASSES = 15, OTHER_MB = 256 };

/* Eight independent sums per thread: the read is bound by memory, not by adds. */
static double read_all(const double *x, size_t n)
{
	double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
	for (size_t i = 0; i < n / 8; i++) {
		const double *p = x + i * 8;
		s += ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
	}
	return s;
}

static void other_traffic(double *e, size_t n)
{
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i += 8) /* one store a cache line */
		e[i] += 1;
}

int main(int argc, char **argv)
{
	bench_omp_wait_like_hpcd(argv);
	static const char *const fallback[] = {"40", "64", "80", "100", "128", "200", "800"};
	const char *const *sizes = argc > 1 ? (const char *const *)argv + 1 : fallback;
	int nsizes = argc > 1 ? argc - 1 : (int)(sizeof(fallback) / sizeof(fallback[0]));
	size_t en = (size_t)OTHER_MB << 17;
	double *e = aligned_alloc(64, en * 8);
	if (!e)
		bench_die("out of memory");
	memset(e, 0, en * 8);
	bench_print_header("the last-level cache between passes of a read",
			   "GB/s, median of 15 passes");
	printf("%8s %14s %14s %8s\n", "MB", "back to back", "after other", "ratio");
	volatile double sink = 0;
	for (int i = 0; i < nsizes; i++) {
		long mb = atol(sizes[i]);
		if (mb < 1 || mb > 65536)
			bench_die("a size is 1..65536 MB, not '%s'", sizes[i]);
		size_t n = (size_t)mb << 17;
		double *x = aligned_alloc(64, n * 8);
		if (!x)
			bench_die("out of memory for %ld MB", mb);
		for (size_t j = 0; j < n; j++)
			x[j] = (double)(j & 1023);
		double gbs[2];
		for (int mode = 0; mode < 2; mode++) {
			double t[PASSES];
			sink += read_all(x, n); /* warm the team and the page tables */
			for (int r = 0; r < PASSES; r++) {
				if (mode)
					other_traffic(e, en);
				uint64_t t0 = bench_now_ns();
				sink += read_all(x, n);
				t[r] = (double)(bench_now_ns() - t0) / 1e9;
			}
			gbs[mode] = (double)n * 8 / bench_median(t, PASSES) / 1e9;
		}
		printf("%8ld %14.1f %14.1f %8.2f\n", mb, gbs[0], gbs[1], gbs[0] / gbs[1]);
		fflush(stdout);
		free(x);
	}
	free(e);
	(void)sink;
	return 0;
}

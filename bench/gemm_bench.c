/*
 * gemm_bench - the openmp kernels' matmul against OpenBLAS's gemm, in-process,
 * on the same threads, in interleaved rounds: a quick loop for tuning the
 * matmul kernels (kernels/gemm_driver.h, kernels/isa.h) on a noisy machine,
 * where only ratios measured moments apart mean anything.
 *
 *   bazel run //bench:gemm_bench -- [--threads 2] [--rounds 7] [--dtypes f64,f32]
 *       [--isa avx512|avx2|scalar] [--shapes 500,1000,3001x257x1999]
 *
 * A shape is N (square) or MxNxK (c[M x N] = a[M x K] . b[K x N]). Each round
 * runs both variants once (odd rounds in the other order) with a pause between
 * them so that the previous one's idle threads stop spinning. Prints per shape
 * the median GFLOP/s of each, the median of the rounds' ratios (OpenBLAS's
 * time / hpcd's: above 1 is faster than OpenBLAS) and the lowest and highest
 * of them; the load average before and after.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "kernels/openmp.h"

struct shape {
	size_t m, n, k;
};

static double run(int blas, int f32, const void *a, const void *b, void *c, const struct shape *s,
		  int threads)
{
	const double t0 = bench_now_s();
	if (blas && f32)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->m, (int)s->n,
			    (int)s->k, 1.0f, a, (int)s->k, b, (int)s->n, 0.0f, c, (int)s->n);
	else if (blas)
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->m, (int)s->n,
			    (int)s->k, 1.0, a, (int)s->k, b, (int)s->n, 0.0, c, (int)s->n);
	else if (f32)
		hpc_omp_matmul_f32(a, b, c, s->m, s->n, s->k, threads);
	else
		hpc_omp_matmul_f64(a, b, c, s->m, s->n, s->k, threads);
	return bench_now_s() - t0;
}

static int parse_shapes(const char *arg, struct shape *out, int max)
{
	int n = 0;
	char *dup = strdup(arg), *save = NULL;
	for (char *tok = strtok_r(dup, ",", &save); tok && n < max;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long m, nn, k;
		if (sscanf(tok, "%lux%lux%lu", &m, &nn, &k) == 3)
			out[n++] = (struct shape){m, nn, k};
		else if (sscanf(tok, "%lu", &m) == 1)
			out[n++] = (struct shape){m, m, m};
	}
	free(dup);
	return n;
}

int main(int argc, char **argv)
{
	bench_prepare_process(argv, BENCH_OMP_PASSIVE | BENCH_OPENBLAS_BEST);
	int threads = 2, rounds = 7, want_f64 = 1, want_f32 = 1;
	const char *shapes_arg = "500,1000,2000,4000,1001x999x1003,3001x257x1999,257x3001x2003,"
				 "2001x2003x97";
	const char *dtypes = NULL, *isa_name = NULL;
	const struct bench_arg args[] = {
	    {"threads", BENCH_ARG_INT, &threads, "T", 1, 64},
	    {"rounds", BENCH_ARG_INT, &rounds, "R", 1, 64},
	    {"dtypes", BENCH_ARG_STR, &dtypes, "f64,f32", 0, 0},
	    {"isa", BENCH_ARG_STR, &isa_name, "avx512|avx2|scalar", 0, 0},
	    {"shapes", BENCH_ARG_STR, &shapes_arg, "N,MxNxK,...", 0, 0},
	    BENCH_ARG_END,
	};
	bench_parse_args(argc, argv, args);
	if (dtypes) {
		want_f64 = strstr(dtypes, "f64") != NULL;
		want_f32 = strstr(dtypes, "f32") != NULL;
		if (!want_f64 && !want_f32)
			bench_die("--dtypes %s names no dtype", dtypes);
	}
	if (isa_name) {
		int isa = -1;
		for (int j = HPC_OMP_ISA_SCALAR; j <= HPC_OMP_ISA_AVX512; j++)
			if (!strcmp(isa_name, hpc_omp_isa_name(j)))
				isa = j;
		if (isa < 0)
			bench_die("unknown --isa %s", isa_name);
		hpc_omp_set_isa(isa);
	}
	struct shape sh[32];
	const int nsh = parse_shapes(shapes_arg, sh, 32);
	openblas_set_num_threads(threads);
	char la[128];
	bench_loadavg(la, sizeof(la));
	printf("gemm_bench: %d threads, path %s, OpenBLAS %s (%s), %d rounds; load %s\n", threads,
	       hpc_omp_isa_name(hpc_omp_isa()), openblas_get_corename(), bench_openblas_note(),
	       rounds, la);
	printf("%-4s %-16s %9s %9s %6s %6s %6s\n", "type", "m x n x k", "hpcd", "OpenBLAS", "ratio",
	       "min", "max");
	for (int f32 = 0; f32 < 2; f32++) {
		if ((f32 && !want_f32) || (!f32 && !want_f64))
			continue;
		const size_t es = f32 ? sizeof(float) : sizeof(double);
		for (int i = 0; i < nsh; i++) {
			const struct shape *s = &sh[i];
			void *a = malloc(s->m * s->k * es), *b = malloc(s->k * s->n * es);
			void *c = malloc(s->m * s->n * es);
			if (!a || !b || !c)
				bench_die("out of memory");
			srand(7);
			for (size_t j = 0; j < s->m * s->k; j++) {
				double x = rand() / (double)RAND_MAX - 0.5;
				if (f32)
					((float *)a)[j] = (float)x;
				else
					((double *)a)[j] = x;
			}
			for (size_t j = 0; j < s->k * s->n; j++) {
				double x = rand() / (double)RAND_MAX - 0.5;
				if (f32)
					((float *)b)[j] = (float)x;
				else
					((double *)b)[j] = x;
			}
			double t[2][64], ratio[64];
			run(0, f32, a, b, c, s, threads);
			run(1, f32, a, b, c, s, threads);
			for (int r = 0; r < rounds; r++) {
				for (int j = 0; j < 2; j++) {
					const int blas = r % 2 ? 1 - j : j;
					t[blas][r] = run(blas, f32, a, b, c, s, threads);
					usleep(blas ? 200000 : 20000);
				}
				ratio[r] = t[1][r] / t[0][r];
			}
			const double fl = 2.0 * (double)s->m * (double)s->n * (double)s->k;
			const double th = bench_median(t[0], rounds),
				     tb = bench_median(t[1], rounds);
			const double rmed = bench_median(ratio, rounds); /* also sorts */
			char name[48];
			snprintf(name, sizeof(name), "%zux%zux%zu", s->m, s->n, s->k);
			printf("%-4s %-16s %9.1f %9.1f %6.2f %6.2f %6.2f\n", f32 ? "f32" : "f64",
			       name, fl / th / 1e9, fl / tb / 1e9, rmed, ratio[0],
			       ratio[rounds - 1]);
			fflush(stdout);
			free(a);
			free(b);
			free(c);
		}
	}
	bench_loadavg(la, sizeof(la));
	printf("load after: %s\n", la);
	return 0;
}

/*
 * opencl_bench - matvec on the opencl backend next to openmp and next to the
 * machine's read bandwidth, all measured in one run (the machines are noisy:
 * compare ratios within a run, not figures across runs).
 *
 *   bazel run //bench:opencl_bench [-- --sizes 4000,8000 --reps 15 --threads 2]
 *
 * The plugins are loaded with dlopen as the daemon loads them and called on
 * operands in one page-aligned mapping, as a client's region reaches them
 * (region_id, offsets and generations set as the daemon sets them). For each
 * type and N it prints, in ms:
 *  - read:  a read of A by `threads` OpenMP threads kept warm, pass by pass
 *           (bench_limits.h: the STREAM-read figure the matvec is judged
 *           against; measured between the runs below);
 *  - openmp: first call and the median of repeated calls;
 *  - opencl (zero copy, the default on a CPU device): first call with a new
 *           generation of A and x, then repeated calls with the same ones;
 *  - opencl zero_copy=off: first call (uploads A), repeated with the same
 *           generation (A resident on the device: no upload), and repeated
 *           with generation 0 (uploaded every time);
 * and GB/s = bytes of A / time, with the ratio to the read bandwidth. The
 * repeated calls run in interleaved rounds, each variant between two reads of
 * A; the ratio printed is the median over the rounds of (the round's median
 * read / the variant's time), with the lowest and highest round beside it.
 */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench/bench_limits.h"
#include "bench/bench_util.h"
#include "hpc/plugin.h"

/* ---- plugins ------------------------------------------------------------------ */

struct backend {
	const struct hpc_plugin_ops *ops;
	void *state;
	char label[48];
};

static void open_backend(struct backend *b, const struct bench_plugin *p, const char *label,
			 const char *key, const char *value, double *open_ms)
{
	char err[512];
	uint64_t t0 = bench_now_ns();
	int rc = bench_plugin_open(p, label, &b->state, err, sizeof(err), key, value, NULL);
	if (open_ms)
		*open_ms = (double)(bench_now_ns() - t0) / 1e6;
	if (rc)
		bench_die("cannot open %s: %s", label, err);
	b->ops = p->ops;
	snprintf(b->label, sizeof(b->label), "%s", label);
}

/* ---- the region and the read baseline ------------------------------------------------ */

struct region {
	unsigned char *base;
	size_t size;
	uint64_t a_off, x_off, y_off;
};

/* A page-aligned, pre-faulted mapping holding A, x and y like a client's arena. */
static void region_make(struct region *r, size_t n, size_t es)
{
	size_t a = n * n * es, v = (n * es + 4095) & ~(size_t)4095;
	r->size = a + 2 * v + 4096;
	r->base = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->base == MAP_FAILED)
		bench_die("mmap of %zu bytes: %s", r->size, strerror(errno));
	r->a_off = 0;
	r->x_off = a;
	r->y_off = a + v;
	/* Values in [-1, 1): cheap, deterministic, not all equal. */
	unsigned s = 12345;
	for (size_t i = 0; i < n * n + n; i++) {
		s = s * 1103515245u + 12345u;
		double val = (double)(s >> 8) / (double)(1u << 24) * 2.0 - 1.0;
		unsigned char *at =
		    i < n * n ? r->base + r->a_off + i * es : r->base + r->x_off + (i - n * n) * es;
		if (es == 8)
			memcpy(at, &val, 8);
		else {
			float f = (float)val;
			memcpy(at, &f, 4);
		}
	}
	memset(r->base + r->y_off, 0, n * es);
}

/*
 * libgomp's idle threads spin for a while after a parallel region; let them
 * go to sleep before the next measurement, so that they do not take the cores
 * from whatever runs next.
 */
static void settle(void)
{
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

/*
 * Milliseconds of one read of A: the median of three passes of a warm team of
 * t threads with the widest vectors (bench_limits.h), the same limit
 * kernels_bench judges its matvec against.
 */
static double read_ms(const struct region *r, size_t bytes, int t)
{
	double ms = bench_read_s(r->base, bytes, NULL, 0, t, 3) * 1e3;
	settle();
	return ms;
}

/* ---- matvec runs ------------------------------------------------------------------ */

static double run_ms(const struct backend *b, const struct region *r, uint32_t dtype, size_t n,
		     uint64_t gen)
{
	struct hpc_job job = {
	    .op = HPC_OP_MATVEC,
	    .dtype = dtype,
	    .m = n,
	    .n = n,
	    .a = r->base + r->a_off,
	    .b = r->base + r->x_off,
	    .out = r->base + r->y_off,
	    .region_fd = -1,
	    .region_id = 1,
	    .a_off = r->a_off,
	    .b_off = r->x_off,
	    .out_off = r->y_off,
	    .a_gen = gen,
	    .b_gen = gen,
	};
	uint64_t t0 = bench_now_ns();
	int rc = b->ops->run(b->state, &job);
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	if (rc)
		bench_die("%s: matvec failed: %s", b->label, strerror(-rc));
	return ms;
}

/* The median of `reps` calls of run_ms(), with t[] for the samples. */
static double run_median(const struct backend *b, const struct region *r, uint32_t dtype, size_t n,
			 uint64_t gen, double *t, int reps)
{
	for (int i = 0; i < reps; i++)
		t[i] = run_ms(b, r, dtype, n, gen);
	return bench_median(t, reps);
}

/* Largest difference of y from the reference copy, relative to the largest |y|. */
static double max_rel_diff(const struct region *r, const double *ref, uint32_t dtype, size_t n)
{
	double worst = 0, big = 1e-300;
	for (size_t i = 0; i < n; i++) {
		double y = dtype == HPC_F64 ? ((double *)(r->base + r->y_off))[i]
					    : ((float *)(r->base + r->y_off))[i];
		if (fabs(y - ref[i]) > worst)
			worst = fabs(y - ref[i]);
		if (fabs(ref[i]) > big)
			big = fabs(ref[i]);
	}
	return worst / big;
}

/*
 * A variant's first call on generation gen, into a cleared y; *diff is its
 * largest deviation from ref. Settles afterwards.
 */
static double first_call(const struct backend *b, const struct region *r, const double *ref,
			 uint32_t dtype, size_t n, uint64_t gen, double *diff)
{
	memset(r->base + r->y_off, 0, n * (dtype == HPC_F64 ? 8 : 4));
	double ms = run_ms(b, r, dtype, n, gen);
	*diff = max_rel_diff(r, ref, dtype, n);
	settle();
	return ms;
}

static void keep_y(const struct region *r, double *ref, uint32_t dtype, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ref[i] = dtype == HPC_F64 ? ((double *)(r->base + r->y_off))[i]
					  : ((float *)(r->base + r->y_off))[i];
}

static void print_line(const char *what, double ms, double abytes, double read_gbs)
{
	double gbs = abytes / (ms * 1e6);
	printf("  %-44s %9.2f ms  %6.1f GB/s  %5.2f x read\n", what, ms, gbs, gbs / read_gbs);
}

/* A variant repeated in the interleaved rounds: its times and its ratio to each round's read. */
struct series {
	double *ms, *x;
};

static void print_series(const char *what, struct series *v, int reps, double abytes)
{
	double ms = bench_median(v->ms, reps), x = bench_median(v->x, reps);
	printf("  %-44s %9.2f ms  %6.1f GB/s  %5.2f x read (rounds: %.2f..%.2f)\n", what, ms,
	       abytes / (ms * 1e6), x, v->x[0], v->x[reps - 1]);
}

int main(int argc, char **argv)
{
	bench_omp_wait_like_hpcd(argv);
	const char *plugins = "plugins";
	const char *sizes_opt = "4000,8000";
	int reps = 15, threads = 2;
	const struct bench_arg args[] = {
	    {"sizes", BENCH_ARG_STR, &sizes_opt, "N,N", 0, 0},
	    {"reps", BENCH_ARG_INT, &reps, "R", 3, 100000},
	    {"threads", BENCH_ARG_INT, &threads, "T", 1, 1024},
	    {"plugins", BENCH_ARG_STR, &plugins, "DIR", 0, 0},
	    BENCH_ARG_END,
	};
	bench_parse_args(argc, argv, args);
	char sizes_arg[256];
	snprintf(sizes_arg, sizeof(sizes_arg), "%s", sizes_opt);

	struct bench_plugin omp_so, cl_so; /* never unloaded: the process ends first */
	char err[512];
	if (bench_plugin_load(&omp_so, plugins, "openmp", err, sizeof(err)) < 0 ||
	    bench_plugin_load(&cl_so, plugins, "opencl", err, sizeof(err)) < 0)
		bench_die("%s", err);
	char tbuf[16];
	snprintf(tbuf, sizeof(tbuf), "%d", threads);
	struct backend omp, cl, clcopy;
	double open_zc, open_copy;
	open_backend(&omp, &omp_so, "openmp", "threads", tbuf, NULL);
	open_backend(&cl, &cl_so, "opencl", NULL, NULL, &open_zc);
	open_backend(&clcopy, &cl_so, "opencl copy", "zero_copy", "off", &open_copy);
	char info[256];
	if (cl.ops->describe(cl.state, info, sizeof(info)) == 0)
		printf("opencl: %s\n", info);
	printf("opencl opened in %.0f ms (programs built, kernels run once); zero_copy=off in "
	       "%.0f ms\nread baseline: %d OpenMP threads; %d repetitions, medians\n",
	       open_zc, open_copy, threads, reps);

	double *t = calloc((size_t)reps * 8, sizeof(double));  /* the series */
	double *tr = calloc((size_t)reps * 5, sizeof(double)); /* the reads */
	double *tu = calloc((size_t)reps, sizeof(double));
	if (!t || !tr || !tu)
		bench_die("out of memory");
	uint64_t gen = 100;
	for (char *tok = strtok(sizes_arg, ","); tok; tok = strtok(NULL, ",")) {
		size_t n = strtoul(tok, NULL, 10);
		if (n == 0)
			bench_die("bad size \"%s\"", tok);
		for (uint32_t dtype = HPC_F32 + 1; dtype-- > 0;) { /* f32 first, then f64 */
			size_t es = dtype == HPC_F64 ? 8 : 4;
			struct region r;
			region_make(&r, n, es);
			double abytes = (double)n * (double)n * (double)es;
			double *ref = calloc(n, sizeof(double));

			/* First calls, then `reps` rounds in which every repeated variant runs
			 * once between two reads of A: the machine is shared and its bandwidth
			 * drifts, so each variant is judged against the reads of its own round. */
			double omp_first = run_ms(&omp, &r, dtype, n, 0);
			settle();
			keep_y(&r, ref, dtype, n);
			const uint64_t zc_gen = ++gen, cp_gen = ++gen;
			double diff_cl, diff_cp;
			double cl_first = first_call(&cl, &r, ref, dtype, n, zc_gen, &diff_cl);
			double cp_first = first_call(&clcopy, &r, ref, dtype, n, cp_gen, &diff_cp);

			enum { V_OMP, V_ZC, V_ZC0, V_CP, V__N };
			struct series v[V__N];
			for (int i = 0; i < V__N; i++) {
				v[i].ms = t + (size_t)reps * (size_t)(2 * i);
				v[i].x = t + (size_t)reps * (size_t)(2 * i + 1);
			}
			int nr = 0;
			for (int k = 0; k < reps; k++) {
				double rd[V__N + 1];
				rd[0] = read_ms(&r, (size_t)abytes, threads);
				for (int i = 0; i < V__N; i++) {
					const struct backend *be = i == V_OMP  ? &omp
								   : i == V_CP ? &clcopy
									       : &cl;
					uint64_t g = i == V_OMP || i == V_ZC0 ? 0
						     : i == V_ZC              ? zc_gen
									      : cp_gen;
					v[i].ms[k] = run_ms(be, &r, dtype, n, g);
					settle();
					rd[i + 1] = read_ms(&r, (size_t)abytes, threads);
				}
				double rk = bench_median(rd, V__N + 1);
				for (int i = 0; i <= V__N; i++)
					tr[nr++] = rd[i];
				for (int i = 0; i < V__N; i++)
					v[i].x[k] = rk / v[i].ms[k];
			}
			int reps0 = reps < 5 ? reps : 5; /* each uploads all of A */
			double cp_rep0 = run_median(&clcopy, &r, dtype, n, 0, tu, reps0);

			double rd = bench_median(tr, nr);
			double read_gbs = abytes / (rd * 1e6);
			printf("\nmatvec %s N=%zu (A = %.0f MB); read of A: %.2f ms = %.1f GB/s "
			       "(median of "
			       "%d, %.1f..%.1f GB/s)\n",
			       dtype == HPC_F64 ? "f64" : "f32", n, abytes / 1e6, rd, read_gbs, nr,
			       abytes / (tr[nr - 1] * 1e6), abytes / (tr[0] * 1e6));
			print_line("openmp first call", omp_first, abytes, read_gbs);
			print_series("openmp repeated", &v[V_OMP], reps, abytes);
			print_line("opencl zero copy, first call (new gen)", cl_first, abytes,
				   read_gbs);
			print_series("opencl zero copy, repeated (same gen)", &v[V_ZC], reps,
				     abytes);
			print_series("opencl zero copy, repeated (gen 0)", &v[V_ZC0], reps, abytes);
			print_line("opencl copy, first call (upload)", cp_first, abytes, read_gbs);
			print_series("opencl copy, repeated (same gen: resident)", &v[V_CP], reps,
				     abytes);
			print_line("opencl copy, repeated (gen 0: upload each)", cp_rep0, abytes,
				   read_gbs);
			printf("  largest difference from openmp / largest |y|: zero copy %.1e, "
			       "copy %.1e\n",
			       diff_cl, diff_cp);
			free(ref);
			munmap(r.base, r.size);
		}
	}
	if (cl.ops->describe(cl.state, info, sizeof(info)) == 0)
		printf("\nopencl counters: %s\n",
		       strstr(info, "buffers:") ? strstr(info, "buffers:") : info);
	if (clcopy.ops->describe(clcopy.state, info, sizeof(info)) == 0)
		printf("opencl copy counters: %s\n",
		       strstr(info, "buffers:") ? strstr(info, "buffers:") : info);
	cl.ops->close(cl.state);
	clcopy.ops->close(clcopy.state);
	omp.ops->close(omp.state);
	free(t);
	free(tr);
	free(tu);
	return 0;
}

/*
 * kernels_bench - each op through hpcd next to the machine's limit and to
 * OpenBLAS, all measured in one run on the same thread count:
 *
 *   bazel run //bench:kernels_bench -- --out DIR [--quick] [--threads 2]
 *
 * For every op (f64) and a range of sizes it times, on the same memory (the
 * client's region, where the operands already are):
 *  - the job through the daemon, for every backend the benchmark configures
 *    (serial, and openmp with --threads threads);
 *  - the openmp plugin's kernel in-process (the same .so, dlopen()ed here);
 *  - OpenBLAS (cblas_dgemv, cblas_ddot, cblas_dasum for sum, cblas_daxpy,
 *    cblas_dgemm) in-process, with the same thread count;
 *  - for the memory-bound ops, a STREAM-style read (or triad, for axpy) of
 *    the same operands, moments apart: the limit.
 * The machines are noisy and their memory bandwidth drifts, so the variants
 * are measured in interleaved rounds and the medians compared.
 *
 * Prints a table (time, GB/s or GFLOP/s, ratios to the limit, to OpenBLAS
 * and to the in-process kernel), then the targets with PASS or MISS; writes
 * DIR/kernels_bench.csv and, when gnuplot is there, DIR/kernels_bench.svg
 * (bench/plot.gp).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>

#include "bench/bench_util.h"
#include "hpc/client.h"
#include "hpc/plugin.h"

/* ---- small helpers ------------------------------------------------------------- */

static void pause_ms(int ms)
{
	usleep((useconds_t)ms * 1000u);
}

/* ---- STREAM-style kernels (the limit) --------------------------------------------
 * Compiled for the widest ISA at run time (function multiversioning), with
 * many independent accumulators, so that they measure memory, not latency. */

#define LANES 32

__attribute__((target_clones("avx512f", "avx2", "default"))) static double
read_chunk(const double *x, size_t n)
{
	double s[LANES] = {0};
	size_t i = 0;
	for (; i + LANES <= n; i += LANES)
		for (int j = 0; j < LANES; j++)
			s[j] += x[i + (size_t)j];
	for (; i < n; i++)
		s[0] += x[i];
	double t = 0;
	for (int j = 0; j < LANES; j++)
		t += s[j];
	return t;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static void
triad_chunk(double *restrict a, const double *restrict b, const double *restrict c, double q,
	    size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = b[i] + q * c[i];
}

static volatile double sink;

/*
 * The STREAM team runs where the openmp plugin runs its teams (see "where the
 * team runs" in plugins/openmp/kernels.c): the master on the first CPU, thread
 * i on the i-th, so that a woken thread never queues behind its spinning
 * master. The master's mask is restored afterwards (OpenBLAS shares it).
 */
static int stream_cpus[CPU_SETSIZE], stream_ncpus = -1;
static __thread int stream_bound = -1;

static void bind_slot(int slot)
{
	if (stream_ncpus < 2)
		return;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(stream_cpus[slot % stream_ncpus], &one);
	sched_setaffinity(0, sizeof(one), &one);
}

static void stream_enter(cpu_set_t *old)
{
	if (stream_ncpus < 0) {
		cpu_set_t set;
		stream_ncpus = 0;
		if (sched_getaffinity(0, sizeof(set), &set) == 0)
			for (int c = 0; c < CPU_SETSIZE; c++)
				if (CPU_ISSET(c, &set))
					stream_cpus[stream_ncpus++] = c;
	}
	sched_getaffinity(0, sizeof(*old), old);
	bind_slot(0);
}

static void stream_member(void)
{
	int id = omp_get_thread_num();
	if (id && stream_bound != id) {
		bind_slot(id);
		stream_bound = id;
	}
}

/* Reads x[0..nx) and y[0..ny) (y may be NULL) with t threads; returns seconds. */
static double stream_read(const double *x, size_t nx, const double *y, size_t ny, int t)
{
	double s = 0;
	cpu_set_t old;
	stream_enter(&old);
	double t0 = bench_now_s();
#pragma omp parallel num_threads(t) reduction(+ : s)
	{
		stream_member();
		int id = omp_get_thread_num(), nt = omp_get_num_threads();
		size_t lo = nx * (size_t)id / (size_t)nt, hi = nx * (size_t)(id + 1) / (size_t)nt;
		s += read_chunk(x + lo, hi - lo);
		if (y) {
			lo = ny * (size_t)id / (size_t)nt;
			hi = ny * (size_t)(id + 1) / (size_t)nt;
			s += read_chunk(y + lo, hi - lo);
		}
	}
	double dt = bench_now_s() - t0;
	sched_setaffinity(0, sizeof(old), &old);
	sink = s;
	return dt;
}

/* a = b + q*c over n elements with t threads; returns seconds. */
static double stream_triad(double *a, const double *b, const double *c, size_t n, int t)
{
	cpu_set_t old;
	stream_enter(&old);
	double t0 = bench_now_s();
#pragma omp parallel num_threads(t)
	{
		stream_member();
		int id = omp_get_thread_num(), nt = omp_get_num_threads();
		size_t lo = n * (size_t)id / (size_t)nt, hi = n * (size_t)(id + 1) / (size_t)nt;
		triad_chunk(a + lo, b + lo, c + lo, 0.5, hi - lo);
	}
	double dt = bench_now_s() - t0;
	sched_setaffinity(0, sizeof(old), &old);
	return dt;
}

/* ---- what is measured ------------------------------------------------------------------ */

enum impl {
	IM_SERIAL,  /* serial backend through hpcd */
	IM_OMP,     /* openmp backend through hpcd */
	IM_INPROC,  /* the openmp plugin in-process */
	IM_OPENBLAS,
	IM_LIMIT,   /* STREAM read (or triad for axpy) of the same operands */
	IM__COUNT
};

static const char *const impl_name[IM__COUNT] = {"serial", "omp", "omp-inproc", "openblas",
						 "limit"};
static const char *const impl_label[IM__COUNT] = {
	"serial (hpcd)", "openmp (hpcd)", "openmp in-process", "OpenBLAS", "memory limit"};

struct bench {
	struct hpc_client *c;
	struct bench_plugin omp; /* the openmp plugin in-process */
	void *omp_state;
	int threads;
	int quick;
	double *P, *Q, *R; /* region buffers */
	size_t np, nq;     /* their lengths in doubles (R has nq) */
	FILE *csv;
};

/* One op at one size. */
struct point {
	uint32_t op;
	uint64_t m, n, k; /* as in hpc/types.h */
	const char *size; /* label */
	uint64_t xsize;   /* the size plotted (N or n) */
	double bytes;     /* memory traffic of one run (0 for matmul) */
	double flops;     /* for matmul */
	double t[IM__COUNT]; /* median seconds, NAN when not measured */
	double tmin[IM__COUNT];
	int samples[IM__COUNT];
	double inside; /* median time of the openmp job inside hpcd (backend run only) */
};

static const double kAlpha = 1e-3;

/* The daemon's own timing of the last job (t_end - t_start of its completion). */
static double last_inside_s;

static void run_impl(struct bench *b, struct point *pt, enum impl im)
{
	const uint64_t m = pt->m, n = pt->n, k = pt->k;
	double *A = b->P, *x = b->Q, *y = b->R;
	if (pt->op == HPC_OP_DOT || pt->op == HPC_OP_SUM || pt->op == HPC_OP_AXPY) {
		x = b->P;
		y = b->Q;
	}
	if (im == IM_SERIAL || im == IM_OMP || im == IM_INPROC) {
		struct hpc_request r = {.op = pt->op, .dtype = HPC_F64, .m = m, .n = n, .k = k,
					.alpha = kAlpha,
					.backend = im == IM_SERIAL ? "serial" : "omp"};
		switch (pt->op) {
		case HPC_OP_MATVEC: r.a = A; r.b = x; r.out = y; break;
		case HPC_OP_MATMUL: r.a = A; r.b = x; r.out = y; break;
		case HPC_OP_DOT: r.a = x; r.b = y; break;
		case HPC_OP_SUM: r.a = x; break;
		case HPC_OP_AXPY: r.a = x; r.out = y; break;
		}
		if (im == IM_INPROC) {
			struct hpc_job j = {.op = r.op, .dtype = r.dtype, .m = m, .n = n, .k = k,
					    .a = r.a, .b = r.b, .out = r.out, .alpha = r.alpha,
					    .region_fd = -1};
			int rc = b->omp.ops->run(b->omp_state, &j);
			if (rc)
				bench_die("%s in-process failed: %s", hpc_op_name(pt->op),
					  strerror(-rc));
			sink = j.result;
		} else {
			struct hpc_completion done;
			int rc = hpc_run(b->c, &r, &done);
			if (rc)
				bench_die("%s through hpcd (%s) failed: %s", hpc_op_name(pt->op),
				    r.backend, hpc_strerror(done.status, done.detail));
			sink = done.result;
			last_inside_s = (double)(done.t_end_ns - done.t_start_ns) * 1e-9;
		}
		return;
	}
	if (im == IM_OPENBLAS) {
		switch (pt->op) {
		case HPC_OP_MATVEC:
			cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)n, 1.0, A, (int)n, x,
				    1, 0.0, y, 1);
			break;
		case HPC_OP_MATMUL:
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n,
				    (int)k, 1.0, A, (int)k, x, (int)n, 0.0, y, (int)n);
			break;
		case HPC_OP_DOT: sink = cblas_ddot((int)n, x, 1, y, 1); break;
		case HPC_OP_SUM: sink = cblas_dasum((int)n, x, 1); break;
		case HPC_OP_AXPY: cblas_daxpy((int)n, kAlpha, x, 1, y, 1); break;
		}
		return;
	}
	/* IM_LIMIT */
	switch (pt->op) {
	case HPC_OP_MATVEC: stream_read(A, m * n, NULL, 0, b->threads); break;
	case HPC_OP_DOT: stream_read(x, n, y, n, b->threads); break;
	case HPC_OP_SUM: stream_read(x, n, NULL, 0, b->threads); break;
	case HPC_OP_AXPY: stream_triad(b->R, x, y, n, b->threads); break;
	default: break;
	}
}

/*
 * Measure every variant of one point: a warm-up each, then `rounds` rounds in
 * which each variant runs a few times back to back. Between variants a pause
 * lets the previous one's idle threads (libgomp's here and in the daemon,
 * OpenBLAS's) stop spinning, so that they do not steal the two cores.
 */
static void measure(struct bench *b, struct point *pt)
{
	const int rounds = b->quick ? 2 : 4;
	enum { MAXS = 64 };
	double s[IM__COUNT][MAXS], inside[MAXS];
	int per[IM__COUNT];
	for (int im = 0; im < IM__COUNT; im++) {
		pt->t[im] = pt->tmin[im] = NAN;
		pt->samples[im] = 0;
		per[im] = 0;
		if (im == IM_LIMIT && pt->op == HPC_OP_MATMUL)
			continue;
		double t0 = bench_now_s();
		run_impl(b, pt, im);
		double w = bench_now_s() - t0;
		/* Enough runs for ~0.1 s per round, at most 3, at least 1;
		 * something slower than 1 s (serial at the top sizes) runs once. */
		per[im] = w > 1.0 ? 0 : w > 0.1 ? 1 : (int)fmin(3, 0.1 / fmax(w, 1e-9));
		if (w > 1.0) {
			s[im][0] = w;
			pt->samples[im] = 1;
		}
		pause_ms(im == IM_OPENBLAS ? 200 : 20);
	}
	for (int r = 0; r < rounds; r++) {
		/* Odd rounds go backwards, so that no variant always follows the same one. */
		for (int j = 0; j < IM__COUNT; j++) {
			const int im = r % 2 ? IM__COUNT - 1 - j : j;
			for (int i = 0; i < per[im] && pt->samples[im] < MAXS; i++) {
				double t0 = bench_now_s();
				run_impl(b, pt, im);
				if (im == IM_OMP)
					inside[pt->samples[im]] = last_inside_s;
				s[im][pt->samples[im]++] = bench_now_s() - t0;
			}
			if (per[im])
				pause_ms(im == IM_OPENBLAS ? 200 : 20);
		}
	}
	pt->inside = pt->samples[IM_OMP] ? bench_median(inside, pt->samples[IM_OMP]) : NAN;
	for (int im = 0; im < IM__COUNT; im++) {
		if (!pt->samples[im])
			continue;
		pt->t[im] = bench_median(s[im], pt->samples[im]);
		pt->tmin[im] = s[im][0];
	}
}

/* GB/s of the op's traffic, or GFLOP/s for matmul. */
static double rate(const struct point *pt, double t)
{
	return pt->op == HPC_OP_MATMUL ? pt->flops / t / 1e9 : pt->bytes / t / 1e9;
}

static void report(struct bench *b, const struct point *pt)
{
	const int mm = pt->op == HPC_OP_MATMUL;
	const double tlim = pt->t[IM_LIMIT], tblas = pt->t[IM_OPENBLAS], tin = pt->t[IM_INPROC];
	for (int im = 0; im < IM__COUNT; im++) {
		double t = pt->t[im];
		if (isnan(t))
			continue;
		double r = rate(pt, t);
		double xl = !mm && im != IM_LIMIT ? tlim / t : NAN;
		double xb = im != IM_OPENBLAS && im != IM_LIMIT ? tblas / t : NAN;
		double xi = im == IM_OMP ? t / tin : NAN;
		char cl[16] = "", cb[16] = "", ci[16] = "";
		if (!isnan(xl))
			snprintf(cl, sizeof(cl), "%.2f", xl);
		if (!isnan(xb))
			snprintf(cb, sizeof(cb), "%.2f", xb);
		if (!isnan(xi))
			snprintf(ci, sizeof(ci), "%.3f", xi);
		printf("%-7s %-10s %-19s %11.4f %9.1f %s %8s %9s %9s\n", hpc_op_name(pt->op),
		       pt->size, impl_label[im], t * 1e3, r, mm ? "GFLOP/s" : "GB/s   ", cl, cb, ci);
		fprintf(b->csv, "%s,f64,%llu,%llu,%llu,%llu,%s,%d,%.9g,%.9g,%d,%.6g,%.6g,%.6g,%s,%.6g,%.6g,%.6g,%.6g,%.9g\n",
			hpc_op_name(pt->op), (unsigned long long)pt->xsize,
			(unsigned long long)pt->m, (unsigned long long)pt->n,
			(unsigned long long)pt->k, impl_name[im],
			im == IM_SERIAL ? 1 : b->threads, t, pt->tmin[im], pt->samples[im],
			pt->bytes, pt->flops, r, mm ? "GFLOP/s" : "GB/s", mm ? NAN : rate(pt, tlim),
			xl, xb, xi, im == IM_OMP ? pt->inside : NAN);
	}
	fflush(b->csv);
	fflush(stdout);
}

/* ---- targets ------------------------------------------------------------------------------ */

struct verdicts {
	int checked, missed;
};

static void verdict(struct verdicts *v, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void verdict(struct verdicts *v, int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("  [%s] ", ok ? "PASS" : "MISS");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	v->checked++;
	v->missed += !ok;
}

static void targets(struct point *pts, int npts, int quick)
{
	struct verdicts v = {0, 0};
	printf("\nTargets (ratios from this run; limit = read or triad of the same operands, "
	       "moments apart)%s\n",
	       quick ? "\n  --quick: these sizes sit in the caches; the targets are meant for a "
		       "full run" : "");
	for (int i = 0; i < npts; i++) {
		struct point *pt = &pts[i];
		const double t = pt->t[IM_OMP];
		const int mm = pt->op == HPC_OP_MATMUL, mv = pt->op == HPC_OP_MATVEC;
		/* The sizes the targets are about; --quick judges its largest sizes instead. */
		int big = mm ? pt->xsize >= 2000 : mv ? pt->xsize >= 4000 : pt->xsize >= 10000000;
		if (quick)
			big = i + 1 == npts || pts[i + 1].op != pt->op;
		if (!big)
			continue;
		const char *op = hpc_op_name(pt->op) ? hpc_op_name(pt->op) : "?";
		if (mm) {
			double x = pt->t[IM_OPENBLAS] / t;
			verdict(&v, x >= 0.5,
				"matmul f64 %-8s %6.1f GFLOP/s = %.2f x OpenBLAS dgemm (%.1f)   "
				"target >= 0.50",
				pt->size, rate(pt, t), x, rate(pt, pt->t[IM_OPENBLAS]));
		} else {
			double x = pt->t[IM_LIMIT] / t;
			verdict(&v, x >= 0.9,
				"%-6s f64 %-8s %6.1f GB/s = %.2f x %s (%.1f GB/s)   target >= 0.90", op,
				pt->size, rate(pt, t), x,
				pt->op == HPC_OP_AXPY ? "triad" : "read", rate(pt, pt->t[IM_LIMIT]));
			if (mv) {
				double y = pt->t[IM_OPENBLAS] / t;
				verdict(&v, y >= 1.0,
					"matvec f64 %-8s %.2f x the speed of OpenBLAS dgemv "
					"(%.2f ms vs %.2f ms)   target >= 1.00",
					pt->size, y, t * 1e3, pt->t[IM_OPENBLAS] * 1e3);
			}
		}
		double d = t / pt->t[IM_INPROC];
		verdict(&v, d <= 1.05,
			"%-6s f64 %-8s through hpcd / in-process = %.3f (%.3f ms vs %.3f ms; "
			"%.3f ms of it in the backend)   target <= 1.05",
			op, pt->size, d, t * 1e3, pt->t[IM_INPROC] * 1e3, pt->inside * 1e3);
	}
	printf("\n%d of %d targets met%s\n", v.checked - v.missed, v.checked,
	       quick ? " (quick run: not a judgement)" : "");
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr,
		"usage: kernels_bench [--out DIR] [--quick] [--threads T] [--hpcd PATH]\n"
		"                     [--plugins DIR] [--plot-script FILE] [--ops matvec,dot,...]\n");
	exit(2);
}

/* A path relative to where `bazel run` was started, not to the runfiles. */
static void user_path(const char *p, char *out, size_t len)
{
	const char *wd = getenv("BUILD_WORKING_DIRECTORY");
	if (p[0] != '/' && wd)
		snprintf(out, len, "%s/%s", wd, p);
	else
		snprintf(out, len, "%s", p);
}

/*
 * The 1-minute load average, with a warning when other work shares the cores:
 * a two-thread job then waits for a scheduler slice whenever one of its
 * threads is not running, and the figures say more about the neighbours than
 * about the kernels.
 */
static void print_load(const char *when, int warn)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (l < 0)
		return;
	printf("%s: %.2f (1-minute load average, %ld CPUs)%s\n", when, l, ncpu,
	       warn && l > 0.5 * (double)ncpu ? "  WARNING: the machine is busy; expect noisy figures" : "");
}

static int have_gnuplot(void)
{
	return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

int main(int argc, char **argv)
{
	bench_omp_wait_like_hpcd(argv);
	const char *hpcd = "daemon/hpcd", *plugins = "plugins", *plot = "bench/plot.gp";
	const char *outarg = "kernels_bench_out";
	int threads = 2, quick = 0;
	uint32_t opmask = HPC_OPS_ALL;
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},     {"quick", no_argument, NULL, 'q'},
		{"threads", required_argument, NULL, 't'}, {"hpcd", required_argument, NULL, 'd'},
		{"plugins", required_argument, NULL, 'p'}, {"plot-script", required_argument, NULL, 'g'},
		{"ops", required_argument, NULL, 'x'},     {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'o': outarg = optarg; break;
		case 'q': quick = 1; break;
		case 't': threads = atoi(optarg); break;
		case 'd': hpcd = optarg; break;
		case 'p': plugins = optarg; break;
		case 'g': plot = optarg; break;
		case 'x':
			opmask = 0;
			for (uint32_t op = 1; op < HPC_OP__COUNT; op++)
				if (strstr(optarg, hpc_op_name(op)))
					opmask |= HPC_OP_BIT(op);
			if (!opmask)
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc || threads < 1 || threads > 64)
		usage();

	char outdir[PATH_MAX], plugdir[PATH_MAX], csvpath[PATH_MAX + 32], svgpath[PATH_MAX + 32];
	user_path(outarg, outdir, sizeof(outdir));
	if (mkdir(outdir, 0777) < 0 && errno != EEXIST)
		bench_die("cannot create %s: %s", outdir, strerror(errno));
	if (!realpath(plugins, plugdir))
		bench_die("no plugin folder %s", plugins);
	snprintf(csvpath, sizeof(csvpath), "%s/kernels_bench.csv", outdir);
	snprintf(svgpath, sizeof(svgpath), "%s/kernels_bench.svg", outdir);

	/* The sizes. */
	static const uint64_t mv_full[] = {500, 1000, 2000, 4000, 8000, 12000};
	static const uint64_t vec_full[] = {1000, 10000, 100000, 1000000, 10000000, 100000000};
	static const uint64_t mm_full[] = {250, 500, 1000, 2000};
	static const uint64_t mv_quick[] = {100, 500};
	static const uint64_t vec_quick[] = {1000, 100000, 1000000};
	static const uint64_t mm_quick[] = {64, 250};
	const uint64_t *mvs = quick ? mv_quick : mv_full, *vecs = quick ? vec_quick : vec_full,
		       *mms = quick ? mm_quick : mm_full;
	const int nmv = quick ? 2 : 6, nvec = quick ? 3 : 6, nmm = quick ? 2 : 4;
	const uint64_t mv_max = mvs[nmv - 1], vec_max = vecs[nvec - 1], mm_max = mms[nmm - 1];
	/* STREAM over arrays well past the last-level cache. */
	const uint64_t stream_n = quick ? (8u << 20) : 100000000;

	/* Region buffers: P holds A (matvec, matmul) or x; Q holds x or y; R the output. */
	size_t np = mv_max * mv_max, nq = vec_max;
	if (np < vec_max)
		np = vec_max;
	if (np < mm_max * mm_max)
		np = mm_max * mm_max;
	if (np < stream_n)
		np = stream_n;
	if (nq < mm_max * mm_max)
		nq = mm_max * mm_max;
	if (nq < stream_n)
		nq = stream_n;
	size_t arena = (np + 2 * nq) * sizeof(double) + (64u << 20);

	struct bench_daemon d;
	if (bench_daemon_start(&d, hpcd, plugdir, "/tmp/hpcd-kbench-", 10,
			       "max_arena_mb = %zu\n"
			       "[backend serial]\nplugin = serial\n"
			       "[backend omp]\nplugin = openmp\nthreads = %d\n",
			       (arena >> 20) + 16, threads) < 0)
		bench_die("%s", d.err);

	struct bench b = {.threads = threads, .quick = quick, .np = np, .nq = nq};
	int rc = hpc_connect(d.sock, arena, &b.c);
	if (rc < 0)
		bench_die("connect: %s", hpc_strerror(rc, 0));
	b.P = hpc_alloc(b.c, np * sizeof(double));
	b.Q = hpc_alloc(b.c, nq * sizeof(double));
	b.R = hpc_alloc(b.c, nq * sizeof(double));
	if (!b.P || !b.Q || !b.R)
		bench_die("no room for %.1f GB in the region", (double)arena / 1e9);
	/* Fill (and fault in) the operands with values in [-0.5, 0.5). */
#pragma omp parallel for num_threads(threads) schedule(static)
	for (size_t i = 0; i < np; i++)
		b.P[i] = (double)((i * 2654435761u) % 1000) / 1000.0 - 0.5;
#pragma omp parallel for num_threads(threads) schedule(static)
	for (size_t i = 0; i < nq; i++) {
		b.Q[i] = (double)((i * 40503u) % 997) / 997.0 - 0.5;
		b.R[i] = 0.0;
	}
	char err[256], tv[16];
	snprintf(tv, sizeof(tv), "%d", threads);
	if (bench_plugin_load(&b.omp, plugdir, "openmp", err, sizeof(err)) < 0)
		bench_die("%s", err);
	if (bench_plugin_open(&b.omp, "bench", &b.omp_state, err, sizeof(err), "threads", tv,
			      NULL) < 0)
		bench_die("open openmp in-process: %s", err);
	openblas_set_num_threads(threads);

	b.csv = fopen(csvpath, "w");
	if (!b.csv)
		bench_die("cannot write %s: %s", csvpath, strerror(errno));
	fprintf(b.csv, "op,dtype,size,m,n,k,impl,threads,median_s,min_s,samples,bytes,flops,rate,"
		       "unit,limit_gbs,x_limit,x_openblas,daemon_over_inproc,inside_hpcd_s\n");

	char cpu[128] = "?";
	FILE *ci = fopen("/proc/cpuinfo", "r");
	if (ci) {
		char line[256];
		while (fgets(line, sizeof(line), ci))
			if (strncmp(line, "model name", 10) == 0) {
				char *p = strchr(line, ':');
				snprintf(cpu, sizeof(cpu), "%.100s", p ? p + 2 : line);
				cpu[strcspn(cpu, "\n")] = 0;
				break;
			}
		fclose(ci);
	}
	printf("hpcd kernels_bench%s: %d threads everywhere; %ld CPUs online (%s)\n",
	       quick ? " --quick" : "", threads, sysconf(_SC_NPROCESSORS_ONLN), cpu);
	printf("OpenBLAS: %s\n", openblas_get_config());
	print_load("load at start", 1);

	/* The machine's limit, over arrays far past the caches. */
	double rd[5], tr[5];
	for (int i = 0; i < 5; i++) {
		rd[i] = stream_read(b.P, stream_n, NULL, 0, threads);
		tr[i] = stream_triad(b.R, b.P, b.Q, stream_n, threads);
	}
	double rbw = (double)stream_n * 8 / bench_median(rd, 5) / 1e9;
	double tbw = (double)stream_n * 24 / bench_median(tr, 5) / 1e9;
	printf("STREAM (%d threads, %.0f MB arrays in the client's region): read %.1f GB/s, "
	       "triad %.1f GB/s (24 bytes per element)\n",
	       threads, (double)stream_n * 8 / 1e6, rbw, tbw);
	fprintf(b.csv, "stream-read,f64,%llu,0,%llu,0,limit,%d,%.9g,%.9g,5,%.6g,0,%.6g,GB/s,%.6g,,,,\n",
		(unsigned long long)stream_n, (unsigned long long)stream_n, threads,
		bench_median(rd, 5), rd[0], (double)stream_n * 8, rbw, rbw);
	fprintf(b.csv, "stream-triad,f64,%llu,0,%llu,0,limit,%d,%.9g,%.9g,5,%.6g,0,%.6g,GB/s,%.6g,,,,\n",
		(unsigned long long)stream_n, (unsigned long long)stream_n, threads,
		bench_median(tr, 5), tr[0], (double)stream_n * 24, tbw, tbw);

	printf("\nmedian times; x limit = time of a STREAM read (triad for axpy) of the same "
	       "operands / time;\nx OpenBLAS = OpenBLAS time / time (> 1: faster than OpenBLAS; "
	       "sum's peer is dasum);\nhpcd/inproc = time through the daemon / the same kernel "
	       "in-process\n\n");
	printf("%-7s %-10s %-19s %11s %17s %8s %9s %9s\n", "op", "size", "variant", "time (ms)",
	       "rate", "x limit", "x OpenBLAS", "hpcd/inproc");

	struct point pts[32];
	int npts = 0;
	for (int i = 0; i < nmv; i++) {
		static char lbl[8][16];
		snprintf(lbl[i], sizeof(lbl[i]), "N=%llu", (unsigned long long)mvs[i]);
		pts[npts++] = (struct point){.op = HPC_OP_MATVEC, .m = mvs[i], .n = mvs[i],
					     .size = lbl[i], .xsize = mvs[i],
					     .bytes = (double)mvs[i] * (double)(mvs[i] + 2) * 8};
	}
	for (uint32_t op = HPC_OP_DOT; op <= HPC_OP_AXPY; op++)
		for (int i = 0; i < nvec; i++) {
			static char lbl[8][16];
			snprintf(lbl[i], sizeof(lbl[i]), "n=1e%d", (int)lround(log10((double)vecs[i])));
			double per = op == HPC_OP_DOT ? 16 : op == HPC_OP_SUM ? 8 : 24;
			pts[npts++] = (struct point){.op = op, .n = vecs[i], .size = lbl[i],
						     .xsize = vecs[i],
						     .bytes = per * (double)vecs[i]};
		}
	for (int i = 0; i < nmm; i++) {
		static char lbl[8][16];
		snprintf(lbl[i], sizeof(lbl[i]), "N=%llu", (unsigned long long)mms[i]);
		double nn = (double)mms[i];
		pts[npts++] = (struct point){.op = HPC_OP_MATMUL, .m = mms[i], .n = mms[i],
					     .k = mms[i], .size = lbl[i], .xsize = mms[i],
					     .flops = 2 * nn * nn * nn};
	}
	int kept = 0;
	for (int i = 0; i < npts; i++)
		if (opmask & HPC_OP_BIT(pts[i].op))
			pts[kept++] = pts[i];
	npts = kept;
	double t0 = bench_now_s();
	for (int i = 0; i < npts; i++) {
		if (i && pts[i].op != pts[i - 1].op)
			printf("\n");
		measure(&b, &pts[i]);
		report(&b, &pts[i]);
	}
	double elapsed = bench_now_s() - t0;
	fclose(b.csv);

	print_load("load at end (this run included)", 0);
	targets(pts, npts, quick);
	printf("measured in %.0f s; figures in %s\n", elapsed, csvpath);

	if (have_gnuplot()) {
		char cmd[3 * PATH_MAX + 128];
		snprintf(cmd, sizeof(cmd), "gnuplot -e \"csv='%s'; out='%s'\" '%s'", csvpath,
			 svgpath, plot);
		if (system(cmd) == 0)
			printf("plot in %s\n", svgpath);
		else
			bench_warn("gnuplot failed: %s", cmd);
	} else {
		printf("no gnuplot here: no plot (apt-get install gnuplot-nox)\n");
	}

	b.omp.ops->close(b.omp_state);
	hpc_close(b.c);
	if (bench_daemon_stop(&d) < 0)
		bench_warn("could not remove %s", d.dir);
	return 0;
}

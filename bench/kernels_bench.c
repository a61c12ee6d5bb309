/*
 * kernels_bench - each op through hpcd next to the machine's limit and to
 * OpenBLAS, all measured in one run on the same thread count:
 *
 *   bazel run -c opt //bench:kernels_bench -- --out DIR [--quick] [--threads 2]
 *   bazel run -c opt //bench:kernels_bench -- --stability 9   (item 4 of issue 14)
 *
 * For every op, f64 and f32, and a range of sizes it times, on the same
 * memory (the client's region, where the operands already are):
 *  - the job through the daemon, for every backend the benchmark configures
 *    (serial, and openmp with --threads threads);
 *  - the openmp plugin's kernel in-process (the same .so, dlopen()ed here);
 *  - OpenBLAS (gemv, dot, asum for sum, axpy, gemm; d or s) in-process, with
 *    the same thread count, on the best core type the CPU allows
 *    (bench_prepare_process(): the header line says which ran and why);
 *  - for the memory-bound ops, a STREAM-style read (or triad, for axpy) of
 *    the same bytes, moments apart: the limit. It is timed pass by pass on a
 *    team kept warm (bench_limits.h), so that at sizes that fit in a cache it
 *    is the cache's limit, not the cost of waking a team.
 * The machines are noisy and their memory bandwidth drifts, so the variants
 * are measured in interleaved rounds, and every ratio is paired: each round's
 * best time of one variant against the same round's best of the other (moments
 * apart, under the same neighbours and the same bandwidth), the median of
 * those over the rounds. A slow drift then moves both sides of each pair; a
 * burst of a neighbour's work lengthens a run, which the best of a round drops.
 * A judged point runs rounds until the medians it is judged on are known to
 * +-2.5% (their 95% intervals, printed with the targets), within a budget of
 * rounds and seconds: a quiet machine is done in 15 rounds, a noisy one takes
 * more, and a line's interval says how far its verdict can be trusted.
 *
 * Prints the machine's peak (each factor measured), a table (time, GB/s or
 * GFLOP/s, ratios to the limit, to OpenBLAS and to the in-process kernel),
 * then the targets with PASS or MISS; writes DIR/kernels_bench.csv and, when
 * gnuplot is there, DIR/kernels_bench.svg (bench/plot.gp, f64).
 */
#include <errno.h>
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

#include "bench/bench_limits.h"
#include "bench/bench_util.h"
#include "hpc/client.h"
#include "hpc/plugin.h"

/* ---- small helpers ------------------------------------------------------------- */

static void pause_ms(int ms)
{
	usleep((useconds_t)ms * 1000u);
}

/* ---- what is measured ------------------------------------------------------------------ */

enum impl {
	IM_SERIAL, /* serial backend through hpcd */
	IM_OMP,    /* openmp backend through hpcd */
	IM_INPROC, /* the openmp plugin in-process */
	IM_OPENBLAS,
	IM_LIMIT, /* STREAM read (or triad for axpy) of the same operands */
	IM__COUNT
};

static const char *const impl_name[IM__COUNT] = {"serial", "omp", "omp-inproc", "openblas",
						 "limit"};
static const char *const impl_label[IM__COUNT] = {"serial (hpcd)", "openmp (hpcd)",
						  "openmp in-process", "OpenBLAS", "memory limit"};

struct bench {
	struct hpc_client *c;
	struct bench_plugin omp; /* the openmp plugin in-process */
	void *omp_state;
	int threads;
	int quick;
	double *P, *Q, *R; /* region buffers (f32 operands use the same bytes) */
	size_t np, nq;     /* their lengths in doubles (R has nq) */
	FILE *csv;
	struct bench_peak peak;
	double llc; /* bytes of the last-level cache */
};

/*
 * Rounds of a point: judged points run until the ratios they are judged on are
 * known to +-PRECISION (the 95% interval of each median, below), at least
 * MIN_ROUNDS_MEM (memory-bound) or MIN_ROUNDS (matmul) and at most MAX_ROUNDS
 * rounds or ROUNDS_BUDGET_S seconds; the other points run MIN_ROUNDS.
 */
enum { MIN_ROUNDS = 5, MIN_ROUNDS_MEM = 15, MAX_ROUNDS = 45 };
static const double PRECISION = 0.025, ROUNDS_BUDGET_S = 20;

/* One op at one size. */
struct point {
	uint32_t op, dtype;
	uint64_t m, n, k;    /* as in hpc/types.h */
	char size[24];       /* label */
	uint64_t xsize;      /* the size plotted (N or n) */
	int square;          /* matmul: m = n = k */
	double bytes;        /* memory traffic of one run (0 for matmul) */
	double flops;        /* for matmul */
	double t[IM__COUNT]; /* median seconds, NAN when not measured */
	double tmin[IM__COUNT], tmax[IM__COUNT];
	int samples[IM__COUNT];
	int rounds;
	double best[IM__COUNT][MAX_ROUNDS]; /* each round's best time, NAN where not run */
	double inside; /* the openmp job's time inside hpcd (the backend's run only), as
			  round_best() */
};

static const double kAlpha = 1e-3;

/* The daemon's own timing of the last job (t_end - t_start of its completion). */
static double last_inside_s;

static volatile double sink;

static const char *dt_name(uint32_t dtype)
{
	return dtype == HPC_F32 ? "f32" : "f64";
}

/* What one sample of the limit costs: a few warm passes, about 20 ms in all. */
static double limit_s(struct bench *b, const struct point *pt)
{
	const size_t es = hpc_dtype_size(pt->dtype);
	const int passes = bench_passes_for(pt->bytes, 0.02);
	switch (pt->op) {
	case HPC_OP_MATVEC:
		return bench_read_s(b->P, pt->m * pt->n * es, NULL, 0, b->threads, passes);
	case HPC_OP_DOT:
		return bench_read_s(b->P, pt->n * es, b->Q, pt->n * es, b->threads, passes);
	case HPC_OP_SUM:
		return bench_read_s(b->P, pt->n * es, NULL, 0, b->threads, passes);
	case HPC_OP_AXPY:
		/* The triad in place over the same bytes (y += q x with q = 1e-3, as
		 * axpy does to the same y): two streams read, one of them written back. */
		return bench_update_s(b->Q, b->P, pt->n * es, b->threads, passes);
	default:
		return NAN;
	}
}

/*
 * The OpenBLAS call of each op, for T (double or float) through the BLAS prefix P (d or s),
 * on the three buffers in order: A, x, y for matvec and matmul; x, y for dot and axpy; x for
 * sum (as run_impl hands them to hpcd).
 */
#define BLAS_RUNNER(NAME, T, P)                                                                    \
	static void NAME(const struct point *pt, T *A, T *x, T *y)                                 \
	{                                                                                          \
		const int m = (int)pt->m, n = (int)pt->n, k = (int)pt->k;                          \
		switch (pt->op) {                                                                  \
		case HPC_OP_MATVEC:                                                                \
			cblas_##P##gemv(CblasRowMajor, CblasNoTrans, m, n, 1, A, n, x, 1, 0, y,    \
					1);                                                        \
			break;                                                                     \
		case HPC_OP_MATMUL:                                                                \
			cblas_##P##gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1, A,  \
					k, x, n, 0, y, n);                                         \
			break;                                                                     \
		case HPC_OP_DOT:                                                                   \
			sink = cblas_##P##dot(n, A, 1, x, 1);                                      \
			break;                                                                     \
		case HPC_OP_SUM:                                                                   \
			sink = cblas_##P##asum(n, A, 1);                                           \
			break;                                                                     \
		case HPC_OP_AXPY:                                                                  \
			cblas_##P##axpy(n, (T)kAlpha, A, 1, x, 1);                                 \
			break;                                                                     \
		}                                                                                  \
	}
BLAS_RUNNER(run_blas_f64, double, d)
BLAS_RUNNER(run_blas_f32, float, s)

/* Runs one variant once; returns its time in seconds. */
static double run_impl(struct bench *b, struct point *pt, enum impl im)
{
	const uint64_t m = pt->m, n = pt->n, k = pt->k;
	if (im == IM_LIMIT)
		return limit_s(b, pt);
	/* The three buffers go to the operands the op uses, in role order (hpc/ops.h):
	 * A, x, y for matvec and matmul; x, y for dot and axpy; x for sum. */
	void *buf[HPC_ARG__COUNT] = {b->P, b->Q, b->R}, *arg[HPC_ARG__COUNT] = {NULL, NULL, NULL};
	const struct hpc_op_desc *d = hpc_op_desc(pt->op);
	for (int a = 0, next = 0; a < HPC_ARG__COUNT; a++)
		if (hpc_op_uses(d, (enum hpc_arg)a))
			arg[a] = buf[next++];
	double t0 = bench_now_s();
	if (im == IM_SERIAL || im == IM_OMP || im == IM_INPROC) {
		struct hpc_request r = {.op = pt->op,
					.dtype = pt->dtype,
					.m = m,
					.n = n,
					.k = k,
					.a = arg[HPC_ARG_A],
					.b = arg[HPC_ARG_B],
					.out = arg[HPC_ARG_OUT],
					.alpha = kAlpha,
					.backend = im == IM_SERIAL ? "serial" : "omp"};
		if (im == IM_INPROC) {
			struct hpc_job j = {.op = r.op,
					    .dtype = r.dtype,
					    .m = m,
					    .n = n,
					    .k = k,
					    .a = r.a,
					    .b = r.b,
					    .out = r.out,
					    .alpha = r.alpha,
					    .region_fd = -1};
			int rc = b->omp.ops->run(b->omp_state, &j);
			if (rc)
				bench_die("%s in-process failed: %s", hpc_op_name(pt->op),
					  strerror(-rc));
			sink = j.result;
		} else {
			struct hpc_completion done = {.status = 0};
			int rc = hpc_run(b->c, &r, &done);
			if (rc) {
				/* The job's operands and the arena, for a report. */
				size_t asz = 0;
				unsigned char *base = hpc_arena(b->c, &asz);
				bench_warn(
				    "arena %p + %zu; a %td b %td out %td; m %llu n %llu k %llu",
				    (void *)base, asz, r.a ? (const unsigned char *)r.a - base : -1,
				    r.b ? (const unsigned char *)r.b - base : -1,
				    r.out ? (unsigned char *)r.out - base : -1,
				    (unsigned long long)m, (unsigned long long)n,
				    (unsigned long long)k);
				bench_die(
				    "%s %s %s through hpcd (%s) failed: %s (rc %d, status %d, "
				    "detail %u)",
				    hpc_op_name(pt->op), dt_name(pt->dtype), pt->size, r.backend,
				    hpc_strerror(rc, done.status == rc ? done.detail : 0), rc,
				    done.status, (unsigned)done.detail);
			}
			sink = done.result;
			last_inside_s = (double)(done.t_end_ns - done.t_start_ns) * 1e-9;
		}
	} else if (pt->dtype == HPC_F32) {
		run_blas_f32(pt, buf[0], buf[1], buf[2]);
	} else {
		run_blas_f64(pt, buf[0], buf[1], buf[2]);
	}
	return bench_now_s() - t0;
}

/* Whether variant im is measured at point pt. */
static int wanted(const struct point *pt, enum impl im)
{
	if (im == IM_LIMIT && pt->op == HPC_OP_MATMUL)
		return 0;
	/* The serial reference would take minutes at the large matmuls. */
	if (im == IM_SERIAL && pt->op == HPC_OP_MATMUL && pt->flops > 1.1e9)
		return 0;
	return 1;
}

/* Whether the targets are about this point's size (a full run; --quick judges its largest). */
static int target_size(const struct point *pt)
{
	switch (pt->op) {
	case HPC_OP_MATMUL:
		return pt->flops >= 2.0 * 500 * 500 * 500;
	case HPC_OP_MATVEC:
		return pt->xsize >= 4000;
	default:
		return pt->xsize >= 10000000;
	}
}

/* The operands' bytes: axpy's traffic reads and writes y, its operands are two thirds of it. */
static double footprint(const struct point *pt)
{
	return pt->op == HPC_OP_AXPY ? pt->bytes * 2 / 3 : pt->bytes;
}

/*
 * Whether a full run judges this point: a target size, and for the memory-bound
 * ops operands of at least three times the last-level cache. Within reach of it
 * (under 3 x), the L3 of the AMD EPYC here keeps part of a stream from one pass
 * to the next: back-to-back reads of 64-80 MB ran 1.13-1.46 x faster than the
 * same reads after 256 MB of other traffic, 100 MB and more 0.83-1.23 x, around 1
 * within the drift of this machine (bench/llc_retention, three runs), so that the
 * read that is the limit would measure partly the cache.
 */
static int judged(const struct bench *b, const struct point *pt)
{
	return target_size(pt) && (pt->op == HPC_OP_MATMUL || footprint(pt) >= 3 * b->llc);
}

static double paired(const struct point *pt, enum impl num, enum impl den, double *lo, double *hi);

/*
 * Whether a judged point's openmp job is judged against reference ref: the
 * memory-bound ops against the limit, matmul and matvec against OpenBLAS,
 * every op against its own kernel in-process (the cost of the daemon).
 */
static int judged_against(const struct point *pt, enum impl ref)
{
	switch (ref) {
	case IM_LIMIT:
		return pt->op != HPC_OP_MATMUL;
	case IM_OPENBLAS:
		return pt->op == HPC_OP_MATMUL || pt->op == HPC_OP_MATVEC;
	case IM_INPROC:
		return 1;
	default:
		return 0;
	}
}

/* Whether every ratio a target judges at this point is known to +-PRECISION. */
static int precise(const struct point *pt)
{
	static const enum impl refs[] = {IM_LIMIT, IM_OPENBLAS, IM_INPROC};
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		if (!judged_against(pt, refs[i]))
			continue;
		double lo, hi;
		double x = refs[i] == IM_INPROC ? paired(pt, IM_OMP, IM_INPROC, &lo, &hi)
						: paired(pt, refs[i], IM_OMP, &lo, &hi);
		if (hi - lo > 2 * PRECISION * x)
			return 0;
	}
	return 1;
}

/*
 * Measure every variant of one point: a warm-up each, then `rounds` rounds in
 * which each variant runs a few times back to back. Between variants a pause
 * lets the previous one's idle threads (libgomp's here and in the daemon,
 * OpenBLAS's) stop spinning, so that they do not steal the two cores.
 */
static void measure(struct bench *b, struct point *pt)
{
	/* The memory-bound points that are judged take more rounds: the bandwidth of the
	 * machines here moves by a factor of up to two within seconds (a read of 800 MB
	 * took 31 to 57 ms in one point's rounds), much more than their compute does. */
	const int jd = !b->quick && judged(b, pt);
	const int min_rounds = b->quick                        ? 2
			       : jd && pt->op != HPC_OP_MATMUL ? MIN_ROUNDS_MEM
							       : MIN_ROUNDS;
	const int max_rounds = jd ? MAX_ROUNDS : min_rounds;
	enum { MAXS = 3 * MAX_ROUNDS };
	double s[IM__COUNT][MAXS], inside[MAX_ROUNDS]; /* the backend's time of each round's best */
	int per[IM__COUNT];
	for (int im = 0; im < IM__COUNT; im++) {
		pt->t[im] = pt->tmin[im] = pt->tmax[im] = NAN;
		pt->samples[im] = 0;
		per[im] = 0;
		for (int r = 0; r < MAX_ROUNDS; r++)
			pt->best[im][r] = NAN;
		if (!wanted(pt, im))
			continue;
		double w = run_impl(b, pt, im);
		/* Enough runs for ~0.1 s per round, at most 3, at least 1;
		 * something slower than 1 s (serial at the top sizes) runs once. */
		per[im] = w > 1.0 ? 0 : w > 0.1 ? 1 : (int)fmin(3, 0.1 / fmax(w, 1e-9));
		if (w > 1.0 && im == IM_SERIAL) {
			s[im][0] = w;
			pt->samples[im] = 1;
		} else if (w > 1.0) {
			per[im] = 1; /* a large matmul: still one per round */
		}
		pause_ms(im == IM_OPENBLAS ? 200 : 20);
	}
	/* The order of a round: the job through hpcd between the two it is judged
	 * against, the limit and the same kernel in-process, so that each pair runs
	 * back to back. Odd rounds go backwards, so that neither always goes first. */
	static const enum impl order[IM__COUNT] = {IM_SERIAL, IM_OPENBLAS, IM_INPROC, IM_OMP,
						   IM_LIMIT};
	const double t_start = bench_now_s();
	int r = 0;
	for (; r < max_rounds; r++) {
		pt->rounds = r;
		if (r >= min_rounds && (precise(pt) || bench_now_s() - t_start > ROUNDS_BUDGET_S))
			break;
		for (int j = 0; j < IM__COUNT; j++) {
			const enum impl im = order[r % 2 ? IM__COUNT - 1 - j : j];
			/* The serial backend is in the table, in no target: three rounds. */
			const int runs = im == IM_SERIAL && r >= 3 ? 0 : per[im];
			for (int i = 0; i < runs && pt->samples[im] < MAXS; i++) {
				double dt = run_impl(b, pt, im);
				s[im][pt->samples[im]++] = dt;
				if (!(dt >= pt->best[im][r])) {
					pt->best[im][r] = dt;
					if (im == IM_OMP)
						inside[r] = last_inside_s;
				}
			}
			if (runs)
				pause_ms(im == IM_OPENBLAS ? 200 : 20);
		}
	}
	pt->rounds = r;
	int ni = 0;
	for (int q = 0; q < r; q++)
		if (!isnan(pt->best[IM_OMP][q]))
			inside[ni++] = inside[q];
	pt->inside = ni ? bench_median(inside, ni) : NAN;
	for (int im = 0; im < IM__COUNT; im++) {
		if (!pt->samples[im])
			continue;
		pt->t[im] = bench_median(s[im], pt->samples[im]);
		pt->tmin[im] = s[im][0];
		pt->tmax[im] = s[im][pt->samples[im] - 1];
	}
}

/*
 * time(num) / time(den), paired by round (see the top): the median over the rounds of
 * the ratio of their best times in the round. *lo and *hi get the 95% confidence
 * interval of that median, from the order statistics alone (the k-th lowest and
 * highest round, k = (n - 1.96 sqrt(n)) / 2; no assumption on the noise's
 * distribution: a neighbour's burst is no Gaussian). From the medians of all
 * samples when no round ran both.
 */
static double paired(const struct point *pt, enum impl num, enum impl den, double *lo, double *hi)
{
	double x[MAX_ROUNDS];
	int n = 0;
	for (int r = 0; r < pt->rounds; r++)
		if (!isnan(pt->best[num][r]) && !isnan(pt->best[den][r]))
			x[n++] = pt->best[num][r] / pt->best[den][r];
	double med = n ? bench_median(x, n) : pt->t[num] / pt->t[den];
	const double kf = floor((n - 1.96 * sqrt(n)) / 2);
	const int k = kf > 0 ? (int)kf : 0;
	if (lo)
		*lo = n ? x[k] : med;
	if (hi)
		*hi = n ? x[n - 1 - k] : med;
	return med;
}

/*
 * The median over the rounds of variant im's best time in each: what the
 * paired ratios compare, so that a target line's rates agree with its ratio
 * (the median of all samples, in the table, also counts each round's first run
 * after the pause, which these machines slow by up to 2 x at a few ms).
 */
static double round_best(const struct point *pt, enum impl im)
{
	double x[MAX_ROUNDS];
	int n = 0;
	for (int r = 0; r < pt->rounds; r++)
		if (!isnan(pt->best[im][r]))
			x[n++] = pt->best[im][r];
	return n ? bench_median(x, n) : pt->t[im];
}

/* GB/s of the op's traffic, or GFLOP/s for matmul. */
static double rate(const struct point *pt, double t)
{
	return pt->op == HPC_OP_MATMUL ? pt->flops / t / 1e9 : pt->bytes / t / 1e9;
}

static void report(struct bench *b, const struct point *pt)
{
	const int mm = pt->op == HPC_OP_MATMUL;
	const double peak = pt->dtype == HPC_F32 ? b->peak.gflops_f32 : b->peak.gflops_f64;
	for (int im = 0; im < IM__COUNT; im++) {
		double t = pt->t[im];
		if (isnan(t))
			continue;
		double r = rate(pt, t);
		double xl = !mm && im != IM_LIMIT ? paired(pt, IM_LIMIT, im, NULL, NULL) : NAN;
		double xb = im != IM_OPENBLAS && im != IM_LIMIT
				? paired(pt, IM_OPENBLAS, im, NULL, NULL)
				: NAN;
		double xi = im == IM_OMP ? paired(pt, im, IM_INPROC, NULL, NULL) : NAN;
		char cl[16] = "", cb[16] = "", ci[16] = "";
		if (!isnan(xl))
			snprintf(cl, sizeof(cl), "%.2f", xl);
		else if (mm && im != IM_SERIAL)
			snprintf(cl, sizeof(cl), "%.0f%%pk", 100 * r / peak);
		if (!isnan(xb))
			snprintf(cb, sizeof(cb), "%.2f", xb);
		if (!isnan(xi))
			snprintf(ci, sizeof(ci), "%.3f", xi);
		printf("%-6s %-3s %-14s %-18s %10.3f %8.1f %s %7s %9s %9s  %4.0f%%\n",
		       hpc_op_name(pt->op), dt_name(pt->dtype), pt->size, impl_label[im], t * 1e3,
		       r, mm ? "GFLOP/s" : "GB/s   ", cl, cb, ci,
		       pt->samples[im] > 1 ? 100 * (pt->tmax[im] - pt->tmin[im]) / t : 0.0);
		fprintf(b->csv,
			"%s,%s,%llu,%llu,%llu,%llu,%s,%d,%.9g,%.9g,%d,%.6g,%.6g,%.6g,%s,%.6g,%.6g,%"
			".6g,%.6g,%.9g,%.9g\n",
			hpc_op_name(pt->op), dt_name(pt->dtype), (unsigned long long)pt->xsize,
			(unsigned long long)pt->m, (unsigned long long)pt->n,
			(unsigned long long)pt->k, impl_name[im], im == IM_SERIAL ? 1 : b->threads,
			t, pt->tmin[im], pt->samples[im], pt->bytes, pt->flops, r,
			mm ? "GFLOP/s" : "GB/s", mm ? NAN : rate(pt, pt->t[IM_LIMIT]), xl, xb, xi,
			im == IM_OMP ? pt->inside : NAN, pt->tmax[im]);
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

/*
 * The last-level cache in bytes: /sys's cache index 3 of CPU 0 (glibc's
 * sysconf answers ten times too much on the AMD EPYC here), else 32 MiB.
 */
static double llc_bytes(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
	double v = 0;
	char unit = 0;
	if (f) {
		if (fscanf(f, "%lf%c", &v, &unit) < 1)
			v = 0;
		fclose(f);
	}
	v *= unit == 'K' ? 1024 : unit == 'M' ? 1048576 : 1;
	return v > 0 ? v : 32.0 * 1048576;
}

static void targets(struct bench *b, struct point *pts, int npts, int quick)
{
	int skipped = 0;
	struct verdicts v = {0, 0};
	printf("\nTargets (ratios from this run, paired by round: the median of the rounds' "
	       "ratios of best times, [its 95%% interval], rounds;\nrates and times: the median "
	       "of the rounds' best; limit = read or triad of the same bytes, moments apart)%s\n",
	       quick ? "\n  --quick: these sizes sit in the caches; the targets are meant for a "
		       "full run"
		     : "");
	for (int i = 0; i < npts; i++) {
		struct point *pt = &pts[i];
		const double t = round_best(pt, IM_OMP);
		const int mm = pt->op == HPC_OP_MATMUL;
		const char *dt = dt_name(pt->dtype);
		int big = target_size(pt);
		if (quick)
			big = i + 1 == npts || pts[i + 1].op != pt->op ||
			      pts[i + 1].dtype != pt->dtype;
		if (!big)
			continue;
		if (!quick && !judged(b, pt)) {
			printf("  [----] %-6s %s %-8s not judged: %.0f MB of operands is within "
			       "reach of the %.0f MB last-level cache (under 3 x)\n",
			       hpc_op_name(pt->op), dt_name(pt->dtype), pt->size,
			       footprint(pt) / 1e6, b->llc / 1048576);
			skipped++;
			continue;
		}
		const char *op = hpc_op_name(pt->op) ? hpc_op_name(pt->op) : "?";
		double lo, hi;
		if (judged_against(pt, IM_LIMIT)) {
			double x = paired(pt, IM_LIMIT, IM_OMP, &lo, &hi);
			verdict(&v, x >= 0.9,
				"%-6s %s %-8s %6.1f GB/s = %.2f x %s (%.1f GB/s) [%.2f-%.2f, %d "
				"rounds]   target >= 0.90",
				op, dt, pt->size, rate(pt, t), x,
				pt->op == HPC_OP_AXPY ? "triad in place" : "read",
				rate(pt, round_best(pt, IM_LIMIT)), lo, hi, pt->rounds);
		}
		if (judged_against(pt, IM_OPENBLAS)) {
			double x = paired(pt, IM_OPENBLAS, IM_OMP, &lo, &hi);
			const char *p = pt->dtype == HPC_F32 ? "s" : "d";
			double pk = pt->dtype == HPC_F32 ? b->peak.gflops_f32 : b->peak.gflops_f64;
			if (mm)
				verdict(&v, x >= 0.9,
					"matmul %s %-14s %6.1f GFLOP/s (%2.0f%% of peak) = %.2f x "
					"OpenBLAS %sgemm (%.1f) [%.2f-%.2f, %d rounds]   target >= "
					"0.90",
					dt, pt->size, rate(pt, t), 100 * rate(pt, t) / pk, x, p,
					rate(pt, round_best(pt, IM_OPENBLAS)), lo, hi, pt->rounds);
			else
				verdict(&v, x >= 1.0,
					"matvec %s %-8s %.2f x the speed of OpenBLAS %sgemv (%.2f "
					"ms vs "
					"%.2f ms) [%.2f-%.2f, %d rounds]   target >= 1.00",
					dt, pt->size, x, p, t * 1e3,
					round_best(pt, IM_OPENBLAS) * 1e3, lo, hi, pt->rounds);
		}
		double d = paired(pt, IM_OMP, IM_INPROC, &lo, &hi);
		verdict(&v, d <= 1.05,
			"%-6s %s %-8s through hpcd / in-process = %.3f (%.3f ms vs %.3f ms; "
			"%.3f ms of it in the backend) [%.3f-%.3f, %d rounds]   target <= 1.05",
			op, dt, pt->size, d, t * 1e3, round_best(pt, IM_INPROC) * 1e3,
			pt->inside * 1e3, lo, hi, pt->rounds);
	}
	printf("\n%d of %d targets met%s", v.checked - v.missed, v.checked,
	       quick ? " (quick run: not a judgement)" : "");
	printf(skipped ? " (%d points not judged)\n" : "\n", skipped);
}

/*
 * Item 4 of issue 14: the N = 8000 matvec and the 1e8 sum (f64), each
 * interleaved with a read of the same bytes, `rounds` times; prints each
 * round's ratio and the median and spread, so that noise (ratios scattered
 * around one value, the read moving with them) can be told from a real
 * effect (the kernel's ratio low in every round).
 */
static void stability(struct bench *b, int rounds)
{
	struct point mv = {.op = HPC_OP_MATVEC,
			   .dtype = HPC_F64,
			   .m = 8000,
			   .n = 8000,
			   .size = "N=8000",
			   .bytes = 8000.0 * 8002 * 8};
	struct point sm = {
	    .op = HPC_OP_SUM, .dtype = HPC_F64, .n = 100000000, .size = "n=1e8", .bytes = 8e8};
	struct point *pp[2] = {&mv, &sm};
	enum { MAXR = 64 };
	double x[2][3][MAXR], gbs[2][3][MAXR]; /* [point][omp hpcd, inproc, read][round] */
	if (rounds > MAXR)
		rounds = MAXR;
	printf("\nstability: %d rounds; each round three times: read, hpcd, read, in-process (odd "
	       "rounds: in-process first);\nratio = the median read of the round / the kernel's "
	       "median time in it\n",
	       rounds);
	printf("%-7s %5s %10s %10s %10s %9s %9s\n", "op", "round", "read GB/s", "hpcd GB/s",
	       "inproc", "x read", "inproc x");
	for (int r = 0; r < rounds; r++) {
		for (int q = 0; q < 2; q++) {
			struct point *pt = pp[q];
			double rd[3], h[3], in[3], rr[3];
			/* Odd rounds run the in-process kernel first, so that neither follows
			 * the same neighbour every time. */
			const int flip = r % 2;
			for (int i = 0; i < 3; i++) {
				rd[i] = run_impl(b, pt, IM_LIMIT);
				if (flip)
					in[i] = run_impl(b, pt, IM_INPROC);
				else
					h[i] = run_impl(b, pt, IM_OMP);
				rr[i] = run_impl(b, pt, IM_LIMIT);
				if (flip)
					h[i] = run_impl(b, pt, IM_OMP);
				else
					in[i] = run_impl(b, pt, IM_INPROC);
			}
			double all[6] = {rd[0], rd[1], rd[2], rr[0], rr[1], rr[2]};
			double tr = bench_median(all, 6), th = bench_median(h, 3),
			       ti = bench_median(in, 3);
			x[q][0][r] = tr / th;
			x[q][1][r] = tr / ti;
			gbs[q][2][r] = pt->bytes / tr / 1e9;
			gbs[q][0][r] = pt->bytes / th / 1e9;
			gbs[q][1][r] = pt->bytes / ti / 1e9;
			printf("%-7s %5d %10.1f %10.1f %10.1f %9.2f %9.2f\n", pt->size, r,
			       gbs[q][2][r], gbs[q][0][r], gbs[q][1][r], x[q][0][r], x[q][1][r]);
			fflush(stdout);
			pause_ms(50);
		}
	}
	for (int q = 0; q < 2; q++) {
		double *h = x[q][0], *in = x[q][1], *rd = gbs[q][2];
		double mh = bench_median(h, rounds), mi = bench_median(in, rounds),
		       mr = bench_median(rd, rounds);
		int met = 0;
		for (int r = 0; r < rounds; r++)
			met += h[r] >= 0.9;
		const char *opname = hpc_op_name(pp[q]->op);
		printf("%s %s: x read through hpcd median %.2f (min %.2f, max %.2f); in-process "
		       "median %.2f (min %.2f, max %.2f); read median %.1f GB/s (min %.1f, max "
		       "%.1f); %d of %d rounds >= 0.90\n",
		       opname ? opname : "?", pp[q]->size, mh, h[0], h[rounds - 1], mi, in[0],
		       in[rounds - 1], mr, rd[0], rd[rounds - 1], met, rounds);
	}
}

/*
 * The operands, for f64 or for f32 jobs: the bits of doubles read as floats
 * would include NaNs and denormals (which make some processors slow), so each
 * type gets values of its own, in [-0.5, 0.5) for f64; for f32 +-[0.25, 0.5),
 * which read as doubles (by the limit's read) are normal numbers as well.
 */
static void fill(struct bench *b, uint32_t dtype)
{
	const size_t np = b->np, nq = b->nq;
	if (dtype == HPC_F64) {
#pragma omp parallel for num_threads(b->threads) schedule(static)
		for (size_t i = 0; i < np; i++)
			b->P[i] = (double)((i * 2654435761u) % 1000) / 1000.0 - 0.5;
#pragma omp parallel for num_threads(b->threads) schedule(static)
		for (size_t i = 0; i < nq; i++) {
			b->Q[i] = (double)((i * 40503u) % 997) / 997.0 - 0.5;
			b->R[i] = 0.0;
		}
		return;
	}
	float *P = (float *)b->P, *Q = (float *)b->Q, *R = (float *)b->R;
#pragma omp parallel for num_threads(b->threads) schedule(static)
	for (size_t i = 0; i < 2 * np; i++)
		P[i] = (float)(((i * 2654435761u) % 1000) / 4000.0 + 0.25) * (i & 1 ? -1.0f : 1.0f);
#pragma omp parallel for num_threads(b->threads) schedule(static)
	for (size_t i = 0; i < 2 * nq; i++) {
		Q[i] = (float)(((i * 40503u) % 997) / 3988.0 + 0.25) * (i & 2 ? -1.0f : 1.0f);
		R[i] = 0.25f;
	}
}

/* ---- main ------------------------------------------------------------------------------------ */

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
	       warn && l > 0.5 * (double)ncpu
		   ? "  WARNING: the machine is busy; expect noisy figures"
		   : "");
}

static int have_gnuplot(void)
{
	return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

static void print_peak(const struct bench_peak *p)
{
	printf("peak: %d cores (threads measured at once) x %.1f FMA/cycle of %d f64 lanes "
	       "x 2 flops x %.2f GHz = %.1f GFLOP/s f64, %.1f f32\n"
	       "      measured: clock = dependent integer adds per second under load; "
	       "FMA/cycle = 12 independent FMA chains (512-bit %.2f/cycle, 256-bit %.2f/cycle)\n",
	       p->cores, p->fma_per_cyc, p->width_f64, p->ghz, p->gflops_f64, p->gflops_f32,
	       p->fma_512, p->fma_256);
}

int main(int argc, char **argv)
{
	/* OMP_WAIT_POLICY as hpcd sets it, and OpenBLAS on its best core type: both are read
	 * when the libraries load, so this may start the program again. */
	bench_prepare_process(argv, BENCH_OMP_PASSIVE | BENCH_OPENBLAS_BEST);
	const char *hpcd = "daemon/hpcd", *plugins = "plugins", *plot = "bench/plot.gp";
	const char *outarg = "kernels_bench_out";
	int threads = 2, quick = 0, stab = 0;
	uint32_t opmask = HPC_OPS_ALL, dtmask = 3;
	const char *ops = NULL, *dtypes = NULL;
	const struct bench_arg args[] = {
	    {"out", BENCH_ARG_STR, &outarg, "DIR", 0, 0},
	    {"quick", BENCH_ARG_FLAG, &quick, NULL, 0, 0},
	    {"threads", BENCH_ARG_INT, &threads, "T", 1, 64},
	    BENCH_ARGS_DAEMON(&hpcd, &plugins),
	    {"plot-script", BENCH_ARG_STR, &plot, "FILE", 0, 0},
	    {"ops", BENCH_ARG_STR, &ops, "matvec,dot,...", 0, 0},
	    {"dtypes", BENCH_ARG_STR, &dtypes, "f64,f32", 0, 0},
	    {"stability", BENCH_ARG_INT, &stab, "ROUNDS", 0, 1000},
	    BENCH_ARG_END,
	};
	bench_parse_args(argc, argv, args);
	if (ops) {
		opmask = 0;
		for (uint32_t op = 1; op < HPC_OP__COUNT; op++)
			if (strstr(ops, hpc_op_name(op)))
				opmask |= HPC_OP_BIT(op);
		if (!opmask)
			bench_die("--ops %s names no op", ops);
	}
	if (dtypes) {
		dtmask = (strstr(dtypes, "f64") ? 1u : 0u) | (strstr(dtypes, "f32") ? 2u : 0u);
		if (!dtmask)
			bench_die("--dtypes %s names no dtype", dtypes);
	}

	char outdir[PATH_MAX], plugdir[PATH_MAX], csvpath[PATH_MAX + 32], svgpath[PATH_MAX + 32];
	user_path(outarg, outdir, sizeof(outdir));
	if (mkdir(outdir, 0777) < 0 && errno != EEXIST)
		bench_die("cannot create %s: %s", outdir, strerror(errno));
	bench_plugin_dir(plugins, plugdir);
	snprintf(csvpath, sizeof(csvpath), "%s/kernels_bench.csv", outdir);
	snprintf(svgpath, sizeof(svgpath), "%s/kernels_bench.svg", outdir);

	/* The sizes. */
	static const uint64_t mv_full[] = {500, 1000, 2000, 4000, 8000, 12000};
	static const uint64_t vec_full[] = {1000, 10000, 100000, 1000000, 10000000, 100000000};
	static const uint64_t mm_full[] = {250, 500, 1000, 2000, 4000};
	static const uint64_t mv_quick[] = {100, 500};
	static const uint64_t vec_quick[] = {1000, 100000, 1000000};
	static const uint64_t mm_quick[] = {64, 250};
	/* Shapes that are not multiples of any register tile (m, n, k), tall, wide and deep. */
	static const uint64_t odd_full[][3] = {
	    {1001, 999, 1003}, {3001, 257, 1999}, {257, 3001, 2003}, {2001, 2003, 97}};
	static const uint64_t odd_quick[][3] = {{67, 61, 53}};
	const uint64_t *mvs = quick ? mv_quick : mv_full, *vecs = quick ? vec_quick : vec_full,
		       *mms = quick ? mm_quick : mm_full;
	const uint64_t(*odds)[3] = quick ? odd_quick : odd_full;
	const int nmv = quick ? 2 : 6, nvec = quick ? 3 : 6, nmm = quick ? 2 : 5,
		  nodd = quick ? 1 : 4;
	uint64_t mv_max = mvs[nmv - 1], vec_max = vecs[nvec - 1], mm_max = mms[nmm - 1];
	if (stab) {
		mv_max = 8000;
		vec_max = 100000000;
		mm_max = 0;
	}
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
	for (int i = 0; i < nodd && !stab; i++) {
		if (np < odds[i][0] * odds[i][2])
			np = odds[i][0] * odds[i][2];
		if (nq < odds[i][2] * odds[i][1] || nq < odds[i][0] * odds[i][1])
			nq = odds[i][2] * odds[i][1] > odds[i][0] * odds[i][1]
				 ? odds[i][2] * odds[i][1]
				 : odds[i][0] * odds[i][1];
	}
	size_t arena = (np + 2 * nq) * sizeof(double) + (64u << 20);

	struct bench_daemon d;
	if (bench_daemon_start(&d, hpcd, plugdir, "/tmp/hpcd-kbench-", 10,
			       "max_arena_mb = %zu\n"
			       "[backend serial]\nplugin = serial\n"
			       "[backend omp]\nplugin = openmp\nthreads = %d\n",
			       (arena >> 20) + 16, threads) < 0)
		bench_die("%s", d.err);

	struct bench b = {
	    .threads = threads, .quick = quick, .np = np, .nq = nq, .llc = llc_bytes()};
	int rc = hpc_connect(d.sock, arena, &b.c);
	if (rc < 0)
		bench_die("connect: %s", hpc_strerror(rc, 0));
	b.P = hpc_alloc(b.c, np * sizeof(double));
	b.Q = hpc_alloc(b.c, nq * sizeof(double));
	b.R = hpc_alloc(b.c, nq * sizeof(double));
	if (!b.P || !b.Q || !b.R)
		bench_die("no room for %.1f GB in the region", (double)arena / 1e9);
	fill(&b, HPC_F64); /* and faults the region in */
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
	fprintf(b.csv,
		"op,dtype,size,m,n,k,impl,threads,median_s,min_s,samples,bytes,flops,rate,"
		"unit,limit_gbs,x_limit,x_openblas,daemon_over_inproc,inside_hpcd_s,max_s\n");

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
	printf("OpenBLAS core: %s\nOpenBLAS: %s\n", bench_openblas_note(), openblas_get_config());
	const char *isa_env = getenv("HPC_OMP_ISA");
	printf("openmp kernels: HPC_OMP_ISA=%s\n", isa_env ? isa_env : "(unset: the widest)");
	print_load("load at start", 1);
	bench_peak_measure(&b.peak, threads);
	print_peak(&b.peak);

	/* The machine's limit, over arrays far past the caches. */
	double rd[5], tr[5];
	for (int i = 0; i < 5; i++) {
		rd[i] = bench_read_s(b.P, stream_n * 8, NULL, 0, threads, 3);
		tr[i] = bench_triad_s(b.R, b.P, b.Q, stream_n * 8, threads, 3);
	}
	double rbw = (double)stream_n * 8 / bench_median(rd, 5) / 1e9;
	double tbw = (double)stream_n * 24 / bench_median(tr, 5) / 1e9;
	printf("STREAM (%d threads, %.0f MB arrays in the client's region): read %.1f GB/s, "
	       "triad %.1f GB/s (24 bytes per element)\n",
	       threads, (double)stream_n * 8 / 1e6, rbw, tbw);
	fprintf(b.csv,
		"stream-read,f64,%llu,0,%llu,0,limit,%d,%.9g,%.9g,5,%.6g,0,%.6g,GB/s,%.6g,,,,,\n",
		(unsigned long long)stream_n, (unsigned long long)stream_n, threads,
		bench_median(rd, 5), rd[0], (double)stream_n * 8, rbw, rbw);
	fprintf(b.csv,
		"stream-triad,f64,%llu,0,%llu,0,limit,%d,%.9g,%.9g,5,%.6g,0,%.6g,GB/s,%.6g,,,,,\n",
		(unsigned long long)stream_n, (unsigned long long)stream_n, threads,
		bench_median(tr, 5), tr[0], (double)stream_n * 24, tbw, tbw);

	if (stab) {
		stability(&b, stab);
		fclose(b.csv);
		b.omp.ops->close(b.omp_state);
		hpc_close(b.c);
		bench_daemon_stop(&d);
		return 0;
	}

	printf(
	    "\nmedian times; x limit = time of a read (for axpy: a triad in place, y += q x) of "
	    "the same bytes\nby a warm team / time (matmul: share of the peak instead); "
	    "x OpenBLAS = OpenBLAS time / time\n(> 1: faster than OpenBLAS; sum's peer is asum); "
	    "hpcd/inproc = time through the daemon / the same\nkernel in-process; spread = "
	    "(max - min) / median of the samples\n\n");
	printf("%-6s %-3s %-14s %-18s %10s %16s %7s %9s %9s %6s\n", "op", "dt", "size", "variant",
	       "time (ms)", "rate", "x limit", "x OpenBLAS", "hpcd/inproc", "spread");

	enum { MAXPTS = 96 };
	static struct point pts[MAXPTS];
	int npts = 0;
	/* (two types of 6 matvec sizes, 3 x 6 vector points, and the matmul shapes) */
	if (2 * (nmv + 3 * nvec + nmm + nodd) > MAXPTS)
		bench_die("%d points do not fit in %d", 2 * (nmv + 3 * nvec + nmm + nodd), MAXPTS);
	for (uint32_t dt = HPC_F64; dt <= HPC_F32; dt++) {
		const double es = (double)hpc_dtype_size(dt);
		for (int i = 0; i < nmv; i++) {
			struct point *p = &pts[npts++];
			*p = (struct point){.op = HPC_OP_MATVEC,
					    .dtype = dt,
					    .m = mvs[i],
					    .n = mvs[i],
					    .xsize = mvs[i],
					    .bytes = (double)mvs[i] * (double)(mvs[i] + 2) * es};
			snprintf(p->size, sizeof(p->size), "N=%llu", (unsigned long long)mvs[i]);
		}
		for (uint32_t op = HPC_OP_DOT; op <= HPC_OP_AXPY; op++)
			for (int i = 0; i < nvec; i++) {
				struct point *p = &pts[npts++];
				double per = op == HPC_OP_DOT ? 2 : op == HPC_OP_SUM ? 1 : 3;
				*p = (struct point){.op = op,
						    .dtype = dt,
						    .n = vecs[i],
						    .xsize = vecs[i],
						    .bytes = per * es * (double)vecs[i]};
				snprintf(p->size, sizeof(p->size), "n=1e%d",
					 (int)lround(log10((double)vecs[i])));
			}
		for (int i = 0; i < nmm + nodd; i++) {
			struct point *p = &pts[npts++];
			uint64_t m = i < nmm ? mms[i] : odds[i - nmm][0];
			uint64_t n = i < nmm ? mms[i] : odds[i - nmm][1];
			uint64_t k = i < nmm ? mms[i] : odds[i - nmm][2];
			*p = (struct point){.op = HPC_OP_MATMUL,
					    .dtype = dt,
					    .m = m,
					    .n = n,
					    .k = k,
					    .xsize = m,
					    .square = i < nmm,
					    .flops = 2.0 * (double)m * (double)n * (double)k};
			if (i < nmm)
				snprintf(p->size, sizeof(p->size), "N=%llu", (unsigned long long)m);
			else
				snprintf(p->size, sizeof(p->size), "%llux%llux%llu",
					 (unsigned long long)m, (unsigned long long)n,
					 (unsigned long long)k);
		}
	}
	int kept = 0;
	for (int i = 0; i < npts; i++)
		if ((opmask & HPC_OP_BIT(pts[i].op)) && (dtmask & (1u << pts[i].dtype)))
			pts[kept++] = pts[i];
	npts = kept;
	double t0 = bench_now_s();
	for (int i = 0; i < npts; i++) {
		if (i && (pts[i].op != pts[i - 1].op || pts[i].dtype != pts[i - 1].dtype))
			printf("\n");
		if (i && pts[i].dtype != pts[i - 1].dtype)
			fill(&b, pts[i].dtype);
		else if (!i && pts[i].dtype != HPC_F64)
			fill(&b, pts[i].dtype);
		measure(&b, &pts[i]);
		report(&b, &pts[i]);
	}
	double elapsed = bench_now_s() - t0;
	fclose(b.csv);

	print_load("load at end (this run included)", 0);
	targets(&b, pts, npts, quick);
	printf("measured in %.0f s; figures in %s\n", elapsed, csvpath);

	if (!(dtmask & 1u) || opmask != HPC_OPS_ALL) {
		/* bench/plot.gp draws a panel per op, from the f64 points. */
		printf("no plot: it shows every op in f64, which this run left out\n");
	} else if (have_gnuplot()) {
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

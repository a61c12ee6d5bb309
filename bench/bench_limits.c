/*
 * bench_limits - the machine's limits, measured in-process (bench_limits.h).
 */
#include "bench/bench_limits.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_util.h"

/* ---- the kernels ------------------------------------------------------------------
 * Compiled for the widest ISA at run time (function multiversioning), with
 * many independent accumulators, so that they measure memory, not latency. */

#define LANES 8
#define PARTS 4

/*
 * The chunk cut in PARTS equal parts read side by side: one sequential stream
 * per core leaves bandwidth unused (the hardware keeps only so many line fills
 * in flight per stream; two threads reading 800 MB ran at ~20 GB/s with one
 * stream each and ~25 with four on the AMD EPYC here), and a limit must be
 * the most the memory gives. LANES accumulators per part.
 */
__attribute__((target_clones("avx512f", "avx2", "default"))) static double
read_chunk(const double *x, size_t n)
{
	double s[PARTS][LANES] = {{0}};
	const size_t q = n / PARTS / LANES * LANES;
	for (size_t i = 0; i < q; i += LANES)
		for (int p = 0; p < PARTS; p++)
			for (int j = 0; j < LANES; j++)
				s[p][j] += x[(size_t)p * q + i + (size_t)j];
	for (size_t i = PARTS * q; i < n; i++)
		s[0][0] += x[i];
	double t = 0;
	for (int p = 0; p < PARTS; p++)
		for (int j = 0; j < LANES; j++)
			t += s[p][j];
	return t;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static void
triad_chunk(double *restrict a, const double *restrict b, const double *restrict c, double q,
	    size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = b[i] + q * c[i];
}

/* b += q*c: the triad in place, with axpy's traffic (no write-allocate of a third array). */
/* The two halves of update_chunk, each pointer its own (so that the compiler vectorises). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
update_halves(double *restrict b0, double *restrict b1, const double *restrict c0,
	      const double *restrict c1, double q, size_t h)
{
	for (size_t i = 0; i < h; i++) {
		b0[i] = b0[i] + q * c0[i];
		b1[i] = b1[i] + q * c1[i];
	}
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static void
update_chunk(double *restrict b, const double *restrict c, double q, size_t n)
{
	/* Two halves side by side, as the openmp axpy does: four streams. */
	const size_t h = n / 2 / 8 * 8;
	update_halves(b, b + h, c, c + h, q, h);
	for (size_t i = 2 * h; i < n; i++)
		b[i] = b[i] + q * c[i];
}

static volatile double sink;

/* ---- where the team runs ------------------------------------------------------------
 * As the openmp plugin runs its teams (kernels/openmp.c, "where the team
 * runs"): for traffic under 32 MiB the master on the first CPU and thread i on
 * the i-th; above it unbound (a pool thread bound earlier gets the whole mask
 * back), as the plugin leaves its long jobs to the scheduler. */

#define BIND_MAX_BYTES (32.0 * 1048576)

static int cpus[CPU_SETSIZE], ncpus = -1;
static cpu_set_t all_cpus;

static void bind_slot(int slot, int bind)
{
	if (ncpus < 2)
		return;
	if (!bind) {
		if (slot)
			sched_setaffinity(0, sizeof(all_cpus), &all_cpus);
		return;
	}
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpus[slot % ncpus], &one);
	sched_setaffinity(0, sizeof(one), &one);
}

static void team_enter(cpu_set_t *old, int bind)
{
	if (ncpus < 0) {
		cpu_set_t set;
		ncpus = 0;
		if (!getenv("OMP_PROC_BIND") && sched_getaffinity(0, sizeof(set), &set) == 0) {
			all_cpus = set;
			for (int c = 0; c < CPU_SETSIZE; c++)
				if (CPU_ISSET(c, &set))
					cpus[ncpus++] = c;
		}
	}
	sched_getaffinity(0, sizeof(*old), old);
	bind_slot(0, bind);
}

/*
 * A sense-reversing barrier that spins: libgomp's own barrier sleeps at once
 * under OMP_WAIT_POLICY=passive (which the benchmarks set, as hpcd does), and
 * every pass would then pay a wake-up. Arrive (acq_rel) pairs with the last
 * arriver's release of `sense`, which the others acquire.
 */
struct spin_barrier {
	_Atomic int count;
	_Atomic int sense;
	_Atomic int n;
};

static void spin_wait(struct spin_barrier *b, int *local_sense)
{
	*local_sense = !*local_sense;
	if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) ==
	    atomic_load_explicit(&b->n, memory_order_relaxed) - 1) {
		atomic_store_explicit(&b->count, 0, memory_order_relaxed);
		atomic_store_explicit(&b->sense, *local_sense, memory_order_release);
	} else {
		while (atomic_load_explicit(&b->sense, memory_order_acquire) != *local_sense)
			_mm_pause();
	}
}

enum kind { K_READ, K_TRIAD, K_UPDATE };

struct pass_job {
	enum kind kind;
	double bytes; /* traffic of one pass */
	const double *x, *y;
	size_t nx, ny;
	double *a;
	const double *b, *c;
	size_t n;
};

static void do_part(const struct pass_job *j, int id, int nt)
{
	size_t lo, hi;
	double s = 0;
	if (j->kind == K_READ) {
		lo = j->nx * (size_t)id / (size_t)nt;
		hi = j->nx * (size_t)(id + 1) / (size_t)nt;
		s += read_chunk(j->x + lo, hi - lo);
		if (j->y) {
			lo = j->ny * (size_t)id / (size_t)nt;
			hi = j->ny * (size_t)(id + 1) / (size_t)nt;
			s += read_chunk(j->y + lo, hi - lo);
		}
		if (s == 12345.678)
			sink = s; /* keeps the reads */
	} else {
		lo = j->n * (size_t)id / (size_t)nt;
		hi = j->n * (size_t)(id + 1) / (size_t)nt;
		if (j->kind == K_TRIAD)
			triad_chunk(j->a + lo, j->b + lo, j->c + lo, 0.5, hi - lo);
		else
			update_chunk(j->a + lo, j->c + lo, 1e-3, hi - lo);
	}
}

static double run_passes(const struct pass_job *j, int threads, int passes)
{
	enum { MAXP = 200 };
	double t[MAXP];
	if (passes < 1)
		passes = 1;
	if (passes > MAXP)
		passes = MAXP;
	cpu_set_t old;
	const int bind = j->bytes < BIND_MAX_BYTES;
	team_enter(&old, bind);
	struct spin_barrier bar = {0, 0, 1};
#pragma omp parallel num_threads(threads)
	{
		int id = omp_get_thread_num(), nt = omp_get_num_threads(), sense = 0;
		if (id)
			bind_slot(id, bind);
#pragma omp single
		atomic_store_explicit(&bar.n, nt, memory_order_relaxed);
		/* (the implicit barrier of single publishes bar.n) */
		for (int p = -1; p < passes; p++) {
			spin_wait(&bar, &sense);
			double t0 = id == 0 ? bench_now_s() : 0;
			do_part(j, id, nt);
			spin_wait(&bar, &sense);
			if (id == 0 && p >= 0)
				t[p] = bench_now_s() - t0;
		}
	}
	sched_setaffinity(0, sizeof(old), &old);
	return bench_median(t, passes);
}

double bench_read_s(const void *x, size_t xbytes, const void *y, size_t ybytes, int threads,
		    int passes)
{
	struct pass_job j = {.kind = K_READ,
			     .bytes = (double)xbytes + (y ? (double)ybytes : 0),
			     .x = x,
			     .nx = xbytes / sizeof(double),
			     .y = y,
			     .ny = y ? ybytes / sizeof(double) : 0};
	return run_passes(&j, threads, passes);
}

double bench_triad_s(void *a, const void *b, const void *c, size_t bytes, int threads, int passes)
{
	struct pass_job j = {.kind = K_TRIAD,
			     .bytes = 3.0 * (double)bytes,
			     .a = a,
			     .b = b,
			     .c = c,
			     .n = bytes / sizeof(double)};
	return run_passes(&j, threads, passes);
}

double bench_update_s(void *b, const void *c, size_t bytes, int threads, int passes)
{
	struct pass_job j = {.kind = K_UPDATE,
			     .bytes = 3.0 * (double)bytes,
			     .a = b,
			     .c = c,
			     .n = bytes / sizeof(double)};
	return run_passes(&j, threads, passes);
}

int bench_passes_for(double traffic_bytes, double budget_s)
{
	/* A guess of 30 GB/s (memory) is enough to size the count. */
	double per = traffic_bytes / 30e9;
	double p = budget_s / (per > 1e-7 ? per : 1e-7);
	return p < 3 ? 3 : p > 200 ? 200 : (int)p;
}

/* ---- the peak -----------------------------------------------------------------------
 * The clock: a chain of dependent integer adds retires one add per cycle on
 * every x86-64 core of the last fifteen years, so adds per second is the
 * clock the core runs at under load (turbo included, which a nominal figure
 * would miss); per second of the thread's own CPU time, so that a neighbour
 * taking the CPU for a while does not count as a slow clock. FMAs per cycle:
 * twelve independent chains of vector FMAs (enough to cover a 4-cycle latency
 * on two pipes), FMAs per second over that clock. */

/* This thread's CPU time: time it was preempted for (the machines are shared) is not in it. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double clock_ghz(void)
{
	long n = 40000000, x = 0;
	double t = now_s();
	__asm__ volatile("1: add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
			 "sub $4, %1\n\tjnz 1b"
			 : "+r"(x), "+r"(n));
	return 40000000.0 / (now_s() - t) / 1e9;
}

#define CHAINS 12

/* Twelve named accumulators, so that they certainly live in registers. */
#define FMA_BODY(V, SET1, FMA, ADD)                                                                \
	V a0 = SET1(0), a1 = SET1(1), a2 = SET1(2), a3 = SET1(3), a4 = SET1(4), a5 = SET1(5);      \
	V a6 = SET1(6), a7 = SET1(7), a8 = SET1(8), a9 = SET1(9), a10 = SET1(10), a11 = SET1(11);  \
	const V b = SET1(1.0000001), c = SET1(1e-9);                                               \
	for (long r = 0; r < iters; r++) {                                                         \
		a0 = FMA(a0, b, c);                                                                \
		a1 = FMA(a1, b, c);                                                                \
		a2 = FMA(a2, b, c);                                                                \
		a3 = FMA(a3, b, c);                                                                \
		a4 = FMA(a4, b, c);                                                                \
		a5 = FMA(a5, b, c);                                                                \
		a6 = FMA(a6, b, c);                                                                \
		a7 = FMA(a7, b, c);                                                                \
		a8 = FMA(a8, b, c);                                                                \
		a9 = FMA(a9, b, c);                                                                \
		a10 = FMA(a10, b, c);                                                              \
		a11 = FMA(a11, b, c);                                                              \
	}                                                                                          \
	V s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));                   \
	s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));

__attribute__((target("avx512f"))) static double fma512(long iters)
{
	FMA_BODY(__m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd)
	return _mm512_reduce_add_pd(s);
}

__attribute__((target("avx2,fma"))) static double fma256(long iters)
{
	FMA_BODY(__m256d, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd)
	double o[4];
	_mm256_storeu_pd(o, s);
	return o[0] + o[1] + o[2] + o[3];
}

void bench_peak_measure(struct bench_peak *p, int threads)
{
	__builtin_cpu_init();
	const int has512 = __builtin_cpu_supports("avx512f");
	const int has256 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	double ghz = 1e9, f512 = 1e9, f256 = 1e9;
	const long iters = 1000000;
	cpu_set_t old;
	team_enter(&old, 1);
	/*
	 * Short samples, the best of each kept per thread: on a shared machine a thread
	 * is sometimes preempted, which only ever makes a sample slower. The team's
	 * figure is its slowest thread's best.
	 */
#pragma omp parallel num_threads(threads) reduction(min : ghz, f512, f256)
	{
		int id = omp_get_thread_num();
		if (id)
			bind_slot(id, 1);
		double g = 0, r512 = 0, r256 = 0;
		for (int s = 0; s < 20; s++) {
			/* A sleeper is favoured by the scheduler when it wakes: a sample right
			 * after one is the likeliest to have the CPU to itself. */
			nanosleep(&(struct timespec){0, 3000000}, NULL);
			g = fmax(g, clock_ghz());
			if (has512) {
				double t = now_s();
				sink = fma512(iters);
				r512 = fmax(r512, CHAINS * (double)iters / (now_s() - t));
			}
			if (has256) {
				double t = now_s();
				sink = fma256(iters);
				r256 = fmax(r256, CHAINS * (double)iters / (now_s() - t));
			}
		}
		ghz = g;
		f512 = r512 / (g * 1e9);
		f256 = r256 / (g * 1e9);
	}
	sched_setaffinity(0, sizeof(old), &old);
	memset(p, 0, sizeof(*p));
	p->cores = threads;
	p->ghz = ghz;
	p->fma_512 = has512 ? f512 : 0;
	p->fma_256 = has256 ? f256 : 0;
	/* Counts of units are whole (or half, for a 512-bit op split over two 256-bit pipes). */
	double u512 = round(p->fma_512 * 2) / 2, u256 = round(p->fma_256 * 2) / 2;
	if (has512 && u512 * 8 >= u256 * 4) {
		p->width_f64 = 8;
		p->fma_per_cyc = u512;
	} else if (has256) {
		p->width_f64 = 4;
		p->fma_per_cyc = u256;
	} else {
		/* SSE2: no FMA; one mul and one add of 2 lanes per cycle count as one FMA. */
		p->width_f64 = 2;
		p->fma_per_cyc = 1;
	}
	p->gflops_f64 = p->cores * p->fma_per_cyc * p->width_f64 * 2 * p->ghz;
	p->gflops_f32 = 2 * p->gflops_f64;
}

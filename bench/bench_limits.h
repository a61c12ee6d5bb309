/*
 * bench_limits - what the machine can do at most, measured in the benchmark's
 * own process: a STREAM-style read and triad of given memory by a team of
 * threads kept warm, and the floating-point peak (cores x FMA per cycle x
 * vector width x 2 x clock) with each factor measured. For the benchmarks in
 * bench/ only.
 */
#ifndef HPCD_BENCH_BENCH_LIMITS_H
#define HPCD_BENCH_BENCH_LIMITS_H

#include <stddef.h>

/*
 * Median seconds of one pass reading x[0..xbytes) and, unless y is NULL,
 * y[0..ybytes), shared statically between `threads` threads. All passes run
 * in one parallel region, separated by a spinning barrier, and the master
 * times each pass between two barriers: no pass pays for waking the team, so
 * at sizes that fit in a cache this is the cache's limit, not the cost of a
 * wake-up. A first, untimed pass warms the team (and the caches). Each
 * thread reads its share as four parts side by side (more fills in flight
 * than one stream: bench_limits.c), so that this is the most a read gets. The
 * team's threads are bound to distinct CPUs under 32 MiB of traffic and left
 * to the scheduler above (the master's mask is restored), as the openmp plugin
 * treats its teams. `passes` >= 1.
 */
double bench_read_s(const void *x, size_t xbytes, const void *y, size_t ybytes, int threads,
		    int passes);

/*
 * The same for a triad a = b + q*c over `bytes` bytes of each (f64 elements;
 * 3 x bytes of traffic per pass).
 */
double bench_triad_s(void *a, const void *b, const void *c, size_t bytes, int threads, int passes);

/*
 * The same for the triad in place, b = b + q*c over `bytes` bytes of each
 * (f64 elements): two streams read and one of them written back, the traffic
 * of axpy (each thread's share as two halves side by side). A triad into a third array moves a
 * third more bytes (the written array's lines are read first), so it is no limit for axpy.
 */
double bench_update_s(void *b, const void *c, size_t bytes, int threads, int passes);

/* Passes for bench_read_s()/bench_triad_s() that take about `budget_s` in all, 3..200. */
int bench_passes_for(double traffic_bytes, double budget_s);

/* The floating-point peak of this machine, each factor measured (x86-64 only). */
struct bench_peak {
	int cores;      /* threads measured at once: the team size asked for */
	double ghz;     /* slowest thread's clock under load: a chain of dependent integer adds */
	double fma_512; /* 512-bit FMAs retired per cycle (0 without AVX-512) */
	double fma_256; /* 256-bit FMAs per cycle (0 without AVX2 + FMA) */
	int width_f64;  /* f64 lanes of the widest FMA: 8, 4 or 2 (SSE2 mul + add) */
	double fma_per_cyc; /* FMAs per cycle at that width (rounded to the nearest 0.5) */
	double gflops_f64;  /* cores x fma_per_cyc x width_f64 x 2 x ghz */
	double gflops_f32;  /* twice that */
};

/* Measures it with `threads` threads at once (about 0.3 s). */
void bench_peak_measure(struct bench_peak *p, int threads);

#endif /* HPCD_BENCH_BENCH_LIMITS_H */

/*
 * The openmp kernels (openmp.h). Each op is a sequential "range" function
 * (what one thread does with its share; isa.h) plus a driver here
 * that splits the work statically over a team of the requested size. The
 * drivers fix how work is shared and in which order partial results are
 * combined, which is what makes results reproducible for a given team size.
 *
 * Instruction sets. The range functions are compiled three times from one
 * source (isa.h): for AVX-512, for AVX2 + FMA, and for the x86-64
 * baseline ("scalar": plain C, which the compiler may give SSE2 at most, and
 * SSE2 intrinsics in the matmul micro-kernels), each
 * with a target attribute, so that the build itself needs nothing beyond
 * x86-64. The path is chosen once, at the first kernel call, from what the
 * CPU (and the OS, for the wider registers) supports; HPC_OMP_ISA=scalar|avx2|
 * avx512 in the environment, or hpc_omp_set_isa(), asks for a narrower one
 * (tests use this to exercise every path on one machine).
 *
 * Reductions keep several independent accumulators: without -ffast-math the
 * compiler may not reassociate, so one accumulator makes every add wait for
 * the previous one (see shared/notes/measured-here.md).
 *
 * matmul is packed and blocked the way BLIS and GotoBLAS do it: a KC x NC
 * block of B is packed into panels of NR columns (shared by the team, kept in
 * L3/L2), an MC x KC block of A into panels of MR rows (per thread, kept in
 * L2), and a micro-kernel keeps an MR x NR tile of C in registers while it
 * walks one panel of each (the B panel stays in L1 across the MR-row panels
 * of A).
 */
#include "kernels/openmp.h"

#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * split() in units of `unit` items (the last part takes the remainder), so
 * that parts of a 64-byte aligned vector start on cache lines.
 */
static inline void split_aligned(size_t n, size_t parts, size_t c, size_t unit, size_t *lo,
				 size_t *hi)
{
	size_t units = (n + unit - 1) / unit;
	split(units, parts, c, lo, hi);
	*lo *= unit;
	*hi *= unit;
	if (*lo > n)
		*lo = n;
	if (*hi > n)
		*hi = n;
}

/* ---- where the team runs --------------------------------------------------------
 *
 * libgomp's threads spin for a while at the end of a region, then sleep. When
 * a sleeping thread is woken for the next region, the scheduler may queue it
 * on the CPU of the thread that woke it, which then does its own share and
 * spins at the closing barrier: the woken thread gets the CPU only when that
 * spin ends or at the next scheduler tick. On the 2-vCPU machines measured
 * here that turned a 0.6 ms matvec into 7 ms, more than the serial backend
 * takes. So while a team works, its master is bound to the first CPU it may
 * use and thread i to the i-th (modulo their number): a woken thread then
 * always has a CPU of its own. The master's own mask is restored after the
 * region; the pool threads keep theirs (they only ever run this library's
 * teams, in this process). Nothing is bound when OMP_PROC_BIND is set: the
 * user has chosen a placement already.
 *
 * Only short jobs are bound. Binding has a price when the machine is shared:
 * with one CPU-bound neighbour on two CPUs, a bound thread that shares its CPU
 * with it gets half of that CPU while its partner finishes and waits, where
 * the scheduler would have given three threads two thirds of a CPU each.
 * Measured here: a 2000^3 matmul on a bound team ran at 0.62-0.75 x OpenBLAS
 * (whose threads are not bound), unbound at 0.91-1.01, in the same minute. A
 * lost scheduler tick costs a short job more than it gains, a long one less:
 * jobs of at least TEAM_BIND_MAX_BYTES of traffic (TEAM_BIND_MAX_MADDS
 * multiply-adds for matmul) run on an unbound team, whose pool threads are
 * given back the process's whole mask.
 */
#define TEAM_BIND_MAX_BYTES ((size_t)32 << 20)
#define TEAM_BIND_MAX_MADDS ((double)(1u << 28))

static int team_cpus[CPU_SETSIZE];
static int team_ncpus = -1; /* -1: not yet known; 0: do not bind */
static cpu_set_t team_all;  /* the process's mask when first asked: for unbound teams */

static void team_cpus_init(void)
{
	int n = 0;
	cpu_set_t set;
	if (!getenv("OMP_PROC_BIND") && sched_getaffinity(0, sizeof(set), &set) == 0) {
		team_all = set;
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				team_cpus[n++] = c;
	}
	__atomic_store_n(&team_ncpus, n < 2 ? 0 : n, __ATOMIC_RELEASE);
}

static int bind_to(int slot)
{
	int n = __atomic_load_n(&team_ncpus, __ATOMIC_ACQUIRE);
	if (n <= 0)
		return -1;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(team_cpus[slot % n], &one);
	return sched_setaffinity(0, sizeof(one), &one);
}

/* The master's mask, kept while its team works, and whether the team is bound. */
struct team_pin {
	cpu_set_t old;
	int pinned;
	int bind;
};

/*
 * Called by the master before a region of t > 1 threads; bind: whether the
 * job is short enough to be bound (team_bind_bytes(), team_bind_madds()).
 */
static void team_enter(struct team_pin *p, int bind)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, team_cpus_init);
	p->pinned = 0;
	p->bind = bind;
	if (!bind || __atomic_load_n(&team_ncpus, __ATOMIC_ACQUIRE) <= 0)
		return;
	if (sched_getaffinity(0, sizeof(p->old), &p->old) == 0 && bind_to(0) == 0)
		p->pinned = 1;
}

static inline int team_bind_bytes(size_t bytes)
{
	return bytes < TEAM_BIND_MAX_BYTES;
}

static inline int team_bind_madds(double madds)
{
	return madds < TEAM_BIND_MAX_MADDS;
}

/* Called by the master after the region. */
static void team_leave(struct team_pin *p)
{
	if (p->pinned)
		sched_setaffinity(0, sizeof(p->old), &p->old);
}

/*
 * Called by every thread first thing in a region: a pool thread binds itself
 * to its slot's CPU unless it is bound there already (or, for an unbound
 * team, takes the whole mask back if an earlier team bound it). Its mask is asked of the
 * kernel rather than remembered in a thread-local variable: this library is
 * unloaded on reload while the pool threads live on, and thread-local storage
 * of an unloaded library is trouble (LeakSanitizer crashes walking it).
 */
static void team_member(const struct team_pin *p, int tid)
{
	int n = __atomic_load_n(&team_ncpus, __ATOMIC_ACQUIRE);
	if (tid == 0 || n <= 0)
		return;
	cpu_set_t now;
	if (sched_getaffinity(0, sizeof(now), &now) != 0)
		return;
	if (!p->bind) {
		/* Bound by an earlier short job: give it the whole mask back. */
		if (CPU_COUNT(&now) == 1)
			sched_setaffinity(0, sizeof(team_all), &team_all);
		return;
	}
	if (CPU_COUNT(&now) == 1 && CPU_ISSET(team_cpus[tid % n], &now))
		return;
	bind_to(tid);
}

/* Cache-line sized units of elements for splitting vectors. */
#define UNIT_F64 8
#define UNIT_F32 16

/* ---- the per-ISA range functions ------------------------------------------- */

typedef void (*ukr_f64_fn)(size_t kc, const double *restrict pa, const double *restrict pb,
			   double *c, size_t ldc, int add);
typedef void (*ukr_f32_fn)(size_t kc, const float *restrict pa, const float *restrict pb, float *c,
			   size_t ldc, int add);

/* The tallest register tile of any path (isa.h: MR_D, MR_F). */
#define GEMM_MAX_MR 8

struct isa_kernels {
	const char *name;
	double (*dot_f64)(const double *x, const double *y, size_t n);
	double (*dot_f32)(const float *x, const float *y, size_t n);
	double (*sum_f64)(const double *x, size_t n);
	double (*sum_f32)(const float *x, size_t n);
	void (*axpy_f64)(double alpha, const double *x, double *y, size_t n);
	void (*axpy_f32)(double alpha, const float *x, float *y, size_t n);
	void (*matvec_f64)(const double *a, const double *x, double *y, size_t rows, size_t n);
	void (*matvec_f32)(const float *a, const float *x, float *y, size_t rows, size_t n);
	/* matmul: the register tile, its micro-kernel, and those for the top h < mr rows of
	 * a panel (part[h]; part[mr] is ukr). */
	struct {
		int mr, nr;
		ukr_f64_fn ukr;
		ukr_f64_fn part[GEMM_MAX_MR + 1];
	} gemm_f64;
	struct {
		int mr, nr;
		ukr_f32_fn ukr;
		ukr_f32_fn part[GEMM_MAX_MR + 1];
	} gemm_f32;
};

/* x86-64 baseline: "vectors" of one element. */
#define ISA(name) name##_scalar
#define ISA_NAME "scalar"
#define TGT
#define VD double
#define WD 1
#define VD_LD(p) (*(p))
#define VD_ST(p, v) (*(p) = (v))
#define VD_FMA(a, b, c) ((a) * (b) + (c))
#define VD_ADD(a, b) ((a) + (b))
#define VD_ZERO() 0.0
#define VD_SET1(x) (x)
#define VD_HSUM(v) (v)
#define SFMA(a, b, c) ((a) * (b) + (c))
#define VD_LDF(p) ((double)*(p))
#define VD_STF(p, v) (*(p) = (float)(v))
#define VF float
#define WF 1
#define VF_LD(p) (*(p))
#define VF_ST(p, v) (*(p) = (v))
#define VF_FMA(a, b, c) ((a) * (b) + (c))
#define VF_ADD(a, b) ((a) + (b))
#define VF_ZERO() 0.0f
#define VF_SET1(x) (x)
#define VF_ACC_VD(d0, d1, v) ((d0) += (double)(v))
/*
 * The matmul micro-kernels in SSE2, which every x86-64 has: left to itself
 * the compiler vectorised the scalar tile only in part. No FMA here: a
 * multiply, then an add, as the plain C did, so results are those of the
 * scalar C. 16 registers: a 6 x 4 tile of doubles (two per register) or
 * 6 x 8 floats takes 12 of them.
 */
#define SSE2_MADD_PD(a, b, c) _mm_add_pd(_mm_mul_pd((a), (b)), (c))
#define SSE2_MADD_PS(a, b, c) _mm_add_ps(_mm_mul_ps((a), (b)), (c))
#define UKR_D                                                                                      \
	__m128d, 2, _mm_loadu_pd, _mm_storeu_pd, SSE2_MADD_PD, _mm_add_pd, _mm_setzero_pd,         \
	    _mm_set1_pd
#define UKR_WD 2
#define UKR_F                                                                                      \
	__m128, 4, _mm_loadu_ps, _mm_storeu_ps, SSE2_MADD_PS, _mm_add_ps, _mm_setzero_ps,          \
	    _mm_set1_ps
#define UKR_WF 4
#define MR_D 6
#define NV_D 2
#define MR_F 6
#define NV_F 2
#include "kernels/isa.h"

/* AVX2 + FMA: 16 registers of 4 doubles; a 6 x 8 tile of C takes 12 of them. */
#define TGT_AVX2 __attribute__((target("avx2,fma")))

static inline TGT_AVX2 double hsum_avx2(__m256d v)
{
	__m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
	return _mm_cvtsd_f64(s) + _mm_cvtsd_f64(_mm_unpackhi_pd(s, s));
}

#define ISA(name) name##_avx2
#define ISA_NAME "avx2"
#define TGT TGT_AVX2
#define VD __m256d
#define WD 4
#define VD_LD(p) _mm256_loadu_pd(p)
#define VD_ST(p, v) _mm256_storeu_pd((p), (v))
#define VD_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define VD_ADD(a, b) _mm256_add_pd((a), (b))
#define VD_ZERO() _mm256_setzero_pd()
#define VD_SET1(x) _mm256_set1_pd(x)
#define VD_HSUM(v) hsum_avx2(v)
#define SFMA(a, b, c) __builtin_fma((a), (b), (c))
#define VD_LDF(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define VD_STF(p, v) _mm_storeu_ps((p), _mm256_cvtpd_ps(v))
#define VF __m256
#define WF 8
#define VF_LD(p) _mm256_loadu_ps(p)
#define VF_ST(p, v) _mm256_storeu_ps((p), (v))
#define VF_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VF_ADD(a, b) _mm256_add_ps((a), (b))
#define VF_ZERO() _mm256_setzero_ps()
#define VF_SET1(x) _mm256_set1_ps(x)
#define VF_ACC_VD(d0, d1, v)                                                                       \
	((d0) = _mm256_add_pd((d0), _mm256_cvtps_pd(_mm256_castps256_ps128(v))),                   \
	 (d1) = _mm256_add_pd((d1), _mm256_cvtps_pd(_mm256_extractf128_ps((v), 1))))
#define MR_D 6
#define NV_D 2
#define MR_F 6
#define NV_F 2
#include "kernels/isa.h"

/* AVX-512: 32 registers of 8 doubles; an 8 x 24 tile of C takes 24 of them. */
#define TGT_AVX512 __attribute__((target("avx512f,avx2,fma")))

#define ISA(name) name##_avx512
#define ISA_NAME "avx512"
#define TGT TGT_AVX512
#define VD __m512d
#define WD 8
#define VD_LD(p) _mm512_loadu_pd(p)
#define VD_ST(p, v) _mm512_storeu_pd((p), (v))
#define VD_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define VD_ADD(a, b) _mm512_add_pd((a), (b))
#define VD_ZERO() _mm512_setzero_pd()
#define VD_SET1(x) _mm512_set1_pd(x)
#define VD_HSUM(v) _mm512_reduce_add_pd(v)
#define SFMA(a, b, c) __builtin_fma((a), (b), (c))
#define VD_LDF(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define VD_STF(p, v) _mm256_storeu_ps((p), _mm512_cvtpd_ps(v))
#define VF __m512
#define WF 16
#define VF_LD(p) _mm512_loadu_ps(p)
#define VF_ST(p, v) _mm512_storeu_ps((p), (v))
#define VF_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VF_ADD(a, b) _mm512_add_ps((a), (b))
#define VF_ZERO() _mm512_setzero_ps()
#define VF_SET1(x) _mm512_set1_ps(x)
#define VF_ACC_VD(d0, d1, v)                                                                       \
	((d0) = _mm512_add_pd((d0), _mm512_cvtps_pd(_mm512_castps512_ps256(v))),                   \
	 (d1) = _mm512_add_pd((d1), _mm512_cvtps_pd(_mm256_castpd_ps(                              \
					_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))))
#define MR_D 8
#define NV_D 3
#define MR_F 8
#define NV_F 3
#include "kernels/isa.h"

/* ---- choosing the path ---------------------------------------------------- */

static const struct isa_kernels *const isa_table[] = {
    [HPC_OMP_ISA_SCALAR] = &kernels_scalar,
    [HPC_OMP_ISA_AVX2] = &kernels_avx2,
    [HPC_OMP_ISA_AVX512] = &kernels_avx512,
};

/* The path in use, as an index into isa_table; -1 until the first call. */
static int isa_now = -1;

int hpc_omp_isa_best(void)
{
	/* libgcc's checks include the OS's consent (XCR0) for the wide registers. */
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("fma"))
		return HPC_OMP_ISA_AVX512;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return HPC_OMP_ISA_AVX2;
	return HPC_OMP_ISA_SCALAR;
}

const char *hpc_omp_isa_name(int isa)
{
	if (isa < 0 || isa > HPC_OMP_ISA_AVX512)
		return NULL;
	return isa_table[isa]->name;
}

int hpc_omp_set_isa(int isa)
{
	int best = hpc_omp_isa_best();
	if (isa < 0 || isa > best)
		isa = best;
	__atomic_store_n(&isa_now, isa, __ATOMIC_RELAXED);
	return isa;
}

/* The best path, or the narrower one HPC_OMP_ISA names. */
static int isa_default(void)
{
	const char *want = getenv("HPC_OMP_ISA");
	int isa = -1;
	if (want) {
		for (int i = 0; i <= HPC_OMP_ISA_AVX512; i++)
			if (strcmp(want, isa_table[i]->name) == 0)
				isa = i;
	}
	int best = hpc_omp_isa_best();
	return isa < 0 || isa > best ? best : isa;
}

int hpc_omp_isa(void)
{
	/* Racing first callers compute the same value; relaxed is enough for an int. */
	int isa = __atomic_load_n(&isa_now, __ATOMIC_RELAXED);
	if (isa < 0) {
		isa = isa_default();
		__atomic_store_n(&isa_now, isa, __ATOMIC_RELAXED);
	}
	return isa;
}

static inline const struct isa_kernels *K(void)
{
	return isa_table[hpc_omp_isa()];
}

/* ---- reductions ------------------------------------------------------------ */

/*
 * A reduction over n items: part(k, x, y, lo, len) reduces items
 * [lo, lo+len). One partial per thread, stored by chunk index and added up in
 * chunk order afterwards: a reduction clause would combine them in whatever
 * order the threads finish, and results would change from run to run.
 */
typedef double (*part_fn)(const struct isa_kernels *k, const void *x, const void *y, size_t lo,
			  size_t len);

static double reduce(part_fn part, const void *x, const void *y, size_t n, size_t unit,
		     int nthreads)
{
	const struct isa_kernels *k = K();
	if (n == 0)
		return 0.0; /* x and y may be NULL then */
	if (nthreads <= 1 || n < 2)
		return part(k, x, y, 0, n);

	double partial[HPC_OMP_MAX_THREADS];
	size_t t = (size_t)nthreads < n ? (size_t)nthreads : n, got = 1;
	struct team_pin pin;
	/* unit elements make a 64-byte line */
	team_enter(&pin, team_bind_bytes(n * (64 / unit) * (y ? 2 : 1)));
#pragma omp parallel num_threads(t)
	{
		/* The team libgomp gave, which may be smaller than asked. */
		size_t c = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
		team_member(&pin, (int)c);
		if (c == 0)
			got = nt;
		size_t lo, hi;
		split_aligned(n, nt, c, unit, &lo, &hi);
		partial[c] = hi > lo ? part(k, x, y, lo, hi - lo) : 0.0;
	}
	team_leave(&pin);
	double s = 0.0;
	for (size_t c = 0; c < got; c++)
		s += partial[c];
	return s;
}

static double dot_f64_part(const struct isa_kernels *k, const void *x, const void *y, size_t lo,
			   size_t len)
{
	return k->dot_f64((const double *)x + lo, (const double *)y + lo, len);
}

static double dot_f32_part(const struct isa_kernels *k, const void *x, const void *y, size_t lo,
			   size_t len)
{
	return k->dot_f32((const float *)x + lo, (const float *)y + lo, len);
}

static double sum_f64_part(const struct isa_kernels *k, const void *x, const void *y, size_t lo,
			   size_t len)
{
	return k->sum_f64((const double *)x + lo, len);
}

static double sum_f32_part(const struct isa_kernels *k, const void *x, const void *y, size_t lo,
			   size_t len)
{
	return k->sum_f32((const float *)x + lo, len);
}

double hpc_omp_dot_f64(const double *x, const double *y, size_t n, int nthreads)
{
	return reduce(dot_f64_part, x, y, n, UNIT_F64, clamp_threads(nthreads));
}

double hpc_omp_dot_f32(const float *x, const float *y, size_t n, int nthreads)
{
	return (float)reduce(dot_f32_part, x, y, n, UNIT_F32, clamp_threads(nthreads));
}

double hpc_omp_sum_f64(const double *x, size_t n, int nthreads)
{
	return reduce(sum_f64_part, x, NULL, n, UNIT_F64, clamp_threads(nthreads));
}

double hpc_omp_sum_f32(const float *x, size_t n, int nthreads)
{
	return (float)reduce(sum_f32_part, x, NULL, n, UNIT_F32, clamp_threads(nthreads));
}

/* ---- matvec ---------------------------------------------------------------- */

/*
 * Each row's dot product is computed the same way whichever pass it falls in
 * (isa.h), so with at least as many rows as threads the result does
 * not even depend on the team size.
 */
void hpc_omp_matvec_f64(const double *a, const double *x, double *y, size_t m, size_t n,
			int nthreads)
{
	const struct isa_kernels *k = K();
	int t = clamp_threads(nthreads);
	if (n == 0) { /* a may be NULL then */
		for (size_t i = 0; i < m; i++)
			y[i] = 0.0;
		return;
	}
	if (t == 1) {
		k->matvec_f64(a, x, y, m, n);
	} else if (m < (size_t)t) {
		/* A short, wide matrix: rows alone would leave threads idle. */
		for (size_t i = 0; i < m; i++)
			y[i] = reduce(dot_f64_part, a + i * n, x, n, UNIT_F64, t);
	} else {
		struct team_pin pin;
		team_enter(&pin, team_bind_bytes(m * n * sizeof(double)));
#pragma omp parallel num_threads(t)
		{
			size_t lo, hi, tid = (size_t)omp_get_thread_num();
			team_member(&pin, (int)tid);
			split(m, (size_t)omp_get_num_threads(), tid, &lo, &hi);
			k->matvec_f64(a + lo * n, x, y + lo, hi - lo, n);
		}
		team_leave(&pin);
	}
}

void hpc_omp_matvec_f32(const float *a, const float *x, float *y, size_t m, size_t n, int nthreads)
{
	const struct isa_kernels *k = K();
	int t = clamp_threads(nthreads);
	if (n == 0) { /* a may be NULL then */
		for (size_t i = 0; i < m; i++)
			y[i] = 0.0f;
		return;
	}
	if (t == 1) {
		k->matvec_f32(a, x, y, m, n);
	} else if (m < (size_t)t) {
		for (size_t i = 0; i < m; i++)
			y[i] = (float)reduce(dot_f32_part, a + i * n, x, n, UNIT_F32, t);
	} else {
		struct team_pin pin;
		team_enter(&pin, team_bind_bytes(m * n * sizeof(float)));
#pragma omp parallel num_threads(t)
		{
			size_t lo, hi, tid = (size_t)omp_get_thread_num();
			team_member(&pin, (int)tid);
			split(m, (size_t)omp_get_num_threads(), tid, &lo, &hi);
			k->matvec_f32(a + lo * n, x, y + lo, hi - lo, n);
		}
		team_leave(&pin);
	}
}

/* ---- axpy ------------------------------------------------------------------ */

void hpc_omp_axpy_f64(double alpha, const double *x, double *y, size_t n, int nthreads)
{
	const struct isa_kernels *k = K();
	int t = team(clamp_threads(nthreads), (n + UNIT_F64 - 1) / UNIT_F64);
	if (t == 1) {
		k->axpy_f64(alpha, x, y, n);
		return;
	}
	struct team_pin pin;
	team_enter(&pin, team_bind_bytes(3 * n * sizeof(double)));
#pragma omp parallel num_threads(t)
	{
		size_t lo, hi, tid = (size_t)omp_get_thread_num();
		team_member(&pin, (int)tid);
		split_aligned(n, (size_t)omp_get_num_threads(), tid, UNIT_F64, &lo, &hi);
		k->axpy_f64(alpha, x + lo, y + lo, hi - lo);
	}
	team_leave(&pin);
}

void hpc_omp_axpy_f32(double alpha, const float *x, float *y, size_t n, int nthreads)
{
	const struct isa_kernels *k = K();
	int t = team(clamp_threads(nthreads), (n + UNIT_F32 - 1) / UNIT_F32);
	if (t == 1) {
		k->axpy_f32(alpha, x, y, n);
		return;
	}
	struct team_pin pin;
	team_enter(&pin, team_bind_bytes(3 * n * sizeof(float)));
#pragma omp parallel num_threads(t)
	{
		size_t lo, hi, tid = (size_t)omp_get_thread_num();
		team_member(&pin, (int)tid);
		split_aligned(n, (size_t)omp_get_num_threads(), tid, UNIT_F32, &lo, &hi);
		k->axpy_f32(alpha, x + lo, y + lo, hi - lo);
	}
	team_leave(&pin);
}

/* ---- matmul ------------------------------------------------------------------ */

/*
 * Cache blocks, in elements (f64; f32 doubles KC so that panels keep their
 * size in bytes). A KC x NR panel of B (24 KiB at NR = 24) stays in L1 while
 * the micro-kernel walks an MC x KC block of A (288 KiB) out of L2; a
 * KC x NC block of B (6 MiB at most) lives in L3. MC is a multiple of every
 * MR, NC of every NR. (At NR = 24 the B panel is 48 KiB, more than the 32 KiB
 * L1 of the AMD EPYC measured here; the micro-kernel prefetches it. KC = 128,
 * which fits, measured slower: C is then loaded and stored twice as often.)
 */
#define GEMM_KC 256
#define GEMM_MC 144
#define GEMM_NC 3072
#define GEMM_MAX_NR 48

static size_t round_up(size_t x, size_t to)
{
	return (x + to - 1) / to * to;
}

/*
 * The barrier between matmul's packing of B and its use. libgomp's own
 * barrier puts an early thread to sleep at once under OMP_WAIT_POLICY=passive
 * (which hpcd sets), and waking a vCPU costs tens of microseconds here: at
 * N = 500 that was several percent of the job. The team's threads are bound
 * to distinct CPUs and all busy, so a short spin costs nothing; past it a
 * waiter yields its CPU, so that a team larger than the machine still makes
 * progress. Sense-reversing: the last arriver's release store of `sense`
 * pairs with the others' acquire loads of it, and the acq_rel add orders
 * each thread's packing before its arrival.
 */
struct gemm_barrier {
	int count; /* arrivals in this phase */
	int sense; /* flips when a phase completes */
	int n;     /* team size */
};

static void gemm_barrier_wait(struct gemm_barrier *b, int *my_sense)
{
	/* n is set once per region, before libgomp's barrier that ends `single`: relaxed. */
	const int n = __atomic_load_n(&b->n, __ATOMIC_RELAXED);
	if (n <= 1)
		return;
	const int s = !*my_sense;
	*my_sense = s;
	if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == n) {
		__atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->sense, s, __ATOMIC_RELEASE);
		return;
	}
	for (unsigned spins = 0; __atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) != s; spins++) {
		if (spins < 20000)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
}

#define GEMM_T double
#define GEMM(name) name##_f64
#define GEMM_KCX 1
#include "kernels/gemm_driver.h"
#undef GEMM_T
#undef GEMM
#undef GEMM_KCX

#define GEMM_T float
#define GEMM(name) name##_f32
#define GEMM_KCX 2
#include "kernels/gemm_driver.h"
#undef GEMM_T
#undef GEMM
#undef GEMM_KCX

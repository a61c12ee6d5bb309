/*
 * kernels/gemm_driver.h - PRIVATE to kernels/openmp.c, which includes it once
 * per element type with GEMM_T (the type), GEMM(name) (the name with the
 * type's suffix) and GEMM_KCX (KC multiplier) defined.
 *
 * The blocked matmul driver (see the top of openmp.c). Work is shared by rows
 * of C (in whole MR-row panels) when each thread gets at least an MC block of
 * them, else by NR-column panels of each block of B, each thread packing and
 * using its own without waiting for the others. Every element of C is computed
 * by the same sequence of operations whoever computes it: its k loop is cut at
 * the same KC boundaries, and edge tiles go through the same micro-kernel into
 * a scratch tile and are added to C the same way. So results do not depend on
 * the team size.
 */

/* c[m x n] = a[m x k] . b[k x n] in i-k-j order, no blocking: the fallback when the packing
 * buffers cannot be had. */
static void GEMM(gemm_naive)(const GEMM_T *a, const GEMM_T *b, GEMM_T *c, size_t m, size_t n,
			     size_t k, int t)
{
	/* Slow, and rare enough that where its threads run does not matter. */
#pragma omp parallel for num_threads(t) schedule(static) if (t > 1)
	for (size_t i = 0; i < m; i++) {
		const GEMM_T *ai = a + i * k;
		GEMM_T *ci = c + i * n;
		for (size_t j = 0; j < n; j++)
			ci[j] = 0;
		for (size_t p = 0; p < k; p++)
			for (size_t j = 0; j < n; j++)
				ci[j] += ai[p] * b[p * n + j];
	}
}

struct GEMM(gemm_job) {
	const GEMM_T *a, *b;
	GEMM_T *c;
	size_t m, n, k;
	size_t mr, nr, kc_blk;
	void (*ukr)(size_t kc, const GEMM_T *restrict pa, const GEMM_T *restrict pb, GEMM_T *c,
		    size_t ldc, int add);
	/* part[h]: the micro-kernel for the top h rows of a panel (isa.h, UKR_PARTS) */
	void (*const *part)(size_t kc, const GEMM_T *restrict pa, const GEMM_T *restrict pb,
			    GEMM_T *c, size_t ldc, int add);
	int by_rows; /* share rows of C, else column panels */
	size_t t;    /* team size asked for (libgomp may give fewer) */
	/* Packed block of B. By rows, shared: panel q of the block at bp + q * ps. By
	 * columns, each thread's panels in a stretch of its own (see gemm_thread): the
	 * threads do not wait for each other, and one packing its next block must not
	 * write where another still reads the one before. */
	GEMM_T *bp;
	size_t ps; /* elements from one panel to the next: kc x nr of the deepest block */
	size_t npanels_max;
	GEMM_T *ap; /* packed blocks of A, one of astride bytes per thread */
	size_t astride;
};

/*
 * Pack rows pc..pc+kc of `np` full panels of B, the first at column j0, into
 * consecutive panels of NR columns starting at dst. Row by row across the
 * panels: each row of B is read front to back (one stream the prefetchers
 * follow, where panel by panel read NR values of each of kc rows and then
 * came back for the next NR), and each panel row is one copy of constant size
 * (vector moves, where a loop of variable width went value by value).
 */
#define GEMM_PACK_B(NR)                                                                            \
	static void GEMM(pack_b_##NR)(const GEMM_T *restrict src, size_t ld, GEMM_T *restrict dst, \
				      size_t np, size_t kc, size_t ps)                             \
	{                                                                                          \
		for (size_t p = 0; p < kc; p++) {                                                  \
			const GEMM_T *s = src + p * ld;                                            \
			GEMM_T *d = dst + p * NR;                                                  \
			for (size_t q = 0; q < np; q++)                                            \
				memcpy(d + q * ps, s + q * NR, NR * sizeof(GEMM_T));               \
		}                                                                                  \
	}
GEMM_PACK_B(4)
GEMM_PACK_B(8)
GEMM_PACK_B(16)
GEMM_PACK_B(24)
GEMM_PACK_B(48)
#undef GEMM_PACK_B

/*
 * Pack b[pc:pc+kc, jc + q0*nr : jc + q1*nr] (clipped at n) into panels q0..q1
 * of a block, each kc x nr (ps apart), zeros past column n; panel q0 at dst.
 */
static void GEMM(pack_b)(const struct GEMM(gemm_job) * g, GEMM_T *dst, size_t pc, size_t kc,
			 size_t jc, size_t q0, size_t q1)
{
	const size_t n = g->n, nr = g->nr;
	size_t qf = (n - jc) / nr; /* panels before qf are full */
	qf = qf < q0 ? q0 : qf > q1 ? q1 : qf;
	const GEMM_T *src = g->b + pc * n + jc + q0 * nr;
	const size_t ps = g->ps;
	const size_t np = qf - q0;
	switch (np ? nr : 0) {
	case 0:
		break;
	case 4:
		GEMM(pack_b_4)(src, n, dst, np, kc, ps);
		break;
	case 8:
		GEMM(pack_b_8)(src, n, dst, np, kc, ps);
		break;
	case 16:
		GEMM(pack_b_16)(src, n, dst, np, kc, ps);
		break;
	case 24:
		GEMM(pack_b_24)(src, n, dst, np, kc, ps);
		break;
	case 48:
		GEMM(pack_b_48)(src, n, dst, np, kc, ps);
		break;
	default:
		for (size_t p = 0; p < kc; p++)
			for (size_t q = 0; q < np; q++)
				for (size_t j = 0; j < nr; j++)
					dst[q * ps + p * nr + j] = src[p * n + q * nr + j];
	}
	for (size_t q = qf; q < q1; q++) {
		/* The last panel, narrower than nr. */
		const size_t j0 = jc + q * nr, w = n - j0 < nr ? n - j0 : nr;
		GEMM_T *d = dst + (q - q0) * ps;
		for (size_t p = 0; p < kc; p++) {
			const GEMM_T *row = g->b + (pc + p) * n + j0;
			size_t j = 0;
			for (; j < w; j++)
				d[j] = row[j];
			for (; j < nr; j++)
				d[j] = 0;
			d += nr;
		}
	}
}

/*
 * Pack a[i0:i0+h, pc:pc+kc] into one panel of mr rows (zeros past h), column
 * after column. The panel is written front to back while its rows are read
 * side by side; a full panel goes through a copy for its height, whose loop
 * over the rows the compiler unrolls.
 */
#define GEMM_PACK_A(MR)                                                                            \
	static void GEMM(pack_a_##MR)(const GEMM_T *const *src, GEMM_T *restrict dst, size_t kc)   \
	{                                                                                          \
		for (size_t p = 0; p < kc; p++) {                                                  \
			_Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) dst[i] = src[i][p];  \
			dst += MR;                                                                 \
		}                                                                                  \
	}
GEMM_PACK_A(4)
GEMM_PACK_A(6)
GEMM_PACK_A(8)
#undef GEMM_PACK_A

static void GEMM(pack_a)(const struct GEMM(gemm_job) * g, GEMM_T *dst, size_t i0, size_t h,
			 size_t pc, size_t kc)
{
	const size_t mr = g->mr;
	const GEMM_T *src[GEMM_MAX_MR];
	for (size_t i = 0; i < h; i++)
		src[i] = g->a + (i0 + i) * g->k + pc;
	if (h == mr && mr == 8) {
		GEMM(pack_a_8)(src, dst, kc);
	} else if (h == mr && mr == 6) {
		GEMM(pack_a_6)(src, dst, kc);
	} else if (h == mr && mr == 4) {
		GEMM(pack_a_4)(src, dst, kc);
	} else {
		for (size_t p = 0; p < kc; p++)
			for (size_t i = 0; i < mr; i++)
				dst[p * mr + i] = i < h ? src[i][p] : 0;
	}
}

/*
 * What thread tid of a team of t does. Called inside the parallel region (or
 * directly, for a team of one: the barriers are then no-ops); bar->n is t. Every thread
 * runs the same jc and pc loops, so all meet at every barrier. The packed A
 * buffers were sized for g->t threads, at least t.
 */
static void GEMM(gemm_thread)(const struct GEMM(gemm_job) * g, struct gemm_barrier *bar, size_t tid,
			      size_t t)
{
	int sense = 0;
	const size_t m = g->m, n = g->n, k = g->k, mr = g->mr, nr = g->nr;
	const size_t KC = g->kc_blk, MC = GEMM_MC, NC = GEMM_NC;
	GEMM_T *ap = (GEMM_T *)((char *)g->ap + g->astride * tid);
	GEMM_T tmp[GEMM_MAX_MR * GEMM_MAX_NR];
	/* Panel q of a block is at blk + (q - first) * ps. By rows, blk is the shared
	 * bp and first 0. By columns, blk is this thread's stretch, a share of
	 * ceil(npanels_max / t) panels (t of them fit in the npanels_max + g->t that
	 * bp holds, t <= g->t), and first its first panel, q0. */
	GEMM_T *const blk =
	    g->by_rows ? g->bp : g->bp + tid * ((g->npanels_max + t - 1) / t) * g->ps;

	size_t r0 = 0, r1 = m;
	if (g->by_rows) {
		/* Equal shares of the m rows, each rounded to whole panels: a short last
		 * panel costs little (part[]), so it is not counted as a whole one. */
		r0 = tid ? (tid * m / t + mr / 2) / mr * mr : 0;
		r1 = tid + 1 < t ? ((tid + 1) * m / t + mr / 2) / mr * mr : m;
		r0 = r0 < m ? r0 : m;
		r1 = r1 < m ? r1 : m;
	}
	for (size_t jc = 0; jc < n; jc += NC) {
		const size_t nc = n - jc < NC ? n - jc : NC;
		const size_t npanels = (nc + nr - 1) / nr;
		size_t q0 = 0, q1 = npanels;
		if (!g->by_rows)
			split(npanels, t, tid, &q0, &q1);
		const size_t first = g->by_rows ? 0 : q0;
		for (size_t pc = 0; pc < k; pc += KC) {
			const size_t kc = k - pc < KC ? k - pc : KC;
			const int add = pc > 0;
			size_t s0, s1;
			split(npanels, t, tid, &s0, &s1);
			GEMM(pack_b)(g, blk + (s0 - first) * g->ps, pc, kc, jc, s0, s1);
			/* Shared by rows, every thread reads every panel; by columns, each
			 * reads only the panels it packed (s0..s1 is q0..q1): no barrier. */
			if (g->by_rows)
				gemm_barrier_wait(bar, &sense);
			for (size_t ic = r0; ic < r1; ic += MC) {
				const size_t mc = r1 - ic < MC ? r1 - ic : MC;
				for (size_t ir = 0; ir < mc; ir += mr) {
					const size_t h = mc - ir < mr ? mc - ir : mr;
					GEMM(pack_a)(g, ap + ir * kc, ic + ir, h, pc, kc);
				}
				for (size_t q = q0; q < q1; q++) {
					const size_t j0 = jc + q * nr;
					const size_t w = n - j0 < nr ? n - j0 : nr;
					const GEMM_T *pb = blk + (q - first) * g->ps;
					for (size_t ir = 0; ir < mc; ir += mr) {
						const size_t h = mc - ir < mr ? mc - ir : mr;
						GEMM_T *cp = g->c + (ic + ir) * n + j0;
						if (h == mr && w == nr) {
							g->ukr(kc, ap + ir * kc, pb, cp, n, add);
							continue;
						}
						g->part[h](kc, ap + ir * kc, pb, tmp, nr, 0);
						for (size_t i = 0; i < h; i++)
							for (size_t j = 0; j < w; j++)
								cp[i * n + j] =
								    add ? cp[i * n + j] +
									      tmp[i * nr + j]
									: tmp[i * nr + j];
					}
				}
			}
			/* The next block of B overwrites this one. */
			if (g->by_rows)
				gemm_barrier_wait(bar, &sense);
		}
	}
}

void GEMM(hpc_omp_matmul)(const GEMM_T *a, const GEMM_T *b, GEMM_T *c, size_t m, size_t n, size_t k,
			  int nthreads)
{
	const struct isa_kernels *kern = K();
	struct GEMM(gemm_job) g = {
	    .a = a,
	    .b = b,
	    .c = c,
	    .m = m,
	    .n = n,
	    .k = k,
	    .mr = (size_t)kern->GEMM(gemm).mr,
	    .nr = (size_t)kern->GEMM(gemm).nr,
	    .kc_blk = GEMM_KC * GEMM_KCX,
	    .ukr = kern->GEMM(gemm).ukr,
	    .part = kern->GEMM(gemm).part,
	};
	if (m == 0 || n == 0)
		return;
	if (k == 0) { /* a and b may be NULL then */
		memset(c, 0, m * n * sizeof(GEMM_T));
		return;
	}
	const size_t mpanels = (m + g.mr - 1) / g.mr;
	const size_t nc_max = n < GEMM_NC ? n : GEMM_NC;
	const size_t npanels_max = (nc_max + g.nr - 1) / g.nr;
	int t = clamp_threads(nthreads);
	/* By rows when each thread gets at least a whole MC block of them; a thinner
	 * share would make every thread wait at two barriers per block of B for a
	 * block of A that its packing of B barely pays for (m = 257, n = 3001:
	 * 0.89 x sgemm by rows). By columns, each thread packs all of A (m x kc per
	 * block: small when m is) and only its own panels of B. Rows also when there
	 * are too few column panels to share evenly. */
	g.by_rows =
	    mpanels >= (size_t)t && (m >= (size_t)t * GEMM_MC || npanels_max < 4 * (size_t)t);
	t = team(t, g.by_rows ? mpanels : npanels_max);
	g.t = (size_t)t;

	const size_t kc_max = k < g.kc_blk ? k : g.kc_blk;
	const size_t mc_max = round_up(m < GEMM_MC ? m : GEMM_MC, g.mr);
	g.astride = round_up(kc_max * mc_max * sizeof(GEMM_T), 64);
	g.ps = kc_max * g.nr;
	g.npanels_max = npanels_max;
	g.bp = aligned_alloc(64, round_up((npanels_max + g.t) * g.ps * sizeof(GEMM_T), 64));
	g.ap = aligned_alloc(64, g.astride * (size_t)t);
	if (!g.bp || !g.ap) {
		free(g.bp);
		free(g.ap);
		GEMM(gemm_naive)(a, b, c, m, n, k, t);
		return;
	}
	struct gemm_barrier bar = {0, 0, 1};
	if (t == 1) {
		GEMM(gemm_thread)(&g, &bar, 0, 1);
	} else {
		struct team_pin pin;
		team_enter(&pin, team_bind_madds((double)m * (double)n * (double)k));
#pragma omp parallel num_threads(t)
		{
			/* The team libgomp gave, which may be smaller than asked. */
			int tid = omp_get_thread_num();
			team_member(&pin, tid);
#pragma omp single
			__atomic_store_n(&bar.n, omp_get_num_threads(), __ATOMIC_RELAXED);
			/* (single's closing barrier publishes bar.n to the team) */
			GEMM(gemm_thread)(&g, &bar, (size_t)tid, (size_t)omp_get_num_threads());
		}
		team_leave(&pin);
	}
	free(g.bp);
	free(g.ap);
}

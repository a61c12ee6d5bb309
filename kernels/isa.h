/*
 * kernels/isa.h - PRIVATE to kernels/openmp.c, which includes it once per
 * instruction-set path. Do not include it elsewhere.
 *
 * Before each inclusion the includer defines:
 *   ISA(name)  the function name for this path (e.g. name##_avx512)
 *   TGT        the function attribute naming the target ISA (or nothing)
 *   VD, WD     a vector of WD doubles, and these operations on it:
 *              VD_LD, VD_ST, VD_FMA(a,b,c) = a*b+c, VD_ADD, VD_ZERO, VD_SET1,
 *              VD_HSUM (lanes summed in a fixed order),
 *              VD_LDF (WD floats widened to WD doubles), VD_STF (WD doubles
 *              rounded to WD floats and stored)
 *   SFMA(a,b,c) a*b+c on doubles, fused where the path has FMA: written out so
 *              that the compiler cannot fuse one row's tail and not another's
 *   VF, WF     a vector of WF floats: VF_LD, VF_ST, VF_FMA, VF_ADD, VF_ZERO, VF_SET1,
 *              VF_ACC_VD(d0, d1, v) (the WF floats of v widened and added to the
 *              2 * WD >= WF doubles of d0, d1: the low half to d0)
 *   MR_D, NV_D, MR_F, NV_F: the matmul register tile, MR rows by NV vectors
 *   UKR_D, UKR_WD, UKR_F, UKR_WF (optional): other vectors for the matmul
 *              micro-kernels (see there)
 *
 * The header undefines all of them again at its end, ready for the next path.
 *
 * Every function is a sequential range: what one thread does with its share.
 * The arithmetic of one result never depends on where its range starts or
 * how many rows are done per pass, so results do not depend on how the work
 * was split (see openmp.c).
 */

/* ---- reductions and axpy -------------------------------------------------------
 *
 * Memory streams. One sequential stream per core leaves bandwidth unused:
 * the hardware keeps only so many line fills in flight for one stream (a read
 * of 800 MB by two threads ran at ~20 GB/s with one stream per thread and
 * ~25 with four, on the AMD EPYC here). So each range is cut into equal
 * parts (quarters for sum, halves for dot and axpy, whose two inputs make
 * four streams already) that are read side by side, one part per
 * accumulator; what the parts leave over at the end goes the old way. The cut
 * depends on n alone, so a range's result still depends only on its operands.
 */

/* Part length: n / parts, rounded down to whole steps of `step` elements. */
static inline size_t ISA(part_len)(size_t n, size_t parts, size_t step)
{
	return n / parts / step * step;
}

static TGT double ISA(dot_f64)(const double *x, const double *y, size_t n)
{
	VD s0 = VD_ZERO(), s1 = VD_ZERO(), s2 = VD_ZERO(), s3 = VD_ZERO();
	const size_t h = ISA(part_len)(n, 2, 2 * WD);
	const double *x1 = x + h, *y1 = y + h;
	for (size_t i = 0; i < h; i += 2 * WD) {
		s0 = VD_FMA(VD_LD(x + i), VD_LD(y + i), s0);
		s1 = VD_FMA(VD_LD(x + i + WD), VD_LD(y + i + WD), s1);
		s2 = VD_FMA(VD_LD(x1 + i), VD_LD(y1 + i), s2);
		s3 = VD_FMA(VD_LD(x1 + i + WD), VD_LD(y1 + i + WD), s3);
	}
	size_t i = 2 * h;
	for (; i + WD <= n; i += WD)
		s0 = VD_FMA(VD_LD(x + i), VD_LD(y + i), s0);
	double s = VD_HSUM(VD_ADD(VD_ADD(s0, s1), VD_ADD(s2, s3)));
	for (; i < n; i++)
		s = SFMA(x[i], y[i], s);
	return s;
}

/*
 * f32 reductions in two stages. Widening every float to double costs a
 * conversion per vector, which bounds the kernel below the speed of the
 * caches (measured: 0.56 x a read of an L2-resident array on the AMD EPYC
 * here). So each lane first adds F32_BLK values in float, in four
 * independent chains, and only those partial sums are widened and added in
 * double: a term's error is at most F32_BLK * u(f32) before the double
 * stage, far inside the f32 bound the kernels promise (openmp.h). What is
 * left over goes the old way, one float at a time widened.
 */
#ifndef F32_BLK
#define F32_BLK 4
#endif

static TGT double ISA(dot_f32)(const float *x, const float *y, size_t n)
{
	VD s0 = VD_ZERO(), s1 = VD_ZERO(), s2 = VD_ZERO(), s3 = VD_ZERO();
	const size_t h = ISA(part_len)(n, 2, 2 * WF * F32_BLK);
	const float *x1 = x + h, *y1 = y + h;
	for (size_t i = 0; i < h; i += 2 * WF * F32_BLK) {
		VF f0 = VF_ZERO(), f1 = VF_ZERO(), f2 = VF_ZERO(), f3 = VF_ZERO();
		_Pragma("GCC unroll 8") for (int b = 0; b < F32_BLK; b++)
		{
			const size_t o = i + (size_t)b * 2 * WF;
			f0 = VF_FMA(VF_LD(x + o), VF_LD(y + o), f0);
			f1 = VF_FMA(VF_LD(x + o + WF), VF_LD(y + o + WF), f1);
			f2 = VF_FMA(VF_LD(x1 + o), VF_LD(y1 + o), f2);
			f3 = VF_FMA(VF_LD(x1 + o + WF), VF_LD(y1 + o + WF), f3);
		}
		VF_ACC_VD(s0, s1, f0);
		VF_ACC_VD(s2, s3, f1);
		VF_ACC_VD(s0, s1, f2);
		VF_ACC_VD(s2, s3, f3);
	}
	size_t i = 2 * h;
	for (; i + 4 * WD <= n; i += 4 * WD) {
		s0 = VD_FMA(VD_LDF(x + i), VD_LDF(y + i), s0);
		s1 = VD_FMA(VD_LDF(x + i + WD), VD_LDF(y + i + WD), s1);
		s2 = VD_FMA(VD_LDF(x + i + 2 * WD), VD_LDF(y + i + 2 * WD), s2);
		s3 = VD_FMA(VD_LDF(x + i + 3 * WD), VD_LDF(y + i + 3 * WD), s3);
	}
	for (; i + WD <= n; i += WD)
		s0 = VD_FMA(VD_LDF(x + i), VD_LDF(y + i), s0);
	double s = VD_HSUM(VD_ADD(VD_ADD(s0, s1), VD_ADD(s2, s3)));
	for (; i < n; i++)
		s = SFMA((double)x[i], (double)y[i], s);
	return s;
}

static TGT double ISA(sum_f64)(const double *x, size_t n)
{
	VD s0 = VD_ZERO(), s1 = VD_ZERO(), s2 = VD_ZERO(), s3 = VD_ZERO();
	VD t0 = VD_ZERO(), t1 = VD_ZERO(), t2 = VD_ZERO(), t3 = VD_ZERO();
	const size_t q = ISA(part_len)(n, 4, 2 * WD);
	const double *x1 = x + q, *x2 = x1 + q, *x3 = x2 + q;
	for (size_t i = 0; i < q; i += 2 * WD) {
		s0 = VD_ADD(VD_LD(x + i), s0);
		t0 = VD_ADD(VD_LD(x + i + WD), t0);
		s1 = VD_ADD(VD_LD(x1 + i), s1);
		t1 = VD_ADD(VD_LD(x1 + i + WD), t1);
		s2 = VD_ADD(VD_LD(x2 + i), s2);
		t2 = VD_ADD(VD_LD(x2 + i + WD), t2);
		s3 = VD_ADD(VD_LD(x3 + i), s3);
		t3 = VD_ADD(VD_LD(x3 + i + WD), t3);
	}
	size_t i = 4 * q;
	for (; i + WD <= n; i += WD)
		s0 = VD_ADD(VD_LD(x + i), s0);
	s0 = VD_ADD(VD_ADD(s0, t0), VD_ADD(s1, t1));
	s2 = VD_ADD(VD_ADD(s2, t2), VD_ADD(s3, t3));
	double s = VD_HSUM(VD_ADD(s0, s2));
	for (; i < n; i++)
		s += x[i];
	return s;
}

static TGT double ISA(sum_f32)(const float *x, size_t n)
{
	VD s0 = VD_ZERO(), s1 = VD_ZERO(), s2 = VD_ZERO(), s3 = VD_ZERO();
	const size_t q = ISA(part_len)(n, 4, WF * F32_BLK);
	const float *x1 = x + q, *x2 = x1 + q, *x3 = x2 + q;
	for (size_t i = 0; i < q; i += WF * F32_BLK) {
		VF f0 = VF_LD(x + i), f1 = VF_LD(x1 + i), f2 = VF_LD(x2 + i), f3 = VF_LD(x3 + i);
		_Pragma("GCC unroll 8") for (int b = 1; b < F32_BLK; b++)
		{
			const size_t o = i + (size_t)b * WF;
			f0 = VF_ADD(f0, VF_LD(x + o));
			f1 = VF_ADD(f1, VF_LD(x1 + o));
			f2 = VF_ADD(f2, VF_LD(x2 + o));
			f3 = VF_ADD(f3, VF_LD(x3 + o));
		}
		VF_ACC_VD(s0, s1, f0);
		VF_ACC_VD(s2, s3, f1);
		VF_ACC_VD(s0, s1, f2);
		VF_ACC_VD(s2, s3, f3);
	}
	size_t i = 4 * q;
	for (; i + 4 * WD <= n; i += 4 * WD) {
		s0 = VD_ADD(VD_LDF(x + i), s0);
		s1 = VD_ADD(VD_LDF(x + i + WD), s1);
		s2 = VD_ADD(VD_LDF(x + i + 2 * WD), s2);
		s3 = VD_ADD(VD_LDF(x + i + 3 * WD), s3);
	}
	for (; i + WD <= n; i += WD)
		s0 = VD_ADD(VD_LDF(x + i), s0);
	double s = VD_HSUM(VD_ADD(VD_ADD(s0, s1), VD_ADD(s2, s3)));
	for (; i < n; i++)
		s += (double)x[i];
	return s;
}

/* axpy: the two halves side by side (each element's arithmetic is its own, so the order
 * changes nothing in the results). */
static TGT void ISA(axpy_f64)(double alpha, const double *x, double *y, size_t n)
{
	const VD va = VD_SET1(alpha);
	const size_t h = ISA(part_len)(n, 2, WD);
	const double *x1 = x + h;
	double *y1 = y + h;
	for (size_t i = 0; i < h; i += WD) {
		VD a0 = VD_FMA(va, VD_LD(x + i), VD_LD(y + i));
		VD a1 = VD_FMA(va, VD_LD(x1 + i), VD_LD(y1 + i));
		VD_ST(y + i, a0);
		VD_ST(y1 + i, a1);
	}
	size_t i = 2 * h;
	for (; i + WD <= n; i += WD)
		VD_ST(y + i, VD_FMA(va, VD_LD(x + i), VD_LD(y + i)));
	for (; i < n; i++)
		y[i] = SFMA(alpha, x[i], y[i]);
}

/* In double, rounded to float once per element. */
static TGT void ISA(axpy_f32)(double alpha, const float *x, float *y, size_t n)
{
	const VD va = VD_SET1(alpha);
	const size_t h = ISA(part_len)(n, 2, WD);
	const float *x1 = x + h;
	float *y1 = y + h;
	for (size_t i = 0; i < h; i += WD) {
		VD a0 = VD_FMA(va, VD_LDF(x + i), VD_LDF(y + i));
		VD a1 = VD_FMA(va, VD_LDF(x1 + i), VD_LDF(y1 + i));
		VD_STF(y + i, a0);
		VD_STF(y1 + i, a1);
	}
	size_t i = 2 * h;
	for (; i + WD <= n; i += WD)
		VD_STF(y + i, VD_FMA(va, VD_LDF(x + i), VD_LDF(y + i)));
	for (; i < n; i++)
		y[i] = (float)SFMA(alpha, (double)x[i], (double)y[i]);
}

/* ---- matvec ------------------------------------------------------------------- */

#ifndef MV_ROWS_MAX
#define MV_ROWS_MAX 12
#endif

/*
 * y[0..R) for R consecutive rows of a (row length n), 1 <= R <= MV_ROWS_MAX, a
 * constant where this is inlined (the accumulators then live in registers).
 * The rows share each load of x. Each row: two accumulators over steps of 2*WD
 * columns, one more step of WD into the first, the lanes, then the last
 * columns one by one. So a row gives the same bits in a pass of any R, alone
 * included, and the result does not depend on the team.
 */
static inline __attribute__((always_inline)) TGT void
ISA(mv_rows_f64)(const double *a, const double *x, double *y, size_t n, const int R)
{
	VD c0[MV_ROWS_MAX], c1[MV_ROWS_MAX];
	_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) c0[r] = c1[r] = VD_ZERO();
	size_t j = 0;
	/* Every row's first vector, then every row's second, so that the loads
	 * reach R lines of R streams before any stream's next line. Taking a
	 * row's two vectors one after the other gives the same bits at 0.85-0.99
	 * x the speed (twelve rows, one and two threads, N = 4000-12000; alike
	 * with four rows). */
	for (; j + 2 * WD <= n; j += 2 * WD) {
		const VD x0 = VD_LD(x + j), x1 = VD_LD(x + j + WD);
		_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) c0[r] =
		    VD_FMA(VD_LD(a + (size_t)r * n + j), x0, c0[r]);
		_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) c1[r] =
		    VD_FMA(VD_LD(a + (size_t)r * n + j + WD), x1, c1[r]);
	}
	if (j + WD <= n) {
		const VD x0 = VD_LD(x + j);
		_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) c0[r] =
		    VD_FMA(VD_LD(a + (size_t)r * n + j), x0, c0[r]);
		j += WD;
	}
	double sum[MV_ROWS_MAX];
	_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) sum[r] = VD_HSUM(VD_ADD(c0[r], c1[r]));
	/* The rows' last columns side by side: their FMA chains overlap. */
	for (; j < n; j++) {
		const double xj = x[j];
		_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) sum[r] =
		    SFMA(a[(size_t)r * n + j], xj, sum[r]);
	}
	_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) y[r] = sum[r];
}

/*
 * The passes of a matvec over `rows` consecutive rows of a (row length n),
 * f64 and f32 alike: twelve rows a pass with AVX-512's 32 vector registers
 * (four elsewhere), then four, then one by one; R is a constant in each call
 * of PASS, so its accumulators stay in registers. Each pass reads all of x
 * again, from L2 once it is larger than a few KiB, and those fills compete
 * with A's for the core's line-fill slots, while more rows keep more of A's
 * streams in flight. One thread, interleaved in one process with a read of
 * the same bytes, f64 at N = 4000-12000: four rows 0.80-0.89, eight
 * 0.84-0.94, twelve 0.84-0.99 x the read (before the order of loads in
 * mv_rows_f64). f32 against four rows, N = 8000-12000, one and two
 * threads: eight 0.99-1.01 x, twelve 1.18-1.19 x.
 */
#ifndef MV_PASSES
#define MV_WIDE (WD == 8 ? 12 : 4)
#define MV_PASSES(PASS, a, x, y, rows, n)                                                          \
	do {                                                                                       \
		size_t i_ = 0;                                                                     \
		for (; i_ + MV_WIDE <= (rows); i_ += MV_WIDE)                                      \
			PASS((a) + i_ * (n), (x), (y) + i_, (n), MV_WIDE);                         \
		for (; i_ + 4 <= (rows); i_ += 4)                                                  \
			PASS((a) + i_ * (n), (x), (y) + i_, (n), 4);                               \
		for (; i_ < (rows); i_++)                                                          \
			PASS((a) + i_ * (n), (x), (y) + i_, (n), 1);                               \
	} while (0)
#endif

static TGT void ISA(matvec_f64)(const double *a, const double *x, double *y, size_t rows, size_t n)
{
	MV_PASSES(ISA(mv_rows_f64), a, x, y, rows, n);
}

/*
 * The same for f32 rows, in the same two stages as the reductions above:
 * blocks of F32_BLK vector steps accumulated in float (one chain per row),
 * each block's sum widened and added into the row's one double accumulator;
 * then steps of WD columns widened, then the columns left one by one. One
 * accumulator a row (not two, as f64 has) leaves the registers for twelve
 * rows: 2R + 1 vectors. The same bits for a row in a pass of any R.
 */
static inline __attribute__((always_inline)) TGT void
ISA(mv_rows_f32)(const float *a, const float *x, float *y, size_t n, const int R)
{
	VD c[MV_ROWS_MAX];
	_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) c[r] = VD_ZERO();
	size_t j = 0;
	for (; j + WF * F32_BLK <= n; j += WF * F32_BLK) {
		VF f[MV_ROWS_MAX];
		_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) f[r] = VF_ZERO();
		_Pragma("GCC unroll 8") for (int b = 0; b < F32_BLK; b++)
		{
			const size_t o = j + (size_t)b * WF;
			const VF xv = VF_LD(x + o);
			_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) f[r] =
			    VF_FMA(VF_LD(a + (size_t)r * n + o), xv, f[r]);
		}
		_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) VF_ACC_VD(c[r], c[r], f[r]);
	}
	for (; j + WD <= n; j += WD) {
		const VD xv = VD_LDF(x + j);
		_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) c[r] =
		    VD_FMA(VD_LDF(a + (size_t)r * n + j), xv, c[r]);
	}
	double sum[MV_ROWS_MAX];
	_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) sum[r] = VD_HSUM(c[r]);
	for (; j < n; j++) {
		const double xj = x[j];
		_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) sum[r] =
		    SFMA((double)a[(size_t)r * n + j], xj, sum[r]);
	}
	_Pragma("GCC unroll 12") for (int r = 0; r < R; r++) y[r] = (float)sum[r];
}

static TGT void ISA(matvec_f32)(const float *a, const float *x, float *y, size_t rows, size_t n)
{
	MV_PASSES(ISA(mv_rows_f32), a, x, y, rows, n);
}

/* ---- matmul micro-kernels ------------------------------------------------------- */

/*
 * c[MRC x NR] (row stride ldc) = acc, or c + acc when `add`, where
 * acc = sum over p < kc of pa[p][0..MRC) (x) pb[p][0..NR): pa is a packed
 * panel of A (MR values per step), pb one of B (NR = NV * W values per step).
 * The MRC x NV accumulators stay in registers (the loops are unrolled fully).
 * MRC = MR but for the last row panel of A, when it is shorter: it goes
 * through the kernel for 1, 2 or 4 rows that covers it (UKR_PARTS) instead
 * of computing MR rows of which most are padding (m = 257 is 32 panels of 8
 * and one of 1 row). A row's operations are the same in every variant.
 * Each step prefetches the panels' values HPC_OMP_UKR_PFD steps ahead: a B
 * panel (KC x NR) is larger than some L1s and is read again for every MR-row
 * panel of A, from L2 (prefetching past a panel's end reads harmless memory:
 * prefetches do not fault).
 */
#ifndef HPC_OMP_UKR_PFD
#define HPC_OMP_UKR_PFD 8
#endif
#ifndef HPC_OMP_UKR_CLOC
#define HPC_OMP_UKR_CLOC 3
#endif
/* The micro-kernel for the top h rows of a panel, by h (0 unused): the narrowest that covers
 * them. */
#define UKR_PARTS(r1, r2, r4, full)                                                                \
	{                                                                                          \
		[1] = (r1), [2] = (r2), [3] = (r4), [4] = (r4), [5] = (full), [6] = (full),        \
		[7] = (full), [8] = (full)                                                         \
	}
#define HPC_OMP_UKR(name, T, MR, MRC, NV, V, W, LD, ST, FMA, ADD, ZERO, SET1)                      \
	static TGT void name(size_t kc, const T *restrict pa, const T *restrict pb, T *c,          \
			     size_t ldc, int add)                                                  \
	{                                                                                          \
		V acc[MRC][NV];                                                                    \
		_Pragma("GCC unroll 16") for (int r = 0; r < MRC; r++)                             \
		{                                                                                  \
			const char *cr = (const char *)(c + (size_t)r * ldc);                      \
			_Pragma("GCC unroll 8") for (size_t l = 0; l < NV * W * sizeof(T);         \
						     l += 64)                                      \
			    __builtin_prefetch(cr + l, 1, HPC_OMP_UKR_CLOC);                       \
			__builtin_prefetch(cr + NV * W * sizeof(T) - 1, 1, HPC_OMP_UKR_CLOC);      \
		}                                                                                  \
		_Pragma("GCC unroll 16") for (int r = 0; r < MRC; r++)                             \
		    _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) acc[r][v] = ZERO();       \
		for (size_t p = 0; p < kc; p++) {                                                  \
			V b[NV];                                                                   \
			_Pragma("GCC unroll 8") for (size_t l = 0;                                 \
						     l < (NV * W * sizeof(T) + 63) / 64; l++)      \
			    __builtin_prefetch((const char *)(pb + HPC_OMP_UKR_PFD * NV * W) +     \
					       64 * l);                                            \
			__builtin_prefetch(pa + HPC_OMP_UKR_PFD * MR);                             \
			_Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) b[v] =                \
			    LD(pb + v * W);                                                        \
			_Pragma("GCC unroll 16") for (int r = 0; r < MRC; r++)                     \
			{                                                                          \
				const V ar = SET1(pa[r]);                                          \
				_Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) acc[r][v] =   \
				    FMA(ar, b[v], acc[r][v]);                                      \
			}                                                                          \
			pa += MR;                                                                  \
			pb += NV * W;                                                              \
		}                                                                                  \
		_Pragma("GCC unroll 16") for (int r = 0; r < MRC; r++)                             \
		    _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++)                           \
		{                                                                                  \
			T *cp = c + (size_t)r * ldc + (size_t)v * W;                               \
			ST(cp, add ? ADD(LD(cp), acc[r][v]) : acc[r][v]);                          \
		}                                                                                  \
	}

/*
 * The micro-kernels' vectors: the path's own (VD, VF), unless it names others
 * (UKR_D, UKR_F: V, W, LD, ST, FMA, ADD, ZERO, SET1; UKR_WD, UKR_WF: W).
 */
#ifndef UKR_D
#define UKR_D VD, WD, VD_LD, VD_ST, VD_FMA, VD_ADD, VD_ZERO, VD_SET1
#define UKR_WD WD
#endif
#ifndef UKR_F
#define UKR_F VF, WF, VF_LD, VF_ST, VF_FMA, VF_ADD, VF_ZERO, VF_SET1
#define UKR_WF WF
#endif
/* (expands UKR_D or UKR_F into their parts before HPC_OMP_UKR sees them) */
#define HPC_OMP_UKR_(...) HPC_OMP_UKR(__VA_ARGS__)
HPC_OMP_UKR_(ISA(ukr_f64), double, MR_D, MR_D, NV_D, UKR_D)
HPC_OMP_UKR_(ISA(ukr_f64_r1), double, MR_D, 1, NV_D, UKR_D)
HPC_OMP_UKR_(ISA(ukr_f64_r2), double, MR_D, 2, NV_D, UKR_D)
HPC_OMP_UKR_(ISA(ukr_f64_r4), double, MR_D, 4, NV_D, UKR_D)
HPC_OMP_UKR_(ISA(ukr_f32), float, MR_F, MR_F, NV_F, UKR_F)
HPC_OMP_UKR_(ISA(ukr_f32_r1), float, MR_F, 1, NV_F, UKR_F)
HPC_OMP_UKR_(ISA(ukr_f32_r2), float, MR_F, 2, NV_F, UKR_F)
HPC_OMP_UKR_(ISA(ukr_f32_r4), float, MR_F, 4, NV_F, UKR_F)
#undef HPC_OMP_UKR_
#undef HPC_OMP_UKR

static const struct isa_kernels ISA(kernels) = {
    .name = ISA_NAME,
    .dot_f64 = ISA(dot_f64),
    .dot_f32 = ISA(dot_f32),
    .sum_f64 = ISA(sum_f64),
    .sum_f32 = ISA(sum_f32),
    .axpy_f64 = ISA(axpy_f64),
    .axpy_f32 = ISA(axpy_f32),
    .matvec_f64 = ISA(matvec_f64),
    .matvec_f32 = ISA(matvec_f32),
    .gemm_f64 = {MR_D, NV_D *UKR_WD, ISA(ukr_f64),
		 UKR_PARTS(ISA(ukr_f64_r1), ISA(ukr_f64_r2), ISA(ukr_f64_r4), ISA(ukr_f64))},
    .gemm_f32 = {MR_F, NV_F *UKR_WF, ISA(ukr_f32),
		 UKR_PARTS(ISA(ukr_f32_r1), ISA(ukr_f32_r2), ISA(ukr_f32_r4), ISA(ukr_f32))},
};

/* The parameters of this inclusion, gone again for the next one. */
#undef ISA
#undef ISA_NAME
#undef TGT
#undef VD
#undef WD
#undef VD_LD
#undef VD_ST
#undef VD_FMA
#undef VD_ADD
#undef VD_ZERO
#undef VD_SET1
#undef VD_HSUM
#undef SFMA
#undef VD_LDF
#undef VD_STF
#undef VF
#undef WF
#undef VF_LD
#undef VF_ST
#undef VF_FMA
#undef VF_ADD
#undef VF_ZERO
#undef VF_SET1
#undef VF_ACC_VD
#undef UKR_PARTS
#undef UKR_D
#undef UKR_WD
#undef UKR_F
#undef UKR_WF
#undef MR_D
#undef NV_D
#undef MR_F
#undef NV_F

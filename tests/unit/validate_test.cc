// Descriptor validation with hostile values: everything a client can write
// into a descriptor is tried, and each must be refused with its reason.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

extern "C" {
#include "daemon/validate.h"
}

namespace
{

constexpr uint64_t kArena = 1 << 20;

hpc_sqe matvec(uint64_t m, uint64_t n)
{
	hpc_sqe e;
	memset(&e, 0, sizeof(e));
	e.op = HPC_OP_MATVEC;
	e.dtype = HPC_F64;
	e.m = m;
	e.n = n;
	e.a_off = 0;
	e.b_off = m * n * 8;
	e.out_off = e.b_off + n * 8;
	return e;
}

int check(const hpc_sqe &e, uint32_t *detail, hpcd_span *span = nullptr)
{
	hpcd_span s;
	return hpcd_validate(&e, kArena, span ? span : &s, detail);
}

TEST(Validate, AcceptsWellFormedJobsOfEveryOp)
{
	uint32_t d;
	hpcd_span s;
	hpc_sqe e = matvec(10, 20);
	ASSERT_EQ(check(e, &d, &s), 0);
	EXPECT_EQ(s.a_len, 10u * 20 * 8);
	EXPECT_EQ(s.b_len, 20u * 8);
	EXPECT_EQ(s.out_len, 10u * 8);

	hpc_sqe mm;
	memset(&mm, 0, sizeof(mm));
	mm.op = HPC_OP_MATMUL;
	mm.dtype = HPC_F32;
	mm.m = 3, mm.k = 5, mm.n = 7;
	mm.b_off = 3 * 5 * 4;
	mm.out_off = 4096;
	ASSERT_EQ(check(mm, &d, &s), 0);
	EXPECT_EQ(s.b_len, 5u * 7 * 4);
	EXPECT_EQ(s.out_len, 3u * 7 * 4);

	hpc_sqe dot;
	memset(&dot, 0, sizeof(dot));
	dot.op = HPC_OP_DOT;
	dot.n = 100;
	dot.b_off = 800;
	EXPECT_EQ(check(dot, &d), 0);

	hpc_sqe sum;
	memset(&sum, 0, sizeof(sum));
	sum.op = HPC_OP_SUM;
	sum.n = kArena / 8; // exactly the whole arena
	EXPECT_EQ(check(sum, &d), 0);

	hpc_sqe ax;
	memset(&ax, 0, sizeof(ax));
	ax.op = HPC_OP_AXPY;
	ax.n = 16;
	ax.alpha = -2.5;
	ax.out_off = 128;
	EXPECT_EQ(check(ax, &d), 0);
}

TEST(Validate, RefusesUnknownOpsAndTypes)
{
	uint32_t d;
	for (uint16_t op : {0, 6, 7, 255, 65535}) {
		hpc_sqe e = matvec(2, 2);
		e.op = op;
		EXPECT_EQ(check(e, &d), -EINVAL) << op;
		EXPECT_EQ(d, (uint32_t)HPC_E_BAD_OP);
	}
	for (uint8_t t : {2, 3, 200}) {
		hpc_sqe e = matvec(2, 2);
		e.dtype = t;
		EXPECT_EQ(check(e, &d), -EINVAL);
		EXPECT_EQ(d, (uint32_t)HPC_E_BAD_DTYPE);
	}
}

TEST(Validate, RefusesNonZeroReservedFieldsAndUnusedOperands)
{
	uint32_t d;
	hpc_sqe e = matvec(2, 2);
	e.flags = 2; // not a defined flag
	EXPECT_EQ(check(e, &d), -EINVAL);
	EXPECT_EQ(d, (uint32_t)HPC_E_BAD_FIELD);
	e = matvec(2, 2);
	e.reserved1 = 42;
	EXPECT_EQ(check(e, &d), -EINVAL);
	e = matvec(2, 2);
	e.timeline_cap = 4; // a timeline buffer without the flag
	EXPECT_EQ(check(e, &d), -EINVAL);
	e = matvec(2, 2);
	e.k = 3; // matvec has no k
	EXPECT_EQ(check(e, &d), -EINVAL);
	e = matvec(2, 2);
	e.alpha = 1.0; // only axpy has alpha
	EXPECT_EQ(check(e, &d), -EINVAL);
	hpc_sqe sum;
	memset(&sum, 0, sizeof(sum));
	sum.op = HPC_OP_SUM;
	sum.n = 4;
	sum.b_off = 64; // sum has no b
	EXPECT_EQ(check(sum, &d), -EINVAL);
	EXPECT_EQ(d, (uint32_t)HPC_E_BAD_FIELD);
}

TEST(Validate, RefusesUnterminatedBackendName)
{
	uint32_t d;
	hpc_sqe e = matvec(2, 2);
	memset(e.backend, 'x', sizeof(e.backend));
	EXPECT_EQ(check(e, &d), -EINVAL);
	EXPECT_EQ(d, (uint32_t)HPC_E_BAD_NAME);
}

TEST(Validate, RefusesSizesThatOverflow)
{
	uint32_t d;
	hpc_sqe e = matvec(1ull << 32, 1ull << 32); // m*n overflows 64 bits
	EXPECT_EQ(check(e, &d), -EOVERFLOW);
	EXPECT_EQ(d, (uint32_t)HPC_E_SIZE_OVERFLOW);
	e = matvec(1, 1ull << 61); // n * 8 overflows
	EXPECT_EQ(check(e, &d), -EOVERFLOW);
	e = matvec(UINT64_MAX, UINT64_MAX);
	EXPECT_EQ(check(e, &d), -EOVERFLOW);
}

TEST(Validate, RefusesOperandsOutsideTheArena)
{
	uint32_t d;
	hpc_sqe e = matvec(4, 4);
	e.a_off = kArena; // just past the end
	EXPECT_EQ(check(e, &d), -ERANGE);
	EXPECT_EQ(d, (uint32_t)HPC_E_OUT_OF_REGION);
	e = matvec(4, 4);
	e.out_off = kArena - 8; // starts inside, ends outside
	EXPECT_EQ(check(e, &d), -ERANGE);
	e = matvec(4, 4);
	e.b_off = UINT64_MAX - 7; // offset + length wraps around
	EXPECT_EQ(check(e, &d), -EOVERFLOW);
	EXPECT_EQ(d, (uint32_t)HPC_E_SIZE_OVERFLOW);
	hpc_sqe sum;
	memset(&sum, 0, sizeof(sum));
	sum.op = HPC_OP_SUM;
	sum.n = kArena / 8 + 1; // one element too many
	EXPECT_EQ(check(sum, &d), -ERANGE);
}

TEST(Validate, RefusesMisalignedOperands)
{
	uint32_t d;
	hpc_sqe e = matvec(2, 2);
	e.b_off += 4; // f64 at a 4-byte boundary
	EXPECT_EQ(check(e, &d), -EINVAL);
	EXPECT_EQ(d, (uint32_t)HPC_E_MISALIGNED);
	e.dtype = HPC_F32; // ...is fine for f32
	e.out_off = 4096;
	EXPECT_EQ(check(e, &d), 0);
}

TEST(Validate, RefusesOutputOverlappingAnInput)
{
	uint32_t d;
	hpc_sqe e = matvec(4, 4);
	e.out_off = 8; // inside A
	EXPECT_EQ(check(e, &d), -EINVAL);
	EXPECT_EQ(d, (uint32_t)HPC_E_OVERLAP);
	e = matvec(4, 4);
	e.out_off = e.b_off + 24; // last element of x
	EXPECT_EQ(check(e, &d), -EINVAL);
	e = matvec(4, 4);
	e.out_off = e.b_off + 32; // right after x: no overlap
	EXPECT_EQ(check(e, &d), 0);
}

TEST(Validate, TimelineBufferIsCheckedLikeAnOutput)
{
	uint32_t d;
	hpcd_span span;
	hpc_sqe e = matvec(4, 4); // operands in [0, 192)
	e.flags = HPC_SQE_TIMELINE;
	e.timeline_off = 4096;
	e.timeline_cap = 10;
	ASSERT_EQ(check(e, &d, &span), 0);
	EXPECT_EQ(span.timeline_len, 10u * sizeof(hpc_chunk_rec));
	e.timeline_off = 4; // not 8-aligned
	EXPECT_EQ(check(e, &d), -EINVAL);
	EXPECT_EQ(d, (uint32_t)HPC_E_MISALIGNED);
	e.timeline_off = 64; // over A
	EXPECT_EQ(check(e, &d), -EINVAL);
	EXPECT_EQ(d, (uint32_t)HPC_E_OVERLAP);
	e.timeline_off = kArena - 48; // 10 records do not fit
	EXPECT_EQ(check(e, &d), -ERANGE);
	e.timeline_off = 4096;
	e.timeline_cap = UINT32_MAX; // 200 GB: past the arena
	EXPECT_EQ(check(e, &d), -ERANGE);
	e.timeline_cap = 0; // asks for nothing: fine
	EXPECT_EQ(check(e, &d), 0);
}

TEST(Validate, ZeroSizedOperandsAreFine)
{
	uint32_t d;
	hpc_sqe sum;
	memset(&sum, 0, sizeof(sum));
	sum.op = HPC_OP_SUM;
	sum.n = 0;
	sum.a_off = kArena; // an empty range at the end is inside
	EXPECT_EQ(check(sum, &d), 0);
}

} // namespace

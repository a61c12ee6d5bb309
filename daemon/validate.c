#include "daemon/validate.h"

#include <errno.h>
#include <string.h>

#include "hpc/ops.h"

static int fail(uint32_t *detail, uint32_t why, int err)
{
	*detail = why;
	return err;
}

/* The operand [off, off + len) lies inside [0, arena) and is aligned. */
static int in_arena(uint64_t off, uint64_t len, uint64_t esize, uint64_t arena, uint32_t *detail)
{
	uint64_t end;
	if (__builtin_add_overflow(off, len, &end))
		return fail(detail, HPC_E_SIZE_OVERFLOW, -EOVERFLOW);
	if (end > arena)
		return fail(detail, HPC_E_OUT_OF_REGION, -ERANGE);
	if (off % esize)
		return fail(detail, HPC_E_MISALIGNED, -EINVAL);
	return 0;
}

static int overlap(uint64_t o1, uint64_t l1, uint64_t o2, uint64_t l2)
{
	/* Both ranges are inside the arena, so the sums cannot overflow. */
	return l1 && l2 && o1 < o2 + l2 && o2 < o1 + l1;
}

int hpcd_validate(const struct hpc_sqe *sqe, uint64_t arena_size, struct hpcd_span *span,
		  uint32_t *detail)
{
	*detail = HPC_E_NONE;
	memset(span, 0, sizeof(*span));

	if (sqe->op == HPC_OP_NONE || sqe->op >= HPC_OP__COUNT)
		return fail(detail, HPC_E_BAD_OP, -EINVAL);
	uint64_t es = hpc_dtype_size(sqe->dtype);
	if (!es)
		return fail(detail, HPC_E_BAD_DTYPE, -EINVAL);
	if (memchr(sqe->backend, '\0', sizeof(sqe->backend)) == NULL)
		return fail(detail, HPC_E_BAD_NAME, -EINVAL);
	if ((sqe->flags & ~HPC_SQE_TIMELINE) || sqe->reserved0 || sqe->reserved1)
		return fail(detail, HPC_E_BAD_FIELD, -EINVAL);
	if (!(sqe->flags & HPC_SQE_TIMELINE) && (sqe->timeline_off || sqe->timeline_cap))
		return fail(detail, HPC_E_BAD_FIELD, -EINVAL);

	/* What the op touches comes from the one op table (hpc/ops.h). */
	const struct hpc_op_desc *od = hpc_op_desc(sqe->op);
	uint64_t bytes[HPC_ARG__COUNT];
	if (hpc_op_extents(sqe->op, sqe->m, sqe->n, sqe->k, es, NULL, bytes) < 0)
		return fail(detail, HPC_E_SIZE_OVERFLOW, -EOVERFLOW);
	span->a_len = bytes[HPC_ARG_A];
	span->b_len = bytes[HPC_ARG_B];
	span->out_len = bytes[HPC_ARG_OUT];
	int uses_b = hpc_op_uses(od, HPC_ARG_B), uses_out = hpc_op_uses(od, HPC_ARG_OUT);
	int rc;
	if ((!(od->dims & HPC_DIM_BIT(HPC_DIM_M)) && sqe->m) ||
	    (!(od->dims & HPC_DIM_BIT(HPC_DIM_N)) && sqe->n) ||
	    (!(od->dims & HPC_DIM_BIT(HPC_DIM_K)) && sqe->k) ||
	    (!uses_b && (sqe->b_off || sqe->b_gen)) || (!uses_out && sqe->out_off) ||
	    (!od->uses_alpha && sqe->alpha != 0.0))
		return fail(detail, HPC_E_BAD_FIELD, -EINVAL);

	span->work = hpc_op_work(sqe->op, sqe->m, sqe->n, sqe->k);
	span->has_b = uses_b;
	span->has_out = uses_out;
	if ((rc = in_arena(sqe->a_off, span->a_len, es, arena_size, detail)) < 0)
		return rc;
	if (uses_b && (rc = in_arena(sqe->b_off, span->b_len, es, arena_size, detail)) < 0)
		return rc;
	if (uses_out && (rc = in_arena(sqe->out_off, span->out_len, es, arena_size, detail)) < 0)
		return rc;
	if (uses_out && (overlap(sqe->out_off, span->out_len, sqe->a_off, span->a_len) ||
			 (uses_b && overlap(sqe->out_off, span->out_len, sqe->b_off, span->b_len))))
		return fail(detail, HPC_E_OVERLAP, -EINVAL);

	if (sqe->flags & HPC_SQE_TIMELINE) {
		/* Another output: inside, aligned, and clear of every operand. */
		uint64_t t_off = sqe->timeline_off;
		if (__builtin_mul_overflow((uint64_t)sqe->timeline_cap,
					   (uint64_t)sizeof(struct hpc_chunk_rec),
					   &span->timeline_len))
			return fail(detail, HPC_E_SIZE_OVERFLOW, -EOVERFLOW);
		if ((rc = in_arena(t_off, span->timeline_len, 8, arena_size, detail)) < 0)
			return rc;
		uint64_t t_len = span->timeline_len;
		if (overlap(t_off, t_len, sqe->a_off, span->a_len) ||
		    (uses_b && overlap(t_off, t_len, sqe->b_off, span->b_len)) ||
		    (uses_out && overlap(t_off, t_len, sqe->out_off, span->out_len)))
			return fail(detail, HPC_E_OVERLAP, -EINVAL);
	}
	return 0;
}

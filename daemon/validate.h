/*
 * daemon/validate.h - the check every descriptor passes before a backend
 * sees it. Pure functions over a private copy of the descriptor, so the
 * client cannot change it between check and use, and unit-testable with
 * hostile values.
 */
#ifndef HPCD_VALIDATE_H
#define HPCD_VALIDATE_H

#include <stdint.h>

#include "hpc/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Byte extents of the operands of a validated job, and which ones the op uses. */
struct hpcd_span {
	uint64_t a_len, b_len, out_len;
	uint64_t timeline_len; /* bytes of the chunk-record buffer, 0 without HPC_SQE_TIMELINE */
	int has_b, has_out;
	uint64_t work; /* hpc_op_work(): 0 for an empty job, which no backend sees */
};

/*
 * Check sqe (a private copy) against an arena of arena_size bytes: known op
 * and type; flags, reserved fields and unused operands zero; backend name
 * NUL-terminated; every operand's size computed without overflow and lying
 * inside the arena; offsets aligned to the element size; the output not
 * overlapping an input; a timeline buffer (HPC_SQE_TIMELINE) inside the
 * arena, 8-aligned and overlapping no operand. Returns 0 and fills *span, or a negative errno with
 * *detail set to the enum hpc_err_detail that says why.
 */
int hpcd_validate(const struct hpc_sqe *sqe, uint64_t arena_size, struct hpcd_span *span,
		  uint32_t *detail);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_VALIDATE_H */

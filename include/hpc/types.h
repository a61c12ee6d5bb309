/*
 * hpc/types.h - the vocabulary shared by clients, the daemon and plugins:
 * operations, element types and their sizes.
 *
 * Plain C, usable from C and C++. Values are part of the wire format and the
 * plugin ABI: never renumber, only append.
 */
#ifndef HPC_TYPES_H
#define HPC_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Operations. Operand roles (see struct hpc_sqe in hpc/wire.h):
 *   MATVEC  out[m]   = a[m x n] . b[n]
 *   MATMUL  out[m x n] = a[m x k] . b[k x n]
 *   DOT     result   = a[n] . b[n]
 *   SUM     result   = sum a[n]
 *   AXPY    out[n]  <- alpha * a[n] + out[n]      (out is read and written)
 * Matrices are row-major (C order).
 */
enum hpc_op {
	HPC_OP_NONE = 0,
	HPC_OP_MATVEC = 1,
	HPC_OP_MATMUL = 2,
	HPC_OP_DOT = 3,
	HPC_OP_SUM = 4,
	HPC_OP_AXPY = 5,
	HPC_OP__COUNT
};

/* Bit for an op in a supported-ops mask. */
#define HPC_OP_BIT(op) (1u << (op))
#define HPC_OPS_ALL                                                                                \
	(HPC_OP_BIT(HPC_OP_MATVEC) | HPC_OP_BIT(HPC_OP_MATMUL) | HPC_OP_BIT(HPC_OP_DOT) |          \
	 HPC_OP_BIT(HPC_OP_SUM) | HPC_OP_BIT(HPC_OP_AXPY))

enum hpc_dtype {
	HPC_F64 = 0, /* the default */
	HPC_F32 = 1,
	HPC_DTYPE__COUNT
};

/* Size in bytes of one element, or 0 for an unknown type. */
static inline size_t hpc_dtype_size(uint32_t dtype)
{
	return dtype == HPC_F64 ? 8 : dtype == HPC_F32 ? 4 : 0;
}

/* "f64", "f32", or NULL for an unknown value. (Op names: hpc_op_name() in hpc/ops.h.) */
static inline const char *hpc_dtype_name(uint32_t dtype)
{
	return dtype == HPC_F64 ? "f64" : dtype == HPC_F32 ? "f32" : NULL;
}

/* Longest backend instance name, without the terminating NUL. */
#define HPC_BACKEND_NAME_MAX 23

#ifdef __cplusplus
}
#endif

/* The op table (what each op touches), and hpc_op_name(), derive from it. */
#include "hpc/ops.h"

#endif /* HPC_TYPES_H */

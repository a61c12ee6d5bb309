/*
 * hpc/ops.h - the one description of what each operation touches.
 *
 * Everything that needs to know an op's operands - the daemon's validation,
 * the plugins and their worker programs, the CLI, the tests - reads it from
 * hpc_op_table and computes sizes with hpc_op_extents(), so that a sixth op
 * is one new row here plus a kernel in each backend.
 *
 * Each operand's extent is the product of two of the job's dimensions
 * (HPC_DIM_ONE stands for 1). The "split" dimension is the one backends cut
 * into chunks: rows of matvec and matmul, elements of the vector ops.
 *
 * Empty jobs: a job whose work (hpc_op_work) is 0 has some dimension 0. The
 * daemon completes it itself, at once, without calling a backend: the
 * output, when it has elements (matvec with n = 0, matmul with k = 0), is
 * filled with zeros, and dot and sum give 0. A backend never sees such a
 * job, so no loop over a dimension can run without touching memory.
 *
 * Plain C, usable from C and C++.
 */
#ifndef HPC_OPS_H
#define HPC_OPS_H

#include <errno.h>
#include <stdint.h>

#include "hpc/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Operand roles (struct hpc_sqe's a, b and out). */
enum hpc_arg { HPC_ARG_A = 0, HPC_ARG_B = 1, HPC_ARG_OUT = 2, HPC_ARG__COUNT };

/* Dimensions of a job; HPC_DIM_ONE is the constant 1. */
enum hpc_dim { HPC_DIM_ONE = 0, HPC_DIM_M = 1, HPC_DIM_N = 2, HPC_DIM_K = 3 };

#define HPC_DIM_BIT(d) (1u << (d))

struct hpc_op_desc {
	const char *name;   /* "matvec", ... */
	uint8_t dims;       /* HPC_DIM_BIT of each dimension the op uses; others must be 0 */
	uint8_t args;       /* bit (1 << HPC_ARG_x) of each operand the op uses */
	uint8_t out_read;   /* the output is read as well as written (axpy) */
	uint8_t scalar;     /* the result is a scalar in the completion (dot, sum) */
	uint8_t uses_alpha; /* alpha is an input (axpy); others must send 0 */
	uint8_t split;      /* dimension backends cut into chunks */
	uint8_t extent[HPC_ARG__COUNT][2];     /* each operand's elements: product of two dims */
	const char *arg_names[HPC_ARG__COUNT]; /* for messages: "A", "x", ... */
};

#define HPC_ARG_BIT(a) (1u << (a))

/* Rows in enum hpc_op order (C++ has no array designators). Fields in declaration order. */
static const struct hpc_op_desc hpc_op_table[HPC_OP__COUNT] = {
    /* HPC_OP_NONE */ {
	.name = (const char *)0,
    },
    /* HPC_OP_MATVEC */
    {
	.name = "matvec",
	.dims = HPC_DIM_BIT(HPC_DIM_M) | HPC_DIM_BIT(HPC_DIM_N),
	.args = HPC_ARG_BIT(HPC_ARG_A) | HPC_ARG_BIT(HPC_ARG_B) | HPC_ARG_BIT(HPC_ARG_OUT),
	.split = HPC_DIM_M,
	.extent = {{HPC_DIM_M, HPC_DIM_N}, {HPC_DIM_N, HPC_DIM_ONE}, {HPC_DIM_M, HPC_DIM_ONE}},
	.arg_names = {"A", "x", "y"},
    },
    /* HPC_OP_MATMUL */
    {
	.name = "matmul",
	.dims = HPC_DIM_BIT(HPC_DIM_M) | HPC_DIM_BIT(HPC_DIM_N) | HPC_DIM_BIT(HPC_DIM_K),
	.args = HPC_ARG_BIT(HPC_ARG_A) | HPC_ARG_BIT(HPC_ARG_B) | HPC_ARG_BIT(HPC_ARG_OUT),
	.split = HPC_DIM_M,
	.extent = {{HPC_DIM_M, HPC_DIM_K}, {HPC_DIM_K, HPC_DIM_N}, {HPC_DIM_M, HPC_DIM_N}},
	.arg_names = {"A", "B", "C"},
    },
    /* HPC_OP_DOT */
    {
	.name = "dot",
	.dims = HPC_DIM_BIT(HPC_DIM_N),
	.args = HPC_ARG_BIT(HPC_ARG_A) | HPC_ARG_BIT(HPC_ARG_B),
	.scalar = 1,
	.split = HPC_DIM_N,
	.extent = {{HPC_DIM_N, HPC_DIM_ONE}, {HPC_DIM_N, HPC_DIM_ONE}, {HPC_DIM_ONE, HPC_DIM_ONE}},
	.arg_names = {"x", "y", NULL},
    },
    /* HPC_OP_SUM */
    {
	.name = "sum",
	.dims = HPC_DIM_BIT(HPC_DIM_N),
	.args = HPC_ARG_BIT(HPC_ARG_A),
	.scalar = 1,
	.split = HPC_DIM_N,
	.extent = {{HPC_DIM_N, HPC_DIM_ONE},
		   {HPC_DIM_ONE, HPC_DIM_ONE},
		   {HPC_DIM_ONE, HPC_DIM_ONE}},
	.arg_names = {"x", NULL, NULL},
    },
    /* HPC_OP_AXPY */
    {
	.name = "axpy",
	.dims = HPC_DIM_BIT(HPC_DIM_N),
	.args = HPC_ARG_BIT(HPC_ARG_A) | HPC_ARG_BIT(HPC_ARG_OUT),
	.out_read = 1,
	.uses_alpha = 1,
	.split = HPC_DIM_N,
	.extent = {{HPC_DIM_N, HPC_DIM_ONE}, {HPC_DIM_ONE, HPC_DIM_ONE}, {HPC_DIM_N, HPC_DIM_ONE}},
	.arg_names = {"x", NULL, "y"},
    },
};

/* The row of a known op, or NULL. */
static inline const struct hpc_op_desc *hpc_op_desc(uint32_t op)
{
	return op > HPC_OP_NONE && op < HPC_OP__COUNT ? &hpc_op_table[op]
						      : (const struct hpc_op_desc *)0;
}

/* "matvec", ... or NULL for an unknown op. */
static inline const char *hpc_op_name(uint32_t op)
{
	const struct hpc_op_desc *d = hpc_op_desc(op);
	return d ? d->name : (const char *)0;
}

/* The value of dimension d of a job with shapes m, n, k. */
static inline uint64_t hpc_op_dim(uint32_t d, uint64_t m, uint64_t n, uint64_t k)
{
	return d == HPC_DIM_M ? m : d == HPC_DIM_N ? n : d == HPC_DIM_K ? k : 1;
}

/* Whether the op uses operand arg. */
static inline int hpc_op_uses(const struct hpc_op_desc *d, enum hpc_arg arg)
{
	return (d->args >> arg) & 1u;
}

/*
 * Elements and bytes of every operand of op with shapes m, n, k and
 * element size esize: elems[i] and bytes[i] for HPC_ARG_A, _B, _OUT (0 for an
 * operand the op does not use; either array may be NULL). Checked
 * arithmetic: returns 0, -EINVAL for an unknown op, or -EOVERFLOW when any
 * product does not fit in 64 bits.
 */
static inline int hpc_op_extents(uint32_t op, uint64_t m, uint64_t n, uint64_t k, uint64_t esize,
				 uint64_t elems[HPC_ARG__COUNT], uint64_t bytes[HPC_ARG__COUNT])
{
	const struct hpc_op_desc *d = hpc_op_desc(op);
	if (!d)
		return -EINVAL;
	for (int i = 0; i < HPC_ARG__COUNT; i++) {
		uint64_t e = 0, b = 0;
		if (hpc_op_uses(d, (enum hpc_arg)i)) {
			if (__builtin_mul_overflow(hpc_op_dim(d->extent[i][0], m, n, k),
						   hpc_op_dim(d->extent[i][1], m, n, k), &e) ||
			    __builtin_mul_overflow(e, esize, &b))
				return -EOVERFLOW;
		}
		if (elems)
			elems[i] = e;
		if (bytes)
			bytes[i] = b;
	}
	return 0;
}

/* The product of the dimensions op uses, but `skip` (HPC_DIM_ONE: none), saturated. */
static inline uint64_t hpc_op_dims_product(const struct hpc_op_desc *d, uint32_t skip, uint64_t m,
					   uint64_t n, uint64_t k)
{
	uint64_t w = 1;
	for (uint32_t dim = HPC_DIM_M; dim <= HPC_DIM_K; dim++)
		if (dim != skip && (d->dims & HPC_DIM_BIT(dim)) &&
		    __builtin_mul_overflow(w, hpc_op_dim(dim, m, n, k), &w))
			return UINT64_MAX;
	return w;
}

/*
 * The work of a job in multiply-adds (matvec m*n, matmul m*n*k) or elements
 * (n for the vector ops), saturated at UINT64_MAX; 0 exactly when some
 * dimension the op uses is 0 (an empty job, see above).
 */
static inline uint64_t hpc_op_work(uint32_t op, uint64_t m, uint64_t n, uint64_t k)
{
	const struct hpc_op_desc *d = hpc_op_desc(op);
	return d ? hpc_op_dims_product(d, HPC_DIM_ONE, m, n, k) : 0;
}

/*
 * Work per unit of the split dimension (per row of matvec: n; of matmul:
 * n*k; per element of the vector ops: 1), saturated; what backends divide a
 * work budget by to size their chunks.
 */
static inline uint64_t hpc_op_work_per_unit(uint32_t op, uint64_t m, uint64_t n, uint64_t k)
{
	const struct hpc_op_desc *d = hpc_op_desc(op);
	return d ? hpc_op_dims_product(d, d->split, m, n, k) : 0;
}

/* The length of the split dimension of a job. */
static inline uint64_t hpc_op_split_len(uint32_t op, uint64_t m, uint64_t n, uint64_t k)
{
	const struct hpc_op_desc *d = hpc_op_desc(op);
	return d ? hpc_op_dim(d->split, m, n, k) : 0;
}

/* ceil(a / b) for b > 0, without the overflow of (a + b - 1) / b: for chunking. */
static inline uint64_t hpc_div_ceil(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

#ifdef __cplusplus
}
#endif

#endif /* HPC_OPS_H */

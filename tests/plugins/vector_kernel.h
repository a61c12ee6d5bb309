/*
 * tests/plugins/vector_kernel.h - the one computation the small test plugins
 * do (dot and sum of f64 vectors), so that a job run on them has a result the
 * tests can check. Needs struct hpc_job (hpc/types.h), which every ABI has.
 */
#ifndef HPC_TESTS_PLUGINS_VECTOR_KERNEL_H
#define HPC_TESTS_PLUGINS_VECTOR_KERNEL_H

#include <stdint.h>

#include "hpc/types.h"

/* job->result = a . b for dot, the sum of a otherwise; f64, plain loop. */
static inline void tp_dot_or_sum(struct hpc_job *job)
{
	const double *a = job->a, *b = job->b;
	double r = 0;
	for (uint64_t i = 0; i < job->n; i++)
		r += job->op == HPC_OP_DOT ? a[i] * b[i] : a[i];
	job->result = r;
}

#endif /* HPC_TESTS_PLUGINS_VECTOR_KERNEL_H */

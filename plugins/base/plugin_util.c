#include "plugins/base/plugin_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

void hpcb_err(struct hpc_open_args *args, int32_t setting, const char *fmt, ...)
{
	if (!args)
		return;
	if (setting >= 0)
		args->err_setting = setting;
	if (!args->err || args->err_len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args->err, args->err_len, fmt, ap);
	va_end(ap);
}

int hpcb_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	if (!s || !*s)
		return -EINVAL;
	/* By hand rather than strtoul(), which accepts signs and blanks. */
	unsigned long v = 0;
	bool big = false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned long d = (unsigned long)(*p - '0');
		if (v > (~0ul - d) / 10)
			big = true; /* keep scanning: "99999999999999999999x" is -EINVAL */
		else
			v = v * 10 + d;
	}
	if (big || v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

/* *r = x * y * size, or false when that does not fit in size_t. */
static bool bytes_fit(uint64_t x, uint64_t y, size_t size, size_t *r)
{
	uint64_t e;
	size_t b;
	if (__builtin_mul_overflow(x, y, &e))
		return false;
	if (__builtin_mul_overflow(e, (uint64_t)size, &b))
		return false;
	if (r)
		*r = (size_t)e;
	return true;
}

int hpcb_check_job(const struct hpc_job *job)
{
	if (!job)
		return -EINVAL;
	size_t es = hpc_dtype_size(job->dtype);
	if (es == 0)
		return -EOPNOTSUPP;

	size_t na, nb, nout; /* element counts of a, b and out */
	switch (job->op) {
	case HPC_OP_MATVEC:
		if (!bytes_fit(job->m, job->n, es, &na) || !bytes_fit(job->n, 1, es, &nb) ||
		    !bytes_fit(job->m, 1, es, &nout))
			return -EOVERFLOW;
		break;
	case HPC_OP_MATMUL:
		if (!bytes_fit(job->m, job->k, es, &na) || !bytes_fit(job->k, job->n, es, &nb) ||
		    !bytes_fit(job->m, job->n, es, &nout))
			return -EOVERFLOW;
		break;
	case HPC_OP_DOT:
	case HPC_OP_SUM:
	case HPC_OP_AXPY:
		if (!bytes_fit(job->n, 1, es, &na))
			return -EOVERFLOW;
		nb = job->op == HPC_OP_DOT ? na : 0;
		nout = job->op == HPC_OP_AXPY ? na : 0;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if ((na && !job->a) || (nb && !job->b) || (nout && !job->out))
		return -EINVAL;
	return 0;
}

uint64_t hpcb_job_work(const struct hpc_job *job)
{
	uint64_t w;
	switch (job->op) {
	case HPC_OP_MATVEC:
		if (__builtin_mul_overflow(job->m, job->n, &w))
			return UINT64_MAX;
		return w;
	case HPC_OP_MATMUL:
		/* k = 0 still writes m*n zeros. */
		if (__builtin_mul_overflow(job->m, job->n, &w) ||
		    __builtin_mul_overflow(w, job->k ? job->k : 1, &w))
			return UINT64_MAX;
		return w;
	default:
		return job->n;
	}
}

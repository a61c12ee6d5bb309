#include "plugins/base/plugin_util.h"

#include "hpc/ops.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

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

void hpcb_log(const struct hpc_host *host, int level, const char *fmt, ...)
{
	if (!host)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (HPC_HAS(host, struct hpc_host, vlog) && host->vlog) {
		host->vlog(host, level, fmt, ap);
	} else if (HPC_HAS(host, struct hpc_host, log) && host->log) {
		char buf[1024];
		vsnprintf(buf, sizeof(buf), fmt, ap);
		host->log(host, level, "%s", buf);
	}
	va_end(ap);
}

int hpcb_check_job(const struct hpc_job *job)
{
	if (!job)
		return -EINVAL;
	size_t es = hpc_dtype_size(job->dtype);
	if (es == 0 || !hpc_op_desc(job->op))
		return -EOPNOTSUPP;
	/* Element and byte counts per the op table; they must fit in size_t. */
	uint64_t el[HPC_ARG__COUNT], bytes[HPC_ARG__COUNT];
	if (hpc_op_extents(job->op, job->m, job->n, job->k, es, el, bytes) < 0)
		return -EOVERFLOW;
	for (int i = 0; i < HPC_ARG__COUNT; i++)
		if (bytes[i] > SIZE_MAX)
			return -EOVERFLOW;
	if ((el[HPC_ARG_A] && !job->a) || (el[HPC_ARG_B] && !job->b) ||
	    (el[HPC_ARG_OUT] && !job->out))
		return -EINVAL;
	return 0;
}

uint64_t hpcb_job_work(const struct hpc_job *job)
{
	/* k = 0 still writes m*n zeros. */
	uint64_t k = job->op == HPC_OP_MATMUL && job->k == 0 ? 1 : job->k;
	return hpc_op_work(job->op, job->m, job->n, k);
}

uint64_t hpcb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t hpcb_now_ms(void)
{
	return hpcb_now_ns() / 1000000u;
}

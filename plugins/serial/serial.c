/*
 * serial - the reference backend: plain single-threaded C, accurate
 * summation (see kernels/serial.c). Every other backend is checked against it.
 */
#include <errno.h>
#include <stdio.h>

#include "hpc/plugin.h"
#include "kernels/serial.h"
#include "plugins/base/plugin_util.h"

/* The backend keeps no state; open() hands out this address so it is not NULL. */
static const int serial_instance;

/* It takes no settings: an empty schema says so. */
static const struct hpc_setting_spec serial_schema[] = {{.key = NULL}};

static int serial_open(struct hpc_open_args *args, void **state)
{
	if (!args || !state)
		return -EINVAL;
	/* The daemon rejects unknown keys already; tests and other hosts may not. */
	if (args->nsettings > 0) {
		hpcb_err(args, 0, "the serial backend takes no settings, but got \"%s\".",
			 args->settings[0].key ? args->settings[0].key : "");
		return -EINVAL;
	}
	*state = (void *)&serial_instance;
	return 0;
}

static int serial_run(void *state, struct hpc_job *job)
{
	int rc = hpcb_check_job(job);
	if (rc)
		return rc;

	const uint64_t m = job->m, n = job->n, k = job->k;
	if (job->dtype == HPC_F64) {
		switch (job->op) {
		case HPC_OP_MATVEC:
			hpc_serial_matvec_f64(job->a, job->b, job->out, m, n);
			break;
		case HPC_OP_MATMUL:
			hpc_serial_matmul_f64(job->a, job->b, job->out, m, n, k);
			break;
		case HPC_OP_DOT:
			job->result = hpc_serial_dot_f64(job->a, job->b, n);
			break;
		case HPC_OP_SUM:
			job->result = hpc_serial_sum_f64(job->a, n);
			break;
		case HPC_OP_AXPY:
			hpc_serial_axpy_f64(job->alpha, job->a, job->out, n);
			break;
		}
	} else {
		switch (job->op) {
		case HPC_OP_MATVEC:
			hpc_serial_matvec_f32(job->a, job->b, job->out, m, n);
			break;
		case HPC_OP_MATMUL:
			hpc_serial_matmul_f32(job->a, job->b, job->out, m, n, k);
			break;
		case HPC_OP_DOT:
			job->result = hpc_serial_dot_f32(job->a, job->b, n);
			break;
		case HPC_OP_SUM:
			job->result = hpc_serial_sum_f32(job->a, n);
			break;
		case HPC_OP_AXPY:
			hpc_serial_axpy_f32(job->alpha, job->a, job->out, n);
			break;
		}
	}
	return 0;
}

static void serial_close(void *state)
{
}

static int serial_describe(void *state, char *buf, size_t len)
{
	if (!buf || len == 0)
		return -EINVAL;
	int n = snprintf(buf, len, "reference, single-threaded");
	return n >= 0 && (size_t)n < len ? 0 : -ENOSPC;
}

/* The ops table and the plugin's one export (hpc/plugin.h). */
HPC_PLUGIN_DEFINE(serial_ops, .name = "serial", .version = "0.1.0", .ops_f64 = HPC_OPS_ALL,
		  .ops_f32 = HPC_OPS_ALL, .schema = serial_schema, .open = serial_open,
		  .run = serial_run, .close = serial_close, .describe = serial_describe)

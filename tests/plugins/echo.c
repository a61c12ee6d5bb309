/*
 * tests/plugins/echo.c - a minimal working plugin for loader, reload and
 * hot-swap tests.
 *
 * Settings: tag (any text, shown by describe()), delay_ms (0..60000: each
 * run() sleeps that long first, so tests can keep jobs in flight across a
 * reload). Runs SUM and DOT naively, on f64 and f32. Built twice: as
 * libhpc_echo.so (version "1.0.0") and as libhpc_echo2.so (version "2.0.0",
 * still named "echo": it exists to be copied over libhpc_echo.so to play a
 * rebuilt plugin). echo_live_instances() counts open instances, so a test can
 * check that close() ran.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpc/plugin.h"

#ifndef ECHO_VERSION
#define ECHO_VERSION "1.0.0"
#endif

struct echo {
	char tag[64];
	unsigned delay_ms;
	atomic_uint forgotten; /* forget_region() calls seen */
};

static atomic_int live;

int echo_live_instances(void);
int echo_live_instances(void)
{
	return atomic_load(&live);
}

static const char *const echo_settings[] = {"tag", "delay_ms", NULL};

static int echo_open(struct hpc_open_args *args, void **state)
{
	struct echo *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(args->err, args->err_len, "out of memory");
		return -ENOMEM;
	}
	snprintf(e->tag, sizeof(e->tag), "none");
	for (uint32_t i = 0; i < args->nsettings; i++) {
		const struct hpc_setting *s = &args->settings[i];
		if (!strcmp(s->key, "tag")) {
			snprintf(e->tag, sizeof(e->tag), "%s", s->value);
		} else if (!strcmp(s->key, "delay_ms")) {
			char *end;
			unsigned long v = strtoul(s->value, &end, 10);
			if (!*s->value || *end || v > 60000) {
				snprintf(args->err, args->err_len,
					 "delay_ms must be an integer from 0 to 60000, not '%s'",
					 s->value);
				args->err_setting = (int32_t)i;
				free(e);
				return -EINVAL;
			}
			e->delay_ms = (unsigned)v;
		}
	}
	if (args->host && args->host->log)
		args->host->log(args->host, HPC_LOG_DEBUG, "echo %s open, tag=%s", ECHO_VERSION,
				e->tag);
	atomic_fetch_add(&live, 1);
	*state = e;
	return 0;
}

static int echo_run(void *state, struct hpc_job *job)
{
	struct echo *e = state;
	if (e->delay_ms) {
		struct timespec ts = {e->delay_ms / 1000, (long)(e->delay_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	double s = 0;
	for (uint64_t i = 0; i < job->n; i++) {
		double x = job->dtype == HPC_F64 ? ((const double *)job->a)[i]
						 : ((const float *)job->a)[i];
		if (job->op == HPC_OP_DOT)
			x *= job->dtype == HPC_F64 ? ((const double *)job->b)[i]
						   : ((const float *)job->b)[i];
		s += x;
	}
	job->result = s;
	return 0;
}

static void echo_close(void *state)
{
	atomic_fetch_sub(&live, 1);
	free(state);
}

static int echo_describe(void *state, char *buf, size_t len)
{
	struct echo *e = state;
	unsigned forgotten = atomic_load(&e->forgotten);
	/* The count shows only once there is one, so that plain lines stay as they were. */
	if (forgotten)
		snprintf(buf, len, "tag=%s version=%s forgotten=%u", e->tag, ECHO_VERSION,
			 forgotten);
	else
		snprintf(buf, len, "tag=%s version=%s", e->tag, ECHO_VERSION);
	return 0;
}

/* Counts calls, so that an end-to-end test can see the daemon make them. */
static void echo_forget_region(void *state, uint64_t region_id)
{
	struct echo *e = state;
	(void)region_id;
	atomic_fetch_add(&e->forgotten, 1);
}

/* The ops table and the plugin's one export (hpc/plugin.h). */
HPC_PLUGIN_DEFINE(echo_ops, .name = "echo", .version = ECHO_VERSION,
		  .ops_f64 = HPC_OP_BIT(HPC_OP_SUM) | HPC_OP_BIT(HPC_OP_DOT),
		  .ops_f32 = HPC_OP_BIT(HPC_OP_SUM) | HPC_OP_BIT(HPC_OP_DOT),
		  .settings = echo_settings, .open = echo_open, .run = echo_run,
		  .close = echo_close, .describe = echo_describe,
		  .forget_region = echo_forget_region)

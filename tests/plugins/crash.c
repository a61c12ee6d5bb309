/*
 * tests/plugins/crash.c - a plugin whose run() dies of SIGSEGV on every job
 * (a real invalid write, not raise()), for the daemon's crash-isolation
 * tests. open() and describe() work normally. Setting 'mode': "segv"
 * (default) or "abort".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hpc/plugin.h"

/* volatile, so the compiler cannot see it is NULL and turn the store into a trap instruction. */
static int *volatile crash_target;

static const char *const crash_settings[] = {"mode", NULL};

static int crash_open(struct hpc_open_args *args, void **state)
{
	static int abort_mode = 1, segv_mode = 0;
	*state = &segv_mode;
	for (uint32_t i = 0; i < args->nsettings; i++) {
		if (strcmp(args->settings[i].key, "mode"))
			continue;
		if (!strcmp(args->settings[i].value, "abort")) {
			*state = &abort_mode;
		} else if (strcmp(args->settings[i].value, "segv")) {
			snprintf(args->err, args->err_len, "mode must be segv or abort, not '%s'",
				 args->settings[i].value);
			args->err_setting = (int32_t)i;
			return -EINVAL;
		}
	}
	return 0;
}

static int crash_run(void *state, struct hpc_job *job)
{
	if (*(int *)state)
		abort();
	*crash_target = 42;
	return 0;
}

static void crash_close(void *state)
{
}

static int crash_describe(void *state, char *buf, size_t len)
{
	snprintf(buf, len, "mode=%s", *(int *)state ? "abort" : "segv");
	return 0;
}

/* The ops table and the plugin's one export (hpc/plugin.h). */
HPC_PLUGIN_DEFINE(crash_ops, .name = "crash", .version = "0.0.1", .ops_f64 = HPC_OPS_ALL,
		  .ops_f32 = HPC_OPS_ALL, .settings = crash_settings, .open = crash_open,
		  .run = crash_run, .close = crash_close, .describe = crash_describe)

/*
 * tests/plugins/failopen.c - a plugin whose open() always fails, to test the
 * message and the rollback. With a 'device' setting it blames that setting
 * (err_setting), without one it blames nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hpc/plugin.h"

static const char *const failopen_settings[] = {"device", "mode", NULL};

static int failopen_open(struct hpc_open_args *args, void **state)
{
	for (uint32_t i = 0; i < args->nsettings; i++) {
		if (!strcmp(args->settings[i].key, "device")) {
			snprintf(args->err, args->err_len, "device '%s' does not exist",
				 args->settings[i].value);
			args->err_setting = (int32_t)i;
			return -ENODEV;
		}
	}
	snprintf(args->err, args->err_len, "this plugin never opens");
	return -EIO;
}

static int failopen_run(void *state, struct hpc_job *job)
{
	return -ENOSYS;
}

static void failopen_close(void *state)
{
}

/* The ops table and the plugin's one export (hpc/plugin.h). */
HPC_PLUGIN_DEFINE(failopen_ops, .name = "failopen", .version = "0.0.1",
		  .ops_f64 = HPC_OP_BIT(HPC_OP_SUM), .ops_f32 = 0, .settings = failopen_settings,
		  .open = failopen_open, .run = failopen_run, .close = failopen_close)

/*
 * tests/plugins/abi1.c - a plugin built against the ABI 1 header
 * (tests/plugins/abi1/hpc/plugin.h, the header as it was released), to prove
 * that the daemon still loads and runs such plugins. Computes sum and dot of
 * f64 vectors; describe() says which ABI it was built for.
 */
#include <errno.h>
#include <stdio.h>

#include "hpc/plugin.h" /* the ABI 1 copy: see BUILD */
#include "tests/plugins/vector_kernel.h"

#if HPC_PLUGIN_ABI_VERSION != 1
#error "abi1.c must be built against the ABI 1 header"
#endif

static int abi1_open(struct hpc_open_args *args, void **state)
{
	*state = NULL;
	return 0;
}

static int abi1_run(void *state, struct hpc_job *job)
{
	tp_dot_or_sum(job);
	return 0;
}

static void abi1_close(void *state)
{
}

static int abi1_describe(void *state, char *buf, size_t len)
{
	snprintf(buf, len, "built for ABI %d", HPC_PLUGIN_ABI_VERSION);
	return 0;
}

static const struct hpc_plugin_ops abi1_ops = {
    .abi_version = HPC_PLUGIN_ABI_VERSION,
    .build_sig = HPC_PLUGIN_BUILD_SIG,
    .name = "abi1",
    .version = "1.0.0",
    .ops_f64 = HPC_OP_BIT(HPC_OP_SUM) | HPC_OP_BIT(HPC_OP_DOT),
    .ops_f32 = 0,
    .settings = NULL,
    .open = abi1_open,
    .run = abi1_run,
    .close = abi1_close,
    .describe = abi1_describe,
};

const struct hpc_plugin_ops *HPC_PLUGIN_ENTRY(void)
{
	return &abi1_ops;
}

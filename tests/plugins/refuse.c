/*
 * tests/plugins/refuse.c - one source for the plugins the loader must refuse.
 *
 * Each BUILD target compiles it with one defect switched on by a define:
 *   NO_ENTRY     no entry point at all                  (libhpc_noentry.so)
 *   NULL_TABLE   the entry point returns NULL           (libhpc_nulltable.so)
 *   BAD_ABI      a future abi_version (current + 5)     (libhpc_badabi.so)
 *   BAD_SIG      a build signature of another machine   (libhpc_badsig.so)
 *   NAME="..."   the name it reports (misnamed: "other")
 *   NO_RUN       run == NULL                            (libhpc_nullops.so)
 *   EMPTY_MASK   supports no op                         (libhpc_nomask.so)
 *   BAD_MASK     an op bit hpcd does not know           (libhpc_badmask.so)
 * Without any, it is a valid plugin (the loader accepts it), which keeps each
 * refusal test honest: only the one defect differs.
 */
#include <errno.h>
#include <stdio.h>

#include "hpc/plugin.h"

#ifndef NAME
#error "NAME must be defined"
#endif

static int refuse_open(struct hpc_open_args *args, void **state)
{
	*state = NULL;
	return 0;
}

static __attribute__((unused)) int refuse_run(void *state, struct hpc_job *job)
{
	return -ENOSYS;
}

static void refuse_close(void *state)
{
}

static const struct hpc_plugin_ops refuse_ops __attribute__((unused)) = {
#ifdef BAD_ABI
    /* A plugin from a future ABI, whose table this daemon cannot read. */
    .abi_version = HPC_PLUGIN_ABI_VERSION + 5,
#else
    .abi_version = HPC_PLUGIN_ABI_VERSION,
#endif
    .size = sizeof(struct hpc_plugin_ops),
#ifdef BAD_SIG
    /* What a 32-bit build would say. */
    .build_sig = (uint32_t)(4 | (4 << 4) | (4 << 8) | (4 << 12) | (3 << 16) | (6 << 20) |
			    (HPC_PLUGIN_ABI_VERSION << 27)),
#else
    .build_sig = HPC_PLUGIN_BUILD_SIG,
#endif
    .name = NAME,
    .version = "0.0.1",
#if defined(EMPTY_MASK)
    .ops_f64 = 0,
    .ops_f32 = 0,
#elif defined(BAD_MASK)
    .ops_f64 = HPC_OP_BIT(HPC_OP_SUM) | (1u << 20),
    .ops_f32 = 0,
#else
    .ops_f64 = HPC_OP_BIT(HPC_OP_SUM),
    .ops_f32 = 0,
#endif
    .settings = NULL,
    .open = refuse_open,
#ifdef NO_RUN
    .run = NULL,
#else
    .run = refuse_run,
#endif
    .close = refuse_close,
};

#ifdef NO_ENTRY
const struct hpc_plugin_ops *not_the_entry(void);
const struct hpc_plugin_ops *not_the_entry(void)
{
	return &refuse_ops;
}
#else
const struct hpc_plugin_ops *HPC_PLUGIN_ENTRY(void)
{
#ifdef NULL_TABLE
	return NULL;
#else
	return &refuse_ops;
#endif
}
#endif

/*
 * daemon/plugin_abi1.h - the plugin ABI 1 ops table, as plugins built
 * against it lay it out, for the loader alone: such plugins still load.
 *
 * ABI 1's table began {abi_version, build_sig} with no size, so the daemon
 * cannot tell how long one is. It is read up to describe(), where ABI 1
 * ended; forget_region was appended later without a version bump, so an
 * ABI 1 table that has it is not trusted to (the entry reads as NULL).
 * The job, open-argument and host structs of ABI 1 are prefixes of ABI 2's.
 */
#ifndef HPCD_PLUGIN_ABI1_H
#define HPCD_PLUGIN_ABI1_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "hpc/plugin.h"

struct hpcd_plugin_ops_v1 {
	uint32_t abi_version; /* 1 */
	uint32_t build_sig;   /* HPCD_PLUGIN_BUILD_SIG_V1 */
	const char *name;
	const char *version;
	uint32_t ops_f64;
	uint32_t ops_f32;
	const char *const *settings;
	int (*open)(struct hpc_open_args *args, void **state);
	int (*run)(void *state, struct hpc_job *job);
	void (*close)(void *state);
	int (*describe)(void *state, char *buf, size_t len);
};

/* ABI 1's build signature, as its header computed it. */
#define HPCD_PLUGIN_BUILD_SIG_V1                                                                   \
	((uint32_t)(sizeof(void *) | (sizeof(size_t) << 4) | (sizeof(long) << 8) |                 \
		    (sizeof(time_t) << 12) | (1u << 16)))

/* Fill the current table *out (zeroed by the caller) from an ABI 1 one. */
static inline void hpcd_plugin_ops_from_v1(const struct hpcd_plugin_ops_v1 *v1,
					   struct hpc_plugin_ops *out)
{
	out->abi_version = 1;
	out->size = (uint32_t)sizeof(*out);
	out->build_sig = HPC_PLUGIN_BUILD_SIG;
	out->name = v1->name;
	out->version = v1->version;
	out->ops_f64 = v1->ops_f64;
	out->ops_f32 = v1->ops_f32;
	out->settings = v1->settings;
	out->open = v1->open;
	out->run = v1->run;
	out->close = v1->close;
	out->describe = v1->describe;
}

#endif /* HPCD_PLUGIN_ABI1_H */

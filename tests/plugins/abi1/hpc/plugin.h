/*
 * hpc/plugin.h - the one header a backend plugin includes.
 *
 * A plugin is a shared object (libhpc_NAME.so) exporting one function,
 * HPC_PLUGIN_ENTRY, that returns a constant ops table. The daemon loads it with
 * dlopen(RTLD_NOW | RTLD_LOCAL), checks the table, and then opens one instance
 * per [backend NAME] section of the config that names the plugin.
 *
 * Rules of the boundary:
 *  - abi_version is the first field of every table that crosses it, and tables
 *    only grow at the end. The daemon refuses a plugin whose abi_version it
 *    does not know or whose build signature differs from its own.
 *  - The plugin calls the host only through struct hpc_host, which the daemon
 *    hands to open(); it never links against daemon symbols, so a plugin builds
 *    and can be tested alone.
 *  - Errors are negative errno values.
 *  - run() may be called from several daemon threads at once, for one instance
 *    or several: a plugin that needs mutual exclusion takes it itself.
 */
#ifndef HPC_PLUGIN_H
#define HPC_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hpc/types.h"
#include "hpc/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HPC_PLUGIN_ABI_VERSION 1

/* Name of the exported entry point, and its type. */
#define HPC_PLUGIN_ENTRY hpc_plugin_entry
#define HPC_PLUGIN_ENTRY_NAME "hpc_plugin_entry"

/*
 * Build signature: what must match between the daemon and a plugin for the
 * structs below to mean the same thing (after nginx's module signature).
 */
#define HPC_PLUGIN_BUILD_SIG                                                  \
	((uint32_t)(sizeof(void *) | (sizeof(size_t) << 4) |                  \
		    (sizeof(long) << 8) | (sizeof(time_t) << 12) |             \
		    ((uint32_t)HPC_PLUGIN_ABI_VERSION << 16)))

enum hpc_log_level { HPC_LOG_ERROR = 0, HPC_LOG_WARN = 1, HPC_LOG_INFO = 2, HPC_LOG_DEBUG = 3 };

/* Services of the daemon, handed to open(). Optional entries may be NULL. */
struct hpc_host {
	uint32_t abi_version; /* HPC_PLUGIN_ABI_VERSION of the daemon */
	uint32_t size;        /* sizeof(struct hpc_host) of the daemon */
	/* Log one line, attributed to the instance. */
	void (*log)(const struct hpc_host *host, int level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	void *host_data; /* the daemon's; plugins pass host back untouched */
};

/* One "key = value" line of the instance's config section. */
struct hpc_setting {
	const char *key;
	const char *value;
	uint32_t line; /* line in the config file, for messages */
	uint32_t reserved;
};

/* Arguments of open(). */
struct hpc_open_args {
	uint32_t abi_version;
	uint32_t size;
	const char *instance;  /* the section's NAME */
	const char *config_dir;/* folder of the config file, for relative paths */
	const struct hpc_setting *settings; /* the section's keys except "plugin" */
	uint32_t nsettings;
	uint32_t reserved;
	const struct hpc_host *host;
	/* On failure the plugin writes one sentence here (no file or line)... */
	char *err;
	size_t err_len;
	/* ... and, when one setting is to blame, its index here. The daemon sets
	 * it to -1 before calling open(). */
	int32_t err_setting;
};

/*
 * A job as a plugin sees it: validated pointers into the client's region
 * (mapped in the daemon) and the shapes. Operand roles per op are in
 * hpc/types.h; the daemon has checked that every operand lies inside the
 * region and that the output does not overlap an input.
 */
struct hpc_job {
	uint32_t op;    /* enum hpc_op */
	uint32_t dtype; /* enum hpc_dtype */
	uint64_t m, n, k;
	const void *a;
	const void *b;
	void *out;
	double alpha;
	double result; /* out: dot and sum */
	/* Where the operands live, for plugins that work out of process. */
	int region_fd;          /* the client's memfd (borrowed; do not close) */
	uint32_t size;          /* sizeof(struct hpc_job) as the daemon knows it: see HPC_JOB_HAS */
	uint64_t region_id;     /* unique per client region for the daemon's life */
	uint64_t arena_off;     /* arena's offset in the memfd */
	uint64_t a_off, b_off, out_off; /* offsets inside the arena */
	uint64_t a_gen, b_gen;  /* the client's generations (see hpc/wire.h) */

	/* Fields below grow at the end; read one only when HPC_JOB_HAS says so. */

	/* Timeline: a backend that splits the job into chunks writes up to
	 * chunks_cap records here (NULL: no timeline wanted) and sets
	 * chunks_count to how many it made. */
	struct hpc_chunk_rec *chunks;
	uint32_t chunks_cap;
	uint32_t chunks_count;
};

/* Does the daemon's struct hpc_job have this field? */
#define HPC_JOB_HAS(job, field)                                                \
	((job)->size >= offsetof(struct hpc_job, field) + sizeof((job)->field))

/*
 * The ops table. Returned by the entry point; must stay valid while the
 * library is loaded. Fields after ops_f32 only grow at the end.
 */
struct hpc_plugin_ops {
	uint32_t abi_version; /* HPC_PLUGIN_ABI_VERSION; first, always */
	uint32_t build_sig;   /* HPC_PLUGIN_BUILD_SIG */
	const char *name;     /* must equal NAME in libhpc_NAME.so */
	const char *version;  /* the plugin's own version string */
	uint32_t ops_f64;     /* HPC_OP_BIT mask of ops supported on f64 */
	uint32_t ops_f32;     /* ... on f32 */
	/* NULL-terminated list of the settings keys the plugin accepts. */
	const char *const *settings;

	/*
	 * Open an instance with the section's settings. On success stores the
	 * instance's state in *state and returns 0; on failure returns a negative
	 * errno and fills args->err.
	 */
	int (*open)(struct hpc_open_args *args, void **state);

	/*
	 * Run one job to completion. Returns 0, or a negative errno (the job fails
	 * with that status; the instance stays usable).
	 */
	int (*run)(void *state, struct hpc_job *job);

	/* Release the instance. Called once, after its last run() returned. */
	void (*close)(void *state);

	/*
	 * Optional: one line describing the instance (threads, device, counters)
	 * for `hpcd --check` and `hpcrun backends`. May be called at any time,
	 * also while run() is running in other threads. Returns 0 or a negative
	 * errno.
	 */
	int (*describe)(void *state, char *buf, size_t len);

	/*
	 * Optional: the client region region_id is going away (its client left;
	 * no job of it runs now or later). A plugin that keeps anything about a
	 * region - a mapping in a worker process, device buffers over its memory,
	 * operands resident elsewhere - drops it here, before the daemon unmaps
	 * the region. Called from the daemon's event loop.
	 */
	void (*forget_region)(void *state, uint64_t region_id);
};

typedef const struct hpc_plugin_ops *(*hpc_plugin_entry_fn)(void);

/* Declared here so that a plugin's definition is checked against it. */
const struct hpc_plugin_ops *HPC_PLUGIN_ENTRY(void);

#ifdef __cplusplus
}
#endif

#endif /* HPC_PLUGIN_H */

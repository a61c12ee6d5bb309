/*
 * hpc/plugin.h - the one header a backend plugin includes.
 *
 * A plugin is a shared object (libhpc_NAME.so) exporting one function,
 * HPC_PLUGIN_ENTRY, that returns a constant ops table. The daemon loads it with
 * dlopen(RTLD_NOW | RTLD_LOCAL), checks the table, and then opens one instance
 * per [backend NAME] section of the config that names the plugin.
 *
 * Rules of the boundary:
 *  - {abi_version, size} head every table that crosses it (HPC_PLUGIN_HEAD
 *    fills the ops table's), and tables only grow at the end. The daemon
 *    copies a plugin's ops table into a zeroed one of its own, min(size,
 *    sizeof) bytes, so an entry a plugin's header did not have yet reads as
 *    NULL (after Redis's module-type versions); the plugin reads an entry of
 *    a daemon table only when its size says it is there (HPC_HAS).
 *  - The daemon refuses a plugin whose abi_version is outside
 *    [HPC_PLUGIN_ABI_MIN, HPC_PLUGIN_ABI_VERSION] or whose build signature
 *    differs from its own. ABI 1 tables (abi_version then build_sig, no
 *    size) still load: the daemon reads them up to describe().
 *  - The plugin calls the host only through struct hpc_host, which the daemon
 *    hands to open(); it never links against daemon symbols, so a plugin builds
 *    and can be tested alone.
 *  - Errors are negative errno values.
 *  - run() may be called from several daemon threads at once, for one instance
 *    or several: a plugin that needs mutual exclusion takes it itself.
 *  - run() may be abandoned at any instruction: a fault in it (SIGSEGV, SIGBUS,
 *    SIGFPE, SIGILL) is unwound back into the daemon, with whatever locks it
 *    held still held. The daemon then never calls that instance again - not
 *    run(), describe(), forget_region() nor close() - and deliberately leaks
 *    its state and keeps its library mapped until the daemon exits.
 *  - Every entry point other than run() is called off the daemon's event
 *    loop, on a task thread; still, each must return within a bounded time
 *    (every wait on another process with a deadline), or it holds that
 *    thread for good.
 *  - run() never sees an empty job (one with a dimension of 0, see hpc/ops.h):
 *    the daemon completes those itself. Every dimension a job passes is at
 *    least 1 and every operand lies inside the client's region, so a
 *    dimension is at most the region's size in elements.
 */
#ifndef HPC_PLUGIN_H
#define HPC_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hpc/types.h"
#include "hpc/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * 2: {abi_version, size} head the ops table, the build signature covers the
 *    fixed-size structs that cross, hpc_host gained vlog. Job, open-argument
 *    and host structs are laid out as in 1 and only grew.
 * 1: the first ABI.
 */
#define HPC_PLUGIN_ABI_VERSION 2
#define HPC_PLUGIN_ABI_MIN 1 /* the oldest ABI this header's daemon still loads */

/* Name of the exported entry point, and its type. */
#define HPC_PLUGIN_ENTRY hpc_plugin_entry
#define HPC_PLUGIN_ENTRY_NAME "hpc_plugin_entry"

enum hpc_log_level { HPC_LOG_ERROR = 0, HPC_LOG_WARN = 1, HPC_LOG_INFO = 2, HPC_LOG_DEBUG = 3 };

/*
 * Services of the daemon, handed to open(). Optional entries may be NULL;
 * read one past `log` only when HPC_HAS(host, struct hpc_host, entry).
 */
struct hpc_host {
	uint32_t abi_version; /* HPC_PLUGIN_ABI_VERSION of the daemon */
	uint32_t size;        /* sizeof(struct hpc_host) of the daemon */
	/* Log one line, attributed to the instance. */
	void (*log)(const struct hpc_host *host, int level, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
	void *host_data; /* the daemon's; plugins pass host back untouched */
	/* ABI 2: log() for a plugin's own printf-like wrappers. */
	void (*vlog)(const struct hpc_host *host, int level, const char *fmt, va_list ap)
	    __attribute__((format(printf, 3, 0)));
};

/* One "key = value" line of the instance's config section. */
struct hpc_setting {
	const char *key;
	const char *value;
	uint32_t line; /* line in the config file, for messages */
	uint32_t reserved;
};

/*
 * Build signature: what must match between the daemon and a plugin for the
 * structs below to mean the same thing (after nginx's module signature): the
 * sizes of the C types the tables are made of, the byte order, and the sizes
 * of the fixed structs that cross (struct hpc_setting, struct hpc_chunk_rec).
 * The tables that grow (ops, host, open arguments, job) carry their own size
 * instead: a difference there is growth, not incompatibility.
 */
#define HPC_PLUGIN_BUILD_SIG                                                                       \
	((uint32_t)(sizeof(void *) | (sizeof(size_t) << 4) | (sizeof(long) << 8) |                 \
		    (sizeof(time_t) << 12) | ((sizeof(struct hpc_setting) / 8) << 16) |            \
		    ((sizeof(struct hpc_chunk_rec) / 8) << 20) |                                   \
		    ((uint32_t)(__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) << 26) |                   \
		    ((uint32_t)HPC_PLUGIN_ABI_VERSION << 27)))

/* Does table t (with a size field) have member m? For the daemon's tables. */
#define HPC_HAS(t, type, m) ((t)->size >= offsetof(type, m) + sizeof(((type *)0)->m))

/* Arguments of open(). */
struct hpc_open_args {
	uint32_t abi_version;
	uint32_t size;
	const char *instance;               /* the section's NAME */
	const char *config_dir;             /* folder of the config file, for relative paths */
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
	int region_fd;      /* the client's memfd (borrowed; do not close) */
	uint32_t size;      /* sizeof(struct hpc_job) as the daemon knows it: see HPC_JOB_HAS */
	uint64_t region_id; /* unique per client region for the daemon's life */
	uint64_t arena_off; /* arena's offset in the memfd */
	uint64_t a_off, b_off, out_off; /* offsets inside the arena */
	uint64_t a_gen, b_gen;          /* the client's generations (see hpc/wire.h) */

	/* Fields below grow at the end; read one only when HPC_JOB_HAS says so. */

	/* Timeline: a backend that splits the job into chunks writes up to
	 * chunks_cap records here (NULL: no timeline wanted) and sets
	 * chunks_count to how many it made. */
	struct hpc_chunk_rec *chunks;
	uint32_t chunks_cap;
	uint32_t chunks_count;
};

/* Does the daemon's struct hpc_job have this field? */
#define HPC_JOB_HAS(job, field)                                                                    \
	((job)->size >= offsetof(struct hpc_job, field) + sizeof((job)->field))

/*
 * A setting, declared (ABI 2; after nginx's ngx_command_t): what the config
 * may say for one key. The daemon checks every value against it before
 * open() runs and refuses a bad one with its file and line; the plugin reads
 * the values into its own struct with the same table (plugins/base/
 * settings.h); manuals and tables are checked against it. One description of
 * each setting, that everything else derives from.
 */
enum hpc_setting_type {
	HPC_SETTING_UINT = 1, /* a whole number in [min, max], stored as uint64_t */
	HPC_SETTING_BOOL = 2, /* true|false (also yes|no, on|off, 1|0), stored as int */
	HPC_SETTING_ENUM =
	    3, /* one of `choices` ("static|dynamic"), stored as unsigned: its index */
	HPC_SETTING_STRING = 4, /* any text (a path, a name, flags), stored as const char * */
};

struct hpc_setting_spec {
	const char *key;     /* NULL ends the table */
	uint32_t type;       /* enum hpc_setting_type */
	uint32_t reserved;   /* 0 */
	uint64_t min, max;   /* UINT: the range */
	const char *choices; /* ENUM: "a|b|c"; UINT: a word that stands for 0 ("auto"), or NULL */
	const char *unit;    /* UINT: what the number counts ("milliseconds"), or NULL */
	const char *def;     /* the default, in words ("online CPUs", "dynamic") */
	const char *help;    /* what it does, one sentence */
	size_t offset;       /* where the value goes in the plugin's settings struct */
};

/*
 * The ops table. Returned by the entry point; must stay valid while the
 * library is loaded. Starts with HPC_PLUGIN_HEAD; only grows at the end.
 */
struct hpc_plugin_ops {
	uint32_t abi_version; /* HPC_PLUGIN_ABI_VERSION; first, always */
	uint32_t size;        /* sizeof(struct hpc_plugin_ops) the plugin was built with */
	uint32_t build_sig;   /* HPC_PLUGIN_BUILD_SIG */
	uint32_t reserved;    /* 0 */
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
	 * the region. Called on a task thread; must return within a bounded time.
	 */
	void (*forget_region)(void *state, uint64_t region_id);

	/*
	 * ABI 2, optional: the settings the plugin accepts, declared (see
	 * struct hpc_setting_spec), ending with a NULL key. When present, the
	 * daemon takes the accepted keys from it (`settings` may then be NULL)
	 * and checks every value before open().
	 */
	const struct hpc_setting_spec *schema;
};

/*
 * The head of an ops table, first in its initializer (after nginx's
 * NGX_MODULE_V1):
 *   static const struct hpc_plugin_ops ops = { HPC_PLUGIN_HEAD, .name = "x", ... };
 */
#define HPC_PLUGIN_HEAD                                                                            \
	.abi_version = HPC_PLUGIN_ABI_VERSION, .size = sizeof(struct hpc_plugin_ops),              \
	.build_sig = HPC_PLUGIN_BUILD_SIG, .reserved = 0

/*
 * Define the plugin's ops table `var` and its one export, the entry point
 * returning it; the fields after the head are the arguments:
 *   HPC_PLUGIN_DEFINE(my_ops, .name = "x", .version = "1.0.0", .ops_f64 = HPC_OPS_ALL,
 *                     .schema = my_schema, .open = my_open, .run = my_run, .close = my_close)
 */
#define HPC_PLUGIN_DEFINE(var, ...)                                                                \
	static const struct hpc_plugin_ops var = {HPC_PLUGIN_HEAD, __VA_ARGS__};                   \
	const struct hpc_plugin_ops *HPC_PLUGIN_ENTRY(void)                                        \
	{                                                                                          \
		return &var;                                                                       \
	}

typedef const struct hpc_plugin_ops *(*hpc_plugin_entry_fn)(void);

/* Declared here so that a plugin's definition is checked against it. */
const struct hpc_plugin_ops *HPC_PLUGIN_ENTRY(void);

#ifdef __cplusplus
}
#endif

#endif /* HPC_PLUGIN_H */

/*
 * daemon/config.h - the daemon's INI config file, parsed and checked.
 *
 * A config is read whole and either accepted whole or refused with one
 * message "FILE:LINE: problem" (FILE as the caller spelled it). Nothing in
 * here opens a plugin: the loader does that from the parsed result.
 *
 * Layout (see SPEC "The config file"):
 *
 *   [daemon]                 optional; every key has a default
 *   socket = PATH            default HPC_DEFAULT_SOCKET (its length is the binder's to check)
 *   plugin_dir = DIR         default: the config file's folder
 *   default_backend = NAME   default: the first [backend] section
 *   allow_uids = 1001, alice extra uids allowed to connect (numbers or user names)
 *   max_arena_mb = N         largest operand arena one client may ask for, 1..16777216;
 *                            default a quarter of the machine's memory
 *   max_total_arena_mb = N   all clients' arenas together, 1..16777216; default half
 *                            of the machine's memory
 *   max_clients = 256        connected clients at once, 1..65536
 *   spin_us = 50             how long a worker spins before sleeping, 0..100000
 *   ring_entries = 256       default ring size, a power of two 2..65536
 *   log_level = info         error | warn | info | debug
 *
 *   [backend NAME]           at least one; NAME is [A-Za-z0-9_.-]{1,23}
 *   plugin = openmp          required: a bare name is <plugin_dir>/libhpc_NAME.so,
 *                            a value with a '/' is a path
 *   KEY = VALUE              anything else is the plugin's own setting
 *
 * Relative paths are resolved against the config file's folder. Lines start
 * with optional whitespace (indentation is not a continuation line here);
 * ';' or '#' starts a comment line, and " ;" starts an inline comment.
 * Lines are at most HPCD_CONFIG_MAX_LINE characters.
 */
#ifndef HPCD_CONFIG_H
#define HPCD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hpc/plugin.h"
#include "hpc/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest line accepted, without its line ending (inih's INI_MAX_LINE - 3). */
#define HPCD_CONFIG_MAX_LINE 197

#define HPCD_CONFIG_DEFAULT_MAX_CLIENTS 256u
#define HPCD_CONFIG_MAX_CLIENTS_LIMIT 65536u
#define HPCD_CONFIG_DEFAULT_SPIN_US 50u
#define HPCD_CONFIG_DEFAULT_RING_ENTRIES 256u

/* One [backend NAME] section. */
struct hpcd_backend_conf {
	char name[HPC_BACKEND_NAME_MAX + 1];
	unsigned line;     /* line of the section header */
	char *plugin;      /* the 'plugin' value as written */
	char *plugin_path; /* resolved: <plugin_dir>/libhpc_<plugin>.so, or the path */
	unsigned plugin_line;
	/* Every other key, in file order, ready to hand to the plugin. */
	struct hpc_setting *settings;
	uint32_t nsettings;
};

struct hpcd_config {
	char *name;           /* the path as the caller gave it: for messages */
	char *path;           /* absolute */
	char *dir;            /* absolute folder of the file */
	char *socket;         /* absolute unless the default */
	unsigned socket_line; /* 0 when defaulted */
	char *plugin_dir;     /* absolute */
	char *default_backend;
	unsigned default_backend_line; /* 0 when defaulted to the first backend */
	uid_t *allow_uids;             /* besides the daemon's own uid */
	unsigned nallow_uids;
	uint64_t max_arena_bytes;       /* max_arena_mb, in bytes */
	uint64_t max_total_arena_bytes; /* max_total_arena_mb, in bytes */
	unsigned max_clients;
	unsigned spin_us;
	unsigned ring_entries;
	int log_level;                      /* enum hpc_log_level */
	struct hpcd_backend_conf *backends; /* in file order */
	unsigned nbackends;
};

/*
 * Read and check the config file at path. On success stores a new config in
 * *out (free with hpcd_config_free) and returns 0. On failure returns -EINVAL
 * for a problem in the content, or the negative errno of the failed I/O, and
 * writes one message "FILE:LINE: problem" (or "FILE: problem" when no line is
 * to blame) into err. err may be NULL.
 */
int hpcd_config_load(const char *path, struct hpcd_config **out, char *err, size_t errlen);

/* Free a config from hpcd_config_load. NULL is allowed. */
void hpcd_config_free(struct hpcd_config *cfg);

/* The backend section called name, or NULL. */
const struct hpcd_backend_conf *hpcd_config_backend(const struct hpcd_config *cfg,
						    const char *name);

/*
 * Deep-copy src into *dst, so that a backend instance can outlive the config
 * it was opened from. Returns 0 or -ENOMEM (then *dst holds nothing to free).
 */
int hpcd_config_backend_copy(struct hpcd_backend_conf *dst, const struct hpcd_backend_conf *src);

/* Free what hpcd_config_backend_copy allocated; *c is left empty. */
void hpcd_config_backend_release(struct hpcd_backend_conf *c);

/*
 * Whether two sections would open the same instance: same name, same plugin
 * path, same settings (key order and line numbers do not matter).
 */
bool hpcd_config_backend_same(const struct hpcd_backend_conf *a, const struct hpcd_backend_conf *b);

/* The machine's memory divided by div, in whole MiB (at least 1 MiB), in bytes. */
uint64_t hpcd_config_memory_share(unsigned div);

/* Parse "error", "warn", "info", "debug"; returns the level or -EINVAL. */
int hpcd_config_parse_log_level(const char *s);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_CONFIG_H */

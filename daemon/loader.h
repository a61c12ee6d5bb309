/*
 * daemon/loader.h - backend plugins (.so files) and the instances opened
 * from them.
 *
 * A plugin is loaded once per file identity (device, inode, size, mtime) and
 * shared by every instance opened from it; it is unloaded when the last of
 * them closes. A file rebuilt at the same path while its old version is still
 * loaded is loaded through a private copy, so the old and the new code live
 * side by side (hot swap).
 *
 * An instance (struct hpcd_backend) is one [backend NAME] section opened
 * through its plugin. It is refcounted: hpcd_backend_get/put may be called
 * from any thread; the last put calls the plugin's close() and drops the
 * plugin. Both structs are opaque (their refcounts are C11 atomics, which C++
 * test code cannot see); read them through the accessors below.
 */
#ifndef HPCD_LOADER_H
#define HPCD_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "hpc/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hpcd_plugin;
struct hpcd_backend;

/* ---- Plugins --------------------------------------------------------- */

/*
 * Load the plugin file at path (or take another reference to it when the same
 * file is loaded already) and check its ops table: entry point, ABI version,
 * build signature, name against the file name (libhpc_NAME.so), open/run/
 * close present, ops masks non-empty and known. Returns 0 and a reference in
 * *out, or a negative errno and one message naming the file in err:
 * -ENOENT etc. when the file cannot be read, -ENOEXEC when it is not a
 * loadable plugin, -EPROTO for an ABI or build-signature mismatch, -EINVAL
 * for a malformed table. Thread-safe.
 */
int hpcd_plugin_load(const char *path, struct hpcd_plugin **out, char *err, size_t errlen);

/* Drop a reference from hpcd_plugin_load; the last one unloads the library. */
void hpcd_plugin_put(struct hpcd_plugin *p);

/* The checked ops table; valid while the reference is held. */
const struct hpc_plugin_ops *hpcd_plugin_ops(const struct hpcd_plugin *p);

/* The path it was loaded from (as given to hpcd_plugin_load). */
const char *hpcd_plugin_path(const struct hpcd_plugin *p);

/* Whether it was loaded through a private copy (its path held a newer file). */
bool hpcd_plugin_is_private_copy(const struct hpcd_plugin *p);

/*
 * Whether the file now at path is not the file p was loaded from (other
 * identity, or no file at all): a reload must then open the instance afresh.
 */
bool hpcd_plugin_file_changed(const struct hpcd_plugin *p, const char *path);

/* Number of plugin libraries loaded now (for tests and `status`). */
unsigned hpcd_plugin_count(void);

/* ---- Backend instances ------------------------------------------------ */

/*
 * Open the instance described by section bc of cfg: load its plugin, check
 * every setting key against the plugin's list, call the plugin's open() and
 * its describe(). generation is the config generation it belongs to (shown
 * in descriptions). Returns 0 and the instance in *out with one reference;
 * or a negative errno, with nothing left loaded or open, and one message
 * "CONFIG:LINE: backend 'NAME': problem" in err. cfg and bc are only read
 * during the call (the instance keeps its own copies). Thread-safe.
 */
int hpcd_backend_open(const struct hpcd_config *cfg, const struct hpcd_backend_conf *bc,
		      uint64_t generation, struct hpcd_backend **out, char *err, size_t errlen);

/* Take another reference; the caller must already hold one. Returns b. */
struct hpcd_backend *hpcd_backend_get(struct hpcd_backend *b);

/*
 * Drop a reference. The last one calls the plugin's close() (so it must come
 * after the instance's last run() returned) and drops the plugin. NULL is
 * allowed.
 */
void hpcd_backend_put(struct hpcd_backend *b);

/*
 * Run one job to completion on the calling thread. Returns -EOPNOTSUPP when
 * the plugin does not support job->op on job->dtype (without calling it),
 * else what the plugin's run() returned. The caller holds a reference.
 */
int hpcd_backend_run(struct hpcd_backend *b, struct hpc_job *job);

/* Whether the instance supports op on dtype. */
bool hpcd_backend_supports(const struct hpcd_backend *b, uint32_t op, uint32_t dtype);

const char *hpcd_backend_name(const struct hpcd_backend *b);
uint64_t hpcd_backend_generation(const struct hpcd_backend *b);
const struct hpc_plugin_ops *hpcd_backend_ops(const struct hpcd_backend *b);
struct hpcd_plugin *hpcd_backend_plugin(const struct hpcd_backend *b);
/* The instance's own copy of its section (settings, plugin path, lines at open time). */
const struct hpcd_backend_conf *hpcd_backend_conf(const struct hpcd_backend *b);
/* The plugin's describe() line, taken at open; "" when it has none. */
const char *hpcd_backend_info(const struct hpcd_backend *b);
/* References held now; for tests and diagnostics only (stale as soon as read). */
unsigned hpcd_backend_refs(const struct hpcd_backend *b);

/*
 * Whether b can stand for section bc of cfg unchanged across a reload: same
 * name, plugin path and settings, same config folder, and the plugin file at
 * that path is still the one b runs.
 */
bool hpcd_backend_unchanged(const struct hpcd_backend *b, const struct hpcd_config *cfg,
			    const struct hpcd_backend_conf *bc);

/*
 * One line describing the instance, tab-separated key=value fields:
 *   NAME<TAB>plugin=P VERSION file=PATH<TAB>ops=matvec,dot (f64,f32)<TAB>
 *   KEY=VALUE<TAB>...<TAB>info=DESCRIBE<TAB>gen=N
 * (no newline; info= only when the plugin describes itself). Returns the
 * length it needed, like snprintf; buf is always terminated when len > 0.
 */
/*
 * A job of b died of signal sig inside run() and the daemon recovered the
 * thread: from now on b refuses jobs with -ENOTRECOVERABLE (its state may be corrupt),
 * and a reload opens a fresh instance in its place.
 */
void hpcd_backend_mark_broken(struct hpcd_backend *b, int sig);
bool hpcd_backend_broken(const struct hpcd_backend *b);

/*
 * Tell every open instance whose plugin caches per-region state that the
 * client region region_id is gone (struct hpc_plugin_ops.forget_region).
 * Called after the region's last job finished and before its memory is
 * unmapped.
 */
void hpcd_backends_forget_region(uint64_t region_id);

int hpcd_backend_format(const struct hpcd_backend *b, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_LOADER_H */

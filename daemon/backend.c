/*
 * daemon/backend.c - backend instances: one [backend NAME] section opened
 * through its plugin, refcounted, closed by its last holder (never, once it
 * crashed).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/loader_pvt.h"
#include "daemon/log.h"
#include "plugins/base/settings.h"

static void host_vlog(const struct hpc_host *host, int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* The plugin's log lines, attributed to the instance so that two sections of one plugin differ. */
static void host_vlog(const struct hpc_host *host, int level, const char *fmt, va_list ap)
{
	const struct hpcd_backend *b = host->host_data;
	if (level > hpcd_log_level())
		return;
	char line[900];
	vsnprintf(line, sizeof(line), fmt, ap);
	hpcd_log(level, "backend '%s': %s", b->name, line);
}

static void host_log(const struct hpc_host *host, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void host_log(const struct hpc_host *host, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	host_vlog(host, level, fmt, ap);
	va_end(ap);
}

static const char *cfg_name(const struct hpcd_config *cfg)
{
	return cfg->name ? cfg->name : cfg->path ? cfg->path : "config";
}

/* The i-th key the plugin accepts (from its schema, else its key list), or NULL past the end. */
static const char *accepted_key(const struct hpc_plugin_ops *ops, unsigned i)
{
	if (ops->schema) {
		for (unsigned k = 0; ops->schema[k].key; k++)
			if (k == i)
				return ops->schema[k].key;
		return NULL;
	}
	for (unsigned k = 0; ops->settings && ops->settings[k]; k++)
		if (k == i)
			return ops->settings[k];
	return NULL;
}

static bool plugin_accepts(const struct hpc_plugin_ops *ops, const char *key)
{
	for (unsigned i = 0; accepted_key(ops, i); i++)
		if (!strcmp(accepted_key(ops, i), key))
			return true;
	return false;
}

/* "; it accepts: a, b" so that a typo's fix is in the message. */
static void accepted_list(const struct hpc_plugin_ops *ops, char *buf, size_t len)
{
	size_t pos = (size_t)snprintf(buf, len, "; it accepts ");
	if (!accepted_key(ops, 0)) {
		snprintf(buf + pos, len - pos, "none");
		return;
	}
	for (unsigned i = 0; accepted_key(ops, i) && pos < len; i++)
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", i ? ", " : "",
					accepted_key(ops, i));
}

void hpcd_loader_flatten(char *s)
{
	for (; *s; s++)
		if (*s == '\t' || *s == '\n' || *s == '\r')
			*s = ' ';
}

static void backend_free(struct hpcd_backend *b)
{
	hpcd_config_backend_release(&b->conf);
	free(b->config_dir);
	free(b);
}

int hpcd_backend_open(const struct hpcd_config *cfg, const struct hpcd_backend_conf *bc,
		      uint64_t generation, struct hpcd_backend **out, char *err, size_t errlen)
{
	char why[512];
	struct hpcd_plugin *plugin;
	int rc;

	*out = NULL;
	rc = hpcd_plugin_load(bc->plugin_path, &plugin, why, sizeof(why));
	if (rc) {
		hpcd_loader_msg(err, errlen, "%s:%u: backend '%s': %s", cfg_name(cfg),
				bc->plugin_line, bc->name, why);
		return rc;
	}
	const struct hpc_plugin_ops *ops = hpcd_plugin_ops(plugin);
	for (uint32_t i = 0; i < bc->nsettings; i++) {
		if (plugin_accepts(ops, bc->settings[i].key))
			continue;
		accepted_list(ops, why, sizeof(why));
		hpcd_loader_msg(err, errlen,
				"%s:%u: unknown setting '%s' for plugin %s in [backend %s]%s",
				cfg_name(cfg), bc->settings[i].line, bc->settings[i].key, ops->name,
				bc->name, why);
		hpcd_plugin_put(plugin);
		return -EINVAL;
	}
	/* A declared setting's value is checked here, before any plugin code
	 * runs, with the line it is on. */
	for (uint32_t i = 0; ops->schema && i < bc->nsettings; i++) {
		const struct hpc_setting_spec *spec =
		    hpcb_settings_find(ops->schema, bc->settings[i].key);
		if (hpcb_settings_parse(spec, bc->settings[i].value, NULL, why, sizeof(why)) == 0)
			continue;
		hpcd_loader_msg(err, errlen, "%s:%u: backend '%s': %s", cfg_name(cfg),
				bc->settings[i].line, bc->name, why);
		hpcd_plugin_put(plugin);
		return -EINVAL;
	}

	struct hpcd_backend *b = calloc(1, sizeof(*b));
	if (!b || hpcd_config_backend_copy(&b->conf, bc) ||
	    !(b->config_dir = strdup(cfg->dir ? cfg->dir : "."))) {
		if (b)
			backend_free(b);
		hpcd_plugin_put(plugin);
		hpcd_loader_msg(err, errlen, "%s:%u: backend '%s': out of memory", cfg_name(cfg),
				bc->line, bc->name);
		return -ENOMEM;
	}
	snprintf(b->name, sizeof(b->name), "%s", bc->name);
	b->generation = generation;
	b->plugin = plugin;
	b->ops = ops;
	b->host.abi_version = HPC_PLUGIN_ABI_VERSION;
	b->host.size = sizeof(b->host);
	b->host.log = host_log;
	b->host.vlog = host_vlog;
	b->host.host_data = b;

	/* The instance's own copy of the settings: valid for its whole life, not just open(). */
	struct hpc_open_args args = {
	    .abi_version = HPC_PLUGIN_ABI_VERSION,
	    .size = sizeof(args),
	    .instance = b->name,
	    .config_dir = b->config_dir,
	    .settings = b->conf.settings,
	    .nsettings = b->conf.nsettings,
	    .host = &b->host,
	    .err = why,
	    .err_len = sizeof(why),
	    .err_setting = -1,
	};
	why[0] = '\0';
	rc = ops->open(&args, &b->state);
	if (rc) {
		why[sizeof(why) - 1] = '\0';
		hpcd_loader_flatten(why);
		if (rc > 0) /* not the ABI's convention; do not let it pass for success */
			rc = -EINVAL;
		unsigned line = bc->line;
		if (args.err_setting >= 0 && (uint32_t)args.err_setting < bc->nsettings)
			line = bc->settings[args.err_setting].line;
		hpcd_loader_msg(err, errlen, "%s:%u: backend '%s': %s", cfg_name(cfg), line,
				bc->name, why[0] ? why : strerror(-rc));
		backend_free(b);
		hpcd_plugin_put(plugin);
		return rc;
	}
	/* For the log line at open; hpcd_backend_format() asks again. */
	if (ops->describe && ops->describe(b->state, b->info, sizeof(b->info)) == 0) {
		b->info[sizeof(b->info) - 1] = '\0';
		hpcd_loader_flatten(b->info);
	} else {
		b->info[0] = '\0';
	}
	atomic_init(&b->refs, 1);
	atomic_init(&b->broken, 0);
	pthread_mutex_init(&b->info_lock, NULL);
	hpcd_registry_add(b);
	hpcd_info("backend '%s': opened (plugin %s %s, gen %llu)", b->name, ops->name,
		  ops->version ? ops->version : "?", (unsigned long long)generation);
	*out = b;
	return 0;
}

struct hpcd_backend *hpcd_backend_get(struct hpcd_backend *b)
{
	/* Relaxed: the caller's own reference keeps b alive; nothing is published by taking one. */
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return b;
}

void hpcd_backend_put(struct hpcd_backend *b)
{
	if (!b)
		return;
	/*
	 * acq_rel: the release half orders this holder's use of b (its runs) before
	 * the decrement; the acquire half makes the thread that drops the last
	 * reference see every other holder's release before it calls close().
	 */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
		return;
	hpcd_registry_remove(b);
	if (hpcd_backend_broken(b)) {
		/* run() was abandoned mid-instruction: its locks may be held and
		 * its state torn, so close() could hang or crash. The state is
		 * leaked on purpose and the code stays mapped (threads of the
		 * plugin may still run it); only a restart reclaims them. */
		hpcd_warn("backend '%s': crashed earlier, so it is not closed; its memory and code "
			  "stay until the daemon restarts (gen %llu)",
			  b->name, (unsigned long long)b->generation);
		return;
	}
	hpcd_info("backend '%s': closed (gen %llu)", b->name, (unsigned long long)b->generation);
	b->ops->close(b->state);
	hpcd_plugin_put(b->plugin);
	pthread_mutex_destroy(&b->info_lock);
	backend_free(b);
}

bool hpcd_backend_supports(const struct hpcd_backend *b, uint32_t op, uint32_t dtype)
{
	if (op == HPC_OP_NONE || op >= HPC_OP__COUNT)
		return false;
	if (dtype == HPC_F64)
		return b->ops->ops_f64 & HPC_OP_BIT(op);
	if (dtype == HPC_F32)
		return b->ops->ops_f32 & HPC_OP_BIT(op);
	return false;
}

int hpcd_backend_run(struct hpcd_backend *b, struct hpc_job *job)
{
	if (!hpcd_backend_supports(b, job->op, job->dtype))
		return -EOPNOTSUPP;
	/* Relaxed: a job that slips past while another thread marks the instance
	 * broken is no worse than one that started just before. */
	if (atomic_load_explicit(&b->broken, memory_order_relaxed))
		return -ENOTRECOVERABLE;
	return b->ops->run(b->state, job);
}

void hpcd_backend_mark_broken(struct hpcd_backend *b, int sig)
{
	if (!atomic_exchange_explicit(&b->broken, sig, memory_order_relaxed))
		hpcd_err("backend '%s': crashed in a job (signal %d); it refuses jobs until a "
			 "reload replaces it",
			 b->name, sig);
}

bool hpcd_backend_broken(const struct hpcd_backend *b)
{
	return atomic_load_explicit(&b->broken, memory_order_relaxed) != 0;
}

const char *hpcd_backend_name(const struct hpcd_backend *b)
{
	return b->name;
}

uint64_t hpcd_backend_generation(const struct hpcd_backend *b)
{
	return b->generation;
}

const struct hpc_plugin_ops *hpcd_backend_ops(const struct hpcd_backend *b)
{
	return b->ops;
}

struct hpcd_plugin *hpcd_backend_plugin(const struct hpcd_backend *b)
{
	return b->plugin;
}

const struct hpcd_backend_conf *hpcd_backend_conf(const struct hpcd_backend *b)
{
	return &b->conf;
}

const char *hpcd_backend_info(const struct hpcd_backend *b)
{
	return b->info;
}

unsigned hpcd_backend_refs(const struct hpcd_backend *b)
{
	/* Relaxed: a diagnostic snapshot; it orders nothing. */
	return atomic_load_explicit(&b->refs, memory_order_relaxed);
}

bool hpcd_backend_unchanged(const struct hpcd_backend *b, const struct hpcd_config *cfg,
			    const struct hpcd_backend_conf *bc)
{
	if (!hpcd_config_backend_same(&b->conf, bc) || hpcd_backend_broken(b))
		return false;
	/* Relative paths in the settings mean something else if the config moved. */
	if (strcmp(b->config_dir, cfg->dir ? cfg->dir : "."))
		return false;
	return !hpcd_plugin_file_changed(b->plugin, bc->plugin_path);
}

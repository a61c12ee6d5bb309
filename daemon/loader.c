/*
 * daemon/loader.c - loading plugins and opening backend instances.
 *
 * Refuse loudly, before anything runs: every check on the ops table happens
 * at load time and names the file. Loading is all-or-nothing: a plugin that
 * fails a check is unloaded at once, and an instance whose open() fails
 * leaves no plugin reference behind.
 *
 * The rebuilt-file problem: dlopen() hands back the library already loaded
 * under the same name (or the same device and inode) instead of reading the
 * file again, so a plugin rebuilt at its old path while instances of the old
 * build still run would silently keep the old code. When the path is already
 * loaded but not as the file now there, we copy the file into a sealed memfd
 * and dlopen /proc/self/fd/N instead: a new name and a new inode, so glibc
 * maps the new code beside the old.
 */
#include "daemon/loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/plugin_abi1.h"
#include "plugins/common/settings.h"

struct hpcd_plugin {
	struct hpcd_plugin *next; /* in the list of loaded plugins */
	char *path;
	/* Identity of the file it was loaded from. */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	void *dl;
	int memfd; /* the private copy's, else -1; kept open so that its /proc name stays unique */
	/* The daemon's own copy of the plugin's table, zeroed past what the
	 * plugin's header knew: every read of the table goes through it. */
	struct hpc_plugin_ops ops_copy;
	const struct hpc_plugin_ops *ops; /* &ops_copy */
	unsigned refs; /* under plugins_lock */
};

struct hpcd_backend {
	struct hpcd_backend *next_live; /* in live_backends, under live_lock */
	atomic_uint refs;
	atomic_int broken; /* crashed in run(): refuses jobs until a reload replaces it */
	char name[HPC_BACKEND_NAME_MAX + 1];
	uint64_t generation;
	struct hpcd_plugin *plugin;
	const struct hpc_plugin_ops *ops;
	void *state;
	char *config_dir;
	struct hpcd_backend_conf conf;
	struct hpc_host host;
	pthread_mutex_t info_lock; /* the daemon's own: never held across a plugin call */
	char info[512];            /* the last describe() line: what a broken instance shows */
};

/* Every open instance, so that a region's end reaches all that may cache it. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hpcd_backend *live_backends;
/* Instances that crashed and were let go: never closed (see hpcd_backend_put). */
static struct hpcd_backend *broken_backends;

/* Loads are rare (start and reload): one lock keeps the list and every refcount simple. */
static pthread_mutex_t plugins_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hpcd_plugin *plugins;

static void msg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void msg(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool same_identity(const struct hpcd_plugin *p, const struct stat *st)
{
	return p->dev == st->st_dev && p->ino == st->st_ino && p->size == st->st_size &&
	       p->mtim.tv_sec == st->st_mtim.tv_sec && p->mtim.tv_nsec == st->st_mtim.tv_nsec;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static bool valid_plugin_name(const char *s)
{
	size_t n = strnlen(s, 65);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Read the table the entry point returned into the daemon's zeroed copy *out,
 * by the ABI it declares. In this order because a wrong ABI makes every
 * later field meaningless.
 */
static int copy_ops(const char *path, const void *table, struct hpc_plugin_ops *out, char *err,
		    size_t errlen)
{
	uint32_t head[2];
	memcpy(head, table, sizeof(head));
	memset(out, 0, sizeof(*out));
	if (head[0] < HPC_PLUGIN_ABI_MIN || head[0] > HPC_PLUGIN_ABI_VERSION) {
		msg(err, errlen, "%s: built for plugin ABI %u, this hpcd loads ABI %u to %u", path,
		    head[0], HPC_PLUGIN_ABI_MIN, HPC_PLUGIN_ABI_VERSION);
		return -EPROTO;
	}
	if (head[0] == 1) {
		const struct hpcd_plugin_ops_v1 *v1 = table;
		if (v1->build_sig != HPCD_PLUGIN_BUILD_SIG_V1) {
			msg(err, errlen,
			    "%s: not binary compatible (ABI 1 build signature 0x%08x, this hpcd "
			    "expects 0x%08x)",
			    path, v1->build_sig, (unsigned)HPCD_PLUGIN_BUILD_SIG_V1);
			return -EPROTO;
		}
		hpcd_plugin_ops_from_v1(v1, out);
		return 0;
	}
	const struct hpc_plugin_ops *t = table;
	if (t->size < offsetof(struct hpc_plugin_ops, describe)) {
		msg(err, errlen, "%s: its ops table is %u bytes, too small to hold open, run and close",
		    path, t->size);
		return -EINVAL;
	}
	if (t->build_sig != HPC_PLUGIN_BUILD_SIG) {
		msg(err, errlen,
		    "%s: not binary compatible (build signature 0x%08x, this hpcd has 0x%08x)",
		    path, t->build_sig, (unsigned)HPC_PLUGIN_BUILD_SIG);
		return -EPROTO;
	}
	/* Entries a newer plugin has and this daemon does not know are dropped;
	 * entries an older plugin lacks stay NULL. */
	memcpy(out, t, t->size < sizeof(*out) ? t->size : sizeof(*out));
	out->size = (uint32_t)sizeof(*out);
	return 0;
}

/* Check the table the entry point returned and copy it into *ops. */
static int check_ops(const char *path, void *dl, struct hpc_plugin_ops *ops, char *err,
		     size_t errlen)
{
	dlerror();
	void *sym = dlsym(dl, HPC_PLUGIN_ENTRY_NAME);
	if (!sym) {
		msg(err, errlen, "%s: not an hpcd plugin: no entry point '%s'", path,
		    HPC_PLUGIN_ENTRY_NAME);
		return -ENOEXEC;
	}
	hpc_plugin_entry_fn entry = (hpc_plugin_entry_fn)sym;
	const void *table = entry();
	if (!table) {
		msg(err, errlen, "%s: the entry point returned no ops table", path);
		return -ENOEXEC;
	}
	int rc = copy_ops(path, table, ops, err, errlen);
	if (rc < 0)
		return rc;
	if (!ops->name || !valid_plugin_name(ops->name)) {
		msg(err, errlen,
		    "%s: the plugin reports no valid name (1 to 64 of A-Z a-z 0-9 _ . -)", path);
		return -EINVAL;
	}
	/* Open MPI's rule: the name inside must match the file, so a renamed copy is caught. */
	const char *base = base_name(path);
	size_t blen = strlen(base);
	if (blen > 10 && !strncmp(base, "libhpc_", 7) && !strcmp(base + blen - 3, ".so")) {
		int nlen = (int)(blen - 10);
		if ((int)strlen(ops->name) != nlen || strncmp(base + 7, ops->name, (size_t)nlen)) {
			msg(err, errlen,
			    "%s: the plugin calls itself '%s' but the file is named for '%.*s'",
			    path, ops->name, nlen, base + 7);
			return -EINVAL;
		}
	}
	const char *missing = !ops->open    ? "open"
			      : !ops->run   ? "run"
			      : !ops->close ? "close"
					    : NULL;
	if (missing) {
		msg(err, errlen, "%s: plugin '%s' has no %s() function", path, ops->name, missing);
		return -EINVAL;
	}
	if (!(ops->ops_f64 | ops->ops_f32)) {
		msg(err, errlen, "%s: plugin '%s' supports no operation (both ops masks are empty)",
		    path, ops->name);
		return -EINVAL;
	}
	if ((ops->ops_f64 | ops->ops_f32) & ~(uint32_t)HPC_OPS_ALL) {
		msg(err, errlen,
		    "%s: plugin '%s' declares unknown operations (ops_f64 0x%x, ops_f32 0x%x)",
		    path, ops->name, ops->ops_f64, ops->ops_f32);
		return -EINVAL;
	}
	return 0;
}

/* Copy the open file fd into a sealed memfd; returns the memfd or a negative errno. */
static int private_copy(const char *path, int fd, off_t size)
{
	int mfd = memfd_create(base_name(path), MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return -errno;
	char buf[65536];
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			close(mfd);
			return e;
		}
		if (n == 0)
			break;
		for (ssize_t w = 0; w < n;) {
			ssize_t m = write(mfd, buf + w, (size_t)(n - w));
			if (m < 0 && errno == EINTR)
				continue;
			if (m < 0) {
				int e = -errno;
				close(mfd);
				return e;
			}
			w += m;
		}
		off += n;
	}
	if (off != size) {
		/* The file is being rewritten under us: loading half a build is worse than failing.
		 */
		close(mfd);
		return -EAGAIN;
	}
	/* The code must not change under the running instances. */
	fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	return mfd;
}

/* dlopen the memfd under a /proc name that no loaded library has yet. */
static void *open_private(int *mfdp, char *dlerr, size_t dlerrlen)
{
	int spare[8];
	int nspare = 0;
	void *dl = NULL;
	char name[64];

	for (;;) {
		snprintf(name, sizeof(name), "/proc/self/fd/%d", *mfdp);
		void *old = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
		if (!old)
			break;
		/* A library that outlived its memfd (NODELETE) still owns this name: move on. */
		dlclose(old);
		int nfd = nspare < 8 ? fcntl(*mfdp, F_DUPFD_CLOEXEC, *mfdp + 1) : -1;
		if (nfd < 0) {
			snprintf(dlerr, dlerrlen, "no free name for a private copy");
			goto out;
		}
		spare[nspare++] = *mfdp;
		*mfdp = nfd;
	}
	dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!dl)
		snprintf(dlerr, dlerrlen, "%s", dlerror());
out:
	while (nspare)
		close(spare[--nspare]);
	return dl;
}

static int load_new(const char *path, int fd, const struct stat *st, struct hpcd_plugin **out,
		    char *err, size_t errlen)
{
	char dlerr[512] = "";
	int memfd = -1;
	void *dl = NULL;

	/* Something under this name or inode is loaded already, and it is not this file. */
	void *old = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	if (old)
		dlclose(old);
	if (!old) {
		dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!dl) {
			msg(err, errlen, "%s: cannot load: %s", path, dlerror());
			return -ENOEXEC;
		}
		struct stat now;
		if (stat(path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino &&
		    now.st_size == st->st_size && now.st_mtim.tv_sec == st->st_mtim.tv_sec &&
		    now.st_mtim.tv_nsec == st->st_mtim.tv_nsec)
			goto loaded;
		/* Replaced while we loaded it: load the copy we hold open instead. */
		dlclose(dl);
		dl = NULL;
	}
	memfd = private_copy(path, fd, st->st_size);
	if (memfd < 0) {
		msg(err, errlen, "%s: cannot make a private copy to load: %s", path,
		    memfd == -EAGAIN ? "the file changed while being copied" : strerror(-memfd));
		return memfd;
	}
	dl = open_private(&memfd, dlerr, sizeof(dlerr));
	if (!dl) {
		msg(err, errlen, "%s: cannot load (private copy): %s", path, dlerr);
		close(memfd);
		return -ENOEXEC;
	}

loaded:;
	struct hpcd_plugin *p = calloc(1, sizeof(*p));
	int rc = 0;
	if (!p || !(p->path = strdup(path))) {
		msg(err, errlen, "%s: out of memory", path);
		rc = -ENOMEM;
	} else {
		rc = check_ops(path, dl, &p->ops_copy, err, errlen);
	}
	if (rc) {
		if (p)
			free(p->path);
		free(p);
		dlclose(dl);
		if (memfd >= 0)
			close(memfd);
		return rc;
	}
	p->dev = st->st_dev;
	p->ino = st->st_ino;
	p->size = st->st_size;
	p->mtim = st->st_mtim;
	p->dl = dl;
	p->memfd = memfd;
	p->ops = &p->ops_copy;
	p->refs = 1;
	*out = p;
	return 0;
}

int hpcd_plugin_load(const char *path, struct hpcd_plugin **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!path || !*path) {
		msg(err, errlen, "empty plugin path");
		return -EINVAL;
	}
	/* Hold the file open: its identity is what we load, whatever the path names later. */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		msg(err, errlen, "%s: cannot open plugin: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		msg(err, errlen, "%s: cannot stat plugin: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		msg(err, errlen, "%s: not a regular file", path);
		return -ENOEXEC;
	}

	int rc = 0;
	bool fresh = false;
	pthread_mutex_lock(&plugins_lock);
	struct hpcd_plugin *p;
	for (p = plugins; p; p = p->next)
		if (same_identity(p, &st))
			break;
	if (p) {
		p->refs++;
	} else {
		rc = load_new(path, fd, &st, &p, err, errlen);
		if (rc == 0) {
			p->next = plugins;
			plugins = p;
			fresh = true;
		}
	}
	pthread_mutex_unlock(&plugins_lock);
	close(fd);
	if (rc == 0) {
		if (fresh)
			hpcd_debug("plugin %s %s loaded from %s%s", p->ops->name,
				   p->ops->version ? p->ops->version : "?", path,
				   p->memfd >= 0 ? " (private copy: an older build is loaded)"
						 : "");
		*out = p;
	}
	return rc;
}

void hpcd_plugin_put(struct hpcd_plugin *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&plugins_lock);
	if (--p->refs) {
		pthread_mutex_unlock(&plugins_lock);
		return;
	}
	struct hpcd_plugin **pp = &plugins;
	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	/* Under the lock: a load of the same path must not race with the unload of its old build.
	 */
	dlclose(p->dl);
	if (p->memfd >= 0)
		close(p->memfd);
	pthread_mutex_unlock(&plugins_lock);
	hpcd_debug("plugin unloaded: %s", p->path);
	free(p->path);
	free(p);
}

const struct hpc_plugin_ops *hpcd_plugin_ops(const struct hpcd_plugin *p)
{
	return p->ops;
}

const char *hpcd_plugin_path(const struct hpcd_plugin *p)
{
	return p->path;
}

bool hpcd_plugin_is_private_copy(const struct hpcd_plugin *p)
{
	return p->memfd >= 0;
}

bool hpcd_plugin_file_changed(const struct hpcd_plugin *p, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return true;
	return !same_identity(p, &st);
}

unsigned hpcd_plugin_count(void)
{
	unsigned n = 0;
	pthread_mutex_lock(&plugins_lock);
	for (struct hpcd_plugin *p = plugins; p; p = p->next)
		n++;
	pthread_mutex_unlock(&plugins_lock);
	return n;
}

/* ---- Instances ---------------------------------------------------------- */

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

/* One line, one field: tabs and line breaks would break `hpcrun backends` parsing. */
static void flatten(char *s)
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
		msg(err, errlen, "%s:%u: backend '%s': %s", cfg_name(cfg), bc->plugin_line,
		    bc->name, why);
		return rc;
	}
	const struct hpc_plugin_ops *ops = hpcd_plugin_ops(plugin);
	for (uint32_t i = 0; i < bc->nsettings; i++) {
		if (plugin_accepts(ops, bc->settings[i].key))
			continue;
		accepted_list(ops, why, sizeof(why));
		msg(err, errlen, "%s:%u: unknown setting '%s' for plugin %s in [backend %s]%s",
		    cfg_name(cfg), bc->settings[i].line, bc->settings[i].key, ops->name, bc->name,
		    why);
		hpcd_plugin_put(plugin);
		return -EINVAL;
	}
	/* A declared setting's value is checked here, before any plugin code
	 * runs, with the line it is on. */
	for (uint32_t i = 0; ops->schema && i < bc->nsettings; i++) {
		const struct hpc_setting_spec *spec = hpcb_settings_find(ops->schema, bc->settings[i].key);
		if (hpcb_settings_parse(spec, bc->settings[i].value, NULL, why, sizeof(why)) == 0)
			continue;
		msg(err, errlen, "%s:%u: backend '%s': %s", cfg_name(cfg), bc->settings[i].line,
		    bc->name, why);
		hpcd_plugin_put(plugin);
		return -EINVAL;
	}

	struct hpcd_backend *b = calloc(1, sizeof(*b));
	if (!b || hpcd_config_backend_copy(&b->conf, bc) ||
	    !(b->config_dir = strdup(cfg->dir ? cfg->dir : "."))) {
		if (b)
			backend_free(b);
		hpcd_plugin_put(plugin);
		msg(err, errlen, "%s:%u: backend '%s': out of memory", cfg_name(cfg), bc->line,
		    bc->name);
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
		flatten(why);
		if (rc > 0) /* not the ABI's convention; do not let it pass for success */
			rc = -EINVAL;
		unsigned line = bc->line;
		if (args.err_setting >= 0 && (uint32_t)args.err_setting < bc->nsettings)
			line = bc->settings[args.err_setting].line;
		msg(err, errlen, "%s:%u: backend '%s': %s", cfg_name(cfg), line, bc->name,
		    why[0] ? why : strerror(-rc));
		backend_free(b);
		hpcd_plugin_put(plugin);
		return rc;
	}
	/* For the log line at open; hpcd_backend_format() asks again. */
	if (ops->describe && ops->describe(b->state, b->info, sizeof(b->info)) == 0) {
		b->info[sizeof(b->info) - 1] = '\0';
		flatten(b->info);
	} else {
		b->info[0] = '\0';
	}
	atomic_init(&b->refs, 1);
	atomic_init(&b->broken, 0);
	pthread_mutex_init(&b->info_lock, NULL);
	pthread_mutex_lock(&live_lock);
	b->next_live = live_backends;
	live_backends = b;
	pthread_mutex_unlock(&live_lock);
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
	pthread_mutex_lock(&live_lock);
	for (struct hpcd_backend **pp = &live_backends; *pp; pp = &(*pp)->next_live) {
		if (*pp == b) {
			*pp = b->next_live;
			break;
		}
	}
	if (hpcd_backend_broken(b)) {
		/* Kept on a list of its own: a leak on purpose, and a known one. */
		b->next_live = broken_backends;
		broken_backends = b;
	}
	pthread_mutex_unlock(&live_lock);
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

/* snprintf that keeps counting past the end, so the caller learns the size it needs. */
struct out {
	char *buf;
	size_t len;
	size_t pos;
};

static void out_add(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_add(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = o->pos < o->len ? o->len - o->pos : 0;
	int n = vsnprintf(room ? o->buf + o->pos : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n;
}

/* A config value inside one tab-separated field. */
static void out_field(struct out *o, const char *s)
{
	for (; *s; s++)
		out_add(o, "%c", (*s == '\t' || *s == '\n' || *s == '\r') ? ' ' : *s);
}

static void out_ops(struct out *o, uint32_t mask)
{
	bool first = true;
	for (uint32_t op = HPC_OP_NONE + 1; op < HPC_OP__COUNT; op++) {
		if (!(mask & HPC_OP_BIT(op)))
			continue;
		out_add(o, "%s%s", first ? "" : ",", hpc_op_name(op));
		first = false;
	}
}

/* A reference to b unless its last one is already gone (it is being closed). */
static bool backend_tryget(struct hpcd_backend *b)
{
	unsigned n = atomic_load_explicit(&b->refs, memory_order_relaxed);
	do {
		if (n == 0)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&b->refs, &n, n + 1, memory_order_relaxed,
							memory_order_relaxed));
	return true;
}

void hpcd_backends_forget_region(uint64_t region_id)
{
	/*
	 * References taken under the lock, calls made outside it: one plugin
	 * slow to forget (a worker process at its deadline) must not hold up
	 * another's forgetting, or an instance's close. A held reference also
	 * keeps close() from racing forget_region(). A broken instance is never
	 * called again.
	 */
	pthread_mutex_lock(&live_lock);
	unsigned cap = 0, n = 0;
	for (struct hpcd_backend *b = live_backends; b; b = b->next_live)
		cap++;
	struct hpcd_backend **todo = cap ? malloc(cap * sizeof(*todo)) : NULL;
	for (struct hpcd_backend *b = live_backends; b; b = b->next_live) {
		if (!b->ops->forget_region || hpcd_backend_broken(b))
			continue;
		if (!todo) /* no memory for the list: call them under the lock, as before */
			b->ops->forget_region(b->state, region_id);
		else if (backend_tryget(b))
			todo[n++] = b;
	}
	pthread_mutex_unlock(&live_lock);
	for (unsigned i = 0; i < n; i++) {
		todo[i]->ops->forget_region(todo[i]->state, region_id);
		hpcd_backend_put(todo[i]);
	}
	free(todo);
}

int hpcd_backend_format(const struct hpcd_backend *b, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	const struct hpc_plugin_ops *ops = b->ops;

	if (len)
		buf[0] = '\0';
	out_add(&o, "%s\tplugin=%s %s file=", b->name, ops->name,
		ops->version ? ops->version : "?");
	out_field(&o, hpcd_plugin_path(b->plugin));
	/* Two builds at one path differ in modification time and inode. */
	struct tm tm;
	localtime_r(&b->plugin->mtim.tv_sec, &tm);
	out_add(&o, " built=%04d-%02d-%02dT%02d:%02d:%02d.%03ld ino=%llu", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		b->plugin->mtim.tv_nsec / 1000000, (unsigned long long)b->plugin->ino);
	out_add(&o, "\tops=");
	if (ops->ops_f64 == ops->ops_f32) {
		out_ops(&o, ops->ops_f64);
		out_add(&o, " (f64,f32)");
	} else {
		if (ops->ops_f64) {
			out_ops(&o, ops->ops_f64);
			out_add(&o, " (f64)%s", ops->ops_f32 ? " " : "");
		}
		if (ops->ops_f32) {
			out_ops(&o, ops->ops_f32);
			out_add(&o, " (f32)");
		}
	}
	for (uint32_t i = 0; i < b->conf.nsettings; i++) {
		out_add(&o, "\t");
		out_field(&o, b->conf.settings[i].key);
		out_add(&o, "=");
		out_field(&o, b->conf.settings[i].value);
	}
	/* Asked afresh, so that counters a plugin reports are current; a broken
	 * instance is never called again and shows its last line. */
	char info[sizeof(b->info)];
	struct hpcd_backend *mb = (struct hpcd_backend *)b; /* the cache is not the instance */
	if (!hpcd_backend_broken(b) && ops->describe &&
	    ops->describe(b->state, info, sizeof(info)) == 0) {
		info[sizeof(info) - 1] = '\0';
		flatten(info);
		pthread_mutex_lock(&mb->info_lock);
		memcpy(mb->info, info, sizeof(info));
		pthread_mutex_unlock(&mb->info_lock);
	} else {
		pthread_mutex_lock(&mb->info_lock);
		memcpy(info, b->info, sizeof(info));
		pthread_mutex_unlock(&mb->info_lock);
	}
	if (info[0])
		out_add(&o, "\tinfo=%s", info);
	if (hpcd_backend_broken(b))
		out_add(&o, "\tstate=crashed");
	out_add(&o, "\tgen=%llu", (unsigned long long)b->generation);
	return (int)o.pos;
}

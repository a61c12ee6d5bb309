/*
 * daemon/plugin_load.c - loading plugin files and checking their tables.
 *
 * Refuse loudly, before anything runs: every check on the ops table happens
 * at load time and names the file. Loading is all-or-nothing: a plugin that
 * fails a check is unloaded at once.
 *
 * The rebuilt-file problem: dlopen() hands back the library already loaded
 * under the same name (or the same device and inode) instead of reading the
 * file again, so a plugin rebuilt at its old path while instances of the old
 * build still run would silently keep the old code. When the path is already
 * loaded but not as the file now there, we copy the file into a sealed memfd
 * and dlopen /proc/self/fd/N instead: a new name and a new inode, so glibc
 * maps the new code beside the old.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/loader_pvt.h"
#include "daemon/log.h"
#include "daemon/plugin_abi1.h"

/* Loads are rare (start and reload): one lock keeps the list and every refcount simple. */
static pthread_mutex_t plugins_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hpcd_plugin *plugins;

void hpcd_loader_msg(char *err, size_t errlen, const char *fmt, ...)
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
		hpcd_loader_msg(err, errlen,
				"%s: built for plugin ABI %u, this hpcd loads ABI %u to %u", path,
				head[0], HPC_PLUGIN_ABI_MIN, HPC_PLUGIN_ABI_VERSION);
		return -EPROTO;
	}
	if (head[0] == 1) {
		const struct hpcd_plugin_ops_v1 *v1 = table;
		if (v1->build_sig != HPCD_PLUGIN_BUILD_SIG_V1) {
			hpcd_loader_msg(
			    err, errlen,
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
		hpcd_loader_msg(
		    err, errlen,
		    "%s: its ops table is %u bytes, too small to hold open, run and close", path,
		    t->size);
		return -EINVAL;
	}
	if (t->build_sig != HPC_PLUGIN_BUILD_SIG) {
		hpcd_loader_msg(
		    err, errlen,
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
		hpcd_loader_msg(err, errlen, "%s: not an hpcd plugin: no entry point '%s'", path,
				HPC_PLUGIN_ENTRY_NAME);
		return -ENOEXEC;
	}
	hpc_plugin_entry_fn entry = (hpc_plugin_entry_fn)sym;
	const void *table = entry();
	if (!table) {
		hpcd_loader_msg(err, errlen, "%s: the entry point returned no ops table", path);
		return -ENOEXEC;
	}
	int rc = copy_ops(path, table, ops, err, errlen);
	if (rc < 0)
		return rc;
	if (!ops->name || !valid_plugin_name(ops->name)) {
		hpcd_loader_msg(
		    err, errlen,
		    "%s: the plugin reports no valid name (1 to 64 of A-Z a-z 0-9 _ . -)", path);
		return -EINVAL;
	}
	/* Open MPI's rule: the name inside must match the file, so a renamed copy is caught. */
	const char *base = base_name(path);
	size_t blen = strlen(base);
	if (blen > 10 && !strncmp(base, "libhpc_", 7) && !strcmp(base + blen - 3, ".so")) {
		int nlen = (int)(blen - 10);
		if ((int)strlen(ops->name) != nlen || strncmp(base + 7, ops->name, (size_t)nlen)) {
			hpcd_loader_msg(
			    err, errlen,
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
		hpcd_loader_msg(err, errlen, "%s: plugin '%s' has no %s() function", path,
				ops->name, missing);
		return -EINVAL;
	}
	if (!(ops->ops_f64 | ops->ops_f32)) {
		hpcd_loader_msg(err, errlen,
				"%s: plugin '%s' supports no operation (both ops masks are empty)",
				path, ops->name);
		return -EINVAL;
	}
	if ((ops->ops_f64 | ops->ops_f32) & ~(uint32_t)HPC_OPS_ALL) {
		hpcd_loader_msg(
		    err, errlen,
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
			hpcd_loader_msg(err, errlen, "%s: cannot load: %s", path, dlerror());
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
		hpcd_loader_msg(err, errlen, "%s: cannot make a private copy to load: %s", path,
				memfd == -EAGAIN ? "the file changed while being copied"
						 : strerror(-memfd));
		return memfd;
	}
	dl = open_private(&memfd, dlerr, sizeof(dlerr));
	if (!dl) {
		hpcd_loader_msg(err, errlen, "%s: cannot load (private copy): %s", path, dlerr);
		close(memfd);
		return -ENOEXEC;
	}

loaded:;
	struct hpcd_plugin *p = calloc(1, sizeof(*p));
	int rc = 0;
	if (!p || !(p->path = strdup(path))) {
		hpcd_loader_msg(err, errlen, "%s: out of memory", path);
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
		hpcd_loader_msg(err, errlen, "empty plugin path");
		return -EINVAL;
	}
	/* Hold the file open: its identity is what we load, whatever the path names later. */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		hpcd_loader_msg(err, errlen, "%s: cannot open plugin: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		hpcd_loader_msg(err, errlen, "%s: cannot stat plugin: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		hpcd_loader_msg(err, errlen, "%s: not a regular file", path);
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

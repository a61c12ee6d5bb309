/*
 * daemon/config.c - the INI config file.
 *
 * inih does the "key = value" splitting; our reader function in front of it
 * does the rest of the line bookkeeping. inih (as Debian builds it) gives the
 * handler no line number and no call for a section header, so the reader
 * counts lines, sees every raw line first and keeps the section state itself:
 * the handler runs right after the reader handed inih the line it belongs to.
 * The reader also refuses lines longer than inih's buffer (inih would cut
 * them silently) and notices key lines inih rejected without calling the
 * handler, so that the first error of the file is the one reported.
 */
#include "daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "hpc/wire.h" /* HPC_DEFAULT_SOCKET */

#define MAX_ARENA_MB_LIMIT (16u * 1024 * 1024) /* 16 TiB */
#define MAX_SPIN_US 100000u

enum daemon_key {
	K_SOCKET,
	K_PLUGIN_DIR,
	K_DEFAULT_BACKEND,
	K_ALLOW_UIDS,
	K_MAX_ARENA_MB,
	K_MAX_TOTAL_ARENA_MB,
	K_MAX_CLIENTS,
	K_SPIN_US,
	K_RING_ENTRIES,
	K_LOG_LEVEL,
	K__COUNT
};

static const char *const daemon_keys[K__COUNT] = {
    [K_SOCKET] = "socket",
    [K_PLUGIN_DIR] = "plugin_dir",
    [K_DEFAULT_BACKEND] = "default_backend",
    [K_ALLOW_UIDS] = "allow_uids",
    [K_MAX_ARENA_MB] = "max_arena_mb",
    [K_MAX_TOTAL_ARENA_MB] = "max_total_arena_mb",
    [K_MAX_CLIENTS] = "max_clients",
    [K_SPIN_US] = "spin_us",
    [K_RING_ENTRIES] = "ring_entries",
    [K_LOG_LEVEL] = "log_level",
};

enum section { SEC_NONE, SEC_DAEMON, SEC_BACKEND };

struct parser {
	const char *name; /* the file as the caller spelled it */
	FILE *f;
	struct hpcd_config *cfg;
	char *buf; /* getline's */
	size_t cap;
	unsigned line;
	enum section sec;
	unsigned daemon_line;
	unsigned key_line[K__COUNT]; /* where each [daemon] key was set; 0: not yet */
	/* A key line was handed to inih; did the handler see it? */
	bool kv_pending;
	bool kv_handled;
	unsigned kv_line;
	int err; /* first error, negative errno */
	char msg[512];
};

static void fail(struct parser *p, int err, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Only the first error is reported: later ones are often its echoes. */
static void fail(struct parser *p, int err, unsigned line, const char *fmt, ...)
{
	if (p->err)
		return;
	p->err = err;
	int n;
	if (line)
		n = snprintf(p->msg, sizeof(p->msg), "%s:%u: ", p->name, line);
	else
		n = snprintf(p->msg, sizeof(p->msg), "%s: ", p->name);
	if (n < 0 || (size_t)n >= sizeof(p->msg))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->msg + n, sizeof(p->msg) - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * rel (a value from the file) resolved against dir (the config's folder,
 * already realpath'd). Leading "." and ".." components are folded into dir,
 * which is safe because dir holds no symlinks; after the first ordinary
 * component the rest is kept as written, since a ".." after a symlink (say
 * bazel-bin/..) does not mean what folding it would.
 */
static char *join_path(const char *dir, const char *rel)
{
	if (rel[0] == '/')
		return strdup(rel);
	size_t dlen = strlen(dir);
	char *s = malloc(dlen + strlen(rel) + 2);
	if (!s)
		return NULL;
	memcpy(s, dir, dlen + 1);
	const char *r = rel;
	for (;;) {
		while (*r == '/')
			r++;
		if (r[0] == '.' && (r[1] == '/' || r[1] == '\0')) {
			r += 1;
		} else if (r[0] == '.' && r[1] == '.' && (r[2] == '/' || r[2] == '\0')) {
			char *slash = strrchr(s, '/');
			if (slash && slash != s)
				*slash = '\0';
			else
				strcpy(s, "/");
			r += 2;
		} else {
			break;
		}
	}
	dlen = strlen(s);
	if (*r) {
		if (s[dlen - 1] != '/')
			s[dlen++] = '/';
		strcpy(s + dlen, r);
	}
	return s;
}

static bool valid_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!valid_name_char(s[i]))
			return false;
	return true;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* Digits only: no sign, no spaces, no hex, so that "-1" or "1e3" are refused, not wrapped. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!*s)
		return -EINVAL;
	for (const char *c = s; *c; c++)
		if (!isdigit((unsigned char)*c))
			return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, NULL, 10);
	if (errno || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

uint64_t hpcd_config_memory_share(unsigned div)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t mem = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 4ull << 30;
	/* Whole MiB, at least one: the limits are set and shown in MiB. */
	uint64_t mb = (mem / div) >> 20;
	return (mb ? mb : 1) << 20;
}

int hpcd_config_parse_log_level(const char *s)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -EINVAL;
}

static struct hpcd_backend_conf *cur_backend(struct parser *p)
{
	return &p->cfg->backends[p->cfg->nbackends - 1];
}

static const struct hpcd_backend_conf *find_backend(const struct hpcd_config *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->nbackends; i++)
		if (!strcmp(cfg->backends[i].name, name))
			return &cfg->backends[i];
	return NULL;
}

const struct hpcd_backend_conf *hpcd_config_backend(const struct hpcd_config *cfg, const char *name)
{
	return find_backend(cfg, name);
}

/* A section header line; s points at its '['. */
static void section_start(struct parser *p, char *s)
{
	struct hpcd_config *cfg = p->cfg;
	char *end = strchr(s, ']');
	if (!end) {
		fail(p, -EINVAL, p->line, "section header without a closing ']'");
		return;
	}
	const char *after = end + 1;
	while (*after == ' ' || *after == '\t')
		after++;
	if (*after && *after != ';' && *after != '#') {
		fail(p, -EINVAL, p->line, "unexpected text after the section header: '%s'", after);
		return;
	}
	char body[HPCD_CONFIG_MAX_LINE + 1];
	snprintf(body, sizeof(body), "%.*s", (int)(end - s - 1), s + 1);
	char *b = trim(body);

	if (!strcmp(b, "daemon")) {
		if (p->daemon_line) {
			fail(p, -EINVAL, p->line, "duplicate section [daemon] (first at line %u)",
			     p->daemon_line);
			return;
		}
		p->daemon_line = p->line;
		p->sec = SEC_DAEMON;
		return;
	}
	if (!strncmp(b, "backend", 7) && (b[7] == '\0' || b[7] == ' ' || b[7] == '\t')) {
		char *name = trim(b + 7);
		if (!*name) {
			fail(p, -EINVAL, p->line, "section [backend] needs a name: [backend NAME]");
			return;
		}
		if (!valid_name(name, HPC_BACKEND_NAME_MAX)) {
			fail(p, -EINVAL, p->line,
			     "backend name '%s' is not valid: use 1 to %d of A-Z a-z 0-9 _ . -",
			     name, HPC_BACKEND_NAME_MAX);
			return;
		}
		const struct hpcd_backend_conf *dup = find_backend(cfg, name);
		if (dup) {
			fail(p, -EINVAL, p->line,
			     "duplicate section [backend %s] (first at line %u)", name, dup->line);
			return;
		}
		struct hpcd_backend_conf *nb =
		    realloc(cfg->backends, (cfg->nbackends + 1) * sizeof(*nb));
		if (!nb) {
			fail(p, -ENOMEM, p->line, "out of memory");
			return;
		}
		cfg->backends = nb;
		nb = &cfg->backends[cfg->nbackends++];
		memset(nb, 0, sizeof(*nb));
		snprintf(nb->name, sizeof(nb->name), "%s", name);
		nb->line = p->line;
		p->sec = SEC_BACKEND;
		return;
	}
	fail(p, -EINVAL, p->line, "unknown section [%s]; expected [daemon] or [backend NAME]", b);
}

/* A key line inih rejected never reached the handler: report it as ours, in file order. */
static void check_pending(struct parser *p)
{
	if (p->kv_pending && !p->kv_handled)
		fail(p, -EINVAL, p->kv_line,
		     "syntax error: expected 'key = value', '[section]' or a comment");
	p->kv_pending = false;
}

static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;

	check_pending(p);
	if (p->err)
		return NULL;
	errno = 0;
	ssize_t n = getline(&p->buf, &p->cap, p->f);
	if (n < 0) {
		if (ferror(p->f))
			fail(p, errno ? -errno : -EIO, 0, "cannot read: %s",
			     strerror(errno ? errno : EIO));
		return NULL;
	}
	p->line++;
	char *s = p->buf;
	size_t len = (size_t)n;
	if (memchr(s, '\0', len)) {
		fail(p, -EINVAL, p->line, "line contains a NUL byte");
		return NULL;
	}
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = '\0';
	if (p->line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3)) {
		s += 3;
		len -= 3;
	}
	/* inih needs room for "\r\n\0" besides the text (ini.h, INI_MAX_LINE). */
	size_t max = HPCD_CONFIG_MAX_LINE;
	if (num - 3 < (int)max)
		max = num > 3 ? (size_t)num - 3 : 0;
	if (len > max) {
		fail(p, -EINVAL, p->line, "line too long (%zu characters; at most %zu)", len, max);
		return NULL;
	}
	/* Indentation is allowed and means nothing: inih would take it as a continuation. */
	while (*s == ' ' || *s == '\t')
		s++;

	if (*s == '[') {
		section_start(p, s);
		if (p->err)
			return NULL;
	} else if (*s && *s != ';' && *s != '#') {
		p->kv_pending = true;
		p->kv_handled = false;
		p->kv_line = p->line;
	}
	snprintf(str, (size_t)num, "%s\n", s);
	return str;
}

static void set_uids(struct parser *p, char *value, unsigned line)
{
	struct hpcd_config *cfg = p->cfg;
	char *save = NULL;
	if (!*trim(value))
		return;
	/* strtok_r would merge ",," silently; an empty entry is more likely a typo. */
	for (char *item = value;; item = save) {
		char *comma = strchr(item, ',');
		if (comma)
			*comma = '\0';
		save = comma ? comma + 1 : NULL;
		char *tok = trim(item);
		uint64_t v;
		uid_t uid = 0;
		if (!*tok) {
			fail(p, -EINVAL, line, "empty entry in allow_uids");
			return;
		}
		if (isdigit((unsigned char)*tok)) {
			if (parse_u64(tok, 0, (uid_t)-2, &v)) {
				fail(p, -EINVAL, line, "allow_uids: '%s' is not a valid uid", tok);
				return;
			}
			uid = (uid_t)v;
		} else {
			struct passwd pw, *res = NULL;
			long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
			size_t bufsz = sz > 0 ? (size_t)sz : 16384;
			char *pwbuf = NULL;
			int rc;
			do {
				char *nbuf = realloc(pwbuf, bufsz);
				if (!nbuf) {
					rc = ENOMEM;
					break;
				}
				pwbuf = nbuf;
				rc = getpwnam_r(tok, &pw, pwbuf, bufsz, &res);
				bufsz *= 2;
			} while (rc == ERANGE && bufsz <= (1u << 20));
			if (res)
				uid = pw.pw_uid;
			free(pwbuf);
			if (!res) {
				if (rc && rc != ENOENT && rc != ESRCH)
					fail(p, -rc, line,
					     "allow_uids: cannot look up user '%s': %s", tok,
					     strerror(rc));
				else
					fail(p, -EINVAL, line, "allow_uids: unknown user '%s'",
					     tok);
				return;
			}
		}
		bool have = false;
		for (unsigned i = 0; i < cfg->nallow_uids; i++)
			have |= cfg->allow_uids[i] == uid;
		if (!have) {
			uid_t *nu = realloc(cfg->allow_uids, (cfg->nallow_uids + 1) * sizeof(*nu));
			if (!nu) {
				fail(p, -ENOMEM, line, "out of memory");
				return;
			}
			cfg->allow_uids = nu;
			cfg->allow_uids[cfg->nallow_uids++] = uid;
		}
		if (!save)
			return;
	}
}

static void daemon_key(struct parser *p, const char *key, const char *value, unsigned line)
{
	struct hpcd_config *cfg = p->cfg;
	int k;
	for (k = 0; k < K__COUNT; k++)
		if (!strcmp(key, daemon_keys[k]))
			break;
	if (k == K__COUNT) {
		fail(p, -EINVAL, line, "unknown key '%s' in [daemon]", key);
		return;
	}
	if (p->key_line[k]) {
		fail(p, -EINVAL, line, "duplicate key '%s' in [daemon] (first at line %u)", key,
		     p->key_line[k]);
		return;
	}
	p->key_line[k] = line;

	uint64_t v;
	switch ((enum daemon_key)k) {
	case K_SOCKET:
		if (!*value) {
			fail(p, -EINVAL, line, "socket: empty path");
			return;
		}
		cfg->socket = join_path(cfg->dir, value);
		if (!cfg->socket) {
			fail(p, -ENOMEM, line, "out of memory");
			return;
		}
		/*
		 * No length check here: -s or HPCD_SOCKET may override it, so the
		 * daemon checks the path it binds (socket_line is kept for its message).
		 */
		cfg->socket_line = line;
		break;
	case K_PLUGIN_DIR:
		if (!*value) {
			fail(p, -EINVAL, line, "plugin_dir: empty path");
			return;
		}
		cfg->plugin_dir = join_path(cfg->dir, value);
		if (!cfg->plugin_dir)
			fail(p, -ENOMEM, line, "out of memory");
		break;
	case K_DEFAULT_BACKEND:
		if (!*value) {
			fail(p, -EINVAL, line, "default_backend: empty name");
			return;
		}
		cfg->default_backend = strdup(value);
		cfg->default_backend_line = line;
		if (!cfg->default_backend)
			fail(p, -ENOMEM, line, "out of memory");
		break;
	case K_ALLOW_UIDS: {
		char *copy = strdup(value);
		if (!copy) {
			fail(p, -ENOMEM, line, "out of memory");
			return;
		}
		set_uids(p, copy, line);
		free(copy);
		break;
	}
	case K_MAX_ARENA_MB:
		if (parse_u64(value, 1, MAX_ARENA_MB_LIMIT, &v)) {
			fail(p, -EINVAL, line,
			     "max_arena_mb must be an integer from 1 to %u, not '%s'",
			     MAX_ARENA_MB_LIMIT, value);
			return;
		}
		cfg->max_arena_bytes = v << 20;
		break;
	case K_MAX_TOTAL_ARENA_MB:
		if (parse_u64(value, 1, MAX_ARENA_MB_LIMIT, &v)) {
			fail(p, -EINVAL, line,
			     "max_total_arena_mb must be an integer from 1 to %u, not '%s'",
			     MAX_ARENA_MB_LIMIT, value);
			return;
		}
		cfg->max_total_arena_bytes = v << 20;
		break;
	case K_MAX_CLIENTS:
		if (parse_u64(value, 1, HPCD_CONFIG_MAX_CLIENTS_LIMIT, &v)) {
			fail(p, -EINVAL, line,
			     "max_clients must be an integer from 1 to %u, not '%s'",
			     HPCD_CONFIG_MAX_CLIENTS_LIMIT, value);
			return;
		}
		cfg->max_clients = (unsigned)v;
		break;
	case K_SPIN_US:
		if (parse_u64(value, 0, MAX_SPIN_US, &v)) {
			fail(p, -EINVAL, line, "spin_us must be an integer from 0 to %u, not '%s'",
			     MAX_SPIN_US, value);
			return;
		}
		cfg->spin_us = (unsigned)v;
		break;
	case K_RING_ENTRIES:
		if (parse_u64(value, 2, 65536, &v) || (v & (v - 1))) {
			fail(p, -EINVAL, line,
			     "ring_entries must be a power of two from 2 to 65536, not '%s'",
			     value);
			return;
		}
		cfg->ring_entries = (unsigned)v;
		break;
	case K_LOG_LEVEL: {
		int lv = hpcd_config_parse_log_level(value);
		if (lv < 0) {
			fail(p, -EINVAL, line,
			     "log_level must be one of error, warn, info, debug, not '%s'", value);
			return;
		}
		cfg->log_level = lv;
		break;
	}
	case K__COUNT:
		break;
	}
}

static void backend_key(struct parser *p, const char *key, const char *value, unsigned line)
{
	struct hpcd_backend_conf *b = cur_backend(p);

	if (!strcmp(key, "plugin")) {
		if (b->plugin_line) {
			fail(p, -EINVAL, line,
			     "duplicate key 'plugin' in [backend %s] (first at line %u)", b->name,
			     b->plugin_line);
			return;
		}
		if (!*value) {
			fail(p, -EINVAL, line, "plugin: empty value in [backend %s]", b->name);
			return;
		}
		if (!strchr(value, '/') && !valid_name(value, 64)) {
			fail(p, -EINVAL, line,
			     "plugin name '%s' is not valid: use A-Z a-z 0-9 _ . - (or give a path "
			     "with a '/')",
			     value);
			return;
		}
		b->plugin = strdup(value);
		b->plugin_line = line;
		if (!b->plugin)
			fail(p, -ENOMEM, line, "out of memory");
		return;
	}
	for (uint32_t i = 0; i < b->nsettings; i++) {
		if (!strcmp(b->settings[i].key, key)) {
			fail(p, -EINVAL, line,
			     "duplicate key '%s' in [backend %s] (first at line %u)", key, b->name,
			     b->settings[i].line);
			return;
		}
	}
	struct hpc_setting *ns = realloc(b->settings, (b->nsettings + 1) * sizeof(*ns));
	if (!ns) {
		fail(p, -ENOMEM, line, "out of memory");
		return;
	}
	b->settings = ns;
	struct hpc_setting *s = &b->settings[b->nsettings];
	memset(s, 0, sizeof(*s));
	s->key = strdup(key);
	s->value = strdup(value);
	s->line = line;
	b->nsettings++; /* counted even half-built, so that free() sees it */
	if (!s->key || !s->value)
		fail(p, -ENOMEM, line, "out of memory");
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	unsigned line = p->line; /* inih calls us right after our reader returned this line */

	p->kv_handled = true;
	if (p->err)
		return 0;
	if (!*name) {
		fail(p, -EINVAL, line, "missing key before '='");
		return 0;
	}
	switch (p->sec) {
	case SEC_NONE:
		fail(p, -EINVAL, line,
		     "key '%s' outside any section; put it under [daemon] or [backend NAME]", name);
		break;
	case SEC_DAEMON:
		daemon_key(p, name, value, line);
		break;
	case SEC_BACKEND:
		backend_key(p, name, value, line);
		break;
	}
	return p->err ? 0 : 1;
}

/* What needs the whole file: required keys, cross references, defaults. */
static void finish(struct parser *p)
{
	struct hpcd_config *cfg = p->cfg;

	for (unsigned i = 0; i < cfg->nbackends && !p->err; i++) {
		if (!cfg->backends[i].plugin)
			fail(p, -EINVAL, cfg->backends[i].line, "backend '%s' has no 'plugin' key",
			     cfg->backends[i].name);
	}
	if (p->err)
		return;
	if (!cfg->nbackends) {
		fail(p, -EINVAL, p->line ? p->line : 1,
		     "no [backend NAME] section; at least one backend is required");
		return;
	}
	if (cfg->default_backend) {
		if (!find_backend(cfg, cfg->default_backend)) {
			fail(p, -EINVAL, cfg->default_backend_line,
			     "default_backend '%s' names no [backend] section",
			     cfg->default_backend);
			return;
		}
	} else {
		cfg->default_backend = strdup(cfg->backends[0].name);
	}
	if (!cfg->plugin_dir)
		cfg->plugin_dir = strdup(cfg->dir);
	if (!cfg->socket)
		cfg->socket = strdup(HPC_DEFAULT_SOCKET);
	if (!cfg->default_backend || !cfg->plugin_dir || !cfg->socket) {
		fail(p, -ENOMEM, 0, "out of memory");
		return;
	}
	for (unsigned i = 0; i < cfg->nbackends; i++) {
		struct hpcd_backend_conf *b = &cfg->backends[i];
		if (strchr(b->plugin, '/')) {
			b->plugin_path = join_path(cfg->dir, b->plugin);
		} else if (asprintf(&b->plugin_path, "%s/libhpc_%s.so", cfg->plugin_dir,
				    b->plugin) < 0) {
			b->plugin_path = NULL;
		}
		if (!b->plugin_path) {
			fail(p, -ENOMEM, b->plugin_line, "out of memory");
			return;
		}
	}
}

/* Absolute folder and path of the file; the folder's symlinks resolved, the file's name kept. */
static int locate(struct parser *p, const char *path)
{
	struct hpcd_config *cfg = p->cfg;
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	char *slash = strrchr(copy, '/');
	const char *dir, *base;
	if (!slash) {
		dir = ".";
		base = copy;
	} else if (slash == copy) {
		dir = "/";
		base = slash + 1;
		*slash = '\0';
	} else {
		*slash = '\0';
		dir = copy;
		base = slash + 1;
	}
	int rc = 0;
	cfg->dir = realpath(dir, NULL);
	if (!cfg->dir) {
		rc = -errno;
		fail(p, rc, 0, "cannot open: %s", strerror(errno));
	} else if (asprintf(&cfg->path, "%s%s%s", cfg->dir, strcmp(cfg->dir, "/") ? "/" : "",
			    base) < 0) {
		cfg->path = NULL;
		rc = -ENOMEM;
	}
	free(copy);
	return rc;
}

int hpcd_config_load(const char *path, struct hpcd_config **out, char *err, size_t errlen)
{
	struct parser p;
	memset(&p, 0, sizeof(p));
	p.name = path;
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';

	struct hpcd_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->name = strdup(path))) {
		free(cfg);
		if (err)
			snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	p.cfg = cfg;
	cfg->max_arena_bytes = hpcd_config_memory_share(4);
	cfg->max_total_arena_bytes = hpcd_config_memory_share(2);
	cfg->max_clients = HPCD_CONFIG_DEFAULT_MAX_CLIENTS;
	cfg->spin_us = HPCD_CONFIG_DEFAULT_SPIN_US;
	cfg->ring_entries = HPCD_CONFIG_DEFAULT_RING_ENTRIES;
	cfg->log_level = HPC_LOG_INFO;

	p.f = fopen(path, "re");
	if (!p.f) {
		fail(&p, -errno, 0, "cannot open: %s", strerror(errno));
	} else if (locate(&p, path) == 0) {
		int rc = ini_parse_stream(reader, &p, handler, &p);
		check_pending(&p);
		if (rc > 0)
			fail(&p, -EINVAL, (unsigned)rc,
			     "syntax error: expected 'key = value', '[section]' or a comment");
		else if (rc < 0)
			fail(&p, -ENOMEM, 0, "out of memory");
		if (!p.err)
			finish(&p);
	} else if (!p.err) {
		fail(&p, -ENOMEM, 0, "out of memory");
	}
	if (p.f)
		fclose(p.f);
	free(p.buf);

	if (p.err) {
		if (err)
			snprintf(err, errlen, "%s", p.msg);
		hpcd_config_free(cfg);
		return p.err;
	}
	*out = cfg;
	return 0;
}

void hpcd_config_backend_release(struct hpcd_backend_conf *c)
{
	free(c->plugin);
	free(c->plugin_path);
	for (uint32_t i = 0; i < c->nsettings; i++) {
		free((char *)c->settings[i].key);
		free((char *)c->settings[i].value);
	}
	free(c->settings);
	memset(c, 0, sizeof(*c));
}

int hpcd_config_backend_copy(struct hpcd_backend_conf *dst, const struct hpcd_backend_conf *src)
{
	memset(dst, 0, sizeof(*dst));
	memcpy(dst->name, src->name, sizeof(dst->name));
	dst->line = src->line;
	dst->plugin_line = src->plugin_line;
	if (src->plugin && !(dst->plugin = strdup(src->plugin)))
		goto nomem;
	if (src->plugin_path && !(dst->plugin_path = strdup(src->plugin_path)))
		goto nomem;
	if (src->nsettings) {
		dst->settings = calloc(src->nsettings, sizeof(*dst->settings));
		if (!dst->settings)
			goto nomem;
	}
	for (uint32_t i = 0; i < src->nsettings; i++) {
		struct hpc_setting *s = &dst->settings[i];
		dst->nsettings++;
		s->line = src->settings[i].line;
		s->key = strdup(src->settings[i].key);
		s->value = strdup(src->settings[i].value);
		if (!s->key || !s->value)
			goto nomem;
	}
	return 0;
nomem:
	hpcd_config_backend_release(dst);
	return -ENOMEM;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

bool hpcd_config_backend_same(const struct hpcd_backend_conf *a, const struct hpcd_backend_conf *b)
{
	if (strcmp(a->name, b->name) || !str_eq(a->plugin_path, b->plugin_path) ||
	    a->nsettings != b->nsettings)
		return false;
	/* Keys are unique within a section, so equal counts and a match for each key suffice. */
	for (uint32_t i = 0; i < a->nsettings; i++) {
		bool found = false;
		for (uint32_t j = 0; j < b->nsettings && !found; j++)
			found = !strcmp(a->settings[i].key, b->settings[j].key) &&
				!strcmp(a->settings[i].value, b->settings[j].value);
		if (!found)
			return false;
	}
	return true;
}

void hpcd_config_free(struct hpcd_config *cfg)
{
	if (!cfg)
		return;
	for (unsigned i = 0; i < cfg->nbackends; i++)
		hpcd_config_backend_release(&cfg->backends[i]);
	free(cfg->backends);
	free(cfg->name);
	free(cfg->path);
	free(cfg->dir);
	free(cfg->socket);
	free(cfg->plugin_dir);
	free(cfg->default_backend);
	free(cfg->allow_uids);
	free(cfg);
}

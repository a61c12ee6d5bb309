/*
 * daemon/world.c - the refcounted, immutable set of backend instances.
 *
 * The world holds one reference on each instance; jobs and other worlds hold
 * their own. So a reload never closes an instance under a running job, and
 * an instance kept across reloads is simply listed by several worlds.
 */
#include "daemon/world.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"

struct hpcd_world {
	atomic_uint refs;
	uint64_t generation;
	unsigned nbackends;
	unsigned default_idx;
	struct hpcd_backend *backends[]; /* one reference each */
};

static struct hpcd_backend *find(const struct hpcd_world *w, const char *name)
{
	/* name may come from a client's descriptor: never read past its fixed-size field. */
	if (strnlen(name, HPC_BACKEND_NAME_MAX + 1) > HPC_BACKEND_NAME_MAX)
		return NULL;
	for (unsigned i = 0; i < w->nbackends; i++)
		if (!strcmp(hpcd_backend_name(w->backends[i]), name))
			return w->backends[i];
	return NULL;
}

int hpcd_world_build(const struct hpcd_config *cfg, struct hpcd_world *old, uint64_t generation,
		     struct hpcd_world **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!cfg->nbackends) {
		if (err && errlen)
			snprintf(err, errlen, "%s: no backend to open",
				 cfg->name ? cfg->name : "config");
		return -EINVAL;
	}
	struct hpcd_world *w = calloc(1, sizeof(*w) + cfg->nbackends * sizeof(w->backends[0]));
	if (!w) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory",
				 cfg->name ? cfg->name : "config");
		return -ENOMEM;
	}
	w->generation = generation;
	atomic_init(&w->refs, 1);

	int rc = 0;
	unsigned kept = 0;
	for (unsigned i = 0; i < cfg->nbackends; i++) {
		const struct hpcd_backend_conf *bc = &cfg->backends[i];
		struct hpcd_backend *prev = old ? find(old, bc->name) : NULL;
		if (prev && hpcd_backend_unchanged(prev, cfg, bc)) {
			w->backends[i] = hpcd_backend_get(prev);
			kept++;
		} else {
			rc = hpcd_backend_open(cfg, bc, generation, &w->backends[i], err, errlen);
			if (rc)
				break;
		}
		w->nbackends = i + 1;
		if (cfg->default_backend && !strcmp(bc->name, cfg->default_backend))
			w->default_idx = i;
	}
	if (rc) {
		/* Shared instances only lose the reference taken above; the rest close. */
		hpcd_world_put(w);
		return rc;
	}
	hpcd_debug("config generation %llu: %u backends, %u kept from the running set",
		   (unsigned long long)generation, w->nbackends, kept);
	*out = w;
	return 0;
}

struct hpcd_world *hpcd_world_get(struct hpcd_world *w)
{
	/* Relaxed: the caller's reference keeps w alive; taking one publishes nothing. */
	atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
	return w;
}

void hpcd_world_put(struct hpcd_world *w)
{
	if (!w)
		return;
	/* acq_rel: release orders this holder's lookups before the decrement; acquire lets the last
	 * one see them all before freeing. */
	if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (unsigned i = 0; i < w->nbackends; i++)
		hpcd_backend_put(w->backends[i]);
	free(w);
}

struct hpcd_backend *hpcd_world_lookup(const struct hpcd_world *w, const char *name)
{
	if (!name || !*name)
		return w->backends[w->default_idx];
	return find(w, name);
}

struct hpcd_backend *hpcd_world_default(const struct hpcd_world *w)
{
	return w->backends[w->default_idx];
}

const char *hpcd_world_default_name(const struct hpcd_world *w)
{
	return hpcd_backend_name(hpcd_world_default(w));
}

uint64_t hpcd_world_generation(const struct hpcd_world *w)
{
	return w->generation;
}

unsigned hpcd_world_count(const struct hpcd_world *w)
{
	return w->nbackends;
}

struct hpcd_backend *hpcd_world_backend(const struct hpcd_world *w, unsigned i)
{
	return i < w->nbackends ? w->backends[i] : NULL;
}

int hpcd_world_describe(const struct hpcd_world *w, char *buf, size_t len)
{
	size_t pos = 0;
	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < w->nbackends; i++) {
		size_t room = pos < len ? len - pos : 0;
		int n = hpcd_backend_format(w->backends[i], room ? buf + pos : NULL, room);
		if (n < 0)
			return n;
		pos += (size_t)n;
		room = pos < len ? len - pos : 0;
		n = snprintf(room ? buf + pos : NULL, room, "%s\n",
			     i == w->default_idx ? " [default]" : "");
		pos += (size_t)n;
	}
	if (len && pos >= len)
		buf[len - 1] = '\0';
	return (int)pos;
}

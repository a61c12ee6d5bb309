/*
 * plugins/base/regtab.c - region id sets and tables of mapped regions (see regtab.h).
 */
#include "plugins/base/regtab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room for one more element of size es in v (n used of *cap): v, or its new place, or NULL. */
static void *grow(void *v, size_t n, size_t *cap, size_t es)
{
	if (n < *cap)
		return v;
	size_t nc = *cap ? 2 * *cap : 8;
	void *p = realloc(v, nc * es);
	if (p)
		*cap = nc;
	return p;
}

static size_t idset_index(const struct hpcb_idset *s, uint64_t id)
{
	size_t i = 0;
	while (i < s->n && s->v[i] != id)
		i++;
	return i;
}

bool hpcb_idset_has(const struct hpcb_idset *s, uint64_t id)
{
	return idset_index(s, id) < s->n;
}

int hpcb_idset_add(struct hpcb_idset *s, uint64_t id)
{
	if (hpcb_idset_has(s, id))
		return 0;
	uint64_t *v = grow(s->v, s->n, &s->cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	s->v[s->n++] = id;
	return 0;
}

void hpcb_idset_del(struct hpcb_idset *s, uint64_t id)
{
	size_t i = idset_index(s, id);
	if (i == s->n)
		return;
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

bool hpcb_idset_pop(struct hpcb_idset *s, uint64_t *id)
{
	if (!s->n)
		return false;
	*id = s->v[--s->n];
	return true;
}

void hpcb_idset_clear(struct hpcb_idset *s)
{
	s->n = 0;
}

void hpcb_idset_free(struct hpcb_idset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct hpcb_region *hpcb_regtab_find(const struct hpcb_regtab *t, uint64_t id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].id == id)
			return &t->v[i];
	return NULL;
}

int hpcb_regtab_map(struct hpcb_regtab *t, uint64_t id, int fd, uint64_t size, bool keep_fd)
{
	int rc = 0;
	if (size == 0) {
		struct stat st;
		if (fstat(fd, &st) < 0 || st.st_size <= 0)
			rc = -EINVAL;
		else
			size = (uint64_t)st.st_size;
	}
	if (rc == 0 && size > SIZE_MAX)
		rc = -EFBIG;
	/* Room first: once the region is mapped, nothing may fail. */
	struct hpcb_region *v = rc == 0 ? grow(t->v, t->n, &t->cap, sizeof(*v)) : NULL;
	if (rc == 0 && !v)
		rc = -ENOMEM;
	else if (rc == 0)
		t->v = v;
	void *base = MAP_FAILED;
	if (rc == 0) {
		base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (base == MAP_FAILED)
			rc = -errno;
	}
	if (rc < 0 || !keep_fd) {
		close(fd);
		fd = -1;
	}
	if (rc < 0)
		return rc;
	hpcb_regtab_drop(t, id);
	t->v[t->n++] = (struct hpcb_region){.id = id, .base = base, .size = size, .fd = fd};
	return 0;
}

void hpcb_regtab_drop(struct hpcb_regtab *t, uint64_t id)
{
	struct hpcb_region *r = hpcb_regtab_find(t, id);
	if (!r)
		return;
	munmap(r->base, (size_t)r->size);
	if (r->fd >= 0)
		close(r->fd);
	*r = t->v[--t->n];
}

void hpcb_regtab_free(struct hpcb_regtab *t)
{
	while (t->n)
		hpcb_regtab_drop(t, t->v[0].id);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

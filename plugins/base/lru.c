/*
 * plugins/base/lru.c - the index-based LRU cache (see lru.h).
 */
#include "plugins/base/lru.h"

#include <errno.h>
#include <string.h>

int hpcb_lru_init(struct hpcb_lru *l, unsigned nslots, size_t budget, hpcb_lru_evict_fn evict,
		  void *ctx)
{
	if (!l || nslots > HPCB_LRU_MAX)
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	l->nslots = nslots;
	l->budget = budget;
	l->evict = evict;
	l->ctx = ctx;
	return 0;
}

bool hpcb_lru_used(const struct hpcb_lru *l, unsigned slot)
{
	return slot < l->nslots && l->s[slot].last_use != 0;
}

int hpcb_lru_find(struct hpcb_lru *l, hpcb_lru_match_fn match, const void *key)
{
	for (unsigned i = 0; i < l->nslots; i++) {
		if (hpcb_lru_used(l, i) && match(l->ctx, i, key)) {
			l->s[i].last_use = ++l->tick;
			return (int)i;
		}
	}
	return -ENOENT;
}

void hpcb_lru_drop(struct hpcb_lru *l, unsigned slot)
{
	if (!hpcb_lru_used(l, slot))
		return;
	/* Free before the callback: it may look at the cache. */
	l->bytes -= l->s[slot].bytes;
	l->used--;
	l->s[slot].last_use = 0;
	l->s[slot].bytes = 0;
	if (l->evict)
		l->evict(l->ctx, slot);
}

int hpcb_lru_insert(struct hpcb_lru *l, size_t bytes, uint64_t keep)
{
	if (bytes > l->budget)
		return -E2BIG;
	for (;;) {
		int free_slot = -1, oldest = -1;
		for (unsigned i = 0; i < l->nslots; i++) {
			if (!hpcb_lru_used(l, i)) {
				if (free_slot < 0)
					free_slot = (int)i;
			} else if (!(keep & (1ull << i)) &&
				   (oldest < 0 || l->s[i].last_use < l->s[oldest].last_use)) {
				oldest = (int)i;
			}
		}
		if (free_slot >= 0 && bytes <= l->budget - l->bytes) {
			l->s[free_slot].last_use = ++l->tick;
			l->s[free_slot].bytes = bytes;
			l->bytes += bytes;
			l->used++;
			return free_slot;
		}
		if (oldest < 0)
			return -ENOSPC;
		hpcb_lru_drop(l, (unsigned)oldest);
	}
}

uint64_t hpcb_lru_drop_if(struct hpcb_lru *l, hpcb_lru_match_fn match, const void *key)
{
	uint64_t dropped = 0;
	for (unsigned i = 0; i < l->nslots; i++) {
		if (hpcb_lru_used(l, i) && match(l->ctx, i, key)) {
			hpcb_lru_drop(l, i);
			dropped |= 1ull << i;
		}
	}
	return dropped;
}

void hpcb_lru_clear(struct hpcb_lru *l)
{
	for (unsigned i = 0; i < l->nslots; i++)
		hpcb_lru_drop(l, i);
}

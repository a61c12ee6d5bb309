/*
 * plugins/base/lru.h - a least-recently-used cache of at most HPCB_LRU_MAX
 * slots within a byte budget, for what a backend keeps resident across jobs
 * (opencl: device buffers of operands; mpi: operands on the remote ranks).
 *
 * Index-based: the cache hands out slot numbers and keeps, per slot, only
 * whether it is used, its bytes and its age; the owner keeps what a slot
 * holds in an array of its own indexed by slot (a key, a buffer), and is
 * told through the evict callback when a slot's content must go. A slot
 * number can thus travel (mpi names slots in the descriptor it broadcasts).
 * Lookups scan every slot: HPCB_LRU_MAX is small, and a scan of 64 entries
 * costs nothing beside a job.
 *
 * Not thread-safe: the owner's lock guards it.
 *
 * Private to the project: linked into the plugins and their worker programs.
 */
#ifndef HPCB_LRU_H
#define HPCB_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPCB_LRU_MAX 64 /* slots at most: a uint64_t holds a set of them */

/* Slot's content leaves the cache (evicted for room, dropped, or cleared). */
typedef void (*hpcb_lru_evict_fn)(void *ctx, unsigned slot);
/* Whether slot's content is what key describes. */
typedef bool (*hpcb_lru_match_fn)(void *ctx, unsigned slot, const void *key);

struct hpcb_lru {
	unsigned nslots;
	size_t budget; /* bytes the used slots may hold in all */
	size_t bytes;  /* they hold now */
	unsigned used; /* slots */
	uint64_t tick;
	hpcb_lru_evict_fn evict; /* may be NULL */
	void *ctx;               /* passed to evict and to match */
	struct {
		uint64_t last_use; /* 0: the slot is free */
		size_t bytes;
	} s[HPCB_LRU_MAX];
};

/*
 * An empty cache of nslots slots (at most HPCB_LRU_MAX; 0 makes a cache that
 * keeps nothing) holding at most budget bytes (SIZE_MAX: no limit). Returns
 * 0 or -EINVAL.
 */
int hpcb_lru_init(struct hpcb_lru *l, unsigned nslots, size_t budget, hpcb_lru_evict_fn evict,
		  void *ctx);

/* The used slot that match() says holds key, made the most recent; or -ENOENT. */
int hpcb_lru_find(struct hpcb_lru *l, hpcb_lru_match_fn match, const void *key);

/*
 * A free slot for bytes more, made the most recent. Evicts least recently
 * used slots, except those in keep (a set of slots, bit i for slot i: what
 * the caller still uses), until a slot is free and bytes fit the budget.
 * Returns the slot, -E2BIG when bytes exceed the budget (nothing is evicted
 * then), or -ENOSPC when every slot that could go is kept.
 */
int hpcb_lru_insert(struct hpcb_lru *l, size_t bytes, uint64_t keep);

/* Whether slot is used. */
bool hpcb_lru_used(const struct hpcb_lru *l, unsigned slot);

/* Empty slot (calling evict when it was used). */
void hpcb_lru_drop(struct hpcb_lru *l, unsigned slot);

/* Drop every used slot that match() says holds key. Returns the set of them. */
uint64_t hpcb_lru_drop_if(struct hpcb_lru *l, hpcb_lru_match_fn match, const void *key);

/* Drop every slot. */
void hpcb_lru_clear(struct hpcb_lru *l);

#endif /* HPCB_LRU_H */

/*
 * daemon/current.h - the world of backends now serving, published to the
 * session threads (after nginx's current cycle).
 *
 * The event loop swaps in a new world at a reload; session threads notice
 * that the generation moved and take a reference to the new one. A session
 * never drops the last reference to an old world itself (closing instances
 * could stall its client's next job): it retires it here, and the event loop,
 * told through notify_fd, hands it to a task thread.
 *
 * Threads: get, gen and retire from any thread; swap, take_retired and
 * clear from the event loop only.
 */
#ifndef HPCD_CURRENT_H
#define HPCD_CURRENT_H

#include <pthread.h>
#include <stdint.h>

#include "daemon/world.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hpcd_retired {
	struct hpcd_retired *next;
	struct hpcd_world *world;
};

struct hpcd_current {
	pthread_mutex_t lock; /* world, retired; gen is also read without it */
	struct hpcd_world *world;
	uint64_t gen; /* atomic: released after world changed, under lock */
	struct hpcd_retired *retired;
	int notify_fd; /* an eventfd the owner reads; written when a world is retired */
};

/* Publish w (its reference moves here) as generation 1. */
void hpcd_current_init(struct hpcd_current *c, struct hpcd_world *w, int notify_fd);

/* A reference to the world now serving, and its generation. */
struct hpcd_world *hpcd_current_get(struct hpcd_current *c, uint64_t *gen);

/* The generation now serving; acquire pairs with the release in hpcd_current_swap. */
uint64_t hpcd_current_gen(const struct hpcd_current *c);

/* Publish w (reference moves here) as generation gen; returns the old world's reference. */
struct hpcd_world *hpcd_current_swap(struct hpcd_current *c, struct hpcd_world *w, uint64_t gen);

/* Hand a world reference to the owner, who drops it off the caller's thread. */
void hpcd_current_retire(struct hpcd_current *c, struct hpcd_world *w);

/* The worlds retired since the last call (the caller frees the list's nodes). */
struct hpcd_retired *hpcd_current_take_retired(struct hpcd_current *c);

/* Unpublish: the world's reference goes to the caller (NULL once cleared). */
struct hpcd_world *hpcd_current_clear(struct hpcd_current *c);

void hpcd_current_fini(struct hpcd_current *c);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_CURRENT_H */

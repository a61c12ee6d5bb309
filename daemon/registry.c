/*
 * daemon/registry.c - every open backend instance, so that the end of a
 * client's region reaches each one that may cache it (forget_region).
 */
#include <pthread.h>
#include <stdlib.h>

#include "daemon/loader_pvt.h"

/* Every open instance, under live_lock. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hpcd_backend *live_backends;
/* Instances that crashed and were let go: never closed (see hpcd_backend_put). */
static struct hpcd_backend *broken_backends;

void hpcd_registry_add(struct hpcd_backend *b)
{
	pthread_mutex_lock(&live_lock);
	b->next_live = live_backends;
	live_backends = b;
	pthread_mutex_unlock(&live_lock);
}

void hpcd_registry_remove(struct hpcd_backend *b)
{
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

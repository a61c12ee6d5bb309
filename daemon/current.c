#include "daemon/current.h"

#include <stdlib.h>
#include <unistd.h>

void hpcd_current_init(struct hpcd_current *c, struct hpcd_world *w, int notify_fd)
{
	pthread_mutex_init(&c->lock, NULL);
	c->world = w;
	c->gen = 1;
	c->retired = NULL;
	c->notify_fd = notify_fd;
}

struct hpcd_world *hpcd_current_get(struct hpcd_current *c, uint64_t *gen)
{
	pthread_mutex_lock(&c->lock);
	struct hpcd_world *w = c->world;
	hpcd_world_get(w);
	*gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	return w;
}

uint64_t hpcd_current_gen(const struct hpcd_current *c)
{
	return __atomic_load_n(&c->gen, __ATOMIC_ACQUIRE);
}

struct hpcd_world *hpcd_current_swap(struct hpcd_current *c, struct hpcd_world *w, uint64_t gen)
{
	pthread_mutex_lock(&c->lock);
	struct hpcd_world *old = c->world;
	c->world = w;
	/* Release pairs with the acquire in hpcd_current_gen. */
	__atomic_store_n(&c->gen, gen, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->lock);
	return old;
}

void hpcd_current_retire(struct hpcd_current *c, struct hpcd_world *w)
{
	struct hpcd_retired *r = malloc(sizeof(*r));
	if (!r) {
		hpcd_world_put(w); /* no memory for the note: pay here rather than leak */
		return;
	}
	r->world = w;
	pthread_mutex_lock(&c->lock);
	r->next = c->retired;
	c->retired = r;
	pthread_mutex_unlock(&c->lock);
	uint64_t one = 1;
	ssize_t n = write(c->notify_fd, &one, sizeof(one));
	(void)n; /* an eventfd write of 1 cannot fail short of overflow */
}

struct hpcd_retired *hpcd_current_take_retired(struct hpcd_current *c)
{
	pthread_mutex_lock(&c->lock);
	struct hpcd_retired *r = c->retired;
	c->retired = NULL;
	pthread_mutex_unlock(&c->lock);
	return r;
}

struct hpcd_world *hpcd_current_clear(struct hpcd_current *c)
{
	pthread_mutex_lock(&c->lock);
	struct hpcd_world *w = c->world;
	c->world = NULL;
	pthread_mutex_unlock(&c->lock);
	return w;
}

void hpcd_current_fini(struct hpcd_current *c)
{
	pthread_mutex_destroy(&c->lock);
}

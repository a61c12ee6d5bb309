/*
 * plugins/base/regtab.h - what a backend knows about client regions, by
 * region id (the daemon's struct hpc_job.region_id):
 *
 *  - struct hpcb_idset: the ids of regions a peer holds, or that are still
 *    to be forgotten, oldest first (a worker's memfds, rank 0's regions);
 *  - struct hpcb_regtab: the regions this process has mapped itself (the
 *    worker programs: the memfd they were sent, mapped shared).
 *
 * Both are small arrays searched in order: a backend holds a few regions
 * (one per client), and the order is the age. Not thread-safe: the owner's
 * lock guards them. A zeroed struct is an empty table; *_free() releases it.
 *
 * Private to the project: linked into the plugins and their worker programs.
 */
#ifndef HPCB_REGTAB_H
#define HPCB_REGTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hpcb_idset {
	uint64_t *v; /* oldest first */
	size_t n, cap;
};

/* Whether id is in the set. */
bool hpcb_idset_has(const struct hpcb_idset *s, uint64_t id);

/* Add id as the newest (nothing when it is there already). Returns 0 or -ENOMEM. */
int hpcb_idset_add(struct hpcb_idset *s, uint64_t id);

/* Remove id, keeping the order of the others; nothing when it is not there. */
void hpcb_idset_del(struct hpcb_idset *s, uint64_t id);

/* Take the newest id out into *id. Returns false when the set is empty. */
bool hpcb_idset_pop(struct hpcb_idset *s, uint64_t *id);

/* Empty the set, keeping its memory; free it. */
void hpcb_idset_clear(struct hpcb_idset *s);
void hpcb_idset_free(struct hpcb_idset *s);

/* One region mapped here (MAP_SHARED, read and write). */
struct hpcb_region {
	uint64_t id;
	unsigned char *base;
	uint64_t size;
	int fd;         /* kept open (keep_fd), else -1 */
	uint32_t flags; /* the owner's, 0 when mapped */
};

struct hpcb_regtab {
	struct hpcb_region *v;
	size_t n, cap;
};

/* Region id, or NULL. The pointer lasts until the table next changes. */
struct hpcb_region *hpcb_regtab_find(const struct hpcb_regtab *t, uint64_t id);

/*
 * Map size bytes of fd (size 0: the whole file, which must not be empty) as
 * region id, replacing an earlier mapping of id: never two of one id. fd is
 * the table's in every case: kept open with the mapping when keep_fd (to be
 * passed on), else closed. Returns 0 or a negative errno (the table is then
 * as it was).
 */
int hpcb_regtab_map(struct hpcb_regtab *t, uint64_t id, int fd, uint64_t size, bool keep_fd);

/* Unmap region id (and close its fd); nothing when it is not mapped. */
void hpcb_regtab_drop(struct hpcb_regtab *t, uint64_t id);

/* Unmap every region and free the table. */
void hpcb_regtab_free(struct hpcb_regtab *t);

#endif /* HPCB_REGTAB_H */

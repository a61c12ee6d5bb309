/*
 * daemon/world.h - the set of backend instances one config opened.
 *
 * A world is immutable once built and refcounted. Reload builds a new world
 * beside the running one (nginx's cycle): sections that did not change are
 * shared with the old world rather than reopened, everything else is opened
 * afresh, and if anything fails the new world is dropped whole while the old
 * one keeps serving. Jobs hold a reference to the instance they run on, so an
 * instance that a reload removed or replaced closes only once its last job is
 * done (and once no world lists it any more).
 *
 * The world does not own or keep the config it was built from.
 */
#ifndef HPCD_WORLD_H
#define HPCD_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/loader.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hpcd_world;

/*
 * Open every backend of cfg, in file order. A section that
 * hpcd_backend_unchanged() finds unchanged in old (may be NULL) is shared
 * from it (one more reference) instead of reopened; it keeps its old
 * generation. All or nothing: on failure everything opened here is closed
 * again, old is untouched, and err holds the first failure
 * ("CONFIG:LINE: backend 'NAME': problem"). Returns 0 and the world in *out
 * with one reference, or a negative errno. cfg is only read during the call.
 */
int hpcd_world_build(const struct hpcd_config *cfg, struct hpcd_world *old, uint64_t generation,
		     struct hpcd_world **out, char *err, size_t errlen);

/* Take another reference; the caller must already hold one. Returns w. Thread-safe. */
struct hpcd_world *hpcd_world_get(struct hpcd_world *w);

/*
 * Drop a reference. The last one drops the world's reference on each of its
 * instances (an instance another world or a job still holds lives on). NULL
 * is allowed. Thread-safe.
 */
void hpcd_world_put(struct hpcd_world *w);

/*
 * The instance called name; NULL or "" means the default backend. No
 * reference is taken: the result is valid while the caller holds w (take one
 * with hpcd_backend_get() to keep it longer). NULL when there is none. Reads
 * at most HPC_BACKEND_NAME_MAX + 1 bytes of name (a longer or unterminated
 * name finds nothing), so a client's fixed-size field can be passed as is.
 */
struct hpcd_backend *hpcd_world_lookup(const struct hpcd_world *w, const char *name);

/* The default backend (never NULL). */
struct hpcd_backend *hpcd_world_default(const struct hpcd_world *w);

/* The default instance's name, for messages. */
const char *hpcd_world_default_name(const struct hpcd_world *w);

/* The generation it was built for. */
uint64_t hpcd_world_generation(const struct hpcd_world *w);

/* Its instances, in config order: count and the i-th (no reference taken). */
unsigned hpcd_world_count(const struct hpcd_world *w);
struct hpcd_backend *hpcd_world_backend(const struct hpcd_world *w, unsigned i);

/*
 * Text for `hpcrun backends` and `hpcd --check`: one line per instance, as
 * hpcd_backend_format(), and " [default]" after the default one's gen=N;
 * each line ends with '\n'. Returns the length it needed (like snprintf):
 * the text was cut if that is >= len; buf is terminated when len > 0.
 */
int hpcd_world_describe(const struct hpcd_world *w, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_WORLD_H */

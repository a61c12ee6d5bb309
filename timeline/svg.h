/*
 * timeline/svg.h - draw a job's timeline as an SVG picture: one row per
 * worker process (pid), each chunk a rectangle from its start to its end,
 * labelled with its chunk index, over a time axis in milliseconds; failed
 * attempts (a killed or timed-out worker) in red. After the lecture's figure
 * of which engine ran which task when.
 *
 * Input: the records a backend wrote (struct hpc_chunk_rec, hpc/wire.h), in any order.
 */
#ifndef HPC_TIMELINE_SVG_H
#define HPC_TIMELINE_SVG_H

#include <stddef.h>
#include <stdio.h>

#include "hpc/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Write the picture of recs[0..n) to f. title (may be NULL) is drawn on top,
 * escaped for XML. n = 0 gives a valid picture that says "no chunks".
 * Returns 0, -EINVAL (recs NULL with n > 0, or f NULL), -ENOMEM or -EIO
 * (a write failed).
 */
int hpc_timeline_svg(FILE *f, const struct hpc_chunk_rec *recs, size_t n, const char *title);

/* The same into the file at path (created or truncated). Returns 0 or a negative errno. */
int hpc_timeline_svg_file(const char *path, const struct hpc_chunk_rec *recs, size_t n,
			  const char *title);

#ifdef __cplusplus
}
#endif

#endif /* HPC_TIMELINE_SVG_H */

/*
 * timeline/trace.h - write a daemon trace (struct hpc_trace, hpc/client.h)
 * for people: Chrome trace-event JSON (Perfetto, chrome://tracing) or an SVG
 * timeline.
 *
 * Both draw the same tracks. Each backend instance is a process; its tracks
 * are its workers: a forkpool (any backend that reports chunk records) has
 * one track per worker slot, where each job shows as a slice covering that
 * worker's part of it with the chunk attempts nested inside; a backend that
 * reports no chunks runs a job on the session thread of the client that sent
 * it, so its workers are those threads, one track per client connection.
 * In the JSON, every job also has a slice on its client's track (the whole
 * job as the client saw it run, from the completion's start to its end), so
 * the chunks of a forkpool job lie inside its client slice in time. Jobs
 * refused before any backend ran them form a process of their own.
 *
 * Times are relative to the trace's start, in microseconds (JSON) or
 * milliseconds (SVG axis).
 */
#ifndef HPC_TIMELINE_TRACE_H
#define HPC_TIMELINE_TRACE_H

#include <stdio.h>

#include "hpc/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The trace as {"traceEvents": [...], ...}. Returns 0, -ENOMEM or -EIO. */
int hpc_trace_write_json(FILE *f, const struct hpc_trace *tr);

/* The trace as an SVG picture, one row per worker track. Returns 0, -ENOMEM or -EIO. */
int hpc_trace_write_svg(FILE *f, const struct hpc_trace *tr, const char *title);

/* Either, chosen by the name: ".json" or ".svg" (else -EINVAL); the file is created or truncated.
 */
int hpc_trace_write_file(const char *path, const struct hpc_trace *tr);

#ifdef __cplusplus
}
#endif

#endif /* HPC_TIMELINE_TRACE_H */

/*
 * daemon/trace.h - a record of every job the daemon runs while a trace is
 * asked for (`hpcrun trace`, HPC_MSG_TRACE_* in hpc/wire.h).
 *
 * A trace is two bounded arrays, jobs and chunk records, allocated when it
 * starts. Session threads append at the end of each job: a slot is reserved
 * with one relaxed fetch-add, written, and never moved; when an array is
 * full the job (or its chunks) is counted as dropped instead. There is no
 * wrap-around, so a reader never meets a half-overwritten record.
 *
 * What the job path pays with no trace: one relaxed load of `active`
 * (hpcd_trace_on) per job. With a trace: a seq_cst increment and decrement
 * of `writers` around the append, and the copy of the records.
 *
 * Stopping: the event loop clears `active`; a task thread then waits for
 * `writers` to fall to 0 (hpcd_trace_quiesce), after which no session thread
 * touches the arrays again and they can be read and freed. That wait is
 * short (a writer holds it for one memcpy) but can last a preemption, so it
 * is not done on the event loop.
 *
 * Which jobs: those whose session saw the trace active when the job began
 * and still active when it ended, and that started no earlier than the trace
 * did; so every recorded job lies inside [t_start_ns, t_stop_ns].
 *
 * Threads: start, halt, read and reset are for the event loop; quiesce for a
 * task thread; hpcd_trace_on and hpcd_trace_record for session threads.
 */
#ifndef HPCD_TRACE_H
#define HPCD_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hpc/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HPCD_TRACE_DEFAULT_JOBS 65536u
#define HPCD_TRACE_DEFAULT_CHUNKS 262144u
#define HPCD_TRACE_MAX_JOBS (1u << 20)
#define HPCD_TRACE_MAX_CHUNKS (1u << 22)
/* Chunk records one job may leave in a trace when its client asked for no
 * timeline (the session's own buffer, see session.c). */
#define HPCD_TRACE_JOB_CHUNKS 4096u

enum hpcd_trace_state {
	HPCD_TRACE_IDLE = 0,
	HPCD_TRACE_ACTIVE,   /* recording */
	HPCD_TRACE_STOPPING, /* active cleared; a task waits for the writers */
	HPCD_TRACE_STOPPED,  /* readable */
};

struct hpcd_trace {
	int active;       /* atomic: the flag the job path reads */
	unsigned writers; /* atomic: session threads inside hpcd_trace_record */
	struct hpc_trace_rec *jobs;
	struct hpc_chunk_rec *chunks;
	uint32_t max_jobs, max_chunks;
	uint64_t next_job, next_chunk;         /* atomic: reservations (may pass the max) */
	uint64_t jobs_dropped, chunks_dropped; /* atomic, relaxed */
	uint64_t t_start_ns;                   /* written before active is set */

	/* Event loop only. */
	enum hpcd_trace_state state;
	uint64_t owner; /* connection id of the client that started it */
	pid_t owner_pid;
	int owner_gone;           /* the owner left while stopping: reset once stopped */
	struct hpc_trace_hdr hdr; /* valid once stopped */
};

/* One relaxed load: whether a job starting now should be recorded. */
static inline int hpcd_trace_on(const struct hpcd_trace *t)
{
	return __atomic_load_n(&t->active, __ATOMIC_RELAXED);
}

/*
 * Start recording for connection owner (pid for messages). max_jobs and
 * max_chunks: 0 for the defaults, cut to the maxima. Returns 0, -EBUSY when
 * a trace exists (recording, or not yet fetched by its owner), -ENOMEM.
 */
int hpcd_trace_start(struct hpcd_trace *t, uint64_t owner, pid_t pid, uint32_t max_jobs,
		     uint32_t max_chunks);

/*
 * Session thread, at the end of a job: append rec (its chunk_* fields are
 * filled here) and its n chunk records, unless the trace ended meanwhile.
 */
void hpcd_trace_record(struct hpcd_trace *t, const struct hpc_trace_rec *rec,
		       const struct hpc_chunk_rec *chunks, uint32_t n);

/* Event loop: stop recording (state becomes STOPPING). */
void hpcd_trace_halt(struct hpcd_trace *t);

/* Task thread: wait until no session thread writes, then fill the header. */
void hpcd_trace_quiesce(struct hpcd_trace *t);

/* Bytes of the stopped trace's stream: header, jobs, chunks (hpc/wire.h). */
uint64_t hpcd_trace_size(const struct hpcd_trace *t);

/* Copy up to len bytes of the stream from offset into buf; returns how many. */
size_t hpcd_trace_read(const struct hpcd_trace *t, uint64_t offset, void *buf, size_t len);

/* Event loop, for a stopped (or idle) trace: free it; state becomes IDLE. */
void hpcd_trace_reset(struct hpcd_trace *t);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_TRACE_H */

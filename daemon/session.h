/*
 * daemon/session.h - one client's region and the thread that serves it.
 *
 * The session thread consumes the submission ring, validates a private copy
 * of each descriptor, runs it on the backend it names and posts the
 * completion. It takes a new job only when the completion ring has room for
 * its answer, so a client that stops reading completions only stalls itself.
 * It spins briefly when idle (back-to-back jobs are caught in well under a
 * microsecond) and then sleeps on the submission ring's futex.
 */
#ifndef HPCD_SESSION_H
#define HPCD_SESSION_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc/region.h"
#include "ipc/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hpcd_current;
struct hpcd_metrics;
struct hpcd_trace;
struct hpcd_world;
struct hpcd_conn;
struct hpcd_backend;
struct hpcd_metrics_inst;

/* The session's map from the instances of its world to their counter blocks
 * (daemon/metrics.h): a few entries cover every config in practice. */
#define HPCD_SESSION_MCACHE 8

/*
 * What a session needs of the daemon, and nothing more: the session does not
 * know the server (daemon/server.h), which owns this and the sessions.
 */
struct hpcd_session_env {
	struct hpcd_current *current; /* the world now serving (daemon/current.h) */
	struct hpcd_metrics *metrics; /* counters it keeps (daemon/metrics.h) */
	struct hpcd_trace *trace;     /* the trace it feeds while one runs (daemon/trace.h) */
	int reap_fd;                  /* eventfd it writes when its thread has finished */
	uint64_t spin_ns;             /* how long to spin for the next job before sleeping */
};

struct hpcd_session {
	const struct hpcd_session_env *env;
	void *owner;               /* the owner's (the server's), never touched here */
	struct hpcd_session *next; /* in the owner's list */
	uint64_t id;
	pid_t pid;
	uid_t uid;
	struct hpcd_conn *conn; /* its connection, or NULL once closed; event loop only */

	uint64_t arena_bytes;    /* what the client asked for */
	uint64_t reserved_bytes; /* counted against max_total_arena_mb; event loop only */
	uint32_t sq_entries, cq_entries;
	int reply_fd; /* the thread's own dup of the socket, for the HELLO reply */
	int ready;    /* atomic: the region exists (see setup() in session.c) */

	struct hpci_region region;
	struct hpci_ring sq, cq; /* sq: we consume; cq: we produce */
	uint64_t spin_ns;

	pthread_t thread;
	int cancel;          /* atomic: client gone; drop queued jobs and exit */
	int draining;        /* atomic: daemon stopping; finish queued jobs, refuse later ones */
	int stop;            /* atomic: cancel or draining; ends the idle wait */
	uint32_t drain_tail; /* submissions before this index were accepted before the stop */
	int finished;        /* atomic: the thread has exited */
	const char *exit_reason; /* set by the thread before finishing */

	struct hpcd_world *world; /* the session thread's reference */
	uint64_t world_gen;

	uint64_t jobs_done;   /* atomic, relaxed: read for status */
	uint64_t jobs_failed; /* atomic, relaxed */

	/* Session thread only. Valid for world generation mcache_gen: a reload
	 * may free an instance, and a new one may take its address. */
	struct {
		const struct hpcd_backend *b;
		struct hpcd_metrics_inst *mi;
	} mcache[HPCD_SESSION_MCACHE];
	unsigned mcache_n, mcache_next;
	uint64_t mcache_gen;
	/* Chunk records of a traced job whose client asked for no timeline
	 * (HPCD_TRACE_JOB_CHUNKS of them); allocated on the first such job. */
	struct hpc_chunk_rec *trace_chunks;
};

/*
 * Start the thread of a client that asked for arena_bytes (already checked
 * against the config's limit) and ring sizes. The thread creates the region
 * and sends the HELLO reply on conn_fd (its own dup of it). Returns 0 or a
 * negative errno (then nothing was sent).
 */
int hpcd_session_start(const struct hpcd_session_env *env, int conn_fd, uid_t uid, pid_t pid,
		       uint64_t id, uint64_t arena_bytes, uint32_t sq_entries, uint32_t cq_entries,
		       struct hpcd_session **out);

/* Ask the thread to exit soon (client gone): queued jobs are dropped. */
void hpcd_session_cancel(struct hpcd_session *s);

/* Ask the thread to finish the jobs queued now, refuse later ones, and exit. */
void hpcd_session_drain(struct hpcd_session *s);

/*
 * After the thread has finished: join it, tell every backend that the
 * region is gone, and unmap it. Calls plugins: never on the event loop.
 */
void hpcd_session_release(struct hpcd_session *s);

/* Free a released session. */
void hpcd_session_free(struct hpcd_session *s);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_SESSION_H */

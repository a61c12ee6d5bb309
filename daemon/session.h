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

#ifdef __cplusplus
extern "C" {
#endif

struct hpcd_current;
struct hpcd_metrics;
struct hpcd_trace;

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

/* One client's session: opaque outside session.c. */
struct hpcd_session;

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

/* Whether the thread has exited (then hpcd_session_release() may run). Any thread. */
int hpcd_session_finished(const struct hpcd_session *s);

/* Jobs done and failed so far. Any thread; each count is exact, the pair not atomic. */
void hpcd_session_counts(const struct hpcd_session *s, uint64_t *done, uint64_t *failed);

/* Why the thread exited ("client gone", ...); after hpcd_session_finished(). */
const char *hpcd_session_exit_reason(const struct hpcd_session *s);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_SESSION_H */

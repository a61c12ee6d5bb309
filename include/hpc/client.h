/*
 * hpc/client.h - libhpc, the client library of hpcd.
 *
 * A client connects to the daemon's socket and receives a shared region: the
 * operand arena plus a submission and a completion ring. It places operands in
 * the arena (hpc_alloc), submits jobs that refer to them, and collects
 * completions. Operands are never copied between client and daemon.
 *
 *   struct hpc_client *c;
 *   int rc = hpc_connect(NULL, 3 * n * n * sizeof(double), &c);
 *   double *A = hpc_alloc(c, m * n * sizeof(double));  ... fill A, x ...
 *   struct hpc_request r = { .op = HPC_OP_MATVEC, .m = m, .n = n,
 *                            .a = A, .b = x, .out = y };
 *   rc = hpc_run(c, &r, NULL);    // or hpc_submit() + hpc_wait()
 *   hpc_close(c);
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure. A handle is not thread-safe: use one per thread, with one
 * exception: one thread may call hpc_submit() (and hpc_alloc/hpc_free) while
 * one other thread calls hpc_wait()/hpc_poll() on the same handle, so that a
 * collector thread can gather completions while jobs are submitted.
 */
#ifndef HPC_CLIENT_H
#define HPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "hpc/types.h"
#include "hpc/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hpc_client;

/* A job to submit. Pointers must point into this client's arena. */
struct hpc_request {
	uint32_t op;    /* enum hpc_op */
	uint32_t dtype; /* enum hpc_dtype; 0 = f64 */
	uint64_t m, n, k;
	const void *a;         /* first input (see hpc/types.h for the roles) */
	const void *b;         /* second input, or NULL */
	void *out;             /* output vector/matrix, or NULL for dot and sum */
	double alpha;          /* axpy */
	const char *backend;   /* instance name, or NULL for the default */
	uint64_t a_gen, b_gen; /* operand generations, see hpc/wire.h; 0 = unknown */
	uint64_t user_data;    /* returned in the completion */
	/* Optional: room in the arena for the job's chunk records (which worker
	 * ran what, when; struct hpc_chunk_rec in hpc/wire.h), or NULL. */
	struct hpc_chunk_rec *timeline;
	uint32_t timeline_cap;
};

/* The outcome of one job. */
struct hpc_completion {
	uint64_t user_data;
	int status;                    /* 0 or a negative errno */
	uint32_t detail;               /* enum hpc_err_detail (hpc/wire.h) */
	double result;                 /* dot and sum */
	uint64_t t_start_ns, t_end_ns; /* daemon's CLOCK_MONOTONIC */
	uint32_t timeline_count; /* chunk records the backend made (may exceed timeline_cap) */
};

/* Options for hpc_connect_opts(); zero fields take defaults. */
struct hpc_connect_opts {
	uint32_t sq_entries;
	uint32_t cq_entries;
	uint32_t spin_us; /* how long a waiter spins before sleeping; default 50 */
	uint32_t reserved;
	/* Optional: when the daemon refuses the connection (a limit reached),
	 * its one-sentence reason is stored here, NUL-terminated; "" when it
	 * gave none. */
	char *err;
	size_t err_len;
};

/*
 * Connect to the daemon at socket_path (NULL: $HPCD_SOCKET, else
 * HPC_DEFAULT_SOCKET) and obtain a region with at least arena_bytes of operand
 * space. On success *out owns the connection; free it with hpc_close().
 */
int hpc_connect(const char *socket_path, size_t arena_bytes, struct hpc_client **out);
int hpc_connect_opts(const char *socket_path, size_t arena_bytes,
		     const struct hpc_connect_opts *opts, struct hpc_client **out);

/*
 * Close the connection and unmap the region. Jobs still in flight are
 * abandoned: the daemon finishes or drops them and frees the region.
 */
void hpc_close(struct hpc_client *c);

/*
 * Allocate bytes in the arena, aligned to 64 bytes. Each allocation takes its
 * size rounded up to 64 bytes (no other overhead), so an arena of the sum of
 * the rounded sizes holds them all. Returns NULL when the arena has no such
 * space. hpc_free() returns it; freeing memory that an
 * unfinished job still uses is the caller's error.
 */
void *hpc_alloc(struct hpc_client *c, size_t bytes);
void hpc_free(struct hpc_client *c, void *p);

/* The arena's base and size (for clients that manage it themselves). */
void *hpc_arena(struct hpc_client *c, size_t *size);

/*
 * Queue up to n jobs. Blocks while the submission ring is full (back-pressure)
 * until at least one can be queued, then returns how many were queued
 * (1..n), or a negative errno: -EINVAL for a request that cannot be encoded
 * (pointer outside the arena, name too long), -EPIPE when the daemon is gone.
 * Jobs are validated again by the daemon; a bad job completes with an error.
 */
int hpc_submit(struct hpc_client *c, const struct hpc_request *reqs, unsigned n);

/*
 * Collect between min and max completions into out. Spins briefly, then
 * sleeps. timeout_ms < 0 waits forever. Returns the count (possibly fewer than
 * min on timeout), or a negative errno: -EPIPE when the daemon went away with
 * jobs still outstanding.
 */
int hpc_wait(struct hpc_client *c, struct hpc_completion *out, unsigned min, unsigned max,
	     int timeout_ms);

/* hpc_wait() with min = 0 and no waiting. */
int hpc_poll(struct hpc_client *c, struct hpc_completion *out, unsigned max);

/* Jobs submitted and not yet collected. */
unsigned hpc_inflight(const struct hpc_client *c);

/*
 * Submit one job and wait for it. Returns its status; *done (may be NULL)
 * receives the completion. When the job never completed (it could not be
 * submitted, or the daemon went away) the negative errno of that is returned
 * and *done is left untouched. Must not be mixed with outstanding
 * hpc_submit() jobs whose completions the caller still wants (they are
 * discarded).
 */
int hpc_run(struct hpc_client *c, const struct hpc_request *req, struct hpc_completion *done);

/*
 * Control requests, answered by the daemon as text. They need no region:
 * hpc_control() opens its own short connection. On success the daemon's text
 * is in buf (NUL-terminated, truncated to len) and 0 is returned; when the
 * daemon refuses (reload of a bad config), its reason is in buf and its
 * negative errno is returned. -ECONNREFUSED / -ENOENT: no daemon there.
 */
enum hpc_control {
	HPC_CTL_STATUS = 3,
	HPC_CTL_BACKENDS = 4,
	HPC_CTL_RELOAD = 5,
	HPC_CTL_METRICS = 7, /* the Prometheus text exposition (fetched in pages; see hpc/wire.h) */
};
int hpc_control(const char *socket_path, enum hpc_control what, char *buf, size_t len);

/*
 * hpc_control() with the whole answer, however long, in a new buffer: *text
 * (NUL-terminated, *len bytes before the NUL; free() it). On a refusal *text
 * holds the daemon's reason and its negative errno is returned; on other
 * failures *text is NULL.
 */
int hpc_control_alloc(const char *socket_path, enum hpc_control what, char **text, size_t *len);

/*
 * Traces: every job the daemon runs, across all clients and backends,
 * between hpc_trace_start() and hpc_trace_stop() (hpc/wire.h, "Traces").
 * The trace belongs to the handle's connection: closing the handle, or the
 * process ending, ends it. One trace at a time per daemon.
 */
struct hpc_tracer;

/* A fetched trace: hdr.njobs jobs, hdr.nchunks chunk records (which the jobs index). */
struct hpc_trace {
	struct hpc_trace_hdr hdr;
	struct hpc_trace_rec *jobs;
	struct hpc_chunk_rec *chunks;
};

/*
 * Start a trace with room for max_jobs jobs and max_chunks chunk records (0:
 * the daemon's defaults). msg (may be NULL) receives the daemon's sentence:
 * what it made room for, or why it refused (-EBUSY: a trace is running).
 */
int hpc_trace_start(const char *socket_path, uint32_t max_jobs, uint32_t max_chunks,
		    struct hpc_tracer **out, char *msg, size_t msg_len);

/*
 * Stop the trace and fetch it into *out (free with hpc_trace_free). Returns
 * 0 or a negative errno (then *out holds nothing); msg as above.
 */
int hpc_trace_stop(struct hpc_tracer *t, struct hpc_trace *out, char *msg, size_t msg_len);

void hpc_trace_free(struct hpc_trace *tr);

/* Close the handle; a trace still recording ends. NULL is allowed. */
void hpc_trace_close(struct hpc_tracer *t);

/*
 * One sentence describing a failed completion (status and detail), for
 * messages to users. Never NULL.
 */
const char *hpc_strerror(int status, uint32_t detail);

/* The socket path hpc_connect(NULL, ...) would use. */
const char *hpc_default_socket(void);

#ifdef __cplusplus
}
#endif

#endif /* HPC_CLIENT_H */

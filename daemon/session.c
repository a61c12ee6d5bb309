#include "daemon/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/guard.h"
#include "daemon/loader.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/current.h"
#include "daemon/trace.h"
#include "daemon/validate.h"
#include "daemon/world.h"
#include "hpc/ops.h"
#include "ipc/sock.h"
#include "ipc/region.h"
#include "ipc/ring.h"

/* The session's map from the instances of its world to their counter blocks
 * (daemon/metrics.h): a few entries cover every config in practice. */
#define HPCD_SESSION_MCACHE 8

struct hpcd_session {
	const struct hpcd_session_env *env;
	uint64_t id;
	pid_t pid;
	uid_t uid;

	uint64_t arena_bytes; /* what the client asked for */
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

int hpcd_session_finished(const struct hpcd_session *s)
{
	/* Acquire pairs with the thread's release: its last writes are visible. */
	return __atomic_load_n(&s->finished, __ATOMIC_ACQUIRE);
}

void hpcd_session_counts(const struct hpcd_session *s, uint64_t *done, uint64_t *failed)
{
	*done = __atomic_load_n(&s->jobs_done, __ATOMIC_RELAXED);
	*failed = __atomic_load_n(&s->jobs_failed, __ATOMIC_RELAXED);
}

const char *hpcd_session_exit_reason(const struct hpcd_session *s)
{
	return s->exit_reason;
}

/* Sleep slices: a session re-checks its flags at least this often even if a
 * wake-up were lost. */
#define SESSION_SLICE_NS 1000000000ll
/* How long a draining session waits for a client to make room in its
 * completion ring before giving up on it. */
#define DRAIN_CQ_PATIENCE_NS 5000000000ull

static int flag(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void refresh_world(struct hpcd_session *s)
{
	uint64_t g = hpcd_current_gen(s->env->current);
	if (g == s->world_gen)
		return;
	struct hpcd_world *old = s->world;
	s->world = hpcd_current_get(s->env->current, &s->world_gen);
	/* Not put here: if ours is the last reference, closing the old instances
	 * (joining threads, ending processes) would stall this client's next job. */
	hpcd_current_retire(s->env->current, old);
}

static void fail_job(struct hpc_cqe *c, int status, uint32_t detail)
{
	c->status = status;
	c->detail = detail;
}

/* What run_job learnt about a job, for the counters and the trace. */
struct job_note {
	struct hpcd_backend *b;             /* the instance it reached, or NULL */
	enum hpcd_metrics_reject reject;    /* why, when b is NULL */
	uint64_t bytes;                     /* operand bytes (validated jobs) */
	const struct hpc_chunk_rec *chunks; /* chunk records the backend made, for a trace */
	uint32_t nchunks, chunks_made;
};

/*
 * Run one job from a private copy of its descriptor. refuse: the daemon is
 * stopping and this job came after the ones it promised to finish. tracing:
 * a trace is recording, so the job's chunk records are wanted even when its
 * client asked for none.
 */
static void run_job(struct hpcd_session *s, const struct hpc_sqe *d, struct hpc_cqe *c, int refuse,
		    int tracing, struct job_note *note)
{
	memset(c, 0, sizeof(*c));
	memset(note, 0, sizeof(*note));
	c->user_data = d->user_data;
	if (refuse) {
		note->reject = HPCD_REJ_SHUTDOWN;
		fail_job(c, -ESHUTDOWN, HPC_E_SHUTDOWN);
		return;
	}
	struct hpcd_span span;
	uint32_t detail;
	int rc = hpcd_validate(d, s->region.layout.arena_size, &span, &detail);
	if (rc < 0) {
		note->reject = HPCD_REJ_INVALID;
		fail_job(c, rc, detail);
		return;
	}
	struct hpcd_backend *b = hpcd_world_lookup(s->world, d->backend);
	if (!b) {
		note->reject = HPCD_REJ_NO_BACKEND;
		fail_job(c, -ENOENT, HPC_E_NO_BACKEND);
		return;
	}
	note->b = b;
	note->bytes = span.a_len + span.b_len + span.out_len;
	unsigned char *arena = s->region.arena;
	if (span.work == 0) {
		/* An empty job costs what it touches (hpc/ops.h): zeros for an
		 * output that has elements, 0 for a scalar; no backend runs. */
		if (!hpcd_backend_supports(b, d->op, d->dtype)) {
			note->bytes = 0;
			fail_job(c, -EOPNOTSUPP, HPC_E_UNSUPPORTED);
			return;
		}
		c->t_start_ns = hpci_now_ns();
		if (span.has_out && !hpc_op_desc(d->op)->out_read)
			memset(arena + d->out_off, 0, span.out_len);
		c->t_end_ns = hpci_now_ns();
		return;
	}
	struct hpc_job job = {
	    .op = d->op,
	    .dtype = d->dtype,
	    .m = d->m,
	    .n = d->n,
	    .k = d->k,
	    .a = arena + d->a_off,
	    .b = span.has_b ? arena + d->b_off : NULL,
	    .out = span.has_out ? arena + d->out_off : NULL,
	    .alpha = d->alpha,
	    .region_fd = s->region.fd,
	    .region_id = s->id,
	    .arena_off = s->region.layout.arena_off,
	    .a_off = d->a_off,
	    .b_off = d->b_off,
	    .out_off = d->out_off,
	    .a_gen = d->a_gen,
	    .b_gen = d->b_gen,
	    .size = sizeof(struct hpc_job),
	};
	if (d->flags & HPC_SQE_TIMELINE) {
		job.chunks = (struct hpc_chunk_rec *)(arena + d->timeline_off);
		job.chunks_cap = d->timeline_cap;
	} else if (tracing) {
		/* A trace shows what each worker did, also for clients that asked
		 * for no timeline: the backend writes into the session's own buffer
		 * (plugins write chunk records in the daemon's process). Only while
		 * tracing, so an untraced job costs exactly what it did. */
		if (!s->trace_chunks)
			s->trace_chunks = calloc(HPCD_TRACE_JOB_CHUNKS, sizeof(*s->trace_chunks));
		if (s->trace_chunks) {
			job.chunks = s->trace_chunks;
			job.chunks_cap = HPCD_TRACE_JOB_CHUNKS;
		}
	}
	c->t_start_ns = hpci_now_ns();
	int sig = 0;
	rc = hpcd_guard_run(b, &job, &sig);
	c->t_end_ns = hpci_now_ns();
	if (sig) {
		hpcd_err("client %llu (pid %d): backend '%s' died of signal %d in a %s job",
			 (unsigned long long)s->id, (int)s->pid, hpcd_backend_name(b), sig,
			 hpc_op_name(d->op));
		fail_job(c, -EFAULT, HPC_E_BACKEND_CRASHED);
	} else if (rc == -ENOTRECOVERABLE) {
		fail_job(c, -EIO, HPC_E_BACKEND_BROKEN);
	} else if (rc == -EOPNOTSUPP) {
		fail_job(c, rc, HPC_E_UNSUPPORTED);
	} else if (rc < 0) {
		fail_job(c, rc, HPC_E_BACKEND_FAILED);
	} else {
		c->result = job.result;
	}
	if (rc == -EOPNOTSUPP)
		note->bytes = 0; /* nothing ran */
	if (job.chunks) {
		note->chunks = job.chunks;
		note->chunks_made = job.chunks_count;
		note->nchunks =
		    job.chunks_count < job.chunks_cap ? job.chunks_count : job.chunks_cap;
	}
	/* The client hears of chunk records only in a buffer of its own. */
	c->timeline_count = (d->flags & HPC_SQE_TIMELINE) ? job.chunks_count : 0;
}

/* The counter block of instance b, through the session's cache. */
static struct hpcd_metrics_inst *metrics_of(struct hpcd_session *s, const struct hpcd_backend *b)
{
	if (s->mcache_gen != s->world_gen) {
		s->mcache_n = s->mcache_next = 0;
		s->mcache_gen = s->world_gen;
	}
	for (unsigned i = 0; i < s->mcache_n; i++)
		if (s->mcache[i].b == b)
			return s->mcache[i].mi;
	struct hpcd_metrics_inst *mi = hpcd_metrics_instance(s->env->metrics, hpcd_backend_name(b),
							     hpcd_backend_conf(b)->plugin);
	if (!mi)
		return NULL;
	unsigned i = s->mcache_n < HPCD_SESSION_MCACHE ? s->mcache_n++
						       : s->mcache_next++ % HPCD_SESSION_MCACHE;
	s->mcache[i].b = b;
	s->mcache[i].mi = mi;
	return mi;
}

/*
 * Count a finished job, and record it when a trace is on. Before its
 * completion is published: a client that has its answer finds it counted
 * (and traced).
 */
static void account(struct hpcd_session *s, const struct hpc_sqe *d, const struct hpc_cqe *c,
		    const struct job_note *note, int tracing)
{
	struct hpcd_metrics_inst *mi = note->b ? metrics_of(s, note->b) : NULL;
	if (note->b && mi)
		hpcd_metrics_job(mi, d->op, d->dtype, hpcd_metrics_outcome(c->status, c->detail),
				 c->t_end_ns - c->t_start_ns, note->bytes);
	else if (!note->b)
		hpcd_metrics_reject(s->env->metrics, note->reject);
	if (!tracing)
		return;
	struct hpc_trace_rec r;
	memset(&r, 0, sizeof(r));
	r.client_id = s->id;
	r.client_pid = (uint32_t)s->pid;
	r.op = d->op;
	r.dtype = d->dtype;
	r.status = c->status;
	r.detail = c->detail;
	r.m = d->m;
	r.n = d->n;
	r.k = d->k;
	if (c->t_start_ns) {
		r.start_ns = c->t_start_ns;
		r.end_ns = c->t_end_ns;
	} else {
		r.start_ns = r.end_ns = hpci_now_ns(); /* refused before any backend ran */
	}
	r.chunks_made = note->chunks_made;
	if (note->chunks_made > note->nchunks)
		r.flags |= HPC_TRACE_CHUNKS_LOST;
	if (note->b) {
		snprintf(r.backend, sizeof(r.backend), "%s", hpcd_backend_name(note->b));
		if (mi)
			memcpy(r.plugin, mi->plugin, sizeof(r.plugin));
	} else {
		/* The name as asked, which need not be terminated: cut, and made printable. */
		for (size_t i = 0; i < sizeof(r.backend) - 1 && d->backend[i]; i++)
			r.backend[i] =
			    d->backend[i] >= 0x20 && d->backend[i] < 0x7f ? d->backend[i] : '?';
	}
	hpcd_trace_record(s->env->trace, &r, note->chunks, note->nchunks);
}

/* Serve the rings until cancelled, drained, or the client breaks the protocol. */
static const char *serve(struct hpcd_session *s)
{
	uint64_t cq_wait_start = 0;

	for (;;) {
		if (flag(&s->cancel))
			return "client gone";
		refresh_world(s);
		int draining = flag(&s->draining);

		int64_t avail = hpci_ring_avail(&s->sq);
		int64_t space = hpci_ring_free(&s->cq);
		if (avail < 0 || space < 0)
			return "protocol violation: ring index out of range";

		if (avail == 0) {
			if (draining)
				return "drained";
			/* Both cancel and drain set stop and wake the submission tail. */
			hpci_ring_wait_avail(&s->sq, s->spin_ns, SESSION_SLICE_NS, &s->stop);
			continue;
		}
		if (space == 0) {
			/* The client is not reading completions: wait for it, never
			 * overwrite an unread one. */
			if (!cq_wait_start)
				cq_wait_start = hpci_now_ns();
			if (draining && hpci_now_ns() - cq_wait_start > DRAIN_CQ_PATIENCE_NS)
				return "client stopped reading completions during shutdown";
			hpci_ring_wait_change(&s->cq.ctl->head, &s->cq.ctl->head_sleepers,
					      s->cq.pos - hpci_ring_capacity(&s->cq), s->spin_ns,
					      SESSION_SLICE_NS / 10, &s->cancel);
			continue;
		}
		cq_wait_start = 0;

		uint32_t n = (uint32_t)(avail < space ? avail : space);
		for (uint32_t i = 0; i < n; i++) {
			if (flag(&s->cancel))
				return "client gone";
			struct hpc_sqe d;
			memcpy(&d, hpci_ring_slot(&s->sq, 0), sizeof(d));
			/* The copy is what we validate and use: forbid the compiler from
			 * re-reading shared memory the client may be changing. */
			__asm__ __volatile__("" ::: "memory");
			/* Jobs published before the stop began were accepted: they run.
			 * Acquire pairs with the release of draining in hpcd_session_drain,
			 * which makes drain_tail visible. */
			int refuse =
			    flag(&s->draining) && (int32_t)(s->sq.pos - s->drain_tail) >= 0;
			hpci_ring_release(&s->sq, 1);

			struct hpc_cqe c;
			struct job_note note;
			/* The job path's only cost of tracing when none is asked for. */
			int tracing = hpcd_trace_on(s->env->trace);
			run_job(s, &d, &c, refuse, tracing, &note);
			account(s, &d, &c, &note, tracing);
			memcpy(hpci_ring_slot(&s->cq, 0), &c, sizeof(c));
			hpci_ring_publish(&s->cq, 1);
			__atomic_fetch_add(c.status ? &s->jobs_failed : &s->jobs_done, 1,
					   __ATOMIC_RELAXED);
		}
	}
}

/*
 * Create the region and hand it to the client. In the session's own thread:
 * pre-faulting a large arena takes a while, and the event loop must not wait
 * for it. Returns NULL when the session may serve, else why it ends.
 */
static const char *setup(struct hpcd_session *s)
{
	const char *why = NULL;
	struct hpc_region_hdr layout;
	int rc = hpci_region_layout(s->arena_bytes, s->sq_entries, s->cq_entries, &layout);
	if (rc == 0) {
		char name[64];
		snprintf(name, sizeof(name), "hpcd-client-%llu", (unsigned long long)s->id);
		rc = hpci_region_create(&layout, name, 1, &s->region);
	}
	if (rc < 0) {
		hpcd_warn("client %llu (pid %d): cannot create a region of %llu bytes: %s",
			  (unsigned long long)s->id, (int)s->pid,
			  (unsigned long long)s->arena_bytes, strerror(-rc));
		hpci_sock_send(s->reply_fd, HPC_MSG_HELLO_REPLY, rc, NULL, 0, -1);
		return "no region";
	}
	hpci_region_sq(&s->region, &s->sq);
	hpci_region_cq(&s->region, &s->cq);

	/* R: pairs with the check of ready in hpcd_session_cancel/drain. Both
	 * sides store, then load the other's flag, all seq_cst: one of them sees
	 * the other, so a stop that comes now is never missed. */
	__atomic_store_n(&s->ready, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
		hpci_sock_send(s->reply_fd, HPC_MSG_HELLO_REPLY, -ESHUTDOWN, NULL, 0, -1);
		return "stopped before it started";
	}
	struct hpc_hello_reply r;
	memset(&r, 0, sizeof(r));
	r.layout = s->region.layout;
	r.client_id = s->id;
	rc = hpci_sock_send(s->reply_fd, HPC_MSG_HELLO_REPLY, 0, &r, sizeof(r), s->region.fd);
	if (rc < 0)
		why = "could not send the region";
	else
		hpcd_info("client %llu (pid %d uid %d): region of %llu bytes, rings %u/%u",
			  (unsigned long long)s->id, (int)s->pid, (int)s->uid,
			  (unsigned long long)layout.region_size, layout.sq_entries,
			  layout.cq_entries);
	return why;
}

static void *session_main(void *arg)
{
	struct hpcd_session *s = arg;
	const char *why = setup(s);
	close(s->reply_fd);
	s->reply_fd = -1;
	if (!why) {
		if (hpcd_guard_thread_init() < 0)
			hpcd_warn("client %llu: no alternate signal stack; a stack overflow in a "
				  "backend would not be contained",
				  (unsigned long long)s->id);
		why = serve(s);
		hpcd_guard_thread_fini();
	}
	s->exit_reason = why;
	hpcd_world_put(s->world);
	s->world = NULL;
	/* Release pairs with the acquire in the reaper's check of finished. */
	__atomic_store_n(&s->finished, 1, __ATOMIC_RELEASE);
	uint64_t one = 1;
	ssize_t w = write(s->env->reap_fd, &one, sizeof(one));
	(void)w; /* an eventfd write of 1 cannot fail short of overflow */
	return NULL;
}

int hpcd_session_start(const struct hpcd_session_env *env, int conn_fd, uid_t uid, pid_t pid,
		       uint64_t id, uint64_t arena_bytes, uint32_t sq_entries, uint32_t cq_entries,
		       struct hpcd_session **out)
{
	struct hpcd_session *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->env = env;
	s->id = id;
	s->pid = pid;
	s->uid = uid;
	s->region.fd = -1;
	s->arena_bytes = arena_bytes;
	s->sq_entries = sq_entries;
	s->cq_entries = cq_entries;
	s->spin_ns = env->spin_ns;
	/* Our own descriptor of the socket: the event loop may close its own
	 * (client gone) while this thread still sends the reply. */
	s->reply_fd = fcntl(conn_fd, F_DUPFD_CLOEXEC, 0);
	if (s->reply_fd < 0) {
		int rc = -errno;
		free(s);
		return rc;
	}
	s->world = hpcd_current_get(env->current, &s->world_gen);
	int rc = -pthread_create(&s->thread, NULL, session_main, s);
	if (rc < 0) {
		hpcd_world_put(s->world);
		close(s->reply_fd);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* Wake the thread wherever it sleeps, once it has a region to sleep on. */
static void wake(struct hpcd_session *s)
{
	if (!__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST)) /* pairs with R in setup() */
		return;
	hpci_ring_wake_all(&s->sq.ctl->tail);
	hpci_ring_wake_all(&s->cq.ctl->head);
}

void hpcd_session_cancel(struct hpcd_session *s)
{
	__atomic_store_n(&s->cancel, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	wake(s);
}

void hpcd_session_drain(struct hpcd_session *s)
{
	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST)) { /* pairs with R in setup() */
		/* The line between accepted and refused is drawn now, by the event
		 * loop, not whenever the session thread next looks: a client quick
		 * to submit after the stop must not slip its job in. Acquire pairs
		 * with the client's release of the tail. */
		s->drain_tail = __atomic_load_n(&s->sq.ctl->tail, __ATOMIC_ACQUIRE);
	}
	/* Release: makes drain_tail visible to the thread's acquire of draining. */
	__atomic_store_n(&s->draining, 1, __ATOMIC_RELEASE);
	wake(s);
}

void hpcd_session_release(struct hpcd_session *s)
{
	pthread_join(s->thread, NULL);
	if (s->region.base)
		hpcd_backends_forget_region(s->id);
	hpci_region_unmap(&s->region);
}

void hpcd_session_free(struct hpcd_session *s)
{
	free(s->trace_chunks);
	free(s);
}

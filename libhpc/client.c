/*
 * libhpc: the client side of the job path. See include/hpc/client.h.
 */
#include "hpc/client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hpc/wire.h"
#include "ipc/region.h"
#include "ipc/ring.h"
#include "ipc/sock.h"

#define ALLOC_ALIGN 64u
#define DEFAULT_SPIN_US 50u
/* A sleeping waiter looks at the socket this often, to notice a dead daemon. */
#define LIVENESS_SLICE_NS 50000000ll

/* One block of the arena: free or in use. Kept sorted by offset. */
struct block {
	uint64_t off, size;
	int used;
	struct block *next;
};

/*
 * The submitting side (hpc_submit) and the collecting side (hpc_wait,
 * hpc_poll) may run in two threads at once: each ring has one producer and
 * one consumer, and the only words both sides touch are `dead` and the two
 * job counters, each written by one side only (relaxed atomics: they order
 * nothing, the rings do).
 */
struct hpc_client {
	int sock;
	int dead; /* the daemon closed the connection (atomic: either side sets it) */
	struct hpci_region region;
	struct hpci_ring sq; /* we produce */
	struct hpci_ring cq; /* we consume */
	uint64_t spin_ns;
	unsigned submitted; /* jobs queued; written by the submitting side only */
	unsigned completed; /* completions collected; written by the collecting side only */
	uint64_t run_seq;   /* tags hpc_run's jobs */
	struct block *blocks;
};

const char *hpc_default_socket(void)
{
	const char *env = getenv("HPCD_SOCKET");
	return env && *env ? env : HPC_DEFAULT_SOCKET;
}

/* ---- Connection ------------------------------------------------------------- */

int hpc_connect(const char *socket_path, size_t arena_bytes, struct hpc_client **out)
{
	return hpc_connect_opts(socket_path, arena_bytes, NULL, out);
}

int hpc_connect_opts(const char *socket_path, size_t arena_bytes,
		     const struct hpc_connect_opts *opts, struct hpc_client **out)
{
	*out = NULL;
	struct hpc_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->region.fd = -1;
	c->spin_ns = (uint64_t)(opts && opts->spin_us ? opts->spin_us : DEFAULT_SPIN_US) * 1000u;

	int rc = hpci_sock_connect(socket_path ? socket_path : hpc_default_socket());
	if (rc < 0)
		goto fail;
	c->sock = rc;

	struct hpc_hello hello;
	memset(&hello, 0, sizeof(hello));
	hello.arena_bytes = arena_bytes;
	hello.sq_entries = opts ? opts->sq_entries : 0;
	hello.cq_entries = opts ? opts->cq_entries : 0;
	rc = hpci_sock_send(c->sock, HPC_MSG_HELLO, 0, &hello, sizeof(hello), -1);
	/* A daemon that refuses us has said why and hung up: read that first. */
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
		goto fail_sock;

	/* A refusal carries the daemon's reason as text instead of the layout. */
	union {
		struct hpc_hello_reply reply;
		char text[HPC_REFUSAL_MAX];
	} in;
	struct hpc_msg hdr;
	int fd;
	if (opts && opts->err && opts->err_len)
		opts->err[0] = '\0';
	ssize_t n = hpci_sock_recv(c->sock, &hdr, &in, sizeof(in), &fd);
	if (n < 0) {
		rc = n == -ECONNRESET ? -ECONNREFUSED : (int)n;
		goto fail_sock;
	}
	if (hdr.type == HPC_MSG_REPLY && hdr.status < 0) {
		rc = hdr.status; /* refused before the handshake, e.g. -EACCES */
		goto fail_fd;
	}
	if (hdr.type != HPC_MSG_HELLO_REPLY || hdr.status > 0) {
		rc = -EPROTO;
		goto fail_fd;
	}
	if (hdr.status < 0) {
		rc = hdr.status;
		if (opts && opts->err && opts->err_len) {
			size_t k = (size_t)n < opts->err_len - 1 ? (size_t)n : opts->err_len - 1;
			memcpy(opts->err, in.text, k);
			opts->err[k] = '\0';
		}
		goto fail_fd;
	}
	if (n != sizeof(in.reply) || fd < 0) {
		rc = -EPROTO;
		goto fail_fd;
	}
	/* Pre-fault our side too: the client writes operands first. */
	rc = hpci_region_map(fd, &in.reply.layout, 1, &c->region);
	if (rc < 0)
		goto fail_sock; /* hpci_region_map closed fd */
	hpci_region_sq(&c->region, &c->sq);
	hpci_region_cq(&c->region, &c->cq);

	if (c->region.layout.arena_size) {
		c->blocks = calloc(1, sizeof(*c->blocks));
		if (!c->blocks) {
			rc = -ENOMEM;
			hpci_region_unmap(&c->region);
			goto fail_sock;
		}
		c->blocks->size = c->region.layout.arena_size;
	}
	*out = c;
	return 0;

fail_fd:
	if (fd >= 0)
		close(fd);
fail_sock:
	close(c->sock);
fail:
	free(c);
	return rc;
}

void hpc_close(struct hpc_client *c)
{
	if (!c)
		return;
	/* Closing the socket is what tells the daemon; it frees the region. */
	close(c->sock);
	hpci_region_unmap(&c->region);
	for (struct block *b = c->blocks, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(c);
}

/* ---- Arena allocator ------------------------------------------------------------
 * First fit over a sorted list of blocks, in private memory: nothing the
 * allocator relies on lives where the daemon (or a bug writing operands) could
 * change it. */

void *hpc_arena(struct hpc_client *c, size_t *size)
{
	if (size)
		*size = c->region.layout.arena_size;
	return c->region.arena;
}

void *hpc_alloc(struct hpc_client *c, size_t bytes)
{
	if (bytes == 0)
		bytes = 1;
	if (bytes > c->region.layout.arena_size)
		return NULL;
	uint64_t want = ((uint64_t)bytes + ALLOC_ALIGN - 1) & ~(uint64_t)(ALLOC_ALIGN - 1);
	for (struct block *b = c->blocks; b; b = b->next) {
		if (b->used || b->size < want)
			continue;
		if (b->size > want) {
			struct block *rest = malloc(sizeof(*rest));
			if (!rest)
				return NULL;
			rest->off = b->off + want;
			rest->size = b->size - want;
			rest->used = 0;
			rest->next = b->next;
			b->next = rest;
			b->size = want;
		}
		b->used = 1;
		return c->region.arena + b->off;
	}
	return NULL;
}

void hpc_free(struct hpc_client *c, void *p)
{
	if (!p)
		return;
	uint64_t off = (uint64_t)((unsigned char *)p - c->region.arena);
	struct block *prev = NULL;
	for (struct block *b = c->blocks; b; prev = b, b = b->next) {
		if (b->off != off || !b->used)
			continue;
		b->used = 0;
		/* Merge with free neighbours so large blocks come back whole. */
		struct block *n = b->next;
		if (n && !n->used) {
			b->size += n->size;
			b->next = n->next;
			free(n);
		}
		if (prev && !prev->used) {
			prev->size += b->size;
			prev->next = b->next;
			free(b);
		}
		return;
	}
}

/* ---- Jobs -------------------------------------------------------------------------- */

/* Offset of p in the arena, or -EINVAL when it lies outside. */
static int arena_off(const struct hpc_client *c, const void *p, uint64_t *off)
{
	const unsigned char *q = p;
	if (q < c->region.arena || q > c->region.arena + c->region.layout.arena_size)
		return -EINVAL;
	*off = (uint64_t)(q - c->region.arena);
	return 0;
}

static int encode(const struct hpc_client *c, const struct hpc_request *r, struct hpc_sqe *e)
{
	memset(e, 0, sizeof(*e));
	e->user_data = r->user_data;
	e->op = (uint16_t)r->op;
	e->dtype = (uint8_t)r->dtype;
	e->m = r->m;
	e->n = r->n;
	e->k = r->k;
	e->a_gen = r->a_gen;
	e->b_gen = r->b_gen;
	if (r->op == HPC_OP_AXPY)
		e->alpha = r->alpha;
	if (r->op >= HPC_OP__COUNT || r->dtype >= HPC_DTYPE__COUNT)
		return -EINVAL;
	if (r->backend) {
		size_t len = strlen(r->backend);
		if (len > HPC_BACKEND_NAME_MAX)
			return -EINVAL;
		memcpy(e->backend, r->backend, len);
	}
	int rc = 0;
	if (r->a)
		rc = arena_off(c, r->a, &e->a_off);
	if (!rc && r->b)
		rc = arena_off(c, r->b, &e->b_off);
	if (!rc && r->out)
		rc = arena_off(c, r->out, &e->out_off);
	if (!rc && r->timeline && r->timeline_cap) {
		e->flags |= HPC_SQE_TIMELINE;
		e->timeline_cap = r->timeline_cap;
		rc = arena_off(c, r->timeline, &e->timeline_off);
	}
	return rc;
}

/* Has the daemon closed our connection? Checked only when about to sleep. */
static int is_dead(const struct hpc_client *c)
{
	return __atomic_load_n(&c->dead, __ATOMIC_RELAXED);
}

static int daemon_gone(struct hpc_client *c)
{
	if (is_dead(c))
		return 1;
	struct pollfd p = {.fd = c->sock, .events = POLLIN};
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLIN))) {
		char b;
		ssize_t n = recv(c->sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n <= 0 || (p.revents & (POLLHUP | POLLERR)))
			__atomic_store_n(&c->dead, 1, __ATOMIC_RELAXED);
	}
	return is_dead(c);
}

int hpc_submit(struct hpc_client *c, const struct hpc_request *reqs, unsigned n)
{
	if (n == 0)
		return 0;
	for (;;) {
		if (is_dead(c))
			return -EPIPE;
		int64_t space = hpci_ring_free(&c->sq);
		if (space < 0)
			return -EPROTO;
		if (space > 0) {
			unsigned k = n < space ? n : (unsigned)space;
			for (unsigned i = 0; i < k; i++) {
				int rc = encode(c, &reqs[i], hpci_ring_slot(&c->sq, i));
				if (rc < 0) {
					/* Queue the good ones before it; report the bad one
					 * when it is first. */
					if (i == 0)
						return rc;
					k = i;
					break;
				}
			}
			hpci_ring_publish(&c->sq, k);
			__atomic_store_n(&c->submitted, c->submitted + k, __ATOMIC_RELAXED);
			return (int)k;
		}
		/* Back-pressure: the daemon has n jobs of ours queued. */
		int rc = hpci_ring_wait_free(&c->sq, c->spin_ns, LIVENESS_SLICE_NS, NULL);
		if (rc == -ETIMEDOUT && daemon_gone(c))
			return -EPIPE;
	}
}

static void decode(const struct hpc_cqe *e, struct hpc_completion *out)
{
	out->user_data = e->user_data;
	out->status = e->status;
	out->detail = e->detail;
	out->result = e->result;
	out->t_start_ns = e->t_start_ns;
	out->t_end_ns = e->t_end_ns;
	out->timeline_count = e->timeline_count;
}

int hpc_wait(struct hpc_client *c, struct hpc_completion *out, unsigned min, unsigned max,
	     int timeout_ms)
{
	unsigned got = 0;
	uint64_t deadline =
	    timeout_ms < 0 ? UINT64_MAX : hpci_now_ns() + (uint64_t)timeout_ms * 1000000u;
	if (min > max)
		min = max;
	for (;;) {
		int64_t avail = hpci_ring_avail(&c->cq);
		if (avail < 0)
			return -EPROTO;
		unsigned k = (unsigned)avail;
		if (k > max - got)
			k = max - got;
		for (unsigned i = 0; i < k; i++) {
			struct hpc_cqe e;
			memcpy(&e, hpci_ring_slot(&c->cq, i), sizeof(e));
			decode(&e, &out[got + i]);
		}
		if (k) {
			hpci_ring_release(&c->cq, k);
			got += k;
			__atomic_store_n(&c->completed, c->completed + k, __ATOMIC_RELAXED);
		}
		if (got >= min || got == max)
			return (int)got;
		uint64_t now = hpci_now_ns();
		if (now >= deadline)
			return (int)got;
		if (is_dead(c))
			return got ? (int)got : -EPIPE;
		uint64_t left = deadline - now;
		int64_t slice =
		    left < (uint64_t)LIVENESS_SLICE_NS ? (int64_t)left : LIVENESS_SLICE_NS;
		int rc = hpci_ring_wait_avail(&c->cq, c->spin_ns, slice, NULL);
		if (rc == -ETIMEDOUT && daemon_gone(c) && hpci_ring_avail(&c->cq) == 0)
			return got ? (int)got : -EPIPE;
	}
}

int hpc_poll(struct hpc_client *c, struct hpc_completion *out, unsigned max)
{
	return hpc_wait(c, out, 0, max, 0);
}

unsigned hpc_inflight(const struct hpc_client *c)
{
	unsigned s = __atomic_load_n(&c->submitted, __ATOMIC_RELAXED);
	unsigned d = __atomic_load_n(&c->completed, __ATOMIC_RELAXED);
	/* A daemon that completes more than it was given confuses only this count. */
	return (int)(s - d) > 0 ? s - d : 0;
}

int hpc_run(struct hpc_client *c, const struct hpc_request *req, struct hpc_completion *done)
{
	struct hpc_request r = *req;
	/* A tag of our own tells its completion from those of earlier jobs. */
	r.user_data = 0x6870637275000000ull + ++c->run_seq;
	int rc = hpc_submit(c, &r, 1);
	if (rc < 0)
		return rc;
	for (;;) {
		struct hpc_completion comp;
		rc = hpc_wait(c, &comp, 1, 1, -1);
		if (rc < 0)
			return rc;
		if (comp.user_data != r.user_data)
			continue;
		comp.user_data = req->user_data;
		if (done)
			*done = comp;
		return comp.status;
	}
}

/* ---- Control -------------------------------------------------------------------- */

/*
 * One request and its reply on sock: the reply's status, its payload (at
 * most HPC_MSG_MAX) in *payload (malloc'd) of *n bytes. Returns 0 when a
 * reply came (its status in *status), else a negative errno.
 */
static int ask(int sock, uint16_t type, const void *req, size_t req_len, int32_t *status,
	       char **payload, size_t *n)
{
	*payload = NULL;
	int rc = hpci_sock_send(sock, type, 0, req, req_len, -1);
	/* A daemon that refuses us has said why and hung up: read that first. */
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
		return rc;
	char *buf = malloc(HPC_MSG_MAX);
	if (!buf)
		return -ENOMEM;
	struct hpc_msg hdr;
	ssize_t got = hpci_sock_recv(sock, &hdr, buf, HPC_MSG_MAX - sizeof(hdr), NULL);
	if (got < 0) {
		free(buf);
		/* The daemon hangs up on a connection it refuses. */
		return got == -ECONNRESET ? -ECONNREFUSED : (int)got;
	}
	if (hdr.type != HPC_MSG_REPLY || hdr.status > 0) {
		free(buf);
		return -EPROTO;
	}
	*status = hdr.status;
	*payload = buf;
	*n = (size_t)got;
	return 0;
}

/*
 * Fetch a paged reply (hpc/wire.h) with requests of type on sock into a new
 * buffer of *total bytes plus a NUL. A refusal's text goes to *out too, and
 * its status is returned.
 */
static int fetch_pages(int sock, uint16_t type, char **out, uint64_t *total)
{
	*out = NULL;
	*total = 0;
	char *all = NULL;
	uint64_t off = 0, want = 0;
	for (;;) {
		struct hpc_page_req req = {.offset = off};
		int32_t st;
		char *p;
		size_t n;
		int rc = ask(sock, type, &req, sizeof(req), &st, &p, &n);
		if (rc < 0) {
			free(all);
			return rc;
		}
		if (st < 0) { /* the reason, as text */
			free(all);
			p[n < HPC_MSG_MAX ? n : HPC_MSG_MAX - 1] = '\0';
			*out = p;
			*total = n;
			return st;
		}
		struct hpc_page pg;
		if (n < sizeof(pg)) {
			free(p);
			free(all);
			return -EPROTO;
		}
		memcpy(&pg, p, sizeof(pg));
		size_t len = n - sizeof(pg);
		if (off == 0) {
			want = pg.total;
			/* A reply may be large (a trace), but not past what a size_t holds. */
			all = want < SIZE_MAX ? malloc((size_t)want + 1) : NULL;
			if (!all) {
				free(p);
				return -ENOMEM;
			}
		}
		if (pg.offset != off || pg.total != want || len > want - off ||
		    (len == 0 && off < want)) {
			free(p);
			free(all);
			return -EPROTO;
		}
		memcpy(all + off, p + sizeof(pg), len);
		free(p);
		off += len;
		if (off == want)
			break;
	}
	all[want] = '\0';
	*out = all;
	*total = want;
	return 0;
}

int hpc_control_alloc(const char *socket_path, enum hpc_control what, char **text, size_t *len)
{
	*text = NULL;
	*len = 0;
	int sock = hpci_sock_connect(socket_path ? socket_path : hpc_default_socket());
	if (sock < 0)
		return sock;
	int rc;
	if (what == HPC_CTL_METRICS) {
		uint64_t total;
		rc = fetch_pages(sock, HPC_MSG_METRICS, text, &total);
		*len = (size_t)total;
	} else {
		int32_t st;
		size_t n;
		rc = ask(sock, (uint16_t)what, NULL, 0, &st, text, &n);
		if (rc == 0) {
			(*text)[n < HPC_MSG_MAX ? n : HPC_MSG_MAX - 1] = '\0';
			*len = strlen(*text);
			rc = st;
		}
	}
	close(sock);
	return rc;
}

int hpc_control(const char *socket_path, enum hpc_control what, char *buf, size_t len)
{
	if (len)
		buf[0] = '\0';
	if (what == HPC_CTL_METRICS) {
		char *text;
		size_t n;
		int rc = hpc_control_alloc(socket_path, what, &text, &n);
		if (text && len) {
			size_t k = n < len - 1 ? n : len - 1;
			memcpy(buf, text, k);
			buf[k] = '\0';
		}
		free(text);
		return rc;
	}
	int sock = hpci_sock_connect(socket_path ? socket_path : hpc_default_socket());
	if (sock < 0)
		return sock;
	int rc = hpci_sock_send(sock, (uint16_t)what, 0, NULL, 0, -1);
	/* A daemon that refuses us has said why and hung up: read that first. */
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET) {
		close(sock);
		return rc;
	}
	char *text = malloc(HPC_MSG_MAX);
	if (!text) {
		close(sock);
		return -ENOMEM;
	}
	struct hpc_msg hdr;
	ssize_t n = hpci_sock_recv(sock, &hdr, text, HPC_MSG_MAX - sizeof(hdr), NULL);
	close(sock);
	if (n < 0) {
		free(text);
		/* The daemon hangs up on a connection it refuses. */
		return n == -ECONNRESET ? -ECONNREFUSED : (int)n;
	}
	if (hdr.type != HPC_MSG_REPLY || hdr.status > 0) {
		free(text);
		return -EPROTO;
	}
	if (len) {
		size_t k = (size_t)n < len - 1 ? (size_t)n : len - 1;
		memcpy(buf, text, k);
		buf[k] = '\0';
	}
	free(text);
	return hdr.status;
}

/* ---- Traces ---------------------------------------------------------------------- */

struct hpc_tracer {
	int sock;
};

static void copy_msg(char *msg, size_t msg_len, const char *text, size_t n)
{
	if (!msg || !msg_len)
		return;
	size_t k = n < msg_len - 1 ? n : msg_len - 1;
	memcpy(msg, text, k);
	msg[k] = '\0';
}

int hpc_trace_start(const char *socket_path, uint32_t max_jobs, uint32_t max_chunks,
		    struct hpc_tracer **out, char *msg, size_t msg_len)
{
	*out = NULL;
	copy_msg(msg, msg_len, "", 0);
	struct hpc_tracer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->sock = hpci_sock_connect(socket_path ? socket_path : hpc_default_socket());
	if (t->sock < 0) {
		int rc = t->sock;
		free(t);
		return rc;
	}
	struct hpc_trace_start req = {.max_jobs = max_jobs, .max_chunks = max_chunks};
	int32_t st;
	char *p;
	size_t n;
	int rc = ask(t->sock, HPC_MSG_TRACE_START, &req, sizeof(req), &st, &p, &n);
	if (rc == 0) {
		copy_msg(msg, msg_len, p, n);
		free(p);
		rc = st;
	}
	if (rc < 0) {
		hpc_trace_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

int hpc_trace_stop(struct hpc_tracer *t, struct hpc_trace *out, char *msg, size_t msg_len)
{
	memset(out, 0, sizeof(*out));
	copy_msg(msg, msg_len, "", 0);
	int32_t st;
	char *p;
	size_t n;
	int rc = ask(t->sock, HPC_MSG_TRACE_STOP, NULL, 0, &st, &p, &n);
	if (rc < 0)
		return rc;
	copy_msg(msg, msg_len, p, n);
	free(p);
	if (st < 0)
		return st;
	char *all;
	uint64_t total;
	rc = fetch_pages(t->sock, HPC_MSG_TRACE_FETCH, &all, &total);
	if (rc < 0) {
		if (all)
			copy_msg(msg, msg_len, all, (size_t)total);
		free(all);
		return rc;
	}
	/* The stream is the header, the jobs, the chunks: check that it says so. */
	struct hpc_trace_hdr h;
	if (total < sizeof(h)) {
		free(all);
		return -EPROTO;
	}
	memcpy(&h, all, sizeof(h));
	if (h.magic != HPC_TRACE_MAGIC || h.njobs > total / sizeof(struct hpc_trace_rec) ||
	    h.nchunks > total / sizeof(struct hpc_chunk_rec) ||
	    total != sizeof(h) + h.njobs * sizeof(struct hpc_trace_rec) +
			 h.nchunks * sizeof(struct hpc_chunk_rec)) {
		free(all);
		return -EPROTO;
	}
	out->hdr = h;
	size_t jb = (size_t)h.njobs * sizeof(struct hpc_trace_rec);
	size_t cb = (size_t)h.nchunks * sizeof(struct hpc_chunk_rec);
	out->jobs = malloc(jb ? jb : 1);
	out->chunks = malloc(cb ? cb : 1);
	if (!out->jobs || !out->chunks) {
		hpc_trace_free(out);
		free(all);
		return -ENOMEM;
	}
	memcpy(out->jobs, all + sizeof(h), jb);
	memcpy(out->chunks, all + sizeof(h) + jb, cb);
	free(all);
	/* A job's chunk indexes come from the daemon: keep them inside what came. */
	for (uint64_t i = 0; i < h.njobs; i++) {
		struct hpc_trace_rec *r = &out->jobs[i];
		r->backend[sizeof(r->backend) - 1] = '\0';
		r->plugin[sizeof(r->plugin) - 1] = '\0';
		if (r->chunk_first > h.nchunks || r->chunk_count > h.nchunks - r->chunk_first)
			r->chunk_first = r->chunk_count = 0;
	}
	return 0;
}

void hpc_trace_free(struct hpc_trace *tr)
{
	free(tr->jobs);
	free(tr->chunks);
	memset(tr, 0, sizeof(*tr));
}

void hpc_trace_close(struct hpc_tracer *t)
{
	if (!t)
		return;
	close(t->sock);
	free(t);
}

const char *hpc_strerror(int status, uint32_t detail)
{
	switch (detail) {
	case HPC_E_NONE:
		break;
	case HPC_E_BAD_OP:
		return "the job names an unknown operation";
	case HPC_E_BAD_DTYPE:
		return "the job names an unknown element type";
	case HPC_E_BAD_FIELD:
		return "the job descriptor has fields set that its operation does not use";
	case HPC_E_BAD_NAME:
		return "the backend name in the job is not terminated";
	case HPC_E_SIZE_OVERFLOW:
		return "the operand sizes overflow";
	case HPC_E_OUT_OF_REGION:
		return "an operand lies outside the client's shared region";
	case HPC_E_MISALIGNED:
		return "an operand is not aligned to its element size";
	case HPC_E_OVERLAP:
		return "the output overlaps an input";
	case HPC_E_NO_BACKEND:
		return "the daemon has no backend of that name";
	case HPC_E_UNSUPPORTED:
		return "the backend does not support this operation or element type";
	case HPC_E_BACKEND_FAILED:
		return "the backend failed to run the job";
	case HPC_E_SHUTDOWN:
		return "the daemon is shutting down and refused the job";
	case HPC_E_BACKEND_CRASHED:
		return "the backend crashed running the job; the daemon took it out of service";
	case HPC_E_BACKEND_BROKEN:
		return "the backend crashed earlier and is out of service until the daemon reloads "
		       "its config";
	}
	switch (status) {
	case 0:
		return "success";
	case -EPIPE:
		return "the daemon closed the connection";
	case -ECONNREFUSED:
		return "the daemon refused the connection";
	case -E2BIG:
		return "the daemon refused a region that large (see max_arena_mb)";
	case -EUSERS:
		return "the daemon serves as many clients as it allows (see max_clients)";
	case -ENOMEM:
		return "out of memory";
	case -EPROTO:
		return "protocol error between client and daemon";
	default:
		return strerror(-status);
	}
}

/*
 * hpc_mpi_worker - the program every rank of the mpi backend's MPI job runs.
 *
 *   mpirun [flags] -n NP hpc_mpi_worker --socket PATH [--local-mmap 0|1] [--resident N]
 *
 * Rank 0 is the bridge: it connects to the plugin's socket (plugins/mpi/
 * proto.h), receives job requests and the clients' memfds, and broadcasts one
 * fixed-size descriptor per request to every rank (MPI_Ibcast), so that all
 * ranks run the same sequence of collectives - none decides anything alone.
 *
 * Where the operands come from:
 *  - rank 0 maps each client region (the memfd it was sent) and reads and
 *    writes the client's pages directly;
 *  - ranks on rank 0's host that can open rank 0's fd through
 *    /proc/<pid>/fd/<fd> map the region too ("mapped" ranks): they
 *    read their rows of A and write their rows of y in place, and no operand
 *    travels over MPI to them (--local-mmap 0 turns this off);
 *  - every other rank ("remote") gets its rows by MPI_Scatterv and the
 *    broadcast operands by MPI_Bcast from rank 0, over a communicator of
 *    rank 0 and the remote ranks, and sends its rows of the output back with
 *    MPI_Gatherv.
 *
 * Resident operands: an input whose client generation is not 0 is kept on the
 * remote ranks in one of --resident slots, keyed (region, offset, shape,
 * dtype, kind, generation); a later job naming the same key skips sending it.
 * Rank 0 alone keeps the directory (LRU) and names in each descriptor which
 * slot an operand uses and whether it must be sent. A job's output drops any
 * slot it overlaps, and FORGET drops everything of a region.
 *
 * "Rank 0's host" means the same host identity (host_identity()): host name,
 * kernel boot id and network namespace. A processor name alone is not enough:
 * two containers or namespaces on one kernel may share a name, and a rank in
 * another network namespace could open /proc/<pid>/fd of rank 0 (one kernel,
 * one pid space) although it stands for another host and must take the
 * network path.
 *
 * Rank 0 counts the bytes it sends over MPI to each rank and receives back;
 * every REPLY carries the totals (proto.h), for `hpcrun backends`.
 *
 * Work split: rows of A (matvec, matmul) or elements (dot, sum, axpy) in np
 * nearly equal contiguous parts, the first m % np ranks taking one more;
 * dot and sum partials (in double) are combined with MPI_Reduce.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hpc/types.h"
#include "hpc/ops.h"
#include "kernels/openmp.h"
#include "plugins/base/fdpass.h"
#include "plugins/base/lru.h"
#include "plugins/base/plugin_util.h"
#include "plugins/base/regtab.h"
#include "plugins/mpi/proto.h"

#define MAX_SLOTS HPCB_LRU_MAX

enum kind { K_ROWS = 1, K_FULL = 2 };

/*
 * The client regions this rank maps (struct hpcb_region): rank 0 keeps the
 * memfd the plugin sent open (the other mapped ranks open it through /proc);
 * REGION_SHARED in flags: rank 0 knows they have mapped it too.
 */
#define REGION_SHARED 1u

struct slot_key {
	uint64_t region_id, off, gen, rows, cols;
	uint32_t dtype, kind;
};

/* Rank 0: what a slot holds (W.lru says which are used). Remote ranks: its buffer. */
struct slot {
	struct slot_key key;
	void *buf;
	size_t bytes;
};

/* What rank 0 broadcasts for every request: every rank acts on this alone. */
struct bdesc {
	int32_t type; /* enum hpc_mpi_msg */
	int32_t op, dtype;
	int32_t new_region; /* mapped ranks map the region before the job */
	int32_t owner_pid, owner_fd;
	int32_t a_slot, a_send, b_slot, b_send; /* slot -1: scratch; send: data moves */
	uint64_t m, n, k;
	double alpha;
	uint64_t region_id, region_size, arena_off, a_off, b_off, out_off;
	uint64_t drop_mask; /* FORGET: slots the remote ranks free */
};

static struct {
	int rank, np;
	int mapped; /* this rank reads the regions directly */
	int nmapped, nlocal;
	MPI_Comm remote; /* rank 0 and the ranks that do not map; else MPI_COMM_NULL */
	int nremote;
	int *remote_world; /* world rank of each rank of remote */
	struct hpcb_regtab regions;
	struct slot slots[MAX_SLOTS];
	int nslots;
	struct hpcb_lru lru; /* rank 0: the directory of the slots */
	void *scratch[3];
	size_t scratch_bytes[3];
	int sock;
	uint64_t seq;                    /* rank 0: the request being run, for STARTED */
	uint64_t *sent;                  /* rank 0: bytes sent over MPI to each world rank */
	uint64_t sent_total, recv_total; /* rank 0 */
	unsigned sleep_ms; /* test seam: HPC_MPI_WORKER_SLEEP_MS, a pause in every job */
	char errmsg[192];
} W = {.sock = -1};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "hpc_mpi_worker rank %d: ", W.rank);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* The reason a job failed, for the reply (rank 0) and the log. */
static void job_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void job_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(W.errmsg, sizeof(W.errmsg), fmt, ap);
	va_end(ap);
}

/* ---- regions ------------------------------------------------------------------ */

/* A mapped rank other than 0: open rank 0's fd through /proc and map it. */
static int region_map_peer(uint64_t id, int pid, int fd, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	int f = open(path, O_RDWR | O_CLOEXEC);
	if (f < 0)
		return -errno;
	return hpcb_regtab_map(&W.regions, id, f, size, false);
}

/* ---- resident slots (directory on rank 0) ---------------------------------------- */

static int key_eq(const struct slot_key *a, const struct slot_key *b)
{
	return a->region_id == b->region_id && a->off == b->off && a->gen == b->gen &&
	       a->rows == b->rows && a->cols == b->cols && a->dtype == b->dtype &&
	       a->kind == b->kind;
}

static bool slot_is(void *ctx, unsigned slot, const void *key)
{
	return key_eq(&W.slots[slot].key, key);
}

/*
 * Rank 0: decide where an input goes. gen 0 (or no slots, or nobody to send
 * to) uses scratch and is always sent. *pinned holds the slots this job uses
 * already, which must not be evicted by its other operand.
 */
static void slot_choose(const struct slot_key *key, int32_t *slot, int32_t *send, uint64_t *pinned)
{
	*slot = -1;
	*send = W.nremote > 1;
	if (!*send || key->gen == 0)
		return;
	int s = hpcb_lru_find(&W.lru, slot_is, key);
	if (s >= 0) {
		*send = 0;
	} else {
		/* A miss: a free slot, else the least recently used one this job does not hold. */
		s = hpcb_lru_insert(&W.lru, 0, *pinned);
		if (s < 0)
			return;
		W.slots[s].key = *key;
	}
	*slot = s;
	*pinned |= 1ull << s;
}

/* Bytes [off, off + bytes) of a region. */
struct region_span {
	uint64_t region_id, off, bytes;
};

static bool slot_overlaps(void *ctx, unsigned slot, const void *span)
{
	const struct region_span *w = span;
	const struct slot_key *k = &W.slots[slot].key;
	uint64_t sb = k->rows * k->cols * hpc_dtype_size(k->dtype);
	return k->region_id == w->region_id && k->off < w->off + w->bytes && w->off < k->off + sb;
}

static bool slot_in_region(void *ctx, unsigned slot, const void *region_id)
{
	return W.slots[slot].key.region_id == *(const uint64_t *)region_id;
}

/* Remote ranks: a buffer of at least bytes for slot i (or scratch j when i < 0). */
static void *buffer(int slot, int scratch, size_t bytes, int fresh)
{
	void **p;
	size_t *have;
	if (slot >= 0) {
		p = &W.slots[slot].buf;
		have = &W.slots[slot].bytes;
	} else {
		p = &W.scratch[scratch];
		have = &W.scratch_bytes[scratch];
	}
	if (!bytes)
		bytes = 1;
	if (*have >= bytes && !(slot >= 0 && fresh && *have > 2 * bytes))
		return *p;
	free(*p);
	*p = NULL;
	*have = 0;
	if (posix_memalign(p, 64, bytes) != 0) {
		*p = NULL;
		return NULL;
	}
	*have = bytes;
	return *p;
}

static void send_reply(struct hpc_mpi_reply *rep);

/* Rank 0: tell the plugin the job has begun on every rank (proto.h, STARTED). */
static void send_started(void)
{
	struct hpc_mpi_reply st;
	memset(&st, 0, sizeof(st));
	st.type = HPC_MPI_STARTED;
	st.seq = W.seq;
	send_reply(&st);
}

/* ---- one job on every rank --------------------------------------------------------- */

/* Part `r` of `total` items over np ranks: the first total % np take one more. */
static void part(uint64_t total, int r, uint64_t *first, uint64_t *count)
{
	uint64_t q = total / (uint64_t)W.np, rem = total % (uint64_t)W.np;
	*first = (uint64_t)r * q + ((uint64_t)r < rem ? (uint64_t)r : rem);
	*count = q + ((uint64_t)r < rem ? 1 : 0);
}

/* Counts and displacements (in rows) over the remote communicator; rank 0 takes none. */
static void remote_counts(uint64_t total, int *counts, int *displs)
{
	for (int i = 0; i < W.nremote; i++) {
		uint64_t f, c;
		part(total, W.remote_world[i], &f, &c);
		counts[i] = i == 0 ? 0 : (int)c;
		displs[i] = (int)f;
	}
}

static size_t et_size(MPI_Datatype et)
{
	return et == MPI_DOUBLE ? 8 : 4;
}

/* Rank 0: bytes went over MPI to world rank r. */
static void count_sent(int r, uint64_t bytes)
{
	if (W.sent && r > 0 && r < W.np)
		W.sent[r] += bytes;
	W.sent_total += bytes;
}

static MPI_Datatype row_type(MPI_Datatype et, uint64_t cols)
{
	if (cols == 1)
		return et;
	MPI_Datatype t;
	MPI_Type_contiguous((int)cols, et, &t);
	MPI_Type_commit(&t);
	return t;
}

static void row_type_free(MPI_Datatype t, MPI_Datatype et)
{
	if (t != et)
		MPI_Type_free(&t);
}

/* Scatter rows [of total, cols wide] from rank 0's src to each remote rank's dst. */
static void scatter_rows(const void *src, void *dst, uint64_t total, uint64_t cols, MPI_Datatype et,
			 int *counts, int *displs)
{
	if (total == 0 || cols == 0)
		return;
	MPI_Datatype rt = row_type(et, cols);
	remote_counts(total, counts, displs);
	uint64_t f, c;
	part(total, W.rank, &f, &c);
	MPI_Scatterv(W.rank == 0 ? src : NULL, counts, displs, rt, dst, W.rank == 0 ? 0 : (int)c,
		     rt, 0, W.remote);
	row_type_free(rt, et);
	if (W.rank == 0)
		for (int i = 1; i < W.nremote; i++)
			count_sent(W.remote_world[i], (uint64_t)counts[i] * cols * et_size(et));
}

static void gather_rows(const void *src, void *dst, uint64_t total, uint64_t cols, MPI_Datatype et,
			int *counts, int *displs)
{
	if (total == 0 || cols == 0)
		return;
	MPI_Datatype rt = row_type(et, cols);
	remote_counts(total, counts, displs);
	uint64_t f, c;
	part(total, W.rank, &f, &c);
	MPI_Gatherv(W.rank == 0 ? MPI_IN_PLACE : src, W.rank == 0 ? 0 : (int)c, rt, dst, counts,
		    displs, rt, 0, W.remote);
	row_type_free(rt, et);
	if (W.rank == 0)
		for (int i = 1; i < W.nremote; i++)
			W.recv_total += (uint64_t)counts[i] * cols * et_size(et);
}

static double dot_part(const void *x, const void *y, uint64_t n, int dtype)
{
	if (dtype == HPC_F64)
		return hpc_omp_dot_f64(x, y, n, 1);
	/* f32: products of floats are exact in double; four accumulators, no rounding to float. */
	const float *a = x, *b = y;
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	uint64_t i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += (double)a[i] * b[i];
		s1 += (double)a[i + 1] * b[i + 1];
		s2 += (double)a[i + 2] * b[i + 2];
		s3 += (double)a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += (double)a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

static double sum_part(const void *x, uint64_t n, int dtype)
{
	if (dtype == HPC_F64)
		return hpc_omp_sum_f64(x, n, 1);
	const float *a = x;
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	uint64_t i = 0;
	for (; i + 4 <= n; i += 4) {
		s0 += a[i];
		s1 += a[i + 1];
		s2 += a[i + 2];
		s3 += a[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i];
	return (s0 + s1) + (s2 + s3);
}

/*
 * Run one job on this rank. Every rank calls it with the same descriptor and
 * makes the same collectives in the same order. Returns 0 or a negative errno
 * (the same on every rank, agreed before any data moves); rank 0 also gets
 * the scalar result in *result.
 */
static int run_job(const struct bdesc *d, double *result)
{
	const int f64 = d->dtype == HPC_F64;
	const size_t es = f64 ? 8 : 4;
	const MPI_Datatype et = f64 ? MPI_DOUBLE : MPI_FLOAT;
	const int in_remote = W.remote != MPI_COMM_NULL;
	const int moves = W.nremote > 1; /* some rank gets its data over MPI */

	/* Shapes: rows of the split operand, its width, the broadcast operand, the output width. */
	uint64_t rows, a_cols, b_elems = 0, out_cols = 0;
	int b_split = 0;
	switch (d->op) {
	case HPC_OP_MATVEC:
		rows = d->m;
		a_cols = d->n;
		b_elems = d->n;
		out_cols = 1;
		break;
	case HPC_OP_MATMUL:
		rows = d->m;
		a_cols = d->k;
		b_elems = d->k * d->n;
		out_cols = d->n;
		break;
	case HPC_OP_DOT:
		rows = d->n;
		a_cols = 1;
		b_split = 1;
		break;
	case HPC_OP_SUM:
		rows = d->n;
		a_cols = 1;
		break;
	case HPC_OP_AXPY:
		rows = d->n;
		a_cols = 1;
		out_cols = 1;
		break;
	default:
		return -EOPNOTSUPP;
	}
	uint64_t first, cnt;
	part(rows, W.rank, &first, &cnt);
	const int has_b = d->op != HPC_OP_SUM && d->op != HPC_OP_AXPY;

	/* Phase 1: mappings and buffers, then agree that every rank is ready. */
	int ok = 1;
	const struct hpcb_region *reg = NULL;
	if (W.mapped) {
		if (d->new_region && W.rank != 0) {
			int rc = region_map_peer(d->region_id, d->owner_pid, d->owner_fd,
						 d->region_size);
			if (rc < 0) {
				logf_("cannot map region %llu from /proc/%d/fd/%d: %s",
				      (unsigned long long)d->region_id, d->owner_pid, d->owner_fd,
				      strerror(-rc));
				ok = 0;
			}
		}
		reg = hpcb_regtab_find(&W.regions, d->region_id);
		if (ok && !reg) {
			logf_("region %llu is not mapped here", (unsigned long long)d->region_id);
			ok = 0;
		}
	}
	const unsigned char *arena = reg ? reg->base + d->arena_off : NULL;
	const void *a = NULL, *b = NULL;
	void *out = NULL;
	if (W.mapped) {
		a = arena + d->a_off + first * a_cols * es;
		if (has_b)
			b = arena + d->b_off + (b_split ? first * es : 0);
		if (out_cols)
			out = (void *)(arena + d->out_off + first * out_cols * es);
	} else {
		a = buffer(d->a_slot, 0, cnt * a_cols * es, d->a_send);
		if (has_b)
			b = buffer(d->b_slot, 1, (b_split ? cnt : b_elems) * es, d->b_send);
		if (out_cols)
			out = buffer(-1, 2, cnt * out_cols * es, 0);
		if (!a || (has_b && !b) || (out_cols && !out)) {
			logf_("out of memory for a job's operands");
			ok = 0;
		}
	}
	/* Every rank takes the same branch here: the condition is the same everywhere. */
	if (W.np > 1) {
		int all = 0;
		MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
		if (!all) {
			if (W.rank != 0 && d->new_region)
				hpcb_regtab_drop(&W.regions, d->region_id);
			job_err("a rank could not %s (see the mpirun log)",
				d->new_region ? "map the client's region"
					      : "allocate its operands");
			return d->new_region ? -EIO : -ENOMEM;
		}
	} else if (!ok) {
		return -EIO;
	}
	/* Every rank is alive and holds the job; no output has been written yet. */
	if (W.rank == 0)
		send_started();

	/* Phase 2: send what the remote ranks lack. */
	int *counts = NULL, *displs = NULL;
	if (moves && in_remote) {
		counts = malloc(sizeof(int) * (size_t)W.nremote);
		displs = malloc(sizeof(int) * (size_t)W.nremote);
		if (!counts || !displs)
			MPI_Abort(MPI_COMM_WORLD, 12); /* cannot agree on a way out: end the job */
		if (d->a_send)
			scatter_rows(arena ? arena + d->a_off : NULL, (void *)a, rows, a_cols, et,
				     counts, displs);
		if (has_b && d->b_send && (b_split ? rows : b_elems) > 0) {
			if (b_split) {
				scatter_rows(arena ? arena + d->b_off : NULL, (void *)b, rows, 1,
					     et, counts, displs);
			} else {
				/* b_elems = k*n may pass INT_MAX: send whole rows of n. */
				uint64_t bc = d->op == HPC_OP_MATMUL ? d->n : 1;
				MPI_Datatype rt = row_type(et, bc);
				void *buf = W.rank == 0 ? (void *)(arena + d->b_off) : (void *)b;
				MPI_Bcast(buf, (int)(b_elems / bc), rt, 0, W.remote);
				row_type_free(rt, et);
				if (W.rank == 0)
					for (int i = 1; i < W.nremote; i++)
						count_sent(W.remote_world[i], b_elems * es);
			}
		}
		if (d->op == HPC_OP_AXPY) /* y is an input too */
			scatter_rows(arena ? arena + d->out_off : NULL, out, rows, 1, et, counts,
				     displs);
	}

	/* Phase 3: this rank's share. */
	if (W.sleep_ms) {
		struct timespec ts = {W.sleep_ms / 1000, (long)(W.sleep_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	double partial = 0;
	switch (d->op) {
	case HPC_OP_MATVEC:
		if (f64)
			hpc_omp_matvec_f64(a, b, out, cnt, d->n, 1);
		else
			hpc_omp_matvec_f32(a, b, out, cnt, d->n, 1);
		break;
	case HPC_OP_MATMUL:
		if (f64)
			hpc_omp_matmul_f64(a, b, out, cnt, d->n, d->k, 1);
		else
			hpc_omp_matmul_f32(a, b, out, cnt, d->n, d->k, 1);
		break;
	case HPC_OP_DOT:
		partial = dot_part(a, b, cnt, d->dtype);
		break;
	case HPC_OP_SUM:
		partial = sum_part(a, cnt, d->dtype);
		break;
	case HPC_OP_AXPY:
		if (f64)
			hpc_omp_axpy_f64(d->alpha, a, out, cnt, 1);
		else
			hpc_omp_axpy_f32(d->alpha, a, out, cnt, 1);
		break;
	}

	/* Phase 4: results to rank 0. */
	if (out_cols && moves && in_remote)
		gather_rows(out, arena ? (void *)(arena + d->out_off) : NULL, rows, out_cols, et,
			    counts, displs);
	free(counts);
	free(displs);
	if (d->op == HPC_OP_DOT || d->op == HPC_OP_SUM) {
		double total = 0;
		MPI_Reduce(&partial, &total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
		/* f32 results are rounded to float once, at the end. */
		*result = f64 ? total : (double)(float)total;
	} else if (W.nmapped > 1) {
		/* Mapped ranks wrote their rows in place: rank 0 answers only after them. */
		MPI_Barrier(MPI_COMM_WORLD);
	}
	return 0;
}

/* ---- rank 0: the plugin's side ------------------------------------------------------ */

static int recv_req(struct hpc_mpi_req *req, int *fd)
{
	ssize_t n = hpcb_fd_recv(W.sock, req, sizeof(*req), fd, 0);
	if (n <= 0)
		return n == 0 ? -EPIPE : (int)n;
	if ((size_t)n != sizeof(*req) || req->magic != HPC_MPI_MAGIC) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	return 0;
}

static void send_reply(struct hpc_mpi_reply *rep)
{
	rep->magic = HPC_MPI_MAGIC;
	ssize_t n;
	do
		n = send(W.sock, rep, sizeof(*rep), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	/* A plugin that went away is noticed at the next recv. */
}

/* Rank 0: the byte counters, into a REPLY. */
static void fill_counts(struct hpc_mpi_reply *rep)
{
	for (int i = 1; i < W.np && i <= HPC_MPI_COUNTED_RANKS; i++)
		rep->sent[i - 1] = W.sent[i];
	rep->sent_total = W.sent_total;
	rep->recv_total = W.recv_total;
}

/* Whether [off, off + bytes) of the arena lies inside the mapping. */
static int in_region(const struct hpcb_region *r, uint64_t arena_off, uint64_t off, uint64_t bytes)
{
	uint64_t end;
	return !__builtin_add_overflow(arena_off, off, &end) &&
	       !__builtin_add_overflow(end, bytes, &end) && end <= r->size;
}

/* Rank 0: turn a JOB request into a descriptor. Returns 0, or a negative errno to reply. */
static int prepare_job(const struct hpc_mpi_req *q, int fd, struct bdesc *d, uint32_t *flags)
{
	if (fd >= 0) {
		int rc = hpcb_regtab_map(&W.regions, q->region_id, fd, q->region_size, true);
		if (rc < 0) {
			job_err("rank 0 cannot map the client's region: %s", strerror(-rc));
			return rc;
		}
	}
	const struct hpcb_region *r = hpcb_regtab_find(&W.regions, q->region_id);
	if (!r) {
		job_err("rank 0 does not hold region %llu", (unsigned long long)q->region_id);
		return -ESTALE;
	}
	*flags |= HPC_MPI_REGION_HELD;
	size_t es = hpc_dtype_size(q->dtype);
	if (!hpc_op_name(q->op) || !es) {
		job_err("unknown op or element type");
		return -EOPNOTSUPP;
	}
	if (q->m > INT_MAX || q->n > INT_MAX || q->k > INT_MAX) {
		job_err("a dimension is larger than MPI counts allow (%d)", INT_MAX);
		return -EOVERFLOW;
	}
	/* The daemon validated the job against the arena; check again against the mapping,
	 * with the op table's overflow-checked extents (hpc/ops.h). */
	uint64_t el[HPC_ARG__COUNT] = {0}, by[HPC_ARG__COUNT] = {0};
	const int wrap = hpc_op_extents(q->op, q->m, q->n, q->k, es, el, by) < 0;
	const uint64_t nb = el[HPC_ARG_B], nout = el[HPC_ARG_OUT];
	const uint64_t ba = by[HPC_ARG_A], bb = by[HPC_ARG_B], bout = by[HPC_ARG_OUT];
	if (wrap || !in_region(r, q->arena_off, q->a_off, ba) ||
	    (nb && !in_region(r, q->arena_off, q->b_off, bb)) ||
	    (nout && !in_region(r, q->arena_off, q->out_off, bout))) {
		job_err("an operand lies outside the client's region");
		return -ERANGE;
	}

	memset(d, 0, sizeof(*d));
	d->type = HPC_MPI_JOB;
	d->op = (int32_t)q->op;
	d->dtype = (int32_t)q->dtype;
	d->m = q->m;
	d->n = q->n;
	d->k = q->k;
	d->alpha = q->alpha;
	d->region_id = q->region_id;
	d->region_size = r->size;
	d->arena_off = q->arena_off;
	d->a_off = q->a_off;
	d->b_off = q->b_off;
	d->out_off = q->out_off;
	d->new_region = W.nmapped > 1 && !(r->flags & REGION_SHARED);
	d->owner_pid = (int32_t)getpid();
	d->owner_fd = r->fd;

	/* Where the inputs come from on the remote ranks. */
	uint64_t pinned = 0;
	struct slot_key ka = {.region_id = q->region_id,
			      .off = q->a_off,
			      .gen = q->a_gen,
			      .dtype = q->dtype,
			      .kind = K_ROWS};
	struct slot_key kb = {
	    .region_id = q->region_id, .off = q->b_off, .gen = q->b_gen, .dtype = q->dtype};
	switch (q->op) {
	case HPC_OP_MATVEC:
		ka.rows = q->m;
		ka.cols = q->n;
		kb.rows = 1;
		kb.cols = q->n;
		kb.kind = K_FULL;
		break;
	case HPC_OP_MATMUL:
		ka.rows = q->m;
		ka.cols = q->k;
		kb.rows = q->k;
		kb.cols = q->n;
		kb.kind = K_FULL;
		break;
	default:
		ka.rows = q->n;
		ka.cols = 1;
		kb.rows = q->n;
		kb.cols = 1;
		kb.kind = K_ROWS;
		break;
	}
	slot_choose(&ka, &d->a_slot, &d->a_send, &pinned);
	d->b_slot = -1;
	d->b_send = 0;
	if (nb)
		slot_choose(&kb, &d->b_slot, &d->b_send, &pinned);
	if (d->a_slot >= 0 && !d->a_send)
		*flags |= HPC_MPI_A_RESIDENT;
	if (nb && d->b_slot >= 0 && !d->b_send)
		*flags |= HPC_MPI_B_RESIDENT;
	return 0;
}

/* Rank 0 after a job: what the directory must forget. */
static void finish_job(const struct bdesc *d, int rc)
{
	if (rc < 0) {
		if (d->a_slot >= 0 && d->a_send)
			hpcb_lru_drop(&W.lru, (unsigned)d->a_slot);
		if (d->b_slot >= 0 && d->b_send)
			hpcb_lru_drop(&W.lru, (unsigned)d->b_slot);
		return;
	}
	struct hpcb_region *r = hpcb_regtab_find(&W.regions, d->region_id);
	if (r && d->new_region)
		r->flags |= REGION_SHARED;
	size_t es = hpc_dtype_size((uint32_t)d->dtype);
	uint64_t nout = d->op == HPC_OP_MATVEC   ? d->m
			: d->op == HPC_OP_MATMUL ? d->m * d->n
			: d->op == HPC_OP_AXPY   ? d->n
						 : 0;
	/* The job wrote [out_off, + nout * es): slots over it are stale. */
	const struct region_span out = {d->region_id, d->out_off, nout * es};
	if (nout)
		hpcb_lru_drop_if(&W.lru, slot_overlaps, &out);
}

/* ---- start-up --------------------------------------------------------------------- */

/*
 * What makes two ranks "on the same host" (same memory, same /proc): the host
 * name, the kernel's boot id (another machine, or this one after a reboot,
 * has another) and the network namespace (another netns on this kernel is
 * another host as far as the network path is concerned: test hosts, or
 * containers).
 */
static void host_identity(char *buf, size_t len)
{
	char name[256] = "", boot[64] = "";
	gethostname(name, sizeof(name) - 1);
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, boot, sizeof(boot) - 1);
		boot[n > 0 ? n : 0] = 0;
		close(fd);
		boot[strcspn(boot, "\n")] = 0;
	}
	struct stat st;
	unsigned long long dev = 0, ino = 0;
	if (stat("/proc/self/ns/net", &st) == 0) {
		dev = (unsigned long long)st.st_dev;
		ino = (unsigned long long)st.st_ino;
	}
	snprintf(buf, len, "%s|%s|%llx:%llx", name, boot, dev, ino);
}

/*
 * Decide which ranks map client regions: those on rank 0's host (the same
 * host_identity()) that can open a probe memfd of rank 0's through /proc,
 * when local_mmap allows it.
 */
static void find_mapped_ranks(int local_mmap)
{
	char me[MPI_MAX_PROCESSOR_NAME + 1] = "";
	int len = 0;
	MPI_Get_processor_name(me, &len);
	char ident[384] = "", root[384] = "";
	host_identity(ident, sizeof(ident));
	memcpy(root, ident, sizeof(root));
	MPI_Bcast(root, sizeof(root), MPI_CHAR, 0, MPI_COMM_WORLD);
	int local = strcmp(ident, root) == 0;

	int probe[2] = {-1, (int)getpid()};
	unsigned char *pmap = NULL;
	if (W.rank == 0) {
		probe[0] = memfd_create("hpc-mpi-probe", MFD_CLOEXEC);
		if (probe[0] >= 0 && ftruncate(probe[0], 4096) == 0) {
			pmap = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, probe[0], 0);
			if (pmap != MAP_FAILED)
				memcpy(pmap, "hpc-mpi-probe", 14);
		}
	}
	MPI_Bcast(probe, 2, MPI_INT, 0, MPI_COMM_WORLD);
	int mapped = W.rank == 0;
	if (W.rank != 0 && local && local_mmap && probe[0] >= 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", probe[1], probe[0]);
		int f = open(path, O_RDWR | O_CLOEXEC);
		if (f >= 0) {
			void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, f, 0);
			if (p != MAP_FAILED) {
				mapped = memcmp(p, "hpc-mpi-probe", 14) == 0;
				munmap(p, 4096);
			}
			close(f);
		}
		if (!mapped)
			logf_("cannot map rank 0's memory through %s: operands will come over MPI",
			      path);
	}
	MPI_Barrier(MPI_COMM_WORLD); /* everyone is done with the probe */
	if (W.rank == 0) {
		if (pmap && pmap != MAP_FAILED)
			munmap(pmap, 4096);
		if (probe[0] >= 0)
			close(probe[0]);
	}
	W.mapped = mapped;
	MPI_Allreduce(&mapped, &W.nmapped, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	MPI_Allreduce(&local, &W.nlocal, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);

	int color = (W.rank == 0 || !mapped) ? 0 : MPI_UNDEFINED;
	MPI_Comm_split(MPI_COMM_WORLD, color, W.rank, &W.remote);
	W.nremote = 0;
	if (W.remote != MPI_COMM_NULL) {
		MPI_Comm_size(W.remote, &W.nremote);
		W.remote_world = calloc((size_t)W.nremote, sizeof(int));
		if (!W.remote_world)
			MPI_Abort(MPI_COMM_WORLD, 12);
		MPI_Allgather(&W.rank, 1, MPI_INT, W.remote_world, 1, MPI_INT, W.remote);
	}
	MPI_Bcast(&W.nremote, 1, MPI_INT, 0, MPI_COMM_WORLD);

	/* Rank 0's HELLO names the hosts: gather every processor name. */
	char *names = NULL;
	if (W.rank == 0)
		names = calloc((size_t)W.np, sizeof(me));
	MPI_Gather(me, sizeof(me), MPI_CHAR, names, sizeof(me), MPI_CHAR, 0, MPI_COMM_WORLD);
	if (W.rank == 0 && names) {
		size_t used = 0;
		W.errmsg[0] = 0;
		for (int i = 0; i < W.np; i++) {
			const char *h = names + (size_t)i * sizeof(me);
			int seen = 0, count = 0;
			for (int j = 0; j < W.np; j++) {
				const char *o = names + (size_t)j * sizeof(me);
				if (strcmp(h, o) == 0) {
					if (j < i)
						seen = 1;
					count++;
				}
			}
			if (seen)
				continue;
			int w = snprintf(W.errmsg + used, sizeof(W.errmsg) - used, "%s%s x%d",
					 used ? ", " : "", h, count);
			if (w < 0 || (size_t)w >= sizeof(W.errmsg) - used)
				break;
			used += (size_t)w;
		}
	}
	free(names);
}

static int connect_plugin(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(s);
		return e;
	}
	W.sock = s;
	return 0;
}

/*
 * Ranks other than 0 wait for the next descriptor here. Open MPI's blocking
 * collectives spin, and an idle backend must not hold a core: spin briefly
 * (back-to-back jobs), then sleep in growing steps up to 1 ms.
 */
static void wait_quietly(MPI_Request *req)
{
	int done = 0;
	uint64_t t0 = hpcb_now_ns();
	long sleep_ns = 20000;
	for (;;) {
		MPI_Test(req, &done, MPI_STATUS_IGNORE);
		if (done)
			return;
		if (hpcb_now_ns() - t0 < 200000)
			continue;
		struct timespec ts = {0, sleep_ns};
		nanosleep(&ts, NULL);
		if (sleep_ns < 1000000)
			sleep_ns *= 2;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: hpc_mpi_worker --socket PATH [--local-mmap 0|1] [--resident N]\n"
			"(started by hpcd's mpi backend through mpirun)\n");
}

int main(int argc, char **argv)
{
	const char *sock_path = NULL;
	int local_mmap = 1, resident = 4;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			sock_path = argv[++i];
		else if (strcmp(argv[i], "--local-mmap") == 0 && i + 1 < argc)
			local_mmap = atoi(argv[++i]) != 0;
		else if (strcmp(argv[i], "--resident") == 0 && i + 1 < argc)
			resident = atoi(argv[++i]);
		else {
			usage();
			return 2;
		}
	}
	if (!sock_path) {
		usage();
		return 2;
	}
	if (resident < 0)
		resident = 0;
	if (resident > MAX_SLOTS)
		resident = MAX_SLOTS;
	W.nslots = resident;
	hpcb_lru_init(&W.lru, (unsigned)W.nslots, SIZE_MAX, NULL, NULL);

	/* Tests make jobs slow with this, to kill a rank or time out mid-job. */
	const char *slow = getenv("HPC_MPI_WORKER_SLEEP_MS");
	W.sleep_ms = slow ? (unsigned)atoi(slow) : 0;

	/* If mpirun (or orted) is killed, the ranks go with it: no orphans. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &W.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &W.np);
	find_mapped_ranks(local_mmap);
	if (W.rank == 0) {
		W.sent = calloc((size_t)W.np, sizeof(*W.sent));
		if (!W.sent)
			MPI_Abort(MPI_COMM_WORLD, 12);
	}

	if (W.rank == 0) {
		int rc = connect_plugin(sock_path);
		if (rc < 0) {
			logf_("cannot connect to the plugin at %s: %s", sock_path, strerror(-rc));
			MPI_Abort(MPI_COMM_WORLD, 3);
		}
		struct hpc_mpi_reply hello = {.type = HPC_MPI_HELLO,
					      .np = (uint32_t)W.np,
					      .nlocal = (uint32_t)W.nlocal,
					      .nmapped = (uint32_t)W.nmapped,
					      .resident = (uint32_t)W.nslots};
		memcpy(hello.msg, W.errmsg, sizeof(hello.msg));
		hello.msg[sizeof(hello.msg) - 1] = 0;
		send_reply(&hello);
	}

	for (;;) {
		struct bdesc d;
		struct hpc_mpi_req q;
		struct hpc_mpi_reply rep;
		int fd = -1;
		memset(&d, 0, sizeof(d));
		if (W.rank == 0) {
			memset(&rep, 0, sizeof(rep));
			int rc = recv_req(&q, &fd);
			if (rc < 0) {
				/* The plugin is gone (or broke the protocol): end the job cleanly.
				 */
				if (rc != -EPIPE)
					logf_("bad request from the plugin: %s", strerror(-rc));
				d.type = HPC_MPI_STOP;
			} else if (q.type == HPC_MPI_STOP) {
				d.type = HPC_MPI_STOP;
			} else if (q.type == HPC_MPI_FORGET) {
				d.type = HPC_MPI_FORGET;
				d.region_id = q.region_id;
				d.drop_mask =
				    hpcb_lru_drop_if(&W.lru, slot_in_region, &q.region_id);
				if (fd >= 0)
					close(fd);
			} else if (q.type == HPC_MPI_JOB) {
				rep.type = HPC_MPI_REPLY;
				rep.seq = q.seq;
				W.seq = q.seq;
				W.errmsg[0] = 0;
				rc = prepare_job(&q, q.has_fd ? fd : -1, &d, &rep.flags);
				if (!q.has_fd && fd >= 0)
					close(fd);
				if (rc < 0) {
					rep.status = rc;
					snprintf(rep.msg, sizeof(rep.msg), "%s", W.errmsg);
					fill_counts(&rep);
					send_reply(&rep);
					continue; /* nothing to broadcast */
				}
			} else {
				if (fd >= 0)
					close(fd);
				logf_("unknown request type %u", q.type);
				continue;
			}
		}
		MPI_Request breq;
		MPI_Ibcast(&d, sizeof(d), MPI_BYTE, 0, MPI_COMM_WORLD, &breq);
		if (W.rank == 0)
			MPI_Wait(&breq, MPI_STATUS_IGNORE);
		else
			wait_quietly(&breq);

		if (d.type == HPC_MPI_STOP)
			break;
		if (d.type == HPC_MPI_FORGET) {
			hpcb_regtab_drop(&W.regions, d.region_id);
			if (!W.mapped)
				for (int i = 0; i < W.nslots; i++)
					if (d.drop_mask & (1ull << i)) {
						free(W.slots[i].buf);
						W.slots[i].buf = NULL;
						W.slots[i].bytes = 0;
					}
			continue;
		}
		double result = 0;
		W.errmsg[0] = 0;
		int rc = run_job(&d, &result);
		if (W.rank == 0) {
			finish_job(&d, rc);
			rep.status = rc;
			rep.result = result;
			fill_counts(&rep);
			snprintf(rep.msg, sizeof(rep.msg), "%s", W.errmsg);
			send_reply(&rep);
		}
	}

	hpcb_regtab_free(&W.regions);
	if (W.remote != MPI_COMM_NULL)
		MPI_Comm_free(&W.remote);
	MPI_Finalize();
	if (W.sock >= 0)
		close(W.sock);
	return 0;
}

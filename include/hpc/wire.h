/*
 * hpc/wire.h - the wire format between clients and the daemon.
 *
 * Two channels:
 *  - a Unix SOCK_SEQPACKET socket for the handshake and control requests
 *    (status, backends, reload); one message per packet, struct hpc_msg first;
 *  - a shared region (a sealed memfd created by the daemon and passed with
 *    SCM_RIGHTS in the reply to HPC_MSG_HELLO) holding a submission ring, a
 *    completion ring and the operand arena.
 *
 * Every struct here is plain data: fixed-width fields, no pointers, explicit
 * padding, and a static assertion on its size. Offsets of the region's parts
 * are described by the region itself (struct hpc_region_hdr), so a later
 * version can move them without breaking clients that compute pointers from
 * the header.
 *
 * Trust: the daemon never trusts anything the client can write. It keeps its
 * own copy of the layout, its own consumer index for the submission ring and
 * its own producer index for the completion ring, copies each descriptor out
 * of shared memory before validating it, and masks every slot index.
 */
#ifndef HPC_WIRE_H
#define HPC_WIRE_H

#include <stdint.h>

#include "hpc/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__cplusplus)
#define HPC_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define HPC_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

#define HPC_WIRE_VERSION 1
#define HPC_DEFAULT_SOCKET "/tmp/hpcd.sock"
#define HPC_CACHELINE 64

/* ---- Control socket messages ------------------------------------------ */

#define HPC_MSG_MAGIC 0x48504331u /* "HPC1" */
#define HPC_MSG_MAX 65536         /* largest packet either side sends */

enum hpc_msg_type {
	HPC_MSG_HELLO = 1,       /* c->d: struct hpc_hello; reply carries the region fd */
	HPC_MSG_HELLO_REPLY = 2, /* d->c: struct hpc_hello_reply + SCM_RIGHTS fd */
	HPC_MSG_STATUS = 3,      /* c->d: empty; reply: text */
	HPC_MSG_BACKENDS = 4,    /* c->d: empty; reply: text */
	HPC_MSG_RELOAD = 5,      /* c->d: empty; reply: text (the reason when refused) */
	HPC_MSG_REPLY = 6,       /* d->c: status + text payload */
	/* Appended for issue 15 (observing the daemon); paged replies below. */
	HPC_MSG_METRICS =
	    7, /* c->d: struct hpc_page_req; reply: struct hpc_page + Prometheus text */
	HPC_MSG_TRACE_START = 8, /* c->d: struct hpc_trace_start; reply: text */
	HPC_MSG_TRACE_STOP = 9,  /* c->d: empty; reply: text, once no job is still being recorded */
	HPC_MSG_TRACE_FETCH =
	    10, /* c->d: struct hpc_page_req; reply: struct hpc_page + trace bytes */
};

/* Header of every packet. len counts the payload bytes after the header. */
struct hpc_msg {
	uint32_t magic;
	uint16_t type;
	uint16_t version; /* HPC_WIRE_VERSION */
	uint32_t len;
	int32_t status; /* replies: 0 or a negative errno */
};
HPC_STATIC_ASSERT(sizeof(struct hpc_msg) == 16, "hpc_msg is 16 bytes");

/*
 * Paged replies. A reply can be larger than one packet (HPC_MSG_MAX), so the
 * client asks for it piece by piece on one connection: the request names the
 * byte offset it wants, the reply (HPC_MSG_REPLY, status 0) starts with
 * struct hpc_page and carries the next min(total - offset, HPC_PAGE_MAX)
 * bytes. For METRICS, offset 0 takes a fresh snapshot that the following
 * offsets read, so that the pages of one scrape agree; an empty request
 * means offset 0.
 */
struct hpc_page_req {
	uint64_t offset;
	uint64_t reserved; /* must be 0 */
};
HPC_STATIC_ASSERT(sizeof(struct hpc_page_req) == 16, "hpc_page_req is 16 bytes");

struct hpc_page {
	uint64_t offset; /* of the first byte that follows */
	uint64_t total;  /* bytes of the whole reply */
};
HPC_STATIC_ASSERT(sizeof(struct hpc_page) == 16, "hpc_page is 16 bytes");
#define HPC_PAGE_MAX (HPC_MSG_MAX - 16 - 16) /* after struct hpc_msg and struct hpc_page */

/* Client's request for a region. Zero fields ask for the daemon's defaults. */
struct hpc_hello {
	uint64_t arena_bytes; /* operand space the client needs */
	uint32_t sq_entries;  /* rounded up to a power of two by the daemon */
	uint32_t cq_entries;  /* >= sq_entries; rounded up likewise */
	uint64_t flags;       /* none defined; must be 0 */
	uint64_t reserved[3]; /* must be 0 */
};
HPC_STATIC_ASSERT(sizeof(struct hpc_hello) == 48, "hpc_hello is 48 bytes");

/* ---- Shared region ------------------------------------------------------ */

#define HPC_REGION_MAGIC 0x52435048u /* "HPCR" little-endian */

/*
 * Control words of one single-producer single-consumer ring.
 *
 * head: next slot the consumer will read; written by the consumer only.
 * tail: next slot the producer will write; written by the producer only.
 * Both only increase (mod 2^32); occupancy is (tail - head) in unsigned
 * arithmetic, which stays right across wrap-around because the capacity is a
 * power of two far below 2^32.
 *
 * The *_sleepers words say that a side is about to sleep on the futex of the
 * other side's index, so that the other side knows it must wake it. They sit
 * on the cache line of the index they wait on. See ipc/ring.h for the exact
 * orderings.
 */
struct hpc_ring_ctl {
	uint32_t head;
	uint32_t head_sleepers; /* producers waiting for space (futex on head) */
	uint8_t pad0[HPC_CACHELINE - 8];
	uint32_t tail;
	uint32_t tail_sleepers; /* consumers waiting for entries (futex on tail) */
	uint8_t pad1[HPC_CACHELINE - 8];
};
HPC_STATIC_ASSERT(sizeof(struct hpc_ring_ctl) == 2 * HPC_CACHELINE,
		  "head and tail on separate cache lines");

/*
 * The first bytes of the region. Written by the daemon once before the fd is
 * handed over; clients compute every pointer from it. The daemon never reads
 * it back.
 */
struct hpc_region_hdr {
	uint32_t magic;       /* HPC_REGION_MAGIC */
	uint32_t version;     /* HPC_WIRE_VERSION */
	uint64_t features;    /* none defined yet */
	uint64_t region_size; /* bytes of the whole memfd */
	uint64_t sq_ctl_off;  /* struct hpc_ring_ctl */
	uint64_t sq_ring_off; /* struct hpc_sqe[sq_entries] */
	uint64_t cq_ctl_off;  /* struct hpc_ring_ctl */
	uint64_t cq_ring_off; /* struct hpc_cqe[cq_entries] */
	uint64_t arena_off;   /* operand arena, page aligned */
	uint64_t arena_size;
	uint32_t sq_entries; /* power of two */
	uint32_t cq_entries; /* power of two, >= sq_entries */
	uint64_t reserved[6];
};
HPC_STATIC_ASSERT(sizeof(struct hpc_region_hdr) == 128, "hpc_region_hdr is 128 bytes");

/*
 * Reply to HPC_MSG_HELLO: the layout again (so a client need not trust the
 * header). A refusal (status < 0) carries no fd and, instead of this struct,
 * optionally one sentence of text (at most HPC_REFUSAL_MAX bytes, no NUL)
 * that names the limit reached.
 */
#define HPC_REFUSAL_MAX 512
struct hpc_hello_reply {
	struct hpc_region_hdr layout;
	uint64_t client_id; /* the daemon's number for this connection, for logs */
	uint64_t reserved[3];
};
HPC_STATIC_ASSERT(sizeof(struct hpc_hello_reply) == 160, "hpc_hello_reply is 160 bytes");

/* ---- Descriptors ---------------------------------------------------------- */

/*
 * Submission queue entry: one job. Offsets are byte offsets into the arena,
 * aligned to the element size. Operand roles per op are in hpc/types.h.
 * Unused operand fields and every reserved field must be zero.
 *
 * a_gen / b_gen: the client's generation number for operand a / b. 0 means
 * "unknown, may have changed". A backend that caches operands (mpi, opencl)
 * may reuse what it holds for the same (offset, size, gen) with gen != 0; a
 * client that changes an operand's contents must give it a new generation.
 */
/* hpc_sqe.flags. HPC_SQE_TIMELINE: timeline_off/timeline_cap name a buffer of struct hpc_chunk_rec.
 */
#define HPC_SQE_TIMELINE 0x1u

struct hpc_sqe {
	uint64_t user_data; /* echoed in the completion */
	uint16_t op;        /* enum hpc_op */
	uint8_t dtype;      /* enum hpc_dtype */
	uint8_t flags;      /* HPC_SQE_*; unknown bits must be 0 */
	uint32_t reserved0;
	uint64_t m, n, k;
	uint64_t a_off, b_off, out_off;
	double alpha;
	char backend[HPC_BACKEND_NAME_MAX + 1]; /* NUL-terminated; "" = default */
	uint64_t a_gen, b_gen;
	/* With HPC_SQE_TIMELINE: where the backend may write chunk records
	 * (8-aligned, inside the arena, overlapping no operand); else 0. */
	uint64_t timeline_off;
	uint32_t timeline_cap; /* records the buffer holds */
	uint32_t reserved1;
};
HPC_STATIC_ASSERT(sizeof(struct hpc_sqe) == 128, "hpc_sqe is 128 bytes");

/*
 * Why a job failed, beyond its errno. Lets a client say exactly what was wrong
 * without a string travelling through shared memory.
 */
enum hpc_err_detail {
	HPC_E_NONE = 0,
	HPC_E_BAD_OP,          /* -EINVAL: unknown op */
	HPC_E_BAD_DTYPE,       /* -EINVAL: unknown element type */
	HPC_E_BAD_FIELD,       /* -EINVAL: flags or reserved fields not zero, unused operand set */
	HPC_E_BAD_NAME,        /* -EINVAL: backend name not NUL-terminated */
	HPC_E_SIZE_OVERFLOW,   /* -EOVERFLOW: operand size overflows */
	HPC_E_OUT_OF_REGION,   /* -ERANGE: an operand lies outside the arena */
	HPC_E_MISALIGNED,      /* -EINVAL: operand offset not aligned to its element */
	HPC_E_OVERLAP,         /* -EINVAL: output overlaps an input */
	HPC_E_NO_BACKEND,      /* -ENOENT: no backend of that name (or no default) */
	HPC_E_UNSUPPORTED,     /* -EOPNOTSUPP: backend lacks this op or type */
	HPC_E_BACKEND_FAILED,  /* backend returned an error (status says which) */
	HPC_E_SHUTDOWN,        /* -ESHUTDOWN: daemon stopping, job not run */
	HPC_E_BACKEND_CRASHED, /* -EFAULT: the backend crashed running this job */
	HPC_E_BACKEND_BROKEN, /* -EIO: the backend crashed earlier; out of service until a reload */
	HPC_E__COUNT
};

/* Completion queue entry. */
struct hpc_cqe {
	uint64_t user_data;
	int32_t status;      /* 0 or a negative errno */
	uint32_t detail;     /* enum hpc_err_detail */
	double result;       /* dot and sum; 0 otherwise */
	uint64_t t_start_ns; /* CLOCK_MONOTONIC, when the backend started the job */
	uint64_t t_end_ns;   /* ... and when it finished */
	/* Chunk records the backend made (HPC_SQE_TIMELINE); may exceed the
	 * buffer's capacity, of which only timeline_cap were written. */
	uint32_t timeline_count;
	uint32_t reserved1;
	uint64_t reserved[2];
};
HPC_STATIC_ASSERT(sizeof(struct hpc_cqe) == 64, "hpc_cqe is 64 bytes");

/*
 * One record of a job's timeline: which worker ran which chunk of the job,
 * and when. A client that wants a job's timeline gives a buffer of these in
 * its arena (HPC_SQE_TIMELINE); a backend that splits jobs over workers
 * (forkpool) writes one record per attempt of a chunk. Others write none.
 */
#define HPC_CHUNK_FAILED 0x1u /* the worker died or timed out: this attempt left no result */

struct hpc_chunk_rec {
	uint32_t pid;      /* the worker process that ran it */
	uint16_t worker;   /* the worker's slot, 0 .. workers-1 (a replacement keeps the slot) */
	uint8_t attempt;   /* 1, or 2 when the chunk runs again after a failure */
	uint8_t flags;     /* HPC_CHUNK_* */
	uint32_t chunk;    /* index in the job's chunk order (partials combine in this order) */
	uint32_t reserved; /* 0 */
	uint64_t first;    /* first row (matvec, matmul) or element (dot, sum, axpy) */
	uint64_t count;    /* rows or elements */
	uint64_t start_ns; /* CLOCK_MONOTONIC (system-wide) */
	uint64_t end_ns;
};
HPC_STATIC_ASSERT(sizeof(struct hpc_chunk_rec) == 48, "hpc_chunk_rec is 48 bytes");

/* ---- Traces ------------------------------------------------------------------ */

/*
 * A trace records every job the daemon runs between HPC_MSG_TRACE_START and
 * HPC_MSG_TRACE_STOP, across all clients and backends. One trace at a time;
 * it belongs to the connection that started it (a second START gets -EBUSY)
 * and ends with that connection. After STOP, TRACE_FETCH pages out the
 * trace: struct hpc_trace_hdr, then njobs struct hpc_trace_rec, then
 * nchunks struct hpc_chunk_rec (the jobs' chunk records, which each job
 * indexes). Zero fields of the request take the daemon's defaults; larger
 * ones are cut to its maximum.
 */
struct hpc_trace_start {
	uint32_t max_jobs;    /* job records the trace keeps; later jobs are counted as dropped */
	uint32_t max_chunks;  /* chunk records, likewise */
	uint64_t reserved[3]; /* must be 0 */
};
HPC_STATIC_ASSERT(sizeof(struct hpc_trace_start) == 32, "hpc_trace_start is 32 bytes");

#define HPC_TRACE_MAGIC 0x54435048u /* "HPCT" little-endian */

struct hpc_trace_hdr {
	uint32_t magic;                 /* HPC_TRACE_MAGIC */
	uint32_t version;               /* HPC_WIRE_VERSION */
	uint64_t t_start_ns, t_stop_ns; /* the window, CLOCK_MONOTONIC */
	uint64_t njobs, nchunks;        /* records that follow */
	uint64_t jobs_dropped;          /* jobs that completed in the window but found no room */
	uint64_t chunks_dropped;        /* chunk records likewise */
	uint64_t reserved;
};
HPC_STATIC_ASSERT(sizeof(struct hpc_trace_hdr) == 64, "hpc_trace_hdr is 64 bytes");

/* hpc_trace_rec.flags */
#define HPC_TRACE_CHUNKS_LOST 0x1u /* the backend made more chunk records than were kept */

/*
 * One job of a trace: who asked, where it ran, what, and when. start_ns and
 * end_ns are the completion's t_start_ns / t_end_ns; for a job refused before
 * any backend ran it, both are when it was refused.
 */
struct hpc_trace_rec {
	uint64_t client_id; /* the daemon's number of the connection */
	uint32_t client_pid;
	uint16_t op; /* as submitted (may be invalid when the job was refused) */
	uint8_t dtype;
	uint8_t flags;   /* HPC_TRACE_* */
	int32_t status;  /* the completion's */
	uint32_t detail; /* enum hpc_err_detail */
	uint64_t m, n, k;
	uint64_t start_ns, end_ns;
	uint32_t chunk_first; /* index of its first chunk record in the trace */
	uint32_t chunk_count; /* chunk records kept */
	uint32_t chunks_made; /* chunk records the backend made */
	uint32_t reserved;
	char backend[HPC_BACKEND_NAME_MAX +
		     1]; /* the instance that ran it, else the name asked; NUL-terminated */
	char plugin[HPC_BACKEND_NAME_MAX +
		    1]; /* the instance's plugin, short name; "" when none ran it */
};
HPC_STATIC_ASSERT(sizeof(struct hpc_trace_rec) == 128, "hpc_trace_rec is 128 bytes");

#ifdef __cplusplus
}
#endif

#endif /* HPC_WIRE_H */

/*
 * plugins/forkpool/proto.h - the private protocol between the forkpool
 * plugin (in the daemon) and its worker processes (hpc_forkpool_worker).
 * Do not include from anywhere else.
 *
 * One SOCK_SEQPACKET socketpair per worker; the worker's end is its fd 3.
 * One struct per packet; a packet's type is its first word. Both ends are
 * built from one tree (the plugin finds the worker next to its own file), and
 * the HELLO carries FP_PROTO_VERSION so a stray older worker is refused.
 *
 *   worker -> plugin  FP_HELLO   once, when ready (struct fp_reply: pid)
 *   plugin -> worker  FP_CHUNK   compute one chunk (struct fp_chunk); the
 *                                region's memfd rides along with SCM_RIGHTS
 *                                the first time this worker sees the region
 *   worker -> plugin  FP_DONE    the chunk's status, times and partial
 *   plugin -> worker  FP_FORGET  unmap a region (struct fp_chunk, region_id)
 *   worker -> plugin  FP_FORGOT  done; `mapped` says how many remain
 *
 * EOF on the socket is the end for either side: a worker whose plugin end
 * closes exits; a worker that dies shows up as EOF in the plugin.
 */
#ifndef HPC_FORKPOOL_PROTO_H
#define HPC_FORKPOOL_PROTO_H

#include <stdint.h>

#include "hpc/wire.h" /* HPC_STATIC_ASSERT */

#define FP_PROTO_VERSION 1
#define FP_WORKER_FD 3

enum fp_type {
	FP_HELLO = 1,
	FP_CHUNK = 2,
	FP_DONE = 3,
	FP_FORGET = 4,
	FP_FORGOT = 5,
};

/* flags of struct fp_chunk */
#define FP_HAS_FD 0x1u /* the region's memfd is attached */

struct fp_chunk {
	uint32_t type;  /* FP_CHUNK or FP_FORGET */
	uint32_t flags; /* FP_HAS_FD */
	uint64_t region_id;
	uint64_t seq; /* echoed in the reply */
	uint32_t op, dtype;
	uint64_t m, n, k;
	uint64_t arena_off; /* offsets: as in struct hpc_job */
	uint64_t a_off, b_off, out_off;
	double alpha;
	uint64_t first, count; /* the chunk: rows (matvec, matmul) or elements */
	uint32_t delay_us;     /* test and demo setting chunk_delay_us */
	uint32_t reserved;
	uint64_t reserved2;
};
HPC_STATIC_ASSERT(sizeof(struct fp_chunk) == 128, "fp_chunk is 128 bytes");

struct fp_reply {
	uint32_t type;  /* FP_HELLO, FP_DONE or FP_FORGOT */
	int32_t status; /* 0 or a negative errno */
	uint64_t seq;   /* FP_DONE: the request's */
	double hi,
	    lo; /* dot and sum: the chunk's partial, exactly hi + lo up to the kernel's error */
	uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC, around the computation */
	uint32_t pid;
	uint32_t version; /* FP_HELLO: FP_PROTO_VERSION */
	uint32_t mapped;  /* regions the worker has mapped now */
	uint32_t reserved;
};
HPC_STATIC_ASSERT(sizeof(struct fp_reply) == 64, "fp_reply is 64 bytes");

#endif /* HPC_FORKPOOL_PROTO_H */

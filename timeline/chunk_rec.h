/*
 * timeline/chunk_rec.h - one record of a job's timeline: which worker ran
 * which chunk of the job, and when.
 *
 * PROPOSED for hpc/wire.h (see plugins/forkpool/job_ext.h for the plugin ABI
 * side): a client that wants a job's timeline gives a buffer of these records
 * in its arena; a backend that splits jobs (forkpool) writes one record per
 * attempt of a chunk. Until the lead moves it there, this header is the one
 * definition, shared by the forkpool plugin, the SVG renderer and the tests.
 *
 * Plain wire data: fixed-width fields, explicit padding, a size assertion.
 */
#ifndef HPC_TIMELINE_CHUNK_REC_H
#define HPC_TIMELINE_CHUNK_REC_H

#include <stdint.h>

#include "hpc/wire.h" /* HPC_STATIC_ASSERT */

#ifdef __cplusplus
extern "C" {
#endif

/* flags of struct hpc_chunk_rec */
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
	uint64_t start_ns; /* CLOCK_MONOTONIC, as seen by the worker (system-wide clock) */
	uint64_t end_ns;
};
HPC_STATIC_ASSERT(sizeof(struct hpc_chunk_rec) == 48, "hpc_chunk_rec is 48 bytes");

#ifdef __cplusplus
}
#endif

#endif /* HPC_TIMELINE_CHUNK_REC_H */

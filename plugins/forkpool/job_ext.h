/*
 * plugins/forkpool/job_ext.h - PROPOSED extension of struct hpc_job (plugin
 * ABI) for job timelines. Private to forkpool, its tests and its benchmark
 * until the lead moves it into hpc/plugin.h.
 *
 * The proposal (tables grow at the end):
 *
 *   struct hpc_job {
 *           ... every field as today, except:
 *           uint32_t size;      // was reserved0: sizeof(struct hpc_job) as the
 *                               // daemon knows it; 0 from daemons before this
 *           ...
 *           // appended:
 *           struct hpc_chunk_rec *chunks; // NULL: no timeline wanted
 *           uint32_t chunks_cap;          // records the buffer holds
 *           uint32_t chunks_count;        // out: records the backend made; when
 *                                         // > chunks_cap, only chunks_cap were written
 *   };
 *
 * Today's daemon zero-initialises reserved0, so a plugin reads the appended
 * fields only when size says they are there. Until then, struct
 * hpc_job_ext below is exactly that layout: callers that know it (the tests,
 * the benchmark) pass &ext.job with ext.job.reserved0 = sizeof(ext).
 */
#ifndef HPC_FORKPOOL_JOB_EXT_H
#define HPC_FORKPOOL_JOB_EXT_H

#include <stddef.h>
#include <stdint.h>

#include "hpc/plugin.h"
#include "timeline/chunk_rec.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hpc_job_ext {
	struct hpc_job job; /* job.reserved0 = sizeof(struct hpc_job_ext) */
	struct hpc_chunk_rec *chunks;
	uint32_t chunks_cap;
	uint32_t chunks_count;
};

/* The extension of job, or NULL when its caller did not give one. */
static inline struct hpc_job_ext *hpc_job_ext_of(struct hpc_job *job)
{
	return job->reserved0 >= sizeof(struct hpc_job_ext) ? (struct hpc_job_ext *)job : NULL;
}

#ifdef __cplusplus
}
#endif

#endif /* HPC_FORKPOOL_JOB_EXT_H */

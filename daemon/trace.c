#include "daemon/trace.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/ring.h" /* hpci_now_ns */

int hpcd_trace_start(struct hpcd_trace *t, uint64_t owner, pid_t pid, uint32_t max_jobs,
		     uint32_t max_chunks)
{
	if (t->state != HPCD_TRACE_IDLE)
		return -EBUSY;
	max_jobs = !max_jobs                        ? HPCD_TRACE_DEFAULT_JOBS
		   : max_jobs > HPCD_TRACE_MAX_JOBS ? HPCD_TRACE_MAX_JOBS
						    : max_jobs;
	max_chunks = !max_chunks                          ? HPCD_TRACE_DEFAULT_CHUNKS
		     : max_chunks > HPCD_TRACE_MAX_CHUNKS ? HPCD_TRACE_MAX_CHUNKS
							  : max_chunks;
	/* calloc: pages are touched only as records land, and a chunk slot that a
	 * dropped reservation skipped reads as zeros, never as old heap. */
	struct hpc_trace_rec *jobs = calloc(max_jobs, sizeof(*jobs));
	struct hpc_chunk_rec *chunks = calloc(max_chunks, sizeof(*chunks));
	if (!jobs || !chunks) {
		free(jobs);
		free(chunks);
		return -ENOMEM;
	}
	t->jobs = jobs;
	t->chunks = chunks;
	t->max_jobs = max_jobs;
	t->max_chunks = max_chunks;
	/* No writer runs now (active is 0 and the last trace was quiesced): plain stores. */
	t->next_job = t->next_chunk = 0;
	t->jobs_dropped = t->chunks_dropped = 0;
	t->owner = owner;
	t->owner_pid = pid;
	t->owner_gone = 0;
	memset(&t->hdr, 0, sizeof(t->hdr));
	t->t_start_ns = hpci_now_ns();
	t->state = HPCD_TRACE_ACTIVE;
	/* A1: publishes everything above to the writers' load of active (A2). */
	__atomic_store_n(&t->active, 1, __ATOMIC_SEQ_CST);
	return 0;
}

void hpcd_trace_record(struct hpcd_trace *t, const struct hpc_trace_rec *rec,
		       const struct hpc_chunk_rec *chunks, uint32_t n)
{
	/* W1 then A2, against H1 then Q1 in halt/quiesce (all seq_cst): either
	 * we see active cleared and write nothing, or quiesce sees us and waits. */
	__atomic_fetch_add(&t->writers, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&t->active, __ATOMIC_SEQ_CST) || rec->start_ns < t->t_start_ns)
		goto out;
	uint64_t j = __atomic_fetch_add(&t->next_job, 1, __ATOMIC_RELAXED);
	if (j >= t->max_jobs) {
		__atomic_fetch_add(&t->jobs_dropped, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&t->chunks_dropped, n, __ATOMIC_RELAXED);
		goto out;
	}
	struct hpc_trace_rec *r = &t->jobs[j];
	*r = *rec;
	r->chunk_first = 0;
	r->chunk_count = 0;
	if (n) {
		uint64_t c = __atomic_fetch_add(&t->next_chunk, n, __ATOMIC_RELAXED);
		if (c + n <= t->max_chunks) {
			memcpy(&t->chunks[c], chunks, (size_t)n * sizeof(*chunks));
			r->chunk_first = (uint32_t)c;
			r->chunk_count = n;
		} else {
			__atomic_fetch_add(&t->chunks_dropped, n, __ATOMIC_RELAXED);
			r->flags |= HPC_TRACE_CHUNKS_LOST;
		}
	}
out:
	/* W2: release, so that quiesce's acquire (Q1) sees the records written. */
	__atomic_fetch_sub(&t->writers, 1, __ATOMIC_RELEASE);
}

void hpcd_trace_halt(struct hpcd_trace *t)
{
	if (t->state != HPCD_TRACE_ACTIVE)
		return;
	__atomic_store_n(&t->active, 0, __ATOMIC_SEQ_CST); /* H1 */
	t->hdr.t_stop_ns = hpci_now_ns();
	t->state = HPCD_TRACE_STOPPING;
}

void hpcd_trace_quiesce(struct hpcd_trace *t)
{
	/* Q1: pairs with W1/W2 (seq_cst, so also an acquire of each writer's
	 * release). A writer that got past W1 holds us for one copy. */
	while (__atomic_load_n(&t->writers, __ATOMIC_SEQ_CST))
		sched_yield();
	uint64_t nj = __atomic_load_n(&t->next_job, __ATOMIC_RELAXED);
	uint64_t nc = __atomic_load_n(&t->next_chunk, __ATOMIC_RELAXED);
	t->hdr.magic = HPC_TRACE_MAGIC;
	t->hdr.version = HPC_WIRE_VERSION;
	t->hdr.t_start_ns = t->t_start_ns;
	t->hdr.njobs = nj < t->max_jobs ? nj : t->max_jobs;
	/* Slots a dropped reservation skipped are zeros; the jobs index the rest. */
	t->hdr.nchunks = nc < t->max_chunks ? nc : t->max_chunks;
	t->hdr.jobs_dropped = __atomic_load_n(&t->jobs_dropped, __ATOMIC_RELAXED);
	t->hdr.chunks_dropped = __atomic_load_n(&t->chunks_dropped, __ATOMIC_RELAXED);
}

uint64_t hpcd_trace_size(const struct hpcd_trace *t)
{
	return sizeof(t->hdr) + t->hdr.njobs * sizeof(struct hpc_trace_rec) +
	       t->hdr.nchunks * sizeof(struct hpc_chunk_rec);
}

/* Copy the part of [base, base + size) that falls in [off, off + len) to buf. */
static size_t copy_part(const void *src, uint64_t base, uint64_t size, uint64_t off, void *buf,
			size_t len)
{
	uint64_t lo = off > base ? off : base;
	uint64_t hi = off + len < base + size ? off + len : base + size;
	if (lo >= hi)
		return 0;
	memcpy((char *)buf + (lo - off), (const char *)src + (lo - base), hi - lo);
	return hi - lo;
}

size_t hpcd_trace_read(const struct hpcd_trace *t, uint64_t offset, void *buf, size_t len)
{
	uint64_t total = hpcd_trace_size(t);
	if (offset >= total)
		return 0;
	if (len > total - offset)
		len = (size_t)(total - offset);
	uint64_t jb = sizeof(t->hdr), jn = t->hdr.njobs * sizeof(struct hpc_trace_rec);
	uint64_t cb = jb + jn, cn = t->hdr.nchunks * sizeof(struct hpc_chunk_rec);
	copy_part(&t->hdr, 0, jb, offset, buf, len);
	copy_part(t->jobs, jb, jn, offset, buf, len);
	copy_part(t->chunks, cb, cn, offset, buf, len);
	return len;
}

void hpcd_trace_reset(struct hpcd_trace *t)
{
	free(t->jobs);
	free(t->chunks);
	t->jobs = NULL;
	t->chunks = NULL;
	t->max_jobs = t->max_chunks = 0;
	t->state = HPCD_TRACE_IDLE;
	t->owner = 0;
}

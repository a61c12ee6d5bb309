/*
 * daemon/metrics.h - the daemon's counters, for `hpcrun metrics` (the
 * Prometheus text exposition format).
 *
 * Per backend instance: jobs by op, dtype and outcome, a job-duration
 * histogram and the operand bytes jobs touched; per daemon: the counters the
 * event loop keeps (clients, refusals, reloads, arenas), which it hands to
 * hpcd_metrics_render() as plain values.
 *
 * Cost on the job path: session threads add to an instance's counter block
 * with relaxed atomic adds; no lock, no allocation. A block is found once per
 * session and world generation (lock-free lookup in an append-only list) and
 * cached by the session. Blocks are keyed by (instance name, plugin) and live
 * as long as the daemon: an instance that a reload replaces under the same
 * name keeps counting in the same block, and one that a reload removes keeps
 * its last values (hpcd_backend_up says 0), so no counter ever goes back.
 * Only a new plugin under an old name starts a new series (its plugin label
 * differs).
 */
#ifndef HPCD_METRICS_H
#define HPCD_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hpc/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What became of a job that reached a backend instance. */
enum hpcd_metrics_outcome {
	HPCD_OUT_OK = 0,
	HPCD_OUT_UNSUPPORTED, /* the instance lacks the op or dtype */
	HPCD_OUT_FAILED,      /* the backend returned an error */
	HPCD_OUT_CRASHED,     /* the backend crashed running it */
	HPCD_OUT_BROKEN,      /* the instance had crashed before: out of service */
	HPCD_OUT__COUNT
};

/* Why a job was refused before any instance was chosen (daemon-wide). */
enum hpcd_metrics_reject {
	HPCD_REJ_INVALID = 0, /* the descriptor failed validation */
	HPCD_REJ_NO_BACKEND,  /* no instance of that name */
	HPCD_REJ_SHUTDOWN,    /* the daemon was stopping */
	HPCD_REJ__COUNT
};

/* Why a connection or a HELLO was refused (event loop's counts). */
enum hpcd_metrics_refusal {
	HPCD_REF_FDS = 0,     /* no descriptor left */
	HPCD_REF_NOT_ALLOWED, /* its uid is not allowed */
	HPCD_REF_MAX_CLIENTS,
	HPCD_REF_MAX_ARENA,
	HPCD_REF_MAX_TOTAL_ARENA,
	HPCD_REF_OTHER, /* stopping, bad HELLO, no session could start */
	HPCD_REF__COUNT
};

/* Job-duration buckets: 1, 2.5 and 5 times each power of ten from 1 us to 100 s. */
#define HPCD_METRICS_BUCKETS 25

/* One instance's counters. All counters: atomic, relaxed. */
struct hpcd_metrics_inst {
	struct hpcd_metrics_inst *next; /* written once, before the block is published */
	char name[HPC_BACKEND_NAME_MAX + 1];
	char plugin[HPC_BACKEND_NAME_MAX + 1]; /* short name: "serial", or NAME of libhpc_NAME.so */
	uint64_t jobs[HPC_OP__COUNT][HPC_DTYPE__COUNT][HPCD_OUT__COUNT];
	/* Per bucket, not cumulative (one add per job); the le="+Inf" bucket is the count. */
	uint64_t dur_bucket[HPC_OP__COUNT][HPCD_METRICS_BUCKETS + 1];
	uint64_t dur_sum_ns[HPC_OP__COUNT];
	uint64_t bytes[HPC_OP__COUNT];
};

struct hpcd_metrics {
	pthread_mutex_t lock;               /* serialises creating blocks; lookups take none */
	struct hpcd_metrics_inst *head;     /* atomic: newest first (release on publish) */
	uint64_t rejected[HPCD_REJ__COUNT]; /* atomic, relaxed */
};

/* The daemon-wide values the event loop owns, copied in for one rendering. */
struct hpcd_metrics_daemon {
	const char *version;
	double uptime_s;
	uint64_t clients_connected, clients_total;
	uint64_t refused[HPCD_REF__COUNT];
	uint64_t arena_in_use, max_arena_bytes, max_total_arena_bytes, max_clients;
	uint64_t reloads_ok, reloads_refused;
	uint64_t generation;
	int trace_active;
};

void hpcd_metrics_init(struct hpcd_metrics *m);

/* Free every block. Nothing may use them any more. */
void hpcd_metrics_fini(struct hpcd_metrics *m);

/*
 * The block of the instance called name whose plugin is plugin (the value as
 * the config gives it: a name or a path; reduced to its short name), created
 * when there is none. Any thread. NULL only when out of memory for a new one.
 */
struct hpcd_metrics_inst *hpcd_metrics_instance(struct hpcd_metrics *m, const char *name,
						const char *plugin);

/* The short name of a plugin value: "serial", or NAME for ".../libhpc_NAME.so". */
void hpcd_metrics_plugin_name(const char *plugin, char *out, size_t len);

/* The outcome class of a completion that came from an instance. */
enum hpcd_metrics_outcome hpcd_metrics_outcome(int32_t status, uint32_t detail);

/*
 * Count one job on mi (op and dtype valid): its outcome, its duration and the
 * operand bytes it touched (0 for a job no backend ran). Lock-free.
 */
static inline void hpcd_metrics_job(struct hpcd_metrics_inst *mi, uint32_t op, uint32_t dtype,
				    enum hpcd_metrics_outcome out, uint64_t dur_ns, uint64_t bytes)
{
	/* Bucket bounds in ns; a job lands in the first it does not exceed. */
	static const uint64_t le_ns[HPCD_METRICS_BUCKETS] = {
	    1000ull,       2500ull,        5000ull,        10000ull,       25000ull,
	    50000ull,      100000ull,      250000ull,      500000ull,      1000000ull,
	    2500000ull,    5000000ull,     10000000ull,    25000000ull,    50000000ull,
	    100000000ull,  250000000ull,   500000000ull,   1000000000ull,  2500000000ull,
	    5000000000ull, 10000000000ull, 25000000000ull, 50000000000ull, 100000000000ull,
	};
	unsigned b = 0;
	while (b < HPCD_METRICS_BUCKETS && dur_ns > le_ns[b])
		b++;
	__atomic_fetch_add(&mi->jobs[op][dtype][out], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&mi->dur_bucket[op][b], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&mi->dur_sum_ns[op], dur_ns, __ATOMIC_RELAXED);
	if (bytes)
		__atomic_fetch_add(&mi->bytes[op], bytes, __ATOMIC_RELAXED);
}

static inline void hpcd_metrics_reject(struct hpcd_metrics *m, enum hpcd_metrics_reject why)
{
	__atomic_fetch_add(&m->rejected[why], 1, __ATOMIC_RELAXED);
}

/*
 * Whether the instance (name, plugin short name) is in the world serving now;
 * the renderer asks this for hpcd_backend_up.
 */
typedef int (*hpcd_metrics_up_fn)(void *ctx, const char *name, const char *plugin);

/*
 * The whole exposition (HELP and TYPE lines, families in a fixed order, label
 * values escaped) into a new buffer *text of *len bytes (NUL-terminated; free
 * it). Reads the counters without stopping anyone: each value is exact, the
 * set is as of about now. Returns 0 or -ENOMEM.
 */
int hpcd_metrics_render(struct hpcd_metrics *m, const struct hpcd_metrics_daemon *d,
			hpcd_metrics_up_fn up, void *up_ctx, char **text, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_METRICS_H */

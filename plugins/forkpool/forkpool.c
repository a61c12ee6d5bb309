/*
 * forkpool - a pool of pre-forked worker processes, after Python's
 * multiprocessing.Pool and IPython parallel's direct and load-balanced views.
 *
 * open() starts `workers` processes (hpc_forkpool_worker, see worker.c and
 * pool.c). run() splits a job into chunks - rows for matvec and matmul,
 * element ranges for dot, sum and axpy - and hands them out:
 *
 *  - schedule = static: one equal contiguous share per worker (the direct view);
 *  - schedule = dynamic: chunks of `chunk` units from a queue, each to the
 *    next worker that is idle (the load-balanced view).
 *
 * Workers map the client's region themselves (its memfd is passed once per
 * worker with SCM_RIGHTS) and compute on it in place: matvec, matmul and
 * axpy chunks write their rows or elements of the output straight into it;
 * dot and sum chunks send back a compensated partial (hi + lo), and the
 * partials are added here in chunk order, so a result never depends on which
 * worker ran which chunk or when.
 *
 * Faults: a worker that dies (EOF on its socket) or runs a chunk past
 * `timeout` (it is SIGKILLed) is reaped and replaced; its chunk runs once
 * more, on whichever worker is idle next; a second failure of the same chunk
 * fails the job with -EIO and a log line. A job never returns while one of
 * its chunks may still write into the client's memory.
 *
 * Every attempt of every chunk is recorded (worker pid and slot, chunk,
 * rows or elements, start and end); a job that brings a buffer for them
 * (struct hpc_job.chunks, from a client's HPC_SQE_TIMELINE) gets them.
 *
 * Locks: run_lock serialises jobs (and everything that talks to workers);
 * info_lock guards what describe() and forget_region() read or queue, so
 * neither waits for a job.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hpc/ops.h"
#include "hpc/plugin.h"
#include "kernels/twosum.h"
#include "plugins/base/child.h"
#include "plugins/base/plugin_util.h"
#include "plugins/base/regtab.h"
#include "plugins/base/settings.h"
#include "plugins/forkpool/pool.h"
#include "plugins/forkpool/proto.h"

#define FP_WORKER_NAME "hpc_forkpool_worker"
#define FP_MAX_WORKERS 256
#define FP_MAX_CHUNKS (1u << 20)
/* dynamic, chunk = auto: about this many chunks per worker ... */
#define FP_AUTO_PER_WORKER 4
/* ... but no chunk below this much work (multiply-adds or elements): a chunk
 * costs a message round trip (~50 us across cores here). */
#define FP_AUTO_MIN_WORK 65536

enum { FP_STATIC = 0, FP_DYNAMIC = 1 };

struct fp {
	pthread_mutex_t run_lock;
	pthread_mutex_t info_lock;
	const struct hpc_host *host;
	int schedule;
	uint64_t chunk;      /* units per chunk for dynamic; 0 = auto */
	uint64_t timeout_ms; /* per chunk */
	uint32_t delay_us;   /* test and demo: every chunk sleeps this long first */
	struct fp_pool pool;
	uint64_t seq;
	/* under info_lock */
	uint64_t jobs, chunks, retried, respawns, failed_jobs;
	struct hpcb_idset pending; /* regions to forget */
};

/* The section's settings as parsed (by fp_schema; defaults set in parse_settings). */
struct fp_conf {
	uint64_t workers, chunk, timeout_ms, delay_us;
	unsigned schedule; /* index in "static|dynamic": FP_STATIC, FP_DYNAMIC */
	const char *worker;
};

#define FP_CONF(m) offsetof(struct fp_conf, m)

static const struct hpc_setting_spec fp_schema[] = {
    {.key = "workers",
     .type = HPC_SETTING_UINT,
     .min = 1,
     .max = FP_MAX_WORKERS,
     .def = "online CPUs",
     .help = "worker processes started when the backend opens",
     .offset = FP_CONF(workers)},
    {.key = "schedule",
     .type = HPC_SETTING_ENUM,
     .choices = "static|dynamic",
     .def = "dynamic",
     .help = "static: one equal contiguous share per worker; dynamic: the next chunk to the "
	     "next idle worker",
     .offset = FP_CONF(schedule)},
    {.key = "chunk",
     .type = HPC_SETTING_UINT,
     .min = 1,
     .max = 1ull << 40,
     .choices = "auto",
     .unit = "rows or elements",
     .def = "auto",
     .help = "dynamic: rows or elements per chunk; auto: about 4 chunks per worker, at least "
	     "64k multiply-adds each",
     .offset = FP_CONF(chunk)},
    {.key = "timeout",
     .type = HPC_SETTING_UINT,
     .min = 1,
     .max = 86400000,
     .unit = "milliseconds",
     .def = "60000",
     .help = "longest a chunk may run before its worker is killed and the chunk retried",
     .offset = FP_CONF(timeout_ms)},
    {.key = "worker",
     .type = HPC_SETTING_STRING,
     .def = "hpc_forkpool_worker next to the plugin, else the copy built into it",
     .help = "the worker executable",
     .offset = FP_CONF(worker)},
    {.key = "chunk_delay_us",
     .type = HPC_SETTING_UINT,
     .min = 0,
     .max = 10000000,
     .unit = "microseconds",
     .def = "0",
     .help = "tests and demos: every chunk sleeps this long first",
     .offset = FP_CONF(delay_us)},
    {.key = NULL},
};

/* Log through the host table, as the instance. */
#define fp_log(fp, level, ...) hpcb_log((fp)->host, (level), __VA_ARGS__)

/* ---- settings ------------------------------------------------------------- */

/* The worker executable next to this plugin's own file. */
static int default_worker(char *out, size_t len, char *why, size_t whylen)
{
	Dl_info info;
	if (!dladdr((void *)&default_worker, &info) || !info.dli_fname || !*info.dli_fname) {
		snprintf(why, whylen, "cannot tell where the plugin file is");
		return -ENOENT;
	}
	if (strncmp(info.dli_fname, "/proc/", 6) == 0) {
		/* The daemon loaded a private copy (a rebuilt file): no folder to look in. */
		snprintf(why, whylen, "the plugin was loaded from a private copy (%s)",
			 info.dli_fname);
		return -ENOENT;
	}
	char real[PATH_MAX];
	if (!realpath(info.dli_fname, real))
		snprintf(real, sizeof(real), "%s", info.dli_fname);
	/* Next to the name it was loaded by (a runfiles symlink has the worker beside it),
	 * else next to the file itself. */
	const char *cands[2] = {info.dli_fname, real};
	for (int c = 0; c < 2; c++) {
		const char *slash = strrchr(cands[c], '/');
		int dirlen = slash ? (int)(slash - cands[c]) : 1;
		const char *dir = slash ? cands[c] : ".";
		int n = snprintf(out, len, "%.*s/%s", dirlen, dir, FP_WORKER_NAME);
		if (n > 0 && (size_t)n < len && access(out, X_OK) == 0)
			return 0;
	}
	snprintf(why, whylen, "no executable %s next to %s", FP_WORKER_NAME, info.dli_fname);
	return -ENOENT;
}

static int parse_settings(struct fp *fp, struct hpc_open_args *args)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct fp_conf c = {
	    .workers = ncpu < 1                ? 1
		       : ncpu > FP_MAX_WORKERS ? FP_MAX_WORKERS
					       : (uint64_t)ncpu,
	    .schedule = FP_DYNAMIC,
	    .chunk = 0,
	    .timeout_ms = 60000,
	};
	int rc = hpcb_settings_apply(fp_schema, args, &c, NULL);
	if (rc < 0)
		return rc;
	fp->schedule = (int)c.schedule;
	fp->chunk = c.chunk;
	fp->timeout_ms = c.timeout_ms;
	fp->delay_us = (uint32_t)c.delay_us;
	const char *worker = c.worker;
	if (worker) {
		const char *dir = args->config_dir && *worker != '/' ? args->config_dir : NULL;
		int n = snprintf(fp->pool.path, sizeof(fp->pool.path), "%s%s%s", dir ? dir : "",
				 dir ? "/" : "", worker);
		if (!*worker || n < 0 || (size_t)n >= sizeof(fp->pool.path) ||
		    access(fp->pool.path, X_OK) != 0) {
			hpcb_err(args, hpcb_settings_index(args, "worker"),
				 "worker \"%s\" is not an executable file.", worker);
			return -EINVAL;
		}
	}
	fp->pool.n = (unsigned)c.workers;
	if (!worker) {
		char why[PATH_MAX + 64];
		if (default_worker(fp->pool.path, sizeof(fp->pool.path), why, sizeof(why)) < 0) {
			/* No file to run: the copy built into this plugin. */
			rc = fp_pool_use_embedded(&fp->pool);
			if (rc < 0) {
				hpcb_err(args, -1,
					 "cannot find the forkpool worker (%s) nor run the one "
					 "built in (%s); give its path with worker = PATH.",
					 why, strerror(-rc));
				return rc;
			}
			fp_log(fp, HPC_LOG_INFO, "%s: running the worker built into the plugin",
			       why);
		}
	}
	return 0;
}

/* ---- forgetting regions ------------------------------------------------------ */

/* Tell worker i to unmap region_id and wait for it; a worker that fails to is replaced. */
static void forget_one(struct fp *fp, unsigned i, uint64_t region_id)
{
	struct fp_worker *w = &fp->pool.w[i];
	if (!hpcb_idset_has(&w->regions, region_id))
		return;
	hpcb_idset_del(&w->regions, region_id);
	struct fp_chunk req = {.type = FP_FORGET, .region_id = region_id};
	struct fp_reply r;
	int rc = fp_pool_send(&fp->pool, i, &req, -1);
	if (rc == 0)
		rc = fp_pool_wait(&fp->pool, i, &r, 5000);
	if (rc == 0 && r.type != FP_FORGOT)
		rc = -EPROTO;
	if (rc < 0) {
		/* Its mapping must not outlive the region: end it, start a fresh one. */
		char err[PATH_MAX + 128];
		fp_pool_reap(&fp->pool, i, NULL);
		if (fp_pool_spawn(&fp->pool, i, err, sizeof(err)) < 0)
			fp_log(fp, HPC_LOG_ERROR, "worker %u: %s", i, err);
	}
}

/* Forget every queued region in every worker. run_lock held. */
static void flush_forgets(struct fp *fp)
{
	for (;;) {
		pthread_mutex_lock(&fp->info_lock);
		uint64_t region = 0;
		bool any = hpcb_idset_pop(&fp->pending, &region);
		pthread_mutex_unlock(&fp->info_lock);
		if (!any)
			return;
		for (unsigned i = 0; i < fp->pool.n; i++)
			forget_one(fp, i, region);
	}
}

/* Flush queued forgets unless a job is running (it flushes them when it ends). */
static void drain_forgets(struct fp *fp)
{
	for (;;) {
		pthread_mutex_lock(&fp->info_lock);
		bool any = fp->pending.n > 0;
		pthread_mutex_unlock(&fp->info_lock);
		/* Pairs with the runner's check after it unlocks: whoever holds the
		 * lock last sees the entry. */
		if (!any || pthread_mutex_trylock(&fp->run_lock) != 0)
			return;
		flush_forgets(fp);
		pthread_mutex_unlock(&fp->run_lock);
	}
}

static void fp_forget_region(void *state, uint64_t region_id)
{
	struct fp *fp = state;
	pthread_mutex_lock(&fp->info_lock);
	bool queued = hpcb_idset_add(&fp->pending, region_id) == 0;
	pthread_mutex_unlock(&fp->info_lock);
	if (!queued) {
		/* Out of memory: do it now, waiting for the job if need be. */
		pthread_mutex_lock(&fp->run_lock);
		for (unsigned i = 0; i < fp->pool.n; i++)
			forget_one(fp, i, region_id);
		pthread_mutex_unlock(&fp->run_lock);
		return;
	}
	drain_forgets(fp);
}

/* ---- open / close / describe ----------------------------------------------------- */

static void fp_close(void *state);

static int fp_open(struct hpc_open_args *args, void **state)
{
	if (!args || !state)
		return -EINVAL;
	struct fp *fp = calloc(1, sizeof(*fp));
	if (!fp) {
		hpcb_err(args, -1, "out of memory.");
		return -ENOMEM;
	}
	pthread_mutex_init(&fp->run_lock, NULL);
	pthread_mutex_init(&fp->info_lock, NULL);
	fp->host = args->host;
	fp->pool.info_lock = &fp->info_lock;
	fp->pool.exe_fd = -1;
	int rc = parse_settings(fp, args);
	if (rc < 0) {
		if (fp->pool.exe_fd >= 0)
			close(fp->pool.exe_fd);
		pthread_mutex_destroy(&fp->run_lock);
		pthread_mutex_destroy(&fp->info_lock);
		free(fp);
		return rc;
	}
	fp->pool.w = calloc(fp->pool.n, sizeof(*fp->pool.w));
	if (!fp->pool.w) {
		hpcb_err(args, -1, "out of memory.");
		fp_close(fp);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < fp->pool.n; i++) {
		fp->pool.w[i].sock = -1;
		fp->pool.w[i].chunk = -1;
	}
	for (unsigned i = 0; i < fp->pool.n; i++) {
		char err[PATH_MAX + 128];
		rc = fp_pool_spawn(&fp->pool, i, err, sizeof(err));
		if (rc < 0) {
			hpcb_err(args, -1, "%s.", err);
			fp_close(fp);
			return rc;
		}
	}
	fp_log(fp, HPC_LOG_INFO, "%u workers (%s), schedule %s", fp->pool.n, fp->pool.path,
	       fp->schedule == FP_STATIC ? "static" : "dynamic");
	*state = fp;
	return 0;
}

static void fp_close(void *state)
{
	struct fp *fp = state;
	if (!fp)
		return;
	if (fp->pool.w) {
		fp_pool_stop(&fp->pool, 1000);
		free(fp->pool.w);
	}
	hpcb_idset_free(&fp->pending);
	pthread_mutex_destroy(&fp->run_lock);
	pthread_mutex_destroy(&fp->info_lock);
	free(fp);
}

static int fp_describe(void *state, char *buf, size_t len)
{
	struct fp *fp = state;
	if (!fp || !buf || len == 0)
		return -EINVAL;
	char chunk[32];
	if (fp->chunk)
		snprintf(chunk, sizeof(chunk), "%llu", (unsigned long long)fp->chunk);
	else
		snprintf(chunk, sizeof(chunk), "auto");
	pthread_mutex_lock(&fp->info_lock);
	int n = snprintf(buf, len,
			 "workers=%u schedule=%s chunk=%s timeout=%llums jobs=%llu chunks=%llu "
			 "retried=%llu respawns=%llu failed=%llu pids=",
			 fp->pool.n, fp->schedule == FP_STATIC ? "static" : "dynamic", chunk,
			 (unsigned long long)fp->timeout_ms, (unsigned long long)fp->jobs,
			 (unsigned long long)fp->chunks, (unsigned long long)fp->retried,
			 (unsigned long long)fp->respawns, (unsigned long long)fp->failed_jobs);
	/* The pids last: when they do not all fit (the daemon gives 256 bytes),
	 * as many as fit and "+N". */
	for (unsigned i = 0; n >= 0 && (size_t)n < len && i < fp->pool.n; i++) {
		char one[16];
		int k = snprintf(one, sizeof(one), "%s%d", i ? "," : "", (int)fp->pool.w[i].pid);
		if ((size_t)n + (size_t)k + 8 >= len && i + 1 < fp->pool.n) {
			n += snprintf(buf + n, len - (size_t)n, "+%u", fp->pool.n - i);
			break;
		}
		n += snprintf(buf + n, len - (size_t)n, "%s", one);
	}
	pthread_mutex_unlock(&fp->info_lock);
	return n >= 0 && (size_t)n < len ? 0 : -ENOSPC;
}

/* ---- one job ------------------------------------------------------------------- */

enum { C_PENDING = 0, C_RUNNING = 1, C_DONE = 2 };

struct chunk {
	uint64_t first, count;
	double hi, lo;
	uint8_t state;
	uint8_t tries; /* attempts started */
};

struct job_run {
	struct fp *fp;
	struct hpc_job *job;
	struct chunk *c;
	uint32_t nchunks, done;
	uint32_t next_new; /* dynamic: next chunk never handed out */
	uint32_t *retry;   /* chunks to run again, FIFO */
	uint32_t rhead, rtail;
	struct hpc_chunk_rec *recs; /* every attempt */
	uint32_t nrecs;
	int err; /* first error: no more dispatch once set */
};

/* Split the job into chunks per the schedule. Returns 0 or -ENOMEM. */
static int plan(struct job_run *jr)
{
	struct fp *fp = jr->fp;
	const struct hpc_job *job = jr->job;
	/* The split dimension and the work per unit come from the op table; no
	 * step below can wrap, whatever the dimensions (hpc_div_ceil). */
	const uint64_t units = hpc_op_split_len(job->op, job->m, job->n, job->k);
	uint64_t n;
	uint64_t size = 0;
	if (units == 0) {
		n = 0;
	} else if (fp->schedule == FP_STATIC) {
		n = units < fp->pool.n ? units : fp->pool.n;
	} else {
		size = fp->chunk;
		if (!size) {
			uint64_t share =
			    hpc_div_ceil(units, (uint64_t)fp->pool.n * FP_AUTO_PER_WORKER);
			uint64_t w = hpc_op_work_per_unit(job->op, job->m, job->n, job->k);
			uint64_t least =
			    w >= FP_AUTO_MIN_WORK ? 1 : hpc_div_ceil(FP_AUTO_MIN_WORK, w ? w : 1);
			size = share > least ? share : least;
		}
		if (size > units)
			size = units;
		if (hpc_div_ceil(units, size) > FP_MAX_CHUNKS)
			size = hpc_div_ceil(units, FP_MAX_CHUNKS);
		n = hpc_div_ceil(units, size);
	}
	jr->nchunks = (uint32_t)n;
	if (n == 0)
		return 0;
	jr->c = calloc(n, sizeof(*jr->c));
	jr->retry = calloc(n, sizeof(*jr->retry));
	jr->recs = calloc(2 * n, sizeof(*jr->recs));
	if (!jr->c || !jr->retry || !jr->recs)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t lo, hi;
		if (fp->schedule == FP_STATIC) {
			/* Equal contiguous shares; in 128 bits, as i * units can overflow. */
			lo = (uint64_t)((unsigned __int128)i * units / n);
			hi = (uint64_t)((unsigned __int128)(i + 1) * units / n);
		} else {
			lo = i * size; /* < units: i < ceil(units / size) */
			hi = size < units - lo ? lo + size : units;
		}
		jr->c[i].first = lo;
		jr->c[i].count = hi - lo;
	}
	return 0;
}

/* The chunk worker i should run next, or -1. */
static int pick(struct job_run *jr, unsigned i)
{
	struct fp *fp = jr->fp;
	if (jr->rhead != jr->rtail)
		return (int)jr->retry[jr->rhead++ % jr->nchunks];
	if (fp->schedule == FP_DYNAMIC)
		return jr->next_new < jr->nchunks ? (int)jr->next_new++ : -1;
	/* static: its own share; or the share of a slot that could not be restarted */
	if (i < jr->nchunks && jr->c[i].state == C_PENDING && jr->c[i].tries == 0)
		return (int)i;
	for (uint32_t c = 0; c < jr->nchunks && c < fp->pool.n; c++)
		if (jr->c[c].state == C_PENDING && jr->c[c].tries == 0 && fp->pool.w[c].pid <= 0)
			return (int)c;
	return -1;
}

static void record(struct job_run *jr, unsigned i, uint32_t c, pid_t pid, uint64_t start,
		   uint64_t end, bool failed)
{
	if (jr->nrecs >= 2 * jr->nchunks)
		return;
	jr->recs[jr->nrecs++] = (struct hpc_chunk_rec){
	    .pid = (uint32_t)pid,
	    .worker = (uint16_t)i,
	    .attempt = jr->c[c].tries,
	    .flags = failed ? HPC_CHUNK_FAILED : 0,
	    .chunk = c,
	    .first = jr->c[c].first,
	    .count = jr->c[c].count,
	    .start_ns = start,
	    .end_ns = end,
	};
}

/* Worker i failed while running its chunk: replace it, run the chunk again or fail. */
static void worker_failed(struct job_run *jr, unsigned i, const char *why)
{
	struct fp *fp = jr->fp;
	struct fp_worker *w = &fp->pool.w[i];
	const uint32_t c = (uint32_t)w->chunk;
	const pid_t pid = w->pid;
	const uint64_t sent = w->sent_ns;
	int st = -1;
	fp_pool_reap(&fp->pool, i, &st);
	record(jr, i, c, pid, sent, hpcb_now_ns(), true);
	jr->c[c].state = C_PENDING;

	char how[96];
	if (why)
		snprintf(how, sizeof(how), "%s", why);
	else
		hpcb_child_describe(st, how, sizeof(how));
	const char *unit =
	    jr->job->op == HPC_OP_MATVEC || jr->job->op == HPC_OP_MATMUL ? "rows" : "elements";
	char err[PATH_MAX + 128];
	int rc = fp_pool_spawn(&fp->pool, i, err, sizeof(err));
	pthread_mutex_lock(&fp->info_lock);
	fp->respawns += rc == 0;
	pthread_mutex_unlock(&fp->info_lock);
	if (jr->c[c].tries >= 2) {
		if (!jr->err)
			jr->err = -EIO;
		fp_log(fp, HPC_LOG_ERROR,
		       "%s job failed: its chunk %u (%s %llu..%llu) failed twice, the second time "
		       "on worker %u (pid %d, %s)",
		       hpc_op_name(jr->job->op), c, unit, (unsigned long long)jr->c[c].first,
		       (unsigned long long)(jr->c[c].first + jr->c[c].count - 1), i, (int)pid, how);
	} else {
		jr->retry[jr->rtail++ % jr->nchunks] = c;
		pthread_mutex_lock(&fp->info_lock);
		fp->retried++;
		pthread_mutex_unlock(&fp->info_lock);
		fp_log(fp, HPC_LOG_WARN,
		       "worker %u (pid %d) %s while running chunk %u (%s %llu..%llu) of a %s job; "
		       "the chunk runs again",
		       i, (int)pid, how, c, unit, (unsigned long long)jr->c[c].first,
		       (unsigned long long)(jr->c[c].first + jr->c[c].count - 1),
		       hpc_op_name(jr->job->op));
	}
	if (rc < 0)
		fp_log(fp, HPC_LOG_ERROR, "worker %u could not be replaced: %s", i, err);
	else
		fp_log(fp, HPC_LOG_INFO, "worker %u replaced: pid %d", i, (int)fp->pool.w[i].pid);
}

static void dispatch(struct job_run *jr, unsigned i)
{
	struct fp *fp = jr->fp;
	struct fp_worker *w = &fp->pool.w[i];
	const struct hpc_job *job = jr->job;
	int c = pick(jr, i);
	if (c < 0)
		return;
	/* Keep the number of regions a worker maps bounded. */
	if (!hpcb_idset_has(&w->regions, job->region_id) && w->regions.n >= FP_MAX_REGIONS)
		forget_one(fp, i, w->regions.v[0]);
	if (w->pid <= 0) { /* replaced and failed to restart: put the chunk back */
		jr->retry[jr->rtail++ % jr->nchunks] = (uint32_t)c;
		return;
	}
	const bool has = hpcb_idset_has(&w->regions, job->region_id);
	struct fp_chunk req = {
	    .type = FP_CHUNK,
	    .flags = has ? 0 : FP_HAS_FD,
	    .region_id = job->region_id,
	    .seq = ++fp->seq,
	    .op = job->op,
	    .dtype = job->dtype,
	    .m = job->m,
	    .n = job->n,
	    .k = job->k,
	    .arena_off = job->arena_off,
	    .a_off = job->a_off,
	    .b_off = job->b_off,
	    .out_off = job->out_off,
	    .alpha = job->alpha,
	    .first = jr->c[c].first,
	    .count = jr->c[c].count,
	    .delay_us = fp->delay_us,
	};
	jr->c[c].state = C_RUNNING;
	jr->c[c].tries++;
	w->chunk = c;
	w->seq = req.seq;
	w->sent_ns = hpcb_now_ns();
	int rc = fp_pool_send(&fp->pool, i, &req, has ? -1 : job->region_fd);
	if (rc < 0) {
		worker_failed(jr, i, "could not be sent its chunk");
		return;
	}
	if (!has)
		hpcb_idset_add(&w->regions, job->region_id); /* no memory: the fd goes again */
}

/* A reply from busy worker i. */
static void collect(struct job_run *jr, unsigned i)
{
	struct fp *fp = jr->fp;
	struct fp_worker *w = &fp->pool.w[i];
	struct fp_reply r;
	int rc = fp_pool_recv(&fp->pool, i, &r);
	if (rc == -EAGAIN)
		return;
	if (rc == 0 && (r.type != FP_DONE || r.seq != w->seq))
		rc = -EPROTO;
	if (rc < 0) {
		worker_failed(jr, i, rc == -EPIPE ? NULL : "broke the protocol");
		return;
	}
	const uint32_t c = (uint32_t)w->chunk;
	w->chunk = -1;
	if (r.status < 0) {
		/* The worker refused the chunk itself (bad offsets, no memory): running
		 * it again would fail the same way. */
		jr->c[c].state = C_PENDING;
		record(jr, i, c, w->pid, w->sent_ns, hpcb_now_ns(), true);
		if (!jr->err)
			jr->err = r.status;
		fp_log(fp, HPC_LOG_ERROR, "worker %u (pid %d) failed chunk %u of a %s job: %s", i,
		       (int)w->pid, c, hpc_op_name(jr->job->op), strerror(-r.status));
		return;
	}
	jr->c[c].state = C_DONE;
	jr->c[c].hi = r.hi;
	jr->c[c].lo = r.lo;
	jr->done++;
	record(jr, i, c, w->pid, r.start_ns, r.end_ns, false);
}

static int run_chunks(struct job_run *jr)
{
	struct fp *fp = jr->fp;
	const unsigned nw = fp->pool.n;
	struct pollfd pf[FP_MAX_WORKERS];
	unsigned who[FP_MAX_WORKERS];
	const uint64_t timeout_ns = fp->timeout_ms * 1000000ull;

	while (jr->done < jr->nchunks) {
		if (!jr->err)
			for (unsigned i = 0; i < nw; i++)
				if (fp->pool.w[i].pid > 0 && fp->pool.w[i].chunk < 0)
					dispatch(jr, i);
		unsigned busy = 0;
		uint64_t now = hpcb_now_ns(), next = UINT64_MAX;
		for (unsigned i = 0; i < nw; i++) {
			struct fp_worker *w = &fp->pool.w[i];
			if (w->pid <= 0 || w->chunk < 0)
				continue;
			pf[busy] = (struct pollfd){.fd = w->sock, .events = POLLIN};
			who[busy++] = i;
			uint64_t dl = w->sent_ns + timeout_ns;
			if (dl < next)
				next = dl;
		}
		if (busy == 0) {
			if (!jr->err) {
				/* Chunks left and no worker to run them: every restart failed. */
				jr->err = -EIO;
				fp_log(fp, HPC_LOG_ERROR, "%s job failed: no worker is running",
				       hpc_op_name(jr->job->op));
			}
			break;
		}
		int ms = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
		int rc = poll(pf, busy, ms);
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (rc > 0)
			for (unsigned j = 0; j < busy; j++)
				if (pf[j].revents)
					collect(jr, who[j]);
		now = hpcb_now_ns();
		for (unsigned j = 0; j < busy; j++) {
			struct fp_worker *w = &fp->pool.w[who[j]];
			if (w->pid > 0 && w->chunk >= 0 && now >= w->sent_ns + timeout_ns) {
				char why[64];
				snprintf(why, sizeof(why), "ran past the timeout of %llu ms",
					 (unsigned long long)fp->timeout_ms);
				worker_failed(jr, who[j], why);
			}
		}
	}
	return jr->err;
}

/* Restart workers that died between jobs (killed while idle). run_lock held. */
static void heal(struct fp *fp)
{
	for (unsigned i = 0; i < fp->pool.n; i++) {
		if (!fp_pool_idle_dead(&fp->pool, i))
			continue;
		pid_t pid = fp->pool.w[i].pid;
		int st = -1;
		char how[96], err[PATH_MAX + 128];
		if (pid > 0) {
			fp_pool_reap(&fp->pool, i, &st);
			hpcb_child_describe(st, how, sizeof(how));
			fp_log(fp, HPC_LOG_WARN, "worker %u (pid %d) %s while idle; replacing it",
			       i, (int)pid, how);
		}
		if (fp_pool_spawn(&fp->pool, i, err, sizeof(err)) < 0) {
			fp_log(fp, HPC_LOG_ERROR, "worker %u could not be replaced: %s", i, err);
			continue;
		}
		pthread_mutex_lock(&fp->info_lock);
		fp->respawns++;
		pthread_mutex_unlock(&fp->info_lock);
	}
}

static int fp_run(void *state, struct hpc_job *job)
{
	struct fp *fp = state;
	int rc = hpcb_check_job(job);
	if (rc)
		return rc;
	/* Chunk records only for a daemon whose job has the fields, and asks. */
	struct hpc_chunk_rec *recs_out = HPC_JOB_HAS(job, chunks_count) ? job->chunks : NULL;
	if (recs_out)
		job->chunks_count = 0;

	struct job_run jr = {.fp = fp, .job = job};
	rc = plan(&jr);
	if (rc == 0 && jr.nchunks > 0 && job->region_fd < 0) {
		fp_log(fp, HPC_LOG_ERROR,
		       "a job without a shared region: forkpool workers map the client's region");
		rc = -EINVAL;
	}
	if (rc < 0 || jr.nchunks == 0) {
		if (rc == 0 && (job->op == HPC_OP_DOT || job->op == HPC_OP_SUM))
			job->result = 0.0;
		free(jr.c);
		free(jr.retry);
		free(jr.recs);
		return rc;
	}

	pthread_mutex_lock(&fp->run_lock);
	flush_forgets(fp);
	heal(fp);
	rc = run_chunks(&jr);
	/* No chunk is in flight now: every worker replied, or was killed and reaped. */
	flush_forgets(fp);
	pthread_mutex_unlock(&fp->run_lock);
	drain_forgets(fp);

	if (rc == 0 && (job->op == HPC_OP_DOT || job->op == HPC_OP_SUM)) {
		/* In chunk order, whoever ran them: the same bits every time. */
		struct hpc_csum cs = {0.0, 0.0};
		double tails = 0.0;
		for (uint32_t c = 0; c < jr.nchunks; c++) {
			hpc_csum_add(&cs, jr.c[c].hi);
			tails += jr.c[c].lo;
		}
		double s = cs.hi + (cs.lo + tails);
		job->result = job->dtype == HPC_F32 ? (double)(float)s : s;
	}
	if (recs_out) {
		uint32_t n = jr.nrecs < job->chunks_cap ? jr.nrecs : job->chunks_cap;
		if (n)
			memcpy(recs_out, jr.recs, n * sizeof(*jr.recs));
		job->chunks_count = jr.nrecs;
	}
	pthread_mutex_lock(&fp->info_lock);
	fp->jobs++;
	fp->chunks += jr.nchunks;
	fp->failed_jobs += rc < 0;
	pthread_mutex_unlock(&fp->info_lock);
	free(jr.c);
	free(jr.retry);
	free(jr.recs);
	return rc;
}

/* The ops table and the plugin's one export (hpc/plugin.h). */
HPC_PLUGIN_DEFINE(fp_ops, .name = "forkpool", .version = "0.1.0", .ops_f64 = HPC_OPS_ALL,
		  .ops_f32 = HPC_OPS_ALL, .schema = fp_schema, .open = fp_open, .run = fp_run,
		  .close = fp_close, .describe = fp_describe, .forget_region = fp_forget_region)

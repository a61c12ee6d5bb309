/*
 * openmp - runs jobs on GCC OpenMP threads inside the daemon.
 *
 * Setting: threads = 1..1024 (default: the number of online CPUs), the team
 * size of this instance's parallel regions. Each region names its team size
 * with a num_threads clause, so instances with different sizes can live in
 * one daemon; nothing here touches global OpenMP state or OMP_* variables.
 *
 * The kernels pick their instruction set (AVX-512, AVX2 or plain x86-64) at
 * run time; the environment variable HPC_OMP_ISA=scalar|avx2|avx512 narrows
 * it (kernels/openmp.h). open() logs the choice.
 *
 * run() is called from several daemon threads at once. Parallel regions of
 * one instance take turns through a FIFO ticket lock: N concurrent callers
 * with T threads each would otherwise put N*T busy threads on the machine,
 * and a fair lock means no client waits behind an endless stream of others.
 * Jobs too small to be worth a team run on the caller's thread, outside the
 * lock, so they never queue behind a large job.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hpc/plugin.h"
#include "kernels/openmp.h"
#include "plugins/base/plugin_util.h"
#include "plugins/base/settings.h"

/*
 * A parallel region costs a few microseconds when the team's threads are
 * still spinning from the last one, and tens of microseconds when they sleep
 * (waking a vCPU is slow on the virtual machines measured in
 * shared/notes/measured-here.md). Each thread should get at least this much
 * work to pay for it, about 20-40 us of one core; below twice this, a job
 * runs on the calling thread. Elements for the memory-bound ops (one core
 * streams ~2-4 elements per ns from cache), multiply-adds for matmul (one
 * core does ~30-40 per ns).
 */
#define OMP_ELEMS_PER_THREAD 65536u
#define OMP_MADDS_PER_THREAD (1u << 20)

struct omp_instance {
	int threads;
	/* FIFO ticket lock serialising this instance's parallel regions. */
	pthread_mutex_t mu;
	pthread_cond_t turn;
	uint64_t next_ticket; /* handed to the next caller; under mu */
	uint64_t serving;     /* the ticket that may run now; under mu */
};

struct omp_conf {
	uint64_t threads;
};

static const struct hpc_setting_spec omp_schema[] = {
    {.key = "threads",
     .type = HPC_SETTING_UINT,
     .min = 1,
     .max = HPC_OMP_MAX_THREADS,
     .def = "online CPUs",
     .help = "OpenMP threads per job",
     .offset = offsetof(struct omp_conf, threads)},
    {.key = NULL},
};

/*
 * Waiters sleep on a condition variable rather than spin: the holder runs a
 * team of busy threads, and spinning callers would steal their cores.
 */
static void ticket_acquire(struct omp_instance *inst)
{
	pthread_mutex_lock(&inst->mu);
	uint64_t me = inst->next_ticket++;
	while (inst->serving != me)
		pthread_cond_wait(&inst->turn, &inst->mu);
	pthread_mutex_unlock(&inst->mu);
}

static void ticket_release(struct omp_instance *inst)
{
	pthread_mutex_lock(&inst->mu);
	inst->serving++;
	/* Waiters hold different tickets; each wakes, and only the next one proceeds. */
	pthread_cond_broadcast(&inst->turn);
	pthread_mutex_unlock(&inst->mu);
}

/*
 * libgomp keeps a pool of threads per calling thread, parked inside its own
 * code, and a thread-exit destructor that frees the pool. If the daemon
 * dlclose()s this plugin (reload) and nothing else holds libgomp, libgomp
 * would be unmapped under those threads and they would crash on their next
 * wake-up or exit. Pinning libgomp (not this plugin) keeps them safe while
 * still letting a rebuilt plugin be unloaded and loaded again.
 */
static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

static void pin_libgomp(void)
{
	void *h = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
	(void)h; /* deliberately never closed */
}

static long online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > HPC_OMP_MAX_THREADS ? HPC_OMP_MAX_THREADS : n;
}

static int omp_open(struct hpc_open_args *args, void **state)
{
	if (!args || !state || (args->nsettings && !args->settings))
		return -EINVAL;

	struct omp_conf c = {.threads = (uint64_t)online_cpus()};
	int rc = hpcb_settings_apply(omp_schema, args, &c, NULL);
	if (rc < 0)
		return rc;

	struct omp_instance *inst = calloc(1, sizeof(*inst));
	if (!inst) {
		hpcb_err(args, -1, "out of memory.");
		return -ENOMEM;
	}
	inst->threads = (int)c.threads;
	rc = pthread_mutex_init(&inst->mu, NULL);
	if (rc == 0) {
		rc = pthread_cond_init(&inst->turn, NULL);
		if (rc)
			pthread_mutex_destroy(&inst->mu);
	}
	if (rc) {
		free(inst);
		hpcb_err(args, -1, "cannot create the instance's lock: %s.", strerror(rc));
		return -rc;
	}

	pthread_once(&pin_once, pin_libgomp);
	int isa = hpc_omp_isa();
	hpcb_log(args->host, HPC_LOG_INFO, "kernels: %s (widest on this CPU: %s)",
		 hpc_omp_isa_name(isa), hpc_omp_isa_name(hpc_omp_isa_best()));
	if ((long)c.threads > online_cpus())
		hpcb_log(args->host, HPC_LOG_WARN,
			 "threads=%llu is more than the %ld online CPUs: parallel jobs will "
			 "oversubscribe them",
			 (unsigned long long)c.threads, online_cpus());
	*state = inst;
	return 0;
}

static void dispatch(struct hpc_job *job, int t)
{
	const uint64_t m = job->m, n = job->n, k = job->k;
	if (job->dtype == HPC_F64) {
		switch (job->op) {
		case HPC_OP_MATVEC:
			hpc_omp_matvec_f64(job->a, job->b, job->out, m, n, t);
			break;
		case HPC_OP_MATMUL:
			hpc_omp_matmul_f64(job->a, job->b, job->out, m, n, k, t);
			break;
		case HPC_OP_DOT:
			job->result = hpc_omp_dot_f64(job->a, job->b, n, t);
			break;
		case HPC_OP_SUM:
			job->result = hpc_omp_sum_f64(job->a, n, t);
			break;
		case HPC_OP_AXPY:
			hpc_omp_axpy_f64(job->alpha, job->a, job->out, n, t);
			break;
		}
	} else {
		switch (job->op) {
		case HPC_OP_MATVEC:
			hpc_omp_matvec_f32(job->a, job->b, job->out, m, n, t);
			break;
		case HPC_OP_MATMUL:
			hpc_omp_matmul_f32(job->a, job->b, job->out, m, n, k, t);
			break;
		case HPC_OP_DOT:
			job->result = hpc_omp_dot_f32(job->a, job->b, n, t);
			break;
		case HPC_OP_SUM:
			job->result = hpc_omp_sum_f32(job->a, n, t);
			break;
		case HPC_OP_AXPY:
			hpc_omp_axpy_f32(job->alpha, job->a, job->out, n, t);
			break;
		}
	}
}

static int omp_run(void *state, struct hpc_job *job)
{
	struct omp_instance *inst = state;
	if (!inst)
		return -EINVAL;
	int rc = hpcb_check_job(job);
	if (rc)
		return rc;

	uint64_t per = job->op == HPC_OP_MATMUL ? OMP_MADDS_PER_THREAD : OMP_ELEMS_PER_THREAD;
	uint64_t t = hpcb_job_work(job) / per;
	if (t > (uint64_t)inst->threads)
		t = (uint64_t)inst->threads;
	if (t < 2) {
		dispatch(job, 1);
		return 0;
	}
	ticket_acquire(inst);
	dispatch(job, (int)t);
	ticket_release(inst);
	return 0;
}

static void omp_close(void *state)
{
	struct omp_instance *inst = state;
	if (!inst)
		return;
	pthread_cond_destroy(&inst->turn);
	pthread_mutex_destroy(&inst->mu);
	free(inst);
}

static int omp_describe(void *state, char *buf, size_t len)
{
	const struct omp_instance *inst = state;
	if (!inst || !buf || len == 0)
		return -EINVAL;
	int n = snprintf(buf, len, "threads=%d", inst->threads);
	return n >= 0 && (size_t)n < len ? 0 : -ENOSPC;
}

/* The ops table and the plugin's one export (hpc/plugin.h). */
HPC_PLUGIN_DEFINE(omp_ops, .name = "openmp", .version = "0.1.0", .ops_f64 = HPC_OPS_ALL,
		  .ops_f32 = HPC_OPS_ALL, .schema = omp_schema, .open = omp_open, .run = omp_run,
		  .close = omp_close, .describe = omp_describe)

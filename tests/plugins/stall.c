/*
 * tests/plugins/stall.c - a plugin that is slow or stuck where the daemon
 * must not wait for it, for the front-door liveness tests:
 *   open_ms = N      open() takes N ms (an MPI start, a slow device)
 *   forget_ms = N    forget_region() takes N ms (a stopped worker process)
 *   close_ms = N     close() takes N ms
 *   run_ms = N       run() takes N ms (a hung device, a backend that never returns)
 *   crash_locked = 1 run() takes the instance's mutex and then faults with it
 *                    held; describe() and close() take the same mutex, so a
 *                    daemon that called them again would hang for good
 * Otherwise run() computes sum and dot correctly (a healthy backend).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hpc/plugin.h"
#include "tests/plugins/vector_kernel.h"

struct stall {
	pthread_mutex_t lock;
	unsigned long open_ms, forget_ms, close_ms, run_ms;
	int crash_locked;
	unsigned long forgets; /* under lock */
};

static const char *const stall_settings[] = {"open_ms", "forget_ms",    "close_ms",
					     "run_ms",  "crash_locked", NULL};

/* volatile, so the compiler cannot see it is NULL and turn the store into a trap instruction. */
static int *volatile stall_target;

static void sleep_ms(unsigned long ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int stall_open(struct hpc_open_args *args, void **state)
{
	struct stall *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	for (uint32_t i = 0; i < args->nsettings; i++) {
		const char *k = args->settings[i].key;
		unsigned long v = strtoul(args->settings[i].value, NULL, 10);
		if (!strcmp(k, "open_ms"))
			s->open_ms = v;
		else if (!strcmp(k, "forget_ms"))
			s->forget_ms = v;
		else if (!strcmp(k, "close_ms"))
			s->close_ms = v;
		else if (!strcmp(k, "run_ms"))
			s->run_ms = v;
		else if (!strcmp(k, "crash_locked"))
			s->crash_locked = v != 0;
	}
	sleep_ms(s->open_ms);
	*state = s;
	return 0;
}

static int stall_run(void *state, struct hpc_job *job)
{
	struct stall *s = state;
	if (s->crash_locked) {
		pthread_mutex_lock(&s->lock);
		*stall_target = 42; /* dies here, the mutex held */
		pthread_mutex_unlock(&s->lock);
	}
	sleep_ms(s->run_ms);
	if (job->dtype != HPC_F64)
		return -EOPNOTSUPP;
	tp_dot_or_sum(job);
	return 0;
}

static void stall_close(void *state)
{
	struct stall *s = state;
	sleep_ms(s->close_ms);
	pthread_mutex_lock(&s->lock);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int stall_describe(void *state, char *buf, size_t len)
{
	struct stall *s = state;
	pthread_mutex_lock(&s->lock);
	snprintf(buf, len, "forgets=%lu", s->forgets);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void stall_forget(void *state, uint64_t region_id)
{
	struct stall *s = state;
	sleep_ms(s->forget_ms);
	pthread_mutex_lock(&s->lock);
	s->forgets++;
	pthread_mutex_unlock(&s->lock);
}

/* The ops table and the plugin's one export (hpc/plugin.h). */
HPC_PLUGIN_DEFINE(stall_ops, .name = "stall", .version = "0.0.1",
		  .ops_f64 = HPC_OP_BIT(HPC_OP_SUM) | HPC_OP_BIT(HPC_OP_DOT), .ops_f32 = 0,
		  .settings = stall_settings, .open = stall_open, .run = stall_run,
		  .close = stall_close, .describe = stall_describe, .forget_region = stall_forget)

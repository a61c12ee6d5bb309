/*
 * daemon/tasks.h - slow work handed off by the event loop.
 *
 * The event loop is the daemon's front door: it must answer `status` and
 * accept clients while a backend opens (an MPI start may take its
 * start_timeout), closes, forgets a departed client's region (a stopped
 * worker process may take its deadline) or hangs. Everything that calls into
 * a plugin outside a job therefore runs here, on a small pool of task
 * threads (after nginx, whose master builds a new cycle while workers serve),
 * and comes back to the event loop as an event: each task has a `done`
 * callback that the event loop runs once the task's work returned, when it
 * dispatches the eventfd below.
 *
 * Threads start on demand, up to a maximum; a task that hangs (a plugin
 * deadlocked) occupies one thread and delays nothing else unless every
 * thread hangs. Threads: submit, dispatch and the accessors are for the
 * event loop's thread only; work runs on a task thread.
 */
#ifndef HPCD_TASKS_H
#define HPCD_TASKS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hpcd_tasks;

typedef void (*hpcd_task_fn)(void *arg);

/*
 * A pool of at most max_threads task threads (none started yet) whose
 * completions are signalled on an eventfd. Returns 0 or a negative errno.
 */
int hpcd_tasks_create(unsigned max_threads, struct hpcd_tasks **out);

/* The eventfd that becomes readable when done callbacks are waiting. */
int hpcd_tasks_fd(const struct hpcd_tasks *t);

/*
 * Run work(arg) on a task thread, then done(arg) on the event loop (either
 * may be NULL). Never blocks. When no thread can be started at all and none
 * runs, the work runs on the calling thread rather than never (and a warning
 * says so). Returns 0, or -ENOMEM (nothing queued; the caller still owns arg).
 */
int hpcd_tasks_submit(struct hpcd_tasks *t, hpcd_task_fn work, hpcd_task_fn done, void *arg);

/* Event loop: run the done callbacks of finished tasks, in finishing order. */
void hpcd_tasks_dispatch(struct hpcd_tasks *t);

/* Tasks submitted whose done callback has not run yet. */
unsigned hpcd_tasks_pending(const struct hpcd_tasks *t);

/*
 * Wait until every task has finished and been dispatched, or until
 * deadline_ns (CLOCK_MONOTONIC) passes. Returns 0, or -ETIMEDOUT with the
 * number still unfinished in *stuck: those are abandoned (their threads keep
 * running until the process exits; their done callbacks never run).
 */
int hpcd_tasks_drain(struct hpcd_tasks *t, uint64_t deadline_ns, unsigned *stuck);

/*
 * Free the pool. Only after hpcd_tasks_drain(): an idle pool is freed whole;
 * one with abandoned tasks is left allocated for their threads (the process
 * is about to exit).
 */
void hpcd_tasks_destroy(struct hpcd_tasks *t);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_TASKS_H */

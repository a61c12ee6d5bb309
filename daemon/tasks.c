#include "daemon/tasks.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/log.h"
#include "ipc/ring.h"

struct task {
	struct task *next;
	hpcd_task_fn work, done;
	void *arg;
};

struct hpcd_tasks {
	pthread_mutex_t lock;
	pthread_cond_t work_cv;           /* a task was queued, or the pool is closing */
	pthread_cond_t exit_cv;           /* a thread exited */
	struct task *queue, **queue_tail; /* submitted, not started */
	struct task *done, **done_tail;   /* finished, done callback not run */
	unsigned threads, idle, max_threads;
	unsigned pending; /* event loop only: submitted and not dispatched */
	int closing;
	int fd; /* eventfd */
};

static void *task_thread(void *arg)
{
	struct hpcd_tasks *t = arg;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->queue && !t->closing) {
			t->idle++;
			pthread_cond_wait(&t->work_cv, &t->lock);
			t->idle--;
		}
		if (!t->queue)
			break; /* closing, and nothing left to do */
		struct task *k = t->queue;
		t->queue = k->next;
		if (!t->queue)
			t->queue_tail = &t->queue;
		pthread_mutex_unlock(&t->lock);

		if (k->work)
			k->work(k->arg);

		pthread_mutex_lock(&t->lock);
		k->next = NULL;
		*t->done_tail = k;
		t->done_tail = &k->next;
		uint64_t one = 1;
		ssize_t w = write(t->fd, &one, sizeof(one));
		(void)w; /* an eventfd write of 1 cannot fail short of overflow */
	}
	t->threads--;
	pthread_cond_broadcast(&t->exit_cv);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int hpcd_tasks_create(unsigned max_threads, struct hpcd_tasks **out)
{
	struct hpcd_tasks *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->fd < 0) {
		int rc = -errno;
		free(t);
		return rc;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->work_cv, NULL);
	pthread_cond_init(&t->exit_cv, NULL);
	t->queue_tail = &t->queue;
	t->done_tail = &t->done;
	t->max_threads = max_threads ? max_threads : 1;
	*out = t;
	return 0;
}

int hpcd_tasks_fd(const struct hpcd_tasks *t)
{
	return t->fd;
}

int hpcd_tasks_submit(struct hpcd_tasks *t, hpcd_task_fn work, hpcd_task_fn done, void *arg)
{
	struct task *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->work = work;
	k->done = done;
	k->arg = arg;
	t->pending++;

	pthread_mutex_lock(&t->lock);
	*t->queue_tail = k;
	t->queue_tail = &k->next;
	int start = !t->idle && t->threads < t->max_threads;
	int rc = 0;
	if (start) {
		pthread_t th;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = -pthread_create(&th, &attr, task_thread, t);
		pthread_attr_destroy(&attr);
		if (rc == 0)
			t->threads++;
	}
	int alone = rc < 0 && t->threads == 0;
	if (!alone)
		pthread_cond_signal(&t->work_cv);
	pthread_mutex_unlock(&t->lock);

	if (alone) {
		/* No thread will ever take it: late is better than never. */
		hpcd_warn("cannot start a task thread (%s); running the task on the event loop",
			  strerror(-rc));
		pthread_mutex_lock(&t->lock);
		t->queue = k->next; /* k is the only task: no thread exists to queue for */
		t->queue_tail = &t->queue;
		pthread_mutex_unlock(&t->lock);
		if (work)
			work(arg);
		if (done)
			done(arg);
		free(k);
		t->pending--;
	}
	return 0;
}

void hpcd_tasks_dispatch(struct hpcd_tasks *t)
{
	uint64_t cnt;
	ssize_t r = read(t->fd, &cnt, sizeof(cnt));
	(void)r;
	pthread_mutex_lock(&t->lock);
	struct task *k = t->done;
	t->done = NULL;
	t->done_tail = &t->done;
	pthread_mutex_unlock(&t->lock);
	while (k) {
		struct task *next = k->next;
		if (k->done)
			k->done(k->arg);
		free(k);
		t->pending--;
		k = next;
	}
}

unsigned hpcd_tasks_pending(const struct hpcd_tasks *t)
{
	return t->pending;
}

int hpcd_tasks_drain(struct hpcd_tasks *t, uint64_t deadline_ns, unsigned *stuck)
{
	for (;;) {
		hpcd_tasks_dispatch(t);
		if (!t->pending)
			return 0;
		uint64_t now = hpci_now_ns();
		if (now >= deadline_ns)
			break;
		uint64_t left_ms = (deadline_ns - now + 999999) / 1000000;
		struct pollfd p = {.fd = t->fd, .events = POLLIN};
		poll(&p, 1, left_ms > 60000 ? 60000 : (int)left_ms);
	}
	if (stuck)
		*stuck = t->pending;
	return -ETIMEDOUT;
}

void hpcd_tasks_destroy(struct hpcd_tasks *t)
{
	if (!t)
		return;
	if (t->pending)
		return; /* abandoned tasks' threads still use it; the process is exiting */
	pthread_mutex_lock(&t->lock);
	t->closing = 1;
	pthread_cond_broadcast(&t->work_cv);
	while (t->threads)
		pthread_cond_wait(&t->exit_cv, &t->lock);
	pthread_mutex_unlock(&t->lock);
	close(t->fd);
	pthread_cond_destroy(&t->work_cv);
	pthread_cond_destroy(&t->exit_cv);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

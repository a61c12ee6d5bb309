/*
 * plugins/forkpool/pool.c - starting, talking to and reaping the worker
 * processes of a forkpool instance (see pool.h).
 *
 * Why posix_spawn and not fork(): the daemon is multi-threaded, and a child
 * of plain fork() inherits every lock another thread held at that moment
 * (malloc's among them) locked forever. posix_spawn execs at once (glibc uses
 * clone(CLONE_VM | CLONE_VFORK)), so the worker starts from a clean image; it
 * gets its socket as fd 3, no other fd of the daemon (closefrom 4: a worker
 * must never keep a client's memfd or socket alive) and an empty signal mask
 * (the daemon blocks its signals for its signalfd).
 */
#include "plugins/forkpool/pool.h"

#include "plugins/base/fdpass.h"
#include "plugins/base/plugin_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010u /* Linux 6.3: executable memfd, whatever vm.memfd_noexec says */
#endif

/* The worker executable, generated from //plugins:hpc_forkpool_worker (worker_blob.c). */
extern const unsigned char fp_worker_blob[];
extern const size_t fp_worker_blob_len;

int fp_pool_use_embedded(struct fp_pool *p)
{
	int fd = memfd_create("hpc_forkpool_worker", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL) /* before 6.3 */
		fd = memfd_create("hpc_forkpool_worker", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	int rc = 0;
	for (size_t done = 0; done < fp_worker_blob_len;) {
		ssize_t n = write(fd, fp_worker_blob + done, fp_worker_blob_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (rc == 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		rc = -errno;
	/* execve refuses a file open for writing (ETXTBSY): keep a read-only fd only. */
	int ro = -1;
	if (rc == 0) {
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		ro = open(self, O_RDONLY | O_CLOEXEC);
		if (ro < 0)
			rc = -errno;
	}
	close(fd);
	if (rc < 0)
		return rc;
	/* The child execs by the daemon's /proc entry: its own copy of this fd is
	 * closed (closefrom) before the exec. */
	snprintf(p->path, sizeof(p->path), "/proc/%d/fd/%d", (int)getpid(), ro);
	p->exe_fd = ro;
	return 0;
}

void fp_describe_status(int status, char *buf, size_t len)
{
	if (status == -1)
		snprintf(buf, len, "status unknown");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, len, "status 0x%x", (unsigned)status);
}

static void set_pid(struct fp_pool *p, unsigned i, pid_t pid)
{
	pthread_mutex_lock(p->info_lock);
	p->w[i].pid = pid;
	pthread_mutex_unlock(p->info_lock);
}

static pid_t reap_pid(pid_t pid, int *status)
{
	pid_t r;
	do
		r = waitpid(pid, status, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

int fp_pool_spawn(struct fp_pool *p, unsigned i, char *err, size_t errlen)
{
	struct fp_worker *w = &p->w[i];
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		int e = errno;
		snprintf(err, errlen, "socketpair: %s", strerror(e));
		return -e;
	}
	/* Above FP_WORKER_FD, so that the dup2 below is a real dup that clears CLOEXEC. */
	int child = fcntl(sv[1], F_DUPFD_CLOEXEC, FP_WORKER_FD + 7);
	close(sv[1]);
	if (child < 0) {
		int e = errno;
		close(sv[0]);
		snprintf(err, errlen, "fcntl: %s", strerror(e));
		return -e;
	}

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	sigemptyset(&none);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, child, FP_WORKER_FD);
	posix_spawn_file_actions_addclosefrom_np(&fa, FP_WORKER_FD + 1);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	char *argv[] = {(char *)"hpc_forkpool_worker", NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, p->path, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(child);
	if (rc != 0) {
		close(sv[0]);
		snprintf(err, errlen, "cannot start the worker %s: %s", p->path, strerror(rc));
		return -rc;
	}
	w->sock = sv[0];
	w->chunk = -1;
	w->nregions = 0;
	set_pid(p, i, pid);

	struct fp_reply hello;
	rc = fp_pool_wait(p, i, &hello, 10000); /* sanitizer builds start slowly */
	if (rc == 0 && (hello.type != FP_HELLO || hello.version != FP_PROTO_VERSION ||
			hello.pid != (uint32_t)pid))
		rc = -EPROTO;
	if (rc < 0) {
		int st = -1;
		fp_pool_reap(p, i, true, &st);
		char why[96];
		if (rc == -EPIPE)
			fp_describe_status(st, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s",
				 rc == -ETIMEDOUT ? "no greeting within 10 s"
				 : rc == -EPROTO  ? "it does not speak this plugin's protocol"
						  : strerror(-rc));
		snprintf(err, errlen, "the worker %s failed to start (%s)", p->path, why);
		return rc == -EPIPE ? -ECHILD : rc;
	}
	return 0;
}

void fp_pool_reap(struct fp_pool *p, unsigned i, bool kill_it, int *status)
{
	struct fp_worker *w = &p->w[i];
	if (w->sock >= 0) {
		close(w->sock);
		w->sock = -1;
	}
	int st = -1;
	if (w->pid > 0) {
		if (kill_it)
			kill(w->pid, SIGKILL);
		if (reap_pid(w->pid, &st) != w->pid)
			st = -1; /* ECHILD: someone else reaped it (SIGCHLD ignored) */
	}
	if (status)
		*status = st;
	set_pid(p, i, 0);
	w->chunk = -1;
	w->nregions = 0;
}

void fp_pool_stop(struct fp_pool *p, int grace_ms)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->w[i].sock >= 0) {
			close(p->w[i].sock);
			p->w[i].sock = -1;
		}
	}
	uint64_t deadline = hpcb_now_ns() + (uint64_t)grace_ms * 1000000ull;
	for (;;) {
		unsigned left = 0;
		for (unsigned i = 0; i < p->n; i++) {
			pid_t pid = p->w[i].pid;
			if (pid <= 0)
				continue;
			int st;
			pid_t r = waitpid(pid, &st, WNOHANG);
			if (r == pid || (r < 0 && errno == ECHILD))
				set_pid(p, i, 0);
			else
				left++;
		}
		if (!left || hpcb_now_ns() >= deadline)
			break;
		usleep(1000);
	}
	for (unsigned i = 0; i < p->n; i++)
		if (p->w[i].pid > 0)
			fp_pool_reap(p, i, true, NULL);
	if (p->exe_fd >= 0) {
		close(p->exe_fd);
		p->exe_fd = -1;
	}
}

bool fp_pool_idle_dead(struct fp_pool *p, unsigned i)
{
	struct fp_worker *w = &p->w[i];
	if (w->pid <= 0 || w->sock < 0)
		return true;
	/* An idle worker never speaks first: anything readable is EOF or garbage. */
	struct pollfd pf = {.fd = w->sock, .events = POLLIN};
	return poll(&pf, 1, 0) != 0;
}

int fp_pool_send(struct fp_pool *p, unsigned i, const struct fp_chunk *req, int fd)
{
	struct fp_worker *w = &p->w[i];
	if (w->sock < 0)
		return -EPIPE;
	ssize_t n = hpcb_fd_send(w->sock, req, sizeof(*req), fd, 0);
	if (n < 0)
		return (int)n;
	return n == (ssize_t)sizeof(*req) ? 0 : -EPROTO;
}

int fp_pool_recv(struct fp_pool *p, unsigned i, struct fp_reply *r)
{
	struct fp_worker *w = &p->w[i];
	if (w->sock < 0)
		return -EPIPE;
	ssize_t n;
	do
		n = recv(w->sock, r, sizeof(*r), MSG_DONTWAIT | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
		return -EPIPE;
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(*r) ? 0 : -EPROTO;
}

int fp_pool_wait(struct fp_pool *p, unsigned i, struct fp_reply *r, int timeout_ms)
{
	struct fp_worker *w = &p->w[i];
	if (w->sock < 0)
		return -EPIPE;
	uint64_t deadline = hpcb_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		uint64_t now = hpcb_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd pf = {.fd = w->sock, .events = POLLIN};
		int rc = poll(&pf, 1, (int)((deadline - now + 999999) / 1000000));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			continue;
		rc = fp_pool_recv(p, i, r);
		if (rc != -EAGAIN)
			return rc;
	}
}

bool fp_worker_knows(const struct fp_worker *w, uint64_t region_id)
{
	for (uint32_t j = 0; j < w->nregions; j++)
		if (w->regions[j] == region_id)
			return true;
	return false;
}

void fp_worker_add_region(struct fp_worker *w, uint64_t region_id)
{
	if (fp_worker_knows(w, region_id) || w->nregions >= FP_MAX_REGIONS)
		return;
	w->regions[w->nregions++] = region_id;
}

void fp_worker_drop_region(struct fp_worker *w, uint64_t region_id)
{
	for (uint32_t j = 0; j < w->nregions; j++) {
		if (w->regions[j] == region_id) {
			memmove(&w->regions[j], &w->regions[j + 1],
				(w->nregions - j - 1) * sizeof(w->regions[0]));
			w->nregions--;
			return;
		}
	}
}

/*
 * plugins/forkpool/pool.c - starting, talking to and reaping the worker
 * processes of a forkpool instance (see pool.h).
 *
 * Workers are started and ended by the base's child supervision
 * (plugins/base/child.h: posix_spawn, deadline waits, SIGKILL and reaping).
 * A worker gets its socket as fd 3 and no other fd of the daemon beyond 0-2:
 * it must never keep a client's memfd or socket alive.
 */
#include "plugins/forkpool/pool.h"

#include "plugins/base/child.h"
#include "plugins/base/fdpass.h"
#include "plugins/base/plugin_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

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

static void set_pid(struct fp_pool *p, unsigned i, pid_t pid)
{
	pthread_mutex_lock(p->info_lock);
	p->w[i].pid = pid;
	pthread_mutex_unlock(p->info_lock);
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
	/* fds 0-2 as the daemon's, the socket as FP_WORKER_FD, nothing else. */
	const int fds[FP_WORKER_FD + 1] = {HPCB_CHILD_KEEP, HPCB_CHILD_KEEP, HPCB_CHILD_KEEP,
					   sv[1]};
	char *argv[] = {(char *)"hpc_forkpool_worker", NULL};
	const struct hpcb_child_spec spec = {
	    .path = p->path, .argv = argv, .fds = fds, .nfds = FP_WORKER_FD + 1};
	pid_t pid;
	int rc = hpcb_child_spawn(&spec, &pid);
	close(sv[1]);
	if (rc < 0) {
		close(sv[0]);
		snprintf(err, errlen, "cannot start the worker %s: %s", p->path, strerror(-rc));
		return rc;
	}
	w->sock = sv[0];
	w->chunk = -1;
	hpcb_idset_clear(&w->regions);
	set_pid(p, i, pid);

	struct fp_reply hello;
	rc = fp_pool_wait(p, i, &hello, 10000); /* sanitizer builds start slowly */
	if (rc == 0 && (hello.type != FP_HELLO || hello.version != FP_PROTO_VERSION ||
			hello.pid != (uint32_t)pid))
		rc = -EPROTO;
	if (rc < 0) {
		int st = -1;
		fp_pool_reap(p, i, &st);
		char why[96];
		if (rc == -EPIPE)
			hpcb_child_describe(st, why, sizeof(why));
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

void fp_pool_reap(struct fp_pool *p, unsigned i, int *status)
{
	struct fp_worker *w = &p->w[i];
	if (w->sock >= 0) {
		close(w->sock);
		w->sock = -1;
	}
	int st = -1;
	if (w->pid > 0)
		hpcb_child_stop(w->pid, 0, 0, 0, &st); /* -ECHILD: reaped elsewhere, st -1 */
	if (status)
		*status = st;
	set_pid(p, i, 0);
	w->chunk = -1;
	hpcb_idset_clear(&w->regions);
}

void fp_pool_stop(struct fp_pool *p, int grace_ms)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->w[i].sock >= 0) {
			close(p->w[i].sock);
			p->w[i].sock = -1;
		}
	}
	/* One deadline for all: they all saw EOF at once and exit side by side. */
	const uint64_t deadline = hpcb_now_ms() + (uint64_t)grace_ms;
	for (unsigned i = 0; i < p->n; i++) {
		if (p->w[i].pid > 0) {
			uint64_t now = hpcb_now_ms();
			hpcb_child_stop(p->w[i].pid,
					now < deadline ? (unsigned)(deadline - now) : 0, 0, 0,
					NULL);
			set_pid(p, i, 0);
		}
		hpcb_idset_free(&p->w[i].regions);
	}
	if (p->exe_fd >= 0) {
		close(p->exe_fd);
		p->exe_fd = -1;
	}
}

bool fp_pool_idle_dead(struct fp_pool *p, unsigned i)
{
	struct fp_worker *w = &p->w[i];
	/* An idle worker never speaks first: anything readable is EOF or garbage. */
	return w->sock < 0 || hpcb_child_idle_dead(w->pid, w->sock, false);
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

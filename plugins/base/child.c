/*
 * plugins/base/child.c - supervised child processes (see child.h).
 */
#include "plugins/base/child.h"

#include "plugins/base/plugin_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The most fds a spec may place (0, 1, 2 and a few channels are the need). */
#define CHILD_MAX_FDS 16
/* How long a SIGKILLed child may take to become a zombie before we give up on it. */
#define CHILD_KILL_MS 5000u
/* Without a pidfd, waits look this often. */
#define CHILD_POLL_NS 2000000L

int hpcb_child_spawn(const struct hpcb_child_spec *spec, pid_t *pid)
{
	if (!spec || !spec->path || !spec->argv || !pid || spec->nfds > CHILD_MAX_FDS ||
	    (spec->nfds && !spec->fds))
		return -EINVAL;
	/* Each source is first copied to nfds or above: then every dup2 below is a real
	 * dup (which clears close-on-exec, unlike dup2 of an fd onto itself), and no
	 * dup2 can overwrite a source that a later one still needs. */
	int tmp[CHILD_MAX_FDS];
	int rc = 0;
	unsigned made = 0;
	for (; made < spec->nfds; made++) {
		tmp[made] = -1;
		if (spec->fds[made] == HPCB_CHILD_KEEP)
			continue;
		tmp[made] = fcntl(spec->fds[made], F_DUPFD_CLOEXEC, (int)spec->nfds);
		if (tmp[made] < 0) {
			rc = -errno;
			break;
		}
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	if (rc == 0) {
		posix_spawn_file_actions_init(&fa);
		for (unsigned i = 0; i < spec->nfds; i++)
			if (tmp[i] >= 0)
				posix_spawn_file_actions_adddup2(&fa, tmp[i], (int)i);
		posix_spawn_file_actions_addclosefrom_np(&fa, (int)spec->nfds);
		posix_spawnattr_init(&at);
		sigset_t none;
		sigemptyset(&none);
		posix_spawnattr_setsigmask(&at, &none);
		short flags = POSIX_SPAWN_SETSIGMASK;
		if (spec->flags & HPCB_CHILD_SIGDEFAULT) {
			/* Ignored signals stay ignored across exec: a launcher such as mpirun
			 * needs the usual ones back to tear its job down. */
			static const int sigs[] = {SIGPIPE, SIGTERM, SIGINT,  SIGHUP,
						   SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2};
			sigset_t deflt;
			sigemptyset(&deflt);
			for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
				sigaddset(&deflt, sigs[i]);
			posix_spawnattr_setsigdefault(&at, &deflt);
			flags |= POSIX_SPAWN_SETSIGDEF;
		}
		if (spec->flags & HPCB_CHILD_PGROUP) {
			posix_spawnattr_setpgroup(&at, 0);
			flags |= POSIX_SPAWN_SETPGROUP;
		}
		posix_spawnattr_setflags(&at, flags);
		int src = strchr(spec->path, '/')
			      ? posix_spawn(pid, spec->path, &fa, &at, spec->argv, environ)
			      : posix_spawnp(pid, spec->path, &fa, &at, spec->argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&at);
		rc = -src;
	}
	for (unsigned i = 0; i < made; i++)
		if (tmp[i] >= 0)
			close(tmp[i]);
	return rc;
}

/*
 * Whether pid has exited, leaving it unreaped (WNOWAIT). Returns 0 (its
 * status in *status, as waitpid() encodes it), 1 while it runs, or -ECHILD.
 */
static int peek(pid_t pid, int *status)
{
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (si.si_pid != pid)
			return 1;
		if (si.si_code == CLD_EXITED)
			*status = (si.si_status & 0xff) << 8;
		else
			*status = (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
		return 0;
	}
}

/* A pidfd for pid (readable once it exits), or -1 where the kernel has none. */
static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

int hpcb_child_wait(pid_t pid, unsigned timeout_ms, int *status)
{
	if (pid <= 0)
		return -EINVAL;
	const uint64_t deadline = hpcb_now_ms() + timeout_ms;
	int pfd = -1, st = -1, rc;
	bool tried = false;
	for (;;) {
		rc = peek(pid, &st);
		if (rc <= 0)
			break;
		uint64_t now = hpcb_now_ms();
		if (now >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		if (!tried) { /* only for a wait that really waits */
			pfd = pidfd_of(pid);
			tried = true;
		}
		uint64_t left = deadline - now;
		if (pfd >= 0) {
			struct pollfd p = {.fd = pfd, .events = POLLIN};
			poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		} else {
			long ns = left * 1000000u < (uint64_t)CHILD_POLL_NS
				      ? (long)(left * 1000000u)
				      : CHILD_POLL_NS;
			struct timespec ts = {0, ns};
			nanosleep(&ts, NULL);
		}
	}
	if (pfd >= 0)
		close(pfd);
	if (status)
		*status = rc == 0 ? st : -1;
	return rc;
}

int hpcb_child_stop(pid_t pid, unsigned grace_ms, unsigned term_ms, unsigned flags, int *status)
{
	int st = -1;
	if (status)
		*status = -1;
	if (pid <= 0)
		return -EINVAL;
	int rc = grace_ms ? hpcb_child_wait(pid, grace_ms, &st) : -ETIMEDOUT;
	if (rc == -ETIMEDOUT && term_ms) {
		kill(pid, SIGTERM);
		rc = hpcb_child_wait(pid, term_ms, &st);
	}
	/* The child is alive or an unreaped zombie, so its process group id is still
	 * ours: the group kill cannot reach a stranger. */
	if (rc != -ECHILD && (flags & HPCB_CHILD_PGROUP))
		kill(-pid, SIGKILL);
	if (rc == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		rc = hpcb_child_wait(pid, CHILD_KILL_MS, &st);
	}
	if (rc < 0)
		return rc; /* -ECHILD: reaped by someone else (SIGCHLD ignored) */
	/* It has exited: this does not block. */
	int reaped;
	pid_t r;
	do
		r = waitpid(pid, &reaped, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (status)
		*status = st;
	return 0;
}

bool hpcb_child_idle_dead(pid_t pid, int fd, bool drop_stale)
{
	if (pid <= 0)
		return true;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (fd >= 0 && poll(&p, 1, 0) > 0) {
		if ((p.revents & (POLLHUP | POLLERR | POLLNVAL)) || !drop_stale)
			return true;
		char buf[512];
		ssize_t n;
		while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC)) > 0)
			;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return true;
	}
	return hpcb_child_wait(pid, 0, NULL) != -ETIMEDOUT;
}

void hpcb_child_describe(int status, char *buf, size_t len)
{
	if (status == -1)
		snprintf(buf, len, "ended (status unknown)");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(buf, len, "ended (status 0x%x)", (unsigned)status);
}

/*
 * plugins/base/child.h - child processes of a backend, supervised: start one
 * from a clean slate, wait for it with a deadline, tell whether an idle one
 * is gone, and end it (SIGTERM, then SIGKILL) so that nothing is left behind,
 * not even a zombie.
 *
 * What stays with each backend is its policy: when to replace a child, how
 * often a job is retried, what its channel says. forkpool replaces a worker
 * at once and retries a chunk once; mpi restarts its MPI job lazily, with
 * the next job, and resends a job that never reached the ranks.
 *
 * Every wait here has a deadline ("every wait on another process has a
 * deadline"): waits poll a pidfd where the kernel has one, else sleep in
 * short steps; none calls a blocking waitpid().
 *
 * Private to the project: linked into the plugins.
 */
#ifndef HPCB_CHILD_H
#define HPCB_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* hpcb_child_spec.flags and hpcb_child_stop()'s flags. */
#define HPCB_CHILD_PGROUP 1u     /* a process group of its own; stop kills the group too */
#define HPCB_CHILD_SIGDEFAULT 2u /* SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, ... to SIG_DFL */

/* hpcb_child_spec.fds[i]: the child's fd i is the parent's fd i, as it is. */
#define HPCB_CHILD_KEEP (-1)

/* What to start. */
struct hpcb_child_spec {
	const char *path;  /* the program; a name without '/' is looked up on PATH */
	char *const *argv; /* NULL-terminated */
	const int *fds;    /* the child's fd i becomes fds[i], for i < nfds ... */
	unsigned nfds;     /* ... and every other fd of the parent is closed in it */
	unsigned flags;    /* HPCB_CHILD_* */
};

/*
 * Start a child with posix_spawn (not fork(): the daemon is multi-threaded,
 * and a forked child inherits other threads' locks held forever) and an empty
 * signal mask (the daemon blocks its signals for a signalfd). The child gets
 * exactly the fds the spec names: a client's memfd or socket must never stay
 * alive in it. The parent's fds are not changed. Returns 0 and the pid in
 * *pid, or a negative errno (-ENOENT: no such program).
 */
int hpcb_child_spawn(const struct hpcb_child_spec *spec, pid_t *pid);

/*
 * Wait up to timeout_ms (0: only look) for child pid to exit, without reaping
 * it: a zombie keeps its pid and process group reserved, so that a later
 * kill of them cannot reach a stranger. Returns 0 when it has exited (its
 * wait status in *status, which may be NULL), -ETIMEDOUT when it still runs,
 * or -ECHILD when it is not (or no longer) a child of ours (*status = -1).
 */
int hpcb_child_wait(pid_t pid, unsigned timeout_ms, int *status);

/*
 * End child pid and reap it: grace_ms for it to exit on its own (it was told
 * to: its channel closed), then SIGTERM and term_ms more (term_ms 0: no
 * SIGTERM), then SIGKILL - to its process group as well with
 * HPCB_CHILD_PGROUP, also when the child itself had exited, as its
 * descendants may not have. A SIGKILLed child is reaped within a few seconds;
 * one that the kernel holds longer is left, with -ETIMEDOUT. Returns 0 with
 * its wait status in *status (-1 when unknown; may be NULL), or a negative
 * errno. Takes about grace_ms + term_ms at most.
 */
int hpcb_child_stop(pid_t pid, unsigned grace_ms, unsigned term_ms, unsigned flags, int *status);

/*
 * Whether an idle child is gone: it has exited, or its end of channel fd
 * (a socket; -1: none) hung up. An idle child says nothing unasked: anything
 * readable is read and dropped, and counts as death unless drop_stale (a
 * late reply to a request that was given up on). Does not wait.
 */
bool hpcb_child_idle_dead(pid_t pid, int fd, bool drop_stale);

/* "exited with status 1", "killed by signal 9 (Killed)": a wait status, for log lines. */
void hpcb_child_describe(int status, char *buf, size_t len);

#endif /* HPCB_CHILD_H */

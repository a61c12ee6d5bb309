/*
 * mpi - a bridge to an Open MPI job: hpcd keeps `mpirun -n NP hpc_mpi_worker`
 * running and hands it work; rank 0 of that job talks to this plugin over a
 * Unix socket (plugins/mpi/proto.h) and the ranks split each job between them
 * (plugins/mpi/worker.c).
 *
 * Settings (all optional):
 *   np            ranks, 1..1024 (default: online CPUs)
 *   hostfile      passed to mpirun --hostfile (relative to the config's folder)
 *   mpirun        the launcher: a name looked up on PATH or a path (default mpirun)
 *   mpirun_args   extra mpirun flags, split on blanks (e.g. --allow-run-as-root --oversubscribe)
 *   worker        the worker program (default: hpc_mpi_worker next to this plugin file)
 *   timeout       ms a job may take before it fails with ETIMEDOUT and the MPI job
 *                 is restarted, 1..86400000 (default 300000)
 *   start_timeout ms to wait at start for rank 0 to connect (default 30000)
 *   local_mmap    true: ranks on this host map the client's region (default true)
 *   resident      operand slots kept on the ranks across jobs, 0..64 (default 4)
 *
 * Life of the MPI job. open() starts mpirun with posix_spawn in a process
 * group of its own, with default signal dispositions and an empty signal mask
 * (the daemon blocks SIGTERM and friends in every thread), stdin from
 * /dev/null and stdout/stderr into a log file in a private 0700 folder, and
 * waits for rank 0 to connect and say hello - so that a missing or failing
 * mpirun fails open() (and `hpcd --check`) with mpirun's own words. close()
 * asks the ranks to finalize, waits for mpirun, and escalates to SIGTERM and
 * SIGKILL; finally any process whose command line still names the private
 * folder is killed. The ranks also die with mpirun (PR_SET_PDEATHSIG).
 *
 * Faults. A rank that dies takes the MPI job with it (Open MPI aborts it):
 * rank 0's socket closes, the job in flight fails with EIO, the reason (the
 * tail of mpirun's output) is logged, and the next job starts a fresh MPI
 * job. A job that takes longer than `timeout` fails with ETIMEDOUT and the
 * MPI job is killed and restarted likewise.
 *
 * Jobs go to the MPI job one at a time (the instance's mutex): the ranks run
 * one sequence of collectives. Regions: the first job of a client region
 * sends its memfd to rank 0 (SCM_RIGHTS); rank 0 keeps it until
 * forget_region(), which sends FORGET - at once when the channel is free,
 * else right after the job that holds it.
 */
#include <dlfcn.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hpc/plugin.h"
#include "plugins/base/plugin_util.h"
#include "plugins/mpi/proto.h"

extern char **environ;

#define MPI_MAX_NP 1024
#define MPI_MAX_ARGS 64
#define WORKER_NAME "hpc_mpi_worker"

struct mpi_inst {
	/* Settings, fixed after open(). */
	unsigned long np, timeout_ms, start_timeout_ms, resident;
	int local_mmap;
	char *hostfile, *mpirun, *worker, *args_buf;
	char *margs[MPI_MAX_ARGS];
	int nmargs;
	const struct hpc_host *host;

	/* The MPI job and its channel: one job at a time. */
	pthread_mutex_t mu;
	pid_t pid; /* mpirun, or -1 */
	int sock;  /* connected to rank 0, or -1 */
	char dir[64], sock_path[96], log_path[96];
	uint64_t seq;
	uint64_t *held; /* regions whose memfd rank 0 holds */
	size_t nheld, capheld;
	int launches;

	/* Regions to forget once the channel is free; also guards hosts. */
	pthread_mutex_t pmu;
	uint64_t *pending;
	size_t npending, cappending;
	char hosts[192];

	/* For describe(), read without the locks. */
	uint32_t up, np_run, nlocal, nmapped;
	uint64_t jobs, failures, restarts, hits;
};

static const char *const mpi_settings[] = {"np",       "hostfile", "mpirun",        "mpirun_args",
					   "worker",   "timeout",  "start_timeout", "local_mmap",
					   "resident", NULL};

/* ---- small helpers --------------------------------------------------------------------- */

static int host_can_log(const struct hpc_host *host)
{
	return host && host->size >= offsetof(struct hpc_host, log) + sizeof(host->log) &&
	       host->log;
}

#define LOG(inst, level, ...)                                                                      \
	do {                                                                                       \
		if (host_can_log((inst)->host))                                                    \
			(inst)->host->log((inst)->host, (level), __VA_ARGS__);                     \
	} while (0)

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* A path from the config: absolute as is, relative against the config's folder. */
static char *resolve(const char *dir, const char *path)
{
	if (path[0] == '/' || !dir || !*dir)
		return strdup(path);
	size_t n = strlen(dir) + strlen(path) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, path);
	return p;
}

/* The worker program next to this plugin's file, or NULL. */
static char *worker_next_to_plugin(void)
{
	Dl_info info;
	if (!dladdr((void *)&worker_next_to_plugin, &info) || !info.dli_fname)
		return NULL;
	const char *slash = strrchr(info.dli_fname, '/');
	if (!slash)
		return strdup("./" WORKER_NAME);
	size_t n = (size_t)(slash - info.dli_fname) + sizeof("/" WORKER_NAME);
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%.*s/" WORKER_NAME, (int)(slash - info.dli_fname), info.dli_fname);
	return p;
}

/* The last lines of mpirun's output (at most len - 1 bytes), newlines as "; ". */
static void log_tail(const struct mpi_inst *inst, char *buf, size_t len)
{
	buf[0] = 0;
	int fd = open(inst->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char raw[8192];
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof(raw) - 1 ? end - (off_t)sizeof(raw) + 1 : 0;
	ssize_t n = pread(fd, raw, sizeof(raw) - 1, from);
	close(fd);
	if (n <= 0)
		return;
	raw[n] = 0;
	/* Open MPI's usual complaints are long: say them in one line. */
	static const char *const known[][2] = {
	    {"attempt to run as root",
	     "Open MPI refuses to run as root unless mpirun_args has --allow-run-as-root"},
	    {"not enough slots",
	     "not enough slots for np ranks: add --oversubscribe to mpirun_args, lower np, "
	     "or give the hosts more slots in the hostfile"},
	    {"unable to reliably start one or more daemons",
	     "mpirun could not start its daemons on the hostfile's hosts: check password-less "
	     "ssh to each and that Open MPI is installed there"},
	    {"could not access or execute an executable",
	     "mpirun could not run the worker program on some host: it must exist at the same "
	     "path on every host"},
	};
	char flat[sizeof(raw)];
	for (ssize_t i = 0; i <= n; i++)
		flat[i] = raw[i] == '\n' ? ' ' : raw[i];
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strstr(flat, known[i][0])) {
			snprintf(buf, len, "%s", known[i][1]);
			return;
		}
	/* One line each, blanks squeezed; Open MPI frames its messages with lines of dashes. */
	size_t o = 0;
	for (char *save = NULL, *line = strtok_r(raw, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strspn(line, " -\t\r") == strlen(line))
			continue;
		if (o && o + 2 < len) {
			buf[o++] = ';';
			buf[o++] = ' ';
		}
		int blank = 1;
		for (char *c = line; *c && o + 1 < len; c++) {
			int sp = *c == ' ' || *c == '\t' || *c == '\r';
			if (sp && blank)
				continue;
			buf[o++] = sp ? ' ' : *c;
			blank = sp;
		}
		if (o && buf[o - 1] == ' ')
			o--;
	}
	buf[o] = 0;
	/* Keep the end: that is where mpirun says what happened. */
	size_t keep = len > 1 ? len - 1 : 0;
	if (o > keep)
		memmove(buf, buf + o - keep, keep + 1);
}

/* ---- the held-regions set and pending forgets ------------------------------------------ */

static int ids_find(const uint64_t *v, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return (int)i;
	return -1;
}

static int ids_add(uint64_t **v, size_t *n, size_t *cap, uint64_t id)
{
	if (ids_find(*v, *n, id) >= 0)
		return 0;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		uint64_t *p = realloc(*v, nc * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = nc;
	}
	(*v)[(*n)++] = id;
	return 0;
}

static void ids_del(uint64_t *v, size_t *n, uint64_t id)
{
	int i = ids_find(v, *n, id);
	if (i >= 0)
		v[i] = v[--*n];
}

/* ---- the MPI job -------------------------------------------------------------------------- */

static int send_req(struct mpi_inst *inst, const struct hpc_mpi_req *q, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = (void *)q, .iov_len = sizeof(*q)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(inst->sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(*q) ? 0 : -EIO;
}

/*
 * Wait up to timeout_ms for one reply. Returns 0, -ETIMEDOUT, or -EPIPE when
 * rank 0 is gone (the MPI job died).
 */
static int recv_reply(struct mpi_inst *inst, struct hpc_mpi_reply *r, uint64_t timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t left = deadline - now;
		struct pollfd p = {.fd = inst->sock, .events = POLLIN};
		int rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			continue;
		ssize_t n = recv(inst->sock, r, sizeof(*r), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		if ((size_t)n != sizeof(*r) || r->magic != HPC_MPI_MAGIC)
			return -EPROTO;
		r->msg[sizeof(r->msg) - 1] = 0;
		return 0;
	}
}

/* Wait up to ms for mpirun to exit; returns 1 (and its status) when it has. */
static int wait_exit(pid_t pid, unsigned ms, int *status)
{
	uint64_t deadline = now_ms() + ms;
	for (;;) {
		/* WNOWAIT: a zombie keeps its pid and process group reserved until stop_job(). */
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		int rc = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
		if (rc < 0 && errno == ECHILD)
			return 1;
		if (rc == 0 && si.si_pid == pid) {
			/* The encoding of waitpid()'s status, for WIFEXITED and friends. */
			*status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8
							   : si.si_status & 0x7f;
			return 1;
		}
		if (now_ms() >= deadline)
			return 0;
		sleep_ms(5);
	}
}

/*
 * Kill every process whose command line contains token (the private folder's
 * name, which every rank has on its command line): the ranks of an mpirun
 * that could not clean up after itself.
 */
static int kill_by_token(const char *token)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	int killed = 0;
	pid_t self = getpid();
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		char path[64], buf[4096];
		snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[n] = 0;
		if (strstr(buf, token) && kill((pid_t)pid, SIGKILL) == 0)
			killed++;
	}
	closedir(d);
	return killed;
}

/*
 * End the MPI job, leaving nothing behind. graceful: ask the ranks to
 * finalize (closing the socket says the same). mpirun gets grace_ms to exit
 * on its own, then SIGTERM (it takes its ranks down), then after 3 s SIGKILL
 * for its process group; finally any process that still names the private
 * folder is killed. *status gets mpirun's wait status, *tail the end of its
 * output, when non-NULL. Under mu.
 */
static void stop_job(struct mpi_inst *inst, int graceful, unsigned grace_ms, int *status,
		     char *tail, size_t tlen)
{
	int st = 0, exited = inst->pid < 0;
	if (inst->sock >= 0) {
		if (graceful) {
			struct hpc_mpi_req q = {.magic = HPC_MPI_MAGIC, .type = HPC_MPI_STOP};
			send_req(inst, &q, -1);
		}
		/* Rank 0 takes EOF as STOP too. */
		close(inst->sock);
		inst->sock = -1;
	}
	if (inst->pid > 0) {
		exited = grace_ms && wait_exit(inst->pid, grace_ms, &st);
		if (!exited) {
			kill(inst->pid, SIGTERM);
			exited = wait_exit(inst->pid, 3000, &st);
		}
		/* mpirun is alive or a zombie not yet reaped, so its process group id is still
		 * ours: the group kill cannot reach a stranger. */
		kill(-inst->pid, SIGKILL);
		if (!exited)
			kill(inst->pid, SIGKILL);
		int reaped;
		waitpid(inst->pid, &reaped, 0);
		if (!exited)
			st = reaped;
	}
	if (inst->dir[0]) {
		int n = kill_by_token(inst->dir);
		if (n)
			LOG(inst, HPC_LOG_WARN, "killed %d leftover MPI process(es) of %s", n,
			    inst->dir);
		if (tail)
			log_tail(inst, tail, tlen);
		unlink(inst->sock_path);
		unlink(inst->log_path);
		rmdir(inst->dir);
		inst->dir[0] = 0;
	}
	if (status)
		*status = st;
	inst->pid = -1;
	inst->nheld = 0;
	__atomic_store_n(&inst->up, 0, __ATOMIC_RELAXED);
}

static void describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "mpirun exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "mpirun was killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "mpirun ended");
}

/*
 * Start mpirun and wait for rank 0's hello. Returns 0, or a negative errno
 * with one sentence in err. Under mu (or in open()).
 */
static int start_job(struct mpi_inst *inst, char *err, size_t errlen)
{
	int lsock = -1, logfd = -1, nullfd = -1, rc;
	strcpy(inst->dir, "/tmp/hpcd-mpi-XXXXXX");
	if (!mkdtemp(inst->dir)) {
		rc = -errno;
		snprintf(err, errlen, "cannot create a private folder in /tmp: %s.",
			 strerror(errno));
		inst->dir[0] = 0;
		return rc;
	}
	snprintf(inst->sock_path, sizeof(inst->sock_path), "%s/rank0.sock", inst->dir);
	snprintf(inst->log_path, sizeof(inst->log_path), "%s/mpirun.log", inst->dir);

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", inst->sock_path);
	lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lsock, 1) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s.", inst->sock_path, strerror(errno));
		goto fail;
	}
	logfd = open(inst->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (logfd < 0 || nullfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s.", inst->log_path, strerror(errno));
		goto fail;
	}

	/* mpirun [mpirun_args] -n NP [--hostfile F] WORKER --socket S --local-mmap L --resident R
	 */
	char np[24], res[24];
	snprintf(np, sizeof(np), "%lu", inst->np);
	snprintf(res, sizeof(res), "%lu", inst->resident);
	char *argv[MPI_MAX_ARGS + 16];
	int a = 0;
	argv[a++] = inst->mpirun;
	for (int i = 0; i < inst->nmargs; i++)
		argv[a++] = inst->margs[i];
	argv[a++] = "-n";
	argv[a++] = np;
	if (inst->hostfile) {
		argv[a++] = "--hostfile";
		argv[a++] = inst->hostfile;
	}
	argv[a++] = inst->worker;
	argv[a++] = "--socket";
	argv[a++] = inst->sock_path;
	argv[a++] = "--local-mmap";
	argv[a++] = inst->local_mmap ? "1" : "0";
	argv[a++] = "--resident";
	argv[a++] = res;
	argv[a] = NULL;

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, nullfd, 0);
	posix_spawn_file_actions_adddup2(&fa, logfd, 1);
	posix_spawn_file_actions_adddup2(&fa, logfd, 2);
	/* None of the daemon's other fds (client regions, sockets) may leak into the MPI job. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	sigset_t none, deflt;
	sigemptyset(&none);
	sigemptyset(&deflt);
	int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&deflt, sigs[i]);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					    POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	int src = strchr(inst->mpirun, '/')
		      ? posix_spawn(&pid, inst->mpirun, &fa, &attr, argv, environ)
		      : posix_spawnp(&pid, inst->mpirun, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(logfd);
	close(nullfd);
	logfd = nullfd = -1;
	if (src) {
		rc = -src;
		if (src == ENOENT)
			snprintf(err, errlen,
				 "mpirun not found: \"%s\" (install Open MPI, or set mpirun = PATH "
				 "to its launcher).",
				 inst->mpirun);
		else
			snprintf(err, errlen, "cannot start mpirun \"%s\": %s.", inst->mpirun,
				 strerror(src));
		goto fail;
	}
	inst->pid = pid;
	inst->launches++;

	/* Wait for rank 0, watching mpirun: a launcher that gives up is reported at once. */
	uint64_t deadline = now_ms() + inst->start_timeout_ms;
	char tail[240];
	for (;;) {
		struct pollfd p = {.fd = lsock, .events = POLLIN};
		int prc = poll(&p, 1, 50);
		if (prc > 0)
			break;
		int st = 0;
		if (wait_exit(pid, 0, &st)) {
			char why[64];
			describe_status(st, why, sizeof(why));
			log_tail(inst, tail, sizeof(tail));
			snprintf(err, errlen, "%s before rank 0 connected: %s", why,
				 tail[0] ? tail : "(no output)");
			rc = -EIO;
			goto fail;
		}
		if (now_ms() >= deadline) {
			log_tail(inst, tail, sizeof(tail));
			snprintf(
			    err, errlen, "rank 0 did not connect within %lu ms (start_timeout): %s",
			    inst->start_timeout_ms, tail[0] ? tail : "(mpirun printed nothing)");
			rc = -ETIMEDOUT;
			goto fail;
		}
	}
	inst->sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	if (inst->sock < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot accept rank 0's connection: %s.", strerror(errno));
		goto fail;
	}
	close(lsock);
	lsock = -1;
	unlink(inst->sock_path);
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(inst->sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    cred.uid != geteuid()) {
		rc = -EPERM;
		snprintf(err, errlen, "the process that connected as rank 0 is not ours.");
		goto fail;
	}
	struct hpc_mpi_reply hello;
	uint64_t left = deadline > now_ms() ? deadline - now_ms() : 1;
	rc = recv_reply(inst, &hello, left);
	if (rc < 0 || hello.type != HPC_MPI_HELLO) {
		snprintf(err, errlen, "rank 0 connected but sent no hello (%s).",
			 rc < 0 ? strerror(-rc) : "wrong message");
		rc = rc < 0 ? rc : -EPROTO;
		goto fail;
	}
	pthread_mutex_lock(&inst->pmu);
	snprintf(inst->hosts, sizeof(inst->hosts), "%s", hello.msg);
	pthread_mutex_unlock(&inst->pmu);
	__atomic_store_n(&inst->np_run, hello.np, __ATOMIC_RELAXED);
	__atomic_store_n(&inst->nlocal, hello.nlocal, __ATOMIC_RELAXED);
	__atomic_store_n(&inst->nmapped, hello.nmapped, __ATOMIC_RELAXED);
	__atomic_store_n(&inst->up, 1, __ATOMIC_RELAXED);
	inst->nheld = 0;
	LOG(inst, HPC_LOG_INFO,
	    "MPI job up: mpirun pid %d, np=%u on %s; %u rank(s) on this host, %u read client "
	    "regions directly",
	    (int)inst->pid, hello.np, hello.msg, hello.nlocal, hello.nmapped);
	return 0;

fail:
	if (lsock >= 0)
		close(lsock);
	if (logfd >= 0)
		close(logfd);
	if (nullfd >= 0)
		close(nullfd);
	stop_job(inst, 0, 0, NULL, NULL, 0);
	return rc;
}

/* Send FORGET for the pending regions that rank 0 holds. Under mu. */
static void flush_forgets(struct mpi_inst *inst)
{
	for (;;) {
		pthread_mutex_lock(&inst->pmu);
		if (!inst->npending) {
			pthread_mutex_unlock(&inst->pmu);
			return;
		}
		uint64_t id = inst->pending[--inst->npending];
		pthread_mutex_unlock(&inst->pmu);
		if (inst->sock >= 0 && ids_find(inst->held, inst->nheld, id) >= 0) {
			struct hpc_mpi_req q = {
			    .magic = HPC_MPI_MAGIC, .type = HPC_MPI_FORGET, .region_id = id};
			send_req(inst, &q, -1); /* a dead job is noticed by the next job */
		}
		ids_del(inst->held, &inst->nheld, id);
	}
}

static int has_pending(struct mpi_inst *inst)
{
	pthread_mutex_lock(&inst->pmu);
	int n = inst->npending != 0;
	pthread_mutex_unlock(&inst->pmu);
	return n;
}

/* ---- settings --------------------------------------------------------------------------- */

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static void inst_free(struct mpi_inst *inst)
{
	free(inst->hostfile);
	free(inst->mpirun);
	free(inst->worker);
	free(inst->args_buf);
	free(inst->held);
	free(inst->pending);
	pthread_mutex_destroy(&inst->mu);
	pthread_mutex_destroy(&inst->pmu);
	free(inst);
}

static int parse_settings(struct hpc_open_args *args, struct mpi_inst *inst)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	inst->np = ncpu < 1 ? 1 : ncpu > MPI_MAX_NP ? MPI_MAX_NP : (unsigned long)ncpu;
	inst->timeout_ms = 300000;
	inst->start_timeout_ms = 30000;
	inst->resident = 4;
	inst->local_mmap = 1;
	int32_t seen[16];
	for (int i = 0; i < 16; i++)
		seen[i] = -1;
	int32_t mpirun_at = -1, worker_at = -1, hostfile_at = -1;

	for (uint32_t i = 0; i < args->nsettings; i++) {
		const struct hpc_setting *s = &args->settings[i];
		const char *key = s->key ? s->key : "", *val = s->value ? s->value : "";
		int idx = -1;
		for (int j = 0; mpi_settings[j]; j++)
			if (!strcmp(key, mpi_settings[j]))
				idx = j;
		if (idx < 0) {
			hpcb_err(
			    args, (int32_t)i,
			    "unknown setting \"%s\": the mpi backend accepts np, hostfile, "
			    "mpirun, mpirun_args, worker, timeout, start_timeout, "
			    "local_mmap and resident.",
			    key);
			return -EINVAL;
		}
		if (seen[idx] >= 0) {
			hpcb_err(args, (int32_t)i, "%s is set more than once.", key);
			return -EINVAL;
		}
		seen[idx] = (int32_t)i;
		unsigned long v;
		if (!strcmp(key, "np")) {
			if (hpcb_parse_uint(val, 1, MPI_MAX_NP, &v) < 0) {
				hpcb_err(
				    args, (int32_t)i,
				    "np must be a whole number from 1 to %d, not \"%s\".",
				    MPI_MAX_NP, val);
				return -EINVAL;
			}
			inst->np = v;
		} else if (!strcmp(key, "timeout") || !strcmp(key, "start_timeout")) {
			if (hpcb_parse_uint(val, 1, 86400000, &v) < 0) {
				hpcb_err(
				    args, (int32_t)i,
				    "%s must be a whole number of milliseconds from 1 to "
				    "86400000, not \"%s\".",
				    key, val);
				return -EINVAL;
			}
			if (key[0] == 't')
				inst->timeout_ms = v;
			else
				inst->start_timeout_ms = v;
		} else if (!strcmp(key, "resident")) {
			if (hpcb_parse_uint(val, 0, 64, &v) < 0) {
				hpcb_err(
				    args, (int32_t)i,
				    "resident must be a whole number from 0 to 64, not "
				    "\"%s\".",
				    val);
				return -EINVAL;
			}
			inst->resident = v;
		} else if (!strcmp(key, "local_mmap")) {
			if (parse_bool(val, &inst->local_mmap) < 0) {
				hpcb_err(args, (int32_t)i,
						 "local_mmap must be true or false, not \"%s\".",
						 val);
				return -EINVAL;
			}
		} else if (!strcmp(key, "mpirun_args")) {
			free(inst->args_buf);
			inst->args_buf = strdup(val);
			if (!inst->args_buf)
				return -ENOMEM;
			inst->nmargs = 0;
			for (char *save = NULL, *t = strtok_r(inst->args_buf, " \t", &save); t;
			     t = strtok_r(NULL, " \t", &save)) {
				if (inst->nmargs == MPI_MAX_ARGS) {
					hpcb_err(args, (int32_t)i,
							 "mpirun_args has more than %d words.",
							 MPI_MAX_ARGS);
					return -EINVAL;
				}
				inst->margs[inst->nmargs++] = t;
			}
		} else if (!*val) {
			hpcb_err(args, (int32_t)i, "%s must not be empty.", key);
			return -EINVAL;
		} else if (!strcmp(key, "mpirun")) {
			/* A bare name is looked up on PATH; anything with a slash is a path. */
			inst->mpirun =
			    strchr(val, '/') ? resolve(args->config_dir, val) : strdup(val);
			mpirun_at = (int32_t)i;
		} else if (!strcmp(key, "worker")) {
			inst->worker = resolve(args->config_dir, val);
			worker_at = (int32_t)i;
		} else if (!strcmp(key, "hostfile")) {
			inst->hostfile = resolve(args->config_dir, val);
			hostfile_at = (int32_t)i;
		}
	}
	if (!inst->mpirun)
		inst->mpirun = strdup("mpirun");
	if (!inst->worker)
		inst->worker = worker_next_to_plugin();
	if (!inst->mpirun || !inst->worker) {
		hpcb_err(args, -1, "out of memory.");
		return -ENOMEM;
	}
	/* Name the missing file before starting anything. */
	if (strchr(inst->mpirun, '/') && access(inst->mpirun, X_OK) < 0) {
		hpcb_err(
		    args, mpirun_at,
		    "mpirun not found: %s is %s (set mpirun = PATH to Open MPI's launcher).",
		    inst->mpirun, errno == ENOENT ? "missing" : "not executable");
		return -ENOENT;
	}
	if (access(inst->worker, X_OK) < 0) {
		hpcb_err(args, worker_at,
				 "the MPI worker program %s is missing or not executable (build "
				 "//plugins:hpc_mpi_worker, or set worker = PATH).",
				 inst->worker);
		return -ENOENT;
	}
	if (inst->hostfile && access(inst->hostfile, R_OK) < 0) {
		hpcb_err(args, hostfile_at, "cannot read the hostfile %s: %s.",
				 inst->hostfile, strerror(errno));
		return -ENOENT;
	}
	return 0;
}

/* ---- the ops ------------------------------------------------------------------------------ */

static int mpi_open(struct hpc_open_args *args, void **state)
{
	if (!args || !state || (args->nsettings && !args->settings))
		return -EINVAL;
	struct mpi_inst *inst = calloc(1, sizeof(*inst));
	if (!inst) {
		hpcb_err(args, -1, "out of memory.");
		return -ENOMEM;
	}
	inst->pid = -1;
	inst->sock = -1;
	inst->host = args->host;
	pthread_mutex_init(&inst->mu, NULL);
	pthread_mutex_init(&inst->pmu, NULL);
	int rc = parse_settings(args, inst);
	if (rc < 0) {
		inst_free(inst);
		return rc;
	}
	char err[512] = "";
	rc = start_job(inst, err, sizeof(err));
	if (rc < 0) {
		hpcb_err(args, -1, "cannot start the MPI job: %s", err);
		inst_free(inst);
		return rc;
	}
	*state = inst;
	return 0;
}

static int mpi_run(void *state, struct hpc_job *job)
{
	struct mpi_inst *inst = state;
	if (!inst)
		return -EINVAL;
	int rc = hpcb_check_job(job);
	if (rc)
		return rc;
	/* The ranks work out of process: they need the region, not pointers. */
	if (job->region_fd < 0)
		return -EINVAL;
	if (job->m > INT_MAX || job->n > INT_MAX || job->k > INT_MAX)
		return -EOVERFLOW;

	pthread_mutex_lock(&inst->mu);
	flush_forgets(inst);
	if (inst->sock < 0) {
		char err[512] = "";
		LOG(inst, HPC_LOG_INFO, "restarting the MPI job");
		rc = start_job(inst, err, sizeof(err));
		if (rc < 0) {
			LOG(inst, HPC_LOG_ERROR, "cannot restart the MPI job: %s", err);
			__atomic_fetch_add(&inst->failures, 1, __ATOMIC_RELAXED);
			pthread_mutex_unlock(&inst->mu);
			return -EIO;
		}
		__atomic_fetch_add(&inst->restarts, 1, __ATOMIC_RELAXED);
	}

	struct hpc_mpi_req q = {
	    .magic = HPC_MPI_MAGIC,
	    .type = HPC_MPI_JOB,
	    .seq = ++inst->seq,
	    .op = job->op,
	    .dtype = job->dtype,
	    .m = job->m,
	    .n = job->n,
	    .k = job->k,
	    .alpha = job->alpha,
	    .region_id = job->region_id,
	    .arena_off = job->arena_off,
	    .a_off = job->a_off,
	    .b_off = job->b_off,
	    .out_off = job->out_off,
	    .a_gen = job->a_gen,
	    .b_gen = job->b_gen,
	};
	int fd = -1;
	if (ids_find(inst->held, inst->nheld, job->region_id) < 0) {
		struct stat st;
		if (fstat(job->region_fd, &st) < 0) {
			rc = -errno;
			pthread_mutex_unlock(&inst->mu);
			return rc;
		}
		q.has_fd = 1;
		q.region_size = (uint64_t)st.st_size;
		fd = job->region_fd;
	}
	struct hpc_mpi_reply r;
	rc = send_req(inst, &q, fd);
	if (rc == 0) {
		rc = recv_reply(inst, &r, inst->timeout_ms);
		while (rc == 0 && (r.type != HPC_MPI_REPLY || r.seq != q.seq))
			rc = recv_reply(inst, &r, inst->timeout_ms); /* not ours: stale */
	}
	if (rc == -ETIMEDOUT) {
		LOG(inst, HPC_LOG_ERROR,
		    "%s job took longer than timeout = %lu ms: killing the MPI job (it restarts "
		    "with the next job)",
		    hpc_op_name(job->op), inst->timeout_ms);
		stop_job(inst, 0, 0, NULL, NULL, 0); /* rank 0 is busy: no use asking */
	} else if (rc < 0) {
		char tail[240] = "", why[64] = "";
		int st = 0;
		/* Open MPI is taking the job down already: give mpirun time to say why. */
		stop_job(inst, 0, 3000, &st, tail, sizeof(tail));
		describe_status(st, why, sizeof(why));
		LOG(inst, HPC_LOG_ERROR,
		    "MPI job died during a %s job (%s; %s): %s; it restarts with the next job",
		    hpc_op_name(job->op), rc == -EPIPE ? "rank 0 hung up" : strerror(-rc), why,
		    tail[0] ? tail : "(no output)");
		rc = -EIO;
	} else {
		if (r.flags & HPC_MPI_REGION_HELD)
			ids_add(&inst->held, &inst->nheld, &inst->capheld, job->region_id);
		else
			ids_del(inst->held, &inst->nheld, job->region_id);
		rc = r.status;
		if (rc == 0) {
			job->result = r.result;
			__atomic_fetch_add(&inst->jobs, 1, __ATOMIC_RELAXED);
			if (r.flags & (HPC_MPI_A_RESIDENT | HPC_MPI_B_RESIDENT))
				__atomic_fetch_add(&inst->hits, 1, __ATOMIC_RELAXED);
		} else {
			LOG(inst, HPC_LOG_WARN, "%s job failed on the ranks: %s",
			    hpc_op_name(job->op), r.msg[0] ? r.msg : strerror(-rc));
		}
	}
	if (rc < 0)
		__atomic_fetch_add(&inst->failures, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&inst->mu);

	/* A forget_region() that found the channel busy left its work to us. */
	while (has_pending(inst) && pthread_mutex_trylock(&inst->mu) == 0) {
		flush_forgets(inst);
		pthread_mutex_unlock(&inst->mu);
	}
	return rc;
}

static void mpi_forget_region(void *state, uint64_t region_id)
{
	struct mpi_inst *inst = state;
	if (!inst)
		return;
	/* Queue first, then try the channel: whoever holds it flushes after its job. */
	pthread_mutex_lock(&inst->pmu);
	int rc = ids_add(&inst->pending, &inst->npending, &inst->cappending, region_id);
	pthread_mutex_unlock(&inst->pmu);
	if (rc < 0)
		return; /* rank 0 keeps the mapping until the MPI job ends */
	if (pthread_mutex_trylock(&inst->mu) == 0) {
		flush_forgets(inst);
		pthread_mutex_unlock(&inst->mu);
	}
}

static void mpi_close(void *state)
{
	struct mpi_inst *inst = state;
	if (!inst)
		return;
	pthread_mutex_lock(&inst->mu);
	stop_job(inst, 1, 5000, NULL, NULL, 0);
	pthread_mutex_unlock(&inst->mu);
	inst_free(inst);
}

static int mpi_describe(void *state, char *buf, size_t len)
{
	struct mpi_inst *inst = state;
	if (!inst || !buf || len == 0)
		return -EINVAL;
	char hosts[192];
	pthread_mutex_lock(&inst->pmu);
	memcpy(hosts, inst->hosts, sizeof(hosts));
	pthread_mutex_unlock(&inst->pmu);
	int n;
	if (__atomic_load_n(&inst->up, __ATOMIC_RELAXED))
		n = snprintf(
		    buf, len,
		    "np=%u on %s; %u rank(s) read client regions directly; resident=%lu; "
		    "jobs=%llu (resident hits %llu), failed=%llu, restarts=%llu",
		    __atomic_load_n(&inst->np_run, __ATOMIC_RELAXED), hosts,
		    __atomic_load_n(&inst->nmapped, __ATOMIC_RELAXED), inst->resident,
		    (unsigned long long)__atomic_load_n(&inst->jobs, __ATOMIC_RELAXED),
		    (unsigned long long)__atomic_load_n(&inst->hits, __ATOMIC_RELAXED),
		    (unsigned long long)__atomic_load_n(&inst->failures, __ATOMIC_RELAXED),
		    (unsigned long long)__atomic_load_n(&inst->restarts, __ATOMIC_RELAXED));
	else
		n = snprintf(
		    buf, len,
		    "np=%lu; MPI job down (starts again with the next job); failed=%llu, "
		    "restarts=%llu",
		    inst->np,
		    (unsigned long long)__atomic_load_n(&inst->failures, __ATOMIC_RELAXED),
		    (unsigned long long)__atomic_load_n(&inst->restarts, __ATOMIC_RELAXED));
	return n >= 0 && (size_t)n < len ? 0 : -ENOSPC;
}

static const struct hpc_plugin_ops mpi_ops = {
    .abi_version = HPC_PLUGIN_ABI_VERSION,
    .build_sig = HPC_PLUGIN_BUILD_SIG,
    .name = "mpi",
    .version = "0.1.0",
    .ops_f64 = HPC_OPS_ALL,
    .ops_f32 = HPC_OPS_ALL,
    .settings = mpi_settings,
    .open = mpi_open,
    .run = mpi_run,
    .close = mpi_close,
    .describe = mpi_describe,
    .forget_region = mpi_forget_region,
};

/* The plugin's one export (hpc/plugin.h): the constant ops table above. */
const struct hpc_plugin_ops *hpc_plugin_entry(void)
{
	return &mpi_ops;
}

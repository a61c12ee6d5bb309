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
 *   mca           MCA parameters, KEY=VALUE words split on blanks; each becomes
 *                 `--mca KEY VALUE` on mpirun's command line (after mpirun_args)
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
 * Idle deaths are healed, not reported: before each job the channel and
 * mpirun are checked (rank 0's socket hung up, mpirun exited), and a dead MPI
 * job is replaced before the job is sent. A death that has not reached rank
 * 0 yet when the job goes out is caught by the STARTED message (proto.h):
 * rank 0 sends it once every rank holds the job and before any output is
 * written, so an MPI job that ends before STARTED has touched nothing, and the
 * job is sent once more to a fresh MPI job.
 *
 * Every wait on the MPI job has a deadline. The channel is written without
 * blocking (MSG_DONTWAIT, then poll for room until the deadline): a rank 0
 * that stopped reading (SIGSTOP, a hung host) cannot hold a job past
 * `timeout`, a forget_region() past FORGET_MS, nor close() past its grace
 * periods; a channel found stuck is abandoned and the MPI job killed.
 *
 * "Leftover" processes are looked for on this host only: /proc entries in the
 * daemon's own network namespace. On one machine with test hosts made of
 * network namespaces, processes of the other "hosts" are visible in /proc,
 * but killing them from here would hide what a real cluster does: there they
 * must end by Open MPI's own means (orted losing mpirun, see README).
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
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hpc/plugin.h"
#include "plugins/base/child.h"
#include "plugins/base/fdpass.h"
#include "plugins/base/plugin_util.h"
#include "plugins/base/regtab.h"
#include "plugins/base/settings.h"
#include "plugins/mpi/proto.h"

#define MPI_MAX_NP 1024
#define MPI_MAX_ARGS 64
#define MPI_MAX_MCA 32
#define WORKER_NAME "hpc_mpi_worker"
#define FORGET_MS 2000u   /* how long forget_region() waits for room on the channel */
#define STOP_SEND_MS 200u /* how long close() tries to say STOP */

struct mpi_inst {
	/* Settings, fixed after open(). */
	unsigned long np, timeout_ms, start_timeout_ms, resident;
	int local_mmap;
	char *hostfile, *mpirun, *worker, *args_buf, *mca_buf;
	char *margs[MPI_MAX_ARGS];
	int nmargs;
	char *mca[MPI_MAX_MCA][2]; /* KEY, VALUE: --mca KEY VALUE */
	int nmca;
	const struct hpc_host *host;

	/* The MPI job and its channel: one job at a time. */
	pthread_mutex_t mu;
	pid_t pid; /* mpirun, or -1 */
	int sock;  /* connected to rank 0, or -1 */
	char dir[64], sock_path[96], log_path[96];
	uint64_t seq;
	struct hpcb_idset held; /* regions whose memfd rank 0 holds */
	int launches;

	/* Regions to forget once the channel is free; also guards hosts. */
	pthread_mutex_t pmu;
	struct hpcb_idset pending;
	char hosts[192];

	/* Bytes rank 0 sent over MPI to ranks 1..HPC_MPI_COUNTED_RANKS, in all, and
	 * received, in this MPI job and in earlier ones of this instance (base_*). Under pmu. */
	uint64_t sent[HPC_MPI_COUNTED_RANKS], sent_total, recv_total;
	uint64_t base_sent[HPC_MPI_COUNTED_RANKS], base_sent_total, base_recv_total;

	/* For describe(), read without the locks. */
	uint32_t up, np_run, nlocal, nmapped;
	uint64_t jobs, failures, restarts, hits, healed;
};

/* The section's settings as the schema stores them (defaults in parse_settings). */
struct mpi_conf {
	uint64_t np, timeout_ms, start_timeout_ms, resident;
	int local_mmap;
	const char *hostfile, *mpirun, *mpirun_args, *mca, *worker;
};

#define MPI_CONF(m) offsetof(struct mpi_conf, m)

static const struct hpc_setting_spec mpi_schema[] = {
    {.key = "np",
     .type = HPC_SETTING_UINT,
     .min = 1,
     .max = MPI_MAX_NP,
     .def = "online CPUs",
     .help = "ranks",
     .offset = MPI_CONF(np)},
    {.key = "hostfile",
     .type = HPC_SETTING_STRING,
     .def = "none, all ranks on this host",
     .help = "mpirun --hostfile; list the daemon's host first (rank 0 bridges to hpcd)",
     .offset = MPI_CONF(hostfile)},
    {.key = "mpirun",
     .type = HPC_SETTING_STRING,
     .def = "mpirun on PATH",
     .help = "the launcher",
     .offset = MPI_CONF(mpirun)},
    {.key = "mpirun_args",
     .type = HPC_SETTING_STRING,
     .def = "none",
     .help = "extra mpirun flags, split on blanks",
     .offset = MPI_CONF(mpirun_args)},
    {.key = "mca",
     .type = HPC_SETTING_STRING,
     .def = "none",
     .help = "MCA parameters as KEY=VALUE words, each passed as --mca KEY VALUE",
     .offset = MPI_CONF(mca)},
    {.key = "worker",
     .type = HPC_SETTING_STRING,
     .def = "hpc_mpi_worker next to libhpc_mpi.so",
     .help = "the rank program",
     .offset = MPI_CONF(worker)},
    {.key = "timeout",
     .type = HPC_SETTING_UINT,
     .min = 1,
     .max = 86400000,
     .unit = "milliseconds",
     .def = "300000",
     .help = "a longer job fails with ETIMEDOUT and the MPI job is replaced",
     .offset = MPI_CONF(timeout_ms)},
    {.key = "start_timeout",
     .type = HPC_SETTING_UINT,
     .min = 1,
     .max = 86400000,
     .unit = "milliseconds",
     .def = "30000",
     .help = "wait for rank 0 at start",
     .offset = MPI_CONF(start_timeout_ms)},
    {.key = "local_mmap",
     .type = HPC_SETTING_BOOL,
     .def = "true",
     .help = "ranks on this host read the client's memory in place",
     .offset = MPI_CONF(local_mmap)},
    {.key = "resident",
     .type = HPC_SETTING_UINT,
     .min = 0,
     .max = 64,
     .def = "4",
     .help = "operand slots kept on the ranks across jobs, by generation",
     .offset = MPI_CONF(resident)},
    {.key = NULL},
};

/* ---- small helpers --------------------------------------------------------------------- */

/* Log through the host table, as the instance. */
#define LOG(inst, level, ...) hpcb_log((inst)->host, (level), __VA_ARGS__)

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

/* The last len - 1 bytes of mpirun's output as they are, newlines as "; ", for the log. */
static void log_raw_tail(const struct mpi_inst *inst, char *buf, size_t len)
{
	buf[0] = 0;
	int fd = open(inst->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || len < 2)
		goto out;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)len - 1 ? end - (off_t)len + 1 : 0;
	ssize_t n = pread(fd, buf, len - 1, from);
	buf[n > 0 ? n : 0] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t')
			buf[i] = ' ';
out:
	if (fd >= 0)
		close(fd);
}

/* ---- the MPI job -------------------------------------------------------------------------- */

/*
 * Send one request without blocking past deadline (hpcb_now_ms() clock). Returns
 * 0, -ETIMEDOUT when rank 0 did not make room in time, or another negative
 * errno (-EPIPE: rank 0 is gone).
 */
static int send_req(struct mpi_inst *inst, const struct hpc_mpi_req *q, int fd, uint64_t deadline)
{
	for (;;) {
		ssize_t n = hpcb_fd_send(inst->sock, q, sizeof(*q), fd, MSG_DONTWAIT);
		if (n >= 0)
			return (size_t)n == sizeof(*q) ? 0 : -EIO;
		if (n != -EAGAIN && n != -EWOULDBLOCK)
			return (int)n;
		uint64_t now = hpcb_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t left = deadline - now;
		struct pollfd p = {.fd = inst->sock, .events = POLLOUT};
		if (poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) < 0 && errno != EINTR)
			return -errno;
		if (p.revents & (POLLHUP | POLLERR))
			return -EPIPE;
	}
}

/*
 * Wait up to timeout_ms for one reply. Returns 0, -ETIMEDOUT, or -EPIPE when
 * rank 0 is gone (the MPI job died).
 */
static int recv_reply(struct mpi_inst *inst, struct hpc_mpi_reply *r, uint64_t deadline)
{
	for (;;) {
		uint64_t now = hpcb_now_ms();
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
		ssize_t n = recv(inst->sock, r, sizeof(*r), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
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
	struct stat mine;
	int have_ns = stat("/proc/self/ns/net", &mine) == 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == self)
			continue;
		char path[64], buf[4096];
		/* This host only: a process in another network namespace stands for another
		 * host (see the top of the file). */
		struct stat ns;
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
		if (have_ns &&
		    (stat(path, &ns) != 0 || ns.st_ino != mine.st_ino || ns.st_dev != mine.st_dev))
			continue;
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
 * on its own, then SIGTERM (it takes its ranks down), then after term_ms
 * SIGKILL for its process group; finally any process of this host that still
 * names the private folder is killed. *status gets mpirun's wait status,
 * *tail the end of its output, when non-NULL. Takes at most about
 * STOP_SEND_MS + grace_ms + term_ms. Under mu.
 */
static void stop_job(struct mpi_inst *inst, int graceful, unsigned grace_ms, unsigned term_ms,
		     int *status, char *tail, size_t tlen)
{
	int st = -1;
	if (inst->sock >= 0) {
		if (graceful) {
			struct hpc_mpi_req q = {.magic = HPC_MPI_MAGIC, .type = HPC_MPI_STOP};
			send_req(inst, &q, -1, hpcb_now_ms() + STOP_SEND_MS);
		}
		/* Rank 0 takes EOF as STOP too. */
		close(inst->sock);
		inst->sock = -1;
	}
	if (inst->pid > 0)
		hpcb_child_stop(inst->pid, grace_ms, term_ms, HPCB_CHILD_PGROUP, &st);
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
	hpcb_idset_clear(&inst->held);
	/* The next MPI job counts from 0: keep what this one sent. */
	pthread_mutex_lock(&inst->pmu);
	for (int i = 0; i < HPC_MPI_COUNTED_RANKS; i++) {
		inst->base_sent[i] += inst->sent[i];
		inst->sent[i] = 0;
	}
	inst->base_sent_total += inst->sent_total;
	inst->base_recv_total += inst->recv_total;
	inst->sent_total = inst->recv_total = 0;
	pthread_mutex_unlock(&inst->pmu);
	__atomic_store_n(&inst->up, 0, __ATOMIC_RELAXED);
}

/* "mpirun exited with status 1": mpirun's wait status (-1: unknown), for messages. */
static void describe_status(int st, char *buf, size_t len)
{
	char how[48]; /* "mpirun " and this fit the callers' 64 bytes */
	hpcb_child_describe(st, how, sizeof(how));
	snprintf(buf, len, "mpirun %s", how);
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
	/* Non-blocking: a connection that goes away between poll() and accept() must not
	 * leave accept() waiting for the next one. */
	lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
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

	/* mpirun [mpirun_args] [--mca K V ...] -n NP [--hostfile F] WORKER --socket S --local-mmap
	 * L --resident R
	 */
	char np[24], res[24];
	snprintf(np, sizeof(np), "%lu", inst->np);
	snprintf(res, sizeof(res), "%lu", inst->resident);
	char *argv[MPI_MAX_ARGS + 3 * MPI_MAX_MCA + 16];
	int a = 0;
	argv[a++] = inst->mpirun;
	for (int i = 0; i < inst->nmargs; i++)
		argv[a++] = inst->margs[i];
	for (int i = 0; i < inst->nmca; i++) {
		argv[a++] = "--mca";
		argv[a++] = inst->mca[i][0];
		argv[a++] = inst->mca[i][1];
	}
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

	/* stdin from /dev/null, stdout and stderr to the log, no other fd of the daemon
	 * (client regions, sockets); a process group of its own, and the signals the
	 * daemon ignores or blocks back to their defaults, so that it can end its job. */
	const int fds[] = {nullfd, logfd, logfd};
	const struct hpcb_child_spec spec = {.path = inst->mpirun,
					     .argv = argv,
					     .fds = fds,
					     .nfds = 3,
					     .flags = HPCB_CHILD_PGROUP | HPCB_CHILD_SIGDEFAULT};
	pid_t pid;
	int src = -hpcb_child_spawn(&spec, &pid);
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
	uint64_t deadline = hpcb_now_ms() + inst->start_timeout_ms;
	char tail[240];
	for (;;) {
		struct pollfd p = {.fd = lsock, .events = POLLIN};
		int prc = poll(&p, 1, 50);
		if (prc > 0) {
			inst->sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
			if (inst->sock >= 0)
				break;
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED &&
			    errno != EINTR) {
				rc = -errno;
				snprintf(err, errlen, "cannot accept rank 0's connection: %s.",
					 strerror(errno));
				goto fail;
			}
		}
		int st = -1;
		if (hpcb_child_wait(pid, 0, &st) != -ETIMEDOUT) {
			char why[64], raw[600];
			describe_status(st, why, sizeof(why));
			log_tail(inst, tail, sizeof(tail));
			log_raw_tail(inst, raw, sizeof(raw));
			LOG(inst, HPC_LOG_INFO, "%s before rank 0 connected; its output ends: %s",
			    why, raw);
			snprintf(err, errlen, "%s before rank 0 connected: %s", why,
				 tail[0] ? tail : "(no output)");
			rc = -EIO;
			goto fail;
		}
		if (hpcb_now_ms() >= deadline) {
			log_tail(inst, tail, sizeof(tail));
			snprintf(
			    err, errlen, "rank 0 did not connect within %lu ms (start_timeout): %s",
			    inst->start_timeout_ms, tail[0] ? tail : "(mpirun printed nothing)");
			rc = -ETIMEDOUT;
			goto fail;
		}
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
	rc = recv_reply(inst, &hello, deadline);
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
	hpcb_idset_clear(&inst->held);
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
	stop_job(inst, 0, 0, 3000, NULL, NULL, 0);
	return rc;
}

/*
 * Send FORGET for the pending regions that rank 0 holds, waiting at most
 * FORGET_MS in all for room on the channel. A rank 0 that does not take them
 * while idle is stuck (stopped, or its host gone): the MPI job is killed, which
 * releases every region it held, and the next job starts a fresh one. Under mu.
 */
static void flush_forgets(struct mpi_inst *inst)
{
	uint64_t deadline = hpcb_now_ms() + FORGET_MS;
	for (;;) {
		uint64_t id;
		pthread_mutex_lock(&inst->pmu);
		bool any = hpcb_idset_pop(&inst->pending, &id);
		pthread_mutex_unlock(&inst->pmu);
		if (!any)
			return;
		if (inst->sock >= 0 && hpcb_idset_has(&inst->held, id)) {
			struct hpc_mpi_req q = {
			    .magic = HPC_MPI_MAGIC, .type = HPC_MPI_FORGET, .region_id = id};
			int rc = send_req(inst, &q, -1, deadline);
			if (rc == -ETIMEDOUT) {
				LOG(inst, HPC_LOG_ERROR,
				    "rank 0 took no request for %u ms while idle (stopped, or its "
				    "host unreachable): killing the MPI job (it restarts with the "
				    "next job)",
				    FORGET_MS);
				stop_job(inst, 0, 0, 500, NULL, NULL, 0);
			}
			/* Another error is a dead MPI job: the next job notices and heals it. */
		}
		hpcb_idset_del(&inst->held, id);
	}
}

static int has_pending(struct mpi_inst *inst)
{
	pthread_mutex_lock(&inst->pmu);
	int n = inst->pending.n != 0;
	pthread_mutex_unlock(&inst->pmu);
	return n;
}

/* ---- settings --------------------------------------------------------------------------- */

static void inst_free(struct mpi_inst *inst)
{
	free(inst->hostfile);
	free(inst->mpirun);
	free(inst->worker);
	free(inst->args_buf);
	free(inst->mca_buf);
	hpcb_idset_free(&inst->held);
	hpcb_idset_free(&inst->pending);
	pthread_mutex_destroy(&inst->mu);
	pthread_mutex_destroy(&inst->pmu);
	free(inst);
}

static int parse_settings(struct hpc_open_args *args, struct mpi_inst *inst)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct mpi_conf c = {
	    .np = ncpu < 1            ? 1
		  : ncpu > MPI_MAX_NP ? MPI_MAX_NP
				      : (uint64_t)ncpu,
	    .timeout_ms = 300000,
	    .start_timeout_ms = 30000,
	    .resident = 4,
	    .local_mmap = 1,
	};
	int rc = hpcb_settings_apply(mpi_schema, args, &c, NULL);
	if (rc < 0)
		return rc;
	inst->np = (unsigned long)c.np;
	inst->timeout_ms = (unsigned long)c.timeout_ms;
	inst->start_timeout_ms = (unsigned long)c.start_timeout_ms;
	inst->resident = (unsigned long)c.resident;
	inst->local_mmap = c.local_mmap;
	const int32_t mpirun_at = hpcb_settings_index(args, "mpirun");
	const int32_t worker_at = hpcb_settings_index(args, "worker");
	const int32_t hostfile_at = hpcb_settings_index(args, "hostfile");
	const char *const paths[] = {"mpirun", "worker", "hostfile"};
	for (size_t k = 0; k < sizeof(paths) / sizeof(paths[0]); k++) {
		const char *v = k == 0 ? c.mpirun : k == 1 ? c.worker : c.hostfile;
		if (v && !*v) {
			hpcb_err(args, hpcb_settings_index(args, paths[k]), "%s must not be empty.",
				 paths[k]);
			return -EINVAL;
		}
	}
	if (c.mpirun_args) {
		int32_t at = hpcb_settings_index(args, "mpirun_args");
		inst->args_buf = strdup(c.mpirun_args);
		if (!inst->args_buf)
			return -ENOMEM;
		inst->nmargs = 0;
		for (char *save = NULL, *t = strtok_r(inst->args_buf, " \t", &save); t;
		     t = strtok_r(NULL, " \t", &save)) {
			if (inst->nmargs == MPI_MAX_ARGS) {
				hpcb_err(args, at, "mpirun_args has more than %d words.",
					 MPI_MAX_ARGS);
				return -EINVAL;
			}
			inst->margs[inst->nmargs++] = t;
		}
	}
	if (c.mca) {
		int32_t at = hpcb_settings_index(args, "mca");
		inst->mca_buf = strdup(c.mca);
		if (!inst->mca_buf)
			return -ENOMEM;
		inst->nmca = 0;
		for (char *save = NULL, *t = strtok_r(inst->mca_buf, " \t", &save); t;
		     t = strtok_r(NULL, " \t", &save)) {
			char *eq = strchr(t, '=');
			size_t klen = eq ? (size_t)(eq - t) : 0;
			if (!eq || !klen || !eq[1] ||
			    strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567"
				      "89_") != klen) {
				hpcb_err(args, at,
					 "mca takes KEY=VALUE words (an MCA parameter name, '=', "
					 "its value), e.g. \"btl=tcp,self "
					 "btl_tcp_if_include=10.0.0.0/24\"; \"%s\" is not one.",
					 t);
				return -EINVAL;
			}
			if (inst->nmca == MPI_MAX_MCA) {
				hpcb_err(args, at, "mca has more than %d parameters.", MPI_MAX_MCA);
				return -EINVAL;
			}
			*eq = 0;
			inst->mca[inst->nmca][0] = t;
			inst->mca[inst->nmca][1] = eq + 1;
			inst->nmca++;
		}
	}
	/* A bare mpirun name is looked up on PATH; anything with a slash is a path. */
	if (c.mpirun)
		inst->mpirun =
		    strchr(c.mpirun, '/') ? resolve(args->config_dir, c.mpirun) : strdup(c.mpirun);
	if (c.worker)
		inst->worker = resolve(args->config_dir, c.worker);
	if (c.hostfile)
		inst->hostfile = resolve(args->config_dir, c.hostfile);
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
		hpcb_err(args, mpirun_at,
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
		hpcb_err(args, hostfile_at, "cannot read the hostfile %s: %s.", inst->hostfile,
			 strerror(errno));
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

/*
 * Whether the MPI job died while idle: rank 0's socket hung up (or holds
 * data nobody asked for), or mpirun exited. If so it is stopped here, so
 * that the caller starts a fresh one before sending a job. Under mu.
 */
static void heal_if_dead(struct mpi_inst *inst)
{
	if (inst->sock < 0)
		return;
	/* Rank 0 says nothing unasked: EOF, or a stale message to drop. */
	if (!hpcb_child_idle_dead(inst->pid, inst->sock, true))
		return;
	int st = -1;
	char tail[240] = "", why[64] = "";
	stop_job(inst, 0, 3000, 3000, &st, tail, sizeof(tail));
	describe_status(st, why, sizeof(why));
	__atomic_fetch_add(&inst->healed, 1, __ATOMIC_RELAXED);
	LOG(inst, HPC_LOG_WARN,
	    "the MPI job ended while idle (%s): %s; starting a fresh one for the next job", why,
	    tail[0] ? tail : "(no output)");
}

/* Keep the byte counters of the latest reply (cumulative in this MPI job). */
static void take_counts(struct mpi_inst *inst, const struct hpc_mpi_reply *r)
{
	pthread_mutex_lock(&inst->pmu);
	memcpy(inst->sent, r->sent, sizeof(inst->sent));
	inst->sent_total = r->sent_total;
	inst->recv_total = r->recv_total;
	pthread_mutex_unlock(&inst->pmu);
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
	heal_if_dead(inst);
	struct hpc_mpi_reply r;
	int started = 0;
	for (int attempt = 0;; attempt++) {
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
		if (!hpcb_idset_has(&inst->held, job->region_id)) {
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
		/* One deadline for the whole job: sending, running, replying. */
		uint64_t deadline = hpcb_now_ms() + inst->timeout_ms;
		started = 0;
		rc = send_req(inst, &q, fd, deadline);
		while (rc == 0) {
			rc = recv_reply(inst, &r, deadline);
			if (rc == 0 && r.seq == q.seq && r.type == HPC_MPI_STARTED)
				started = 1;
			else if (rc == 0 && r.seq == q.seq && r.type == HPC_MPI_REPLY)
				break;
			/* else not ours: stale */
		}
		/* Ended before every rank held the job: it died while idle, and no client
		 * memory was touched. Once, on a fresh MPI job. */
		if (rc < 0 && rc != -ETIMEDOUT && !started && attempt == 0) {
			char tail[240] = "", why[64] = "";
			int st = 0;
			stop_job(inst, 0, 3000, 3000, &st, tail, sizeof(tail));
			describe_status(st, why, sizeof(why));
			__atomic_fetch_add(&inst->healed, 1, __ATOMIC_RELAXED);
			LOG(inst, HPC_LOG_WARN,
			    "the MPI job had ended before a %s job reached its ranks (%s; %s): %s; "
			    "sending the job to a fresh MPI job",
			    hpc_op_name(job->op), rc == -EPIPE ? "rank 0 hung up" : strerror(-rc),
			    why, tail[0] ? tail : "(no output)");
			continue;
		}
		break;
	}
	if (rc == -ETIMEDOUT) {
		LOG(inst, HPC_LOG_ERROR,
		    "%s job took longer than timeout = %lu ms: killing the MPI job (it restarts "
		    "with the next job)",
		    hpc_op_name(job->op), inst->timeout_ms);
		stop_job(inst, 0, 0, 3000, NULL, NULL, 0); /* rank 0 is busy: no use asking */
	} else if (rc < 0) {
		char tail[240] = "", why[64] = "";
		int st = 0;
		/* Open MPI is taking the job down already: give mpirun time to say why. */
		stop_job(inst, 0, 3000, 3000, &st, tail, sizeof(tail));
		describe_status(st, why, sizeof(why));
		LOG(inst, HPC_LOG_ERROR,
		    "MPI job died during a %s job (%s; %s): %s; it restarts with the next job",
		    hpc_op_name(job->op), rc == -EPIPE ? "rank 0 hung up" : strerror(-rc), why,
		    tail[0] ? tail : "(no output)");
		rc = -EIO;
	} else {
		if (r.flags & HPC_MPI_REGION_HELD)
			hpcb_idset_add(&inst->held, job->region_id);
		else
			hpcb_idset_del(&inst->held, job->region_id);
		take_counts(inst, &r);
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
	int rc = hpcb_idset_add(&inst->pending, region_id);
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
	stop_job(inst, 1, 5000, 3000, NULL, NULL, 0);
	pthread_mutex_unlock(&inst->mu);
	inst_free(inst);
}

/*
 * One line (the daemon keeps 256 bytes): where the ranks run, the counters,
 * and the bytes rank 0 sent over MPI to each rank (r1=...; cumulative over
 * the instance's MPI jobs). The host list gives way first when space is short,
 * then the per-rank list ("...").
 */
static int mpi_describe(void *state, char *buf, size_t len)
{
	struct mpi_inst *inst = state;
	if (!inst || !buf || len == 0)
		return -EINVAL;
	char hosts[192], tail[512];
	uint64_t sent[HPC_MPI_COUNTED_RANKS], sent_total, recv_total;
	pthread_mutex_lock(&inst->pmu);
	memcpy(hosts, inst->hosts, sizeof(hosts));
	for (int i = 0; i < HPC_MPI_COUNTED_RANKS; i++)
		sent[i] = inst->base_sent[i] + inst->sent[i];
	sent_total = inst->base_sent_total + inst->sent_total;
	recv_total = inst->base_recv_total + inst->recv_total;
	pthread_mutex_unlock(&inst->pmu);
	int up = __atomic_load_n(&inst->up, __ATOMIC_RELAXED) != 0;
	unsigned np = up ? __atomic_load_n(&inst->np_run, __ATOMIC_RELAXED) : (unsigned)inst->np;

	int t = snprintf(
	    tail, sizeof(tail),
	    "; mapped=%u resident=%lu; jobs=%llu hits=%llu failed=%llu restarts=%llu healed=%llu; "
	    "bytes recv=%llu sent=%llu:",
	    __atomic_load_n(&inst->nmapped, __ATOMIC_RELAXED), inst->resident,
	    (unsigned long long)__atomic_load_n(&inst->jobs, __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&inst->hits, __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&inst->failures, __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&inst->restarts, __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&inst->healed, __ATOMIC_RELAXED),
	    (unsigned long long)recv_total, (unsigned long long)sent_total);
	if (t < 0)
		return -EIO;
	char head[64];
	int h =
	    up ? snprintf(head, sizeof(head), "np=%u on ", np)
	       : snprintf(head, sizeof(head), "np=%u (MPI job down: starts with the next job)", np);
	/* The per-rank list, as long as the line allows. */
	size_t used = (size_t)h + (size_t)t;
	for (unsigned r = 1; r < np && r <= HPC_MPI_COUNTED_RANKS; r++) {
		char one[40];
		int w = snprintf(one, sizeof(one), " r%u=%llu", r, (unsigned long long)sent[r - 1]);
		if (used + (size_t)w + 5 > len - 1 || (size_t)t + (size_t)w + 5 > sizeof(tail)) {
			t += snprintf(tail + t, sizeof(tail) - (size_t)t, " ...");
			break;
		}
		memcpy(tail + t, one, (size_t)w + 1);
		t += w;
		used += (size_t)w;
	}
	if (np > HPC_MPI_COUNTED_RANKS + 1 && (size_t)t + 5 < sizeof(tail) && !strstr(tail, " ..."))
		t += snprintf(tail + t, sizeof(tail) - (size_t)t, " ...");
	size_t room = len > (size_t)h + (size_t)t + 1 ? len - (size_t)h - (size_t)t - 1 : 0;
	if (!up)
		room = 0;
	size_t hl = strlen(hosts);
	if (hl > room) {
		/* Cut the host list at a host boundary. */
		hl = room > 4 ? room - 4 : 0;
		while (hl && hosts[hl] != ',')
			hl--;
		snprintf(hosts + hl, sizeof(hosts) - hl, "%s", hl || room > 3 ? ",..." : "");
		if (strlen(hosts) > room)
			hosts[0] = 0;
	}
	int n = snprintf(buf, len, "%s%s%s", head, up ? hosts : "", tail);
	return n >= 0 && (size_t)n < len ? 0 : -ENOSPC;
}

/* The ops table and the plugin's one export (hpc/plugin.h). */
HPC_PLUGIN_DEFINE(mpi_ops, .name = "mpi", .version = "0.1.0", .ops_f64 = HPC_OPS_ALL,
		  .ops_f32 = HPC_OPS_ALL, .schema = mpi_schema, .open = mpi_open, .run = mpi_run,
		  .close = mpi_close, .describe = mpi_describe, .forget_region = mpi_forget_region)

#include "daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/guard.h"
#include "daemon/loader.h"
#include "daemon/log.h"
#include "daemon/current.h"
#include "daemon/session.h"
#include "daemon/tasks.h"
#include "daemon/version.h"
#include "ipc/ring.h"
#include "ipc/region.h"
#include "ipc/sock.h"

/* A connected client socket. Control-only connections stay conns; one that
 * says HELLO gets a session, which then owns the fd. */
struct hpcd_conn {
	struct hpcd_conn *prev, *next; /* srv->conns; touched by the event loop only */
	int fd;
	uid_t uid;
	pid_t pid;
	uint64_t id;
	int refused;                /* credentials not allowed: its first message gets -EACCES */
	struct hpcd_client *client; /* after its HELLO was accepted */
	char *page;                 /* the metrics snapshot being fetched page by page, or NULL */
	size_t page_len;
};

/*
 * A client with a session: the session itself is opaque (daemon/session.h);
 * this is what the server keeps about it.
 */
struct hpcd_client {
	struct hpcd_server *srv;
	struct hpcd_client *next; /* srv->clients, under sessions_lock */
	struct hpcd_session *session;
	struct hpcd_conn *conn; /* its connection, or NULL once closed; event loop only */
	uint64_t id;
	pid_t pid;
	uint64_t reserved_bytes; /* counted against max_total_arena_mb; event loop only */
};

/* epoll tags for the server's own fds (a conn is tagged by its pointer). */
static char tag_listen, tag_signal, tag_reap, tag_tasks, tag_timer;

/* Task threads for slow work (daemon/tasks.h): a hung backend holds one. */
#define SERVER_TASK_THREADS 8
/* After a second stop signal, how long sessions stuck in a backend may keep
 * the daemon from exiting. */
#define ABANDON_GRACE_NS 2000000000ull
/* At exit, how long closing the backends may take before they are abandoned. */
#define CLOSE_GRACE_NS 10000000000ull
/* While descriptors are exhausted, how long the listener rests between tries. */
#define ACCEPT_BACKOFF_MS 100

static int set_err(char *err, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int set_err(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return rc;
}

static void put_world_task(void *arg)
{
	hpcd_world_put(arg);
}

/*
 * Drop a world reference off the event loop: the last one closes instances,
 * which may take a backend's deadline (or forever, if it hangs).
 */
static void put_world_later(struct hpcd_server *srv, struct hpcd_world *w)
{
	if (!w)
		return;
	if (hpcd_tasks_submit(srv->tasks, put_world_task, NULL, w) < 0)
		hpcd_world_put(w); /* no memory even for the note: pay here rather than leak */
}

/* Drop the worlds sessions retired (event loop only). */
static void put_retired(struct hpcd_server *srv)
{
	struct hpcd_retired *r = hpcd_current_take_retired(&srv->current);
	while (r) {
		struct hpcd_retired *next = r->next;
		put_world_later(srv, r->world);
		free(r);
		r = next;
	}
}

static const char *socket_path_of(const struct hpcd_server *srv, const struct hpcd_config *cfg)
{
	return srv->socket_override ? srv->socket_override : cfg->socket;
}

/* Bind the listening socket, refusing to take over one a live daemon answers on. */
static int bind_socket(struct hpcd_server *srv, char *err, size_t errlen)
{
	const char *path = srv->socket_path;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	memcpy(addr.sun_path, path, strlen(path) + 1);

	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return set_err(err, errlen, -EEXIST,
				       "%s exists and is not a socket; not replacing it", path);
		int fd = hpci_sock_connect(path);
		if (fd >= 0) {
			close(fd);
			return set_err(err, errlen, -EADDRINUSE,
				       "another hpcd is already serving %s", path);
		}
		/* A stale socket of a daemon that died: safe to replace. */
		unlink(path);
	}

	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return set_err(err, errlen, -errno, "socket: %s", strerror(errno));
	/* Nobody else may connect between bind and chmod. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	int e = errno;
	umask(old);
	if (rc < 0) {
		close(fd);
		return set_err(err, errlen, -e, "cannot bind %s: %s", path, strerror(e));
	}
	/* Other users reach the socket only when the config allows some; the
	 * credentials check below is what enforces who may connect. */
	if (srv->cfg->nallow_uids)
		chmod(path, 0666);
	if (listen(fd, 128) < 0) {
		e = errno;
		close(fd);
		unlink(path);
		return set_err(err, errlen, -e, "cannot listen on %s: %s", path, strerror(e));
	}
	srv->listen_fd = fd;
	return 0;
}

/*
 * Give every instance of w its counter block now, so that `hpcrun metrics`
 * lists it (hpcd_backend_up 1) before its first job. Event loop; no plugin call.
 */
static void register_instances(struct hpcd_server *srv, struct hpcd_world *w)
{
	for (unsigned i = 0; i < hpcd_world_count(w); i++) {
		struct hpcd_backend *b = hpcd_world_backend(w, i);
		hpcd_metrics_instance(&srv->metrics, hpcd_backend_name(b),
				      hpcd_backend_conf(b)->plugin);
	}
}

static int epoll_add(int ep, int fd, void *tag, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = tag};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

void hpcd_server_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

int hpcd_server_init(struct hpcd_server *srv, struct hpcd_config *cfg, struct hpcd_world *world,
		     const char *config_arg, const char *socket_override, char *err, size_t errlen)
{
	memset(srv, 0, sizeof(*srv));
	srv->listen_fd = srv->epoll_fd = srv->signal_fd = srv->reap_fd = srv->spare_fd = -1;
	srv->timer_fd = -1;
	srv->cfg = cfg;
	hpcd_current_init(&srv->current, world, -1);
	srv->config_arg = config_arg;
	srv->socket_override = socket_override;
	srv->started_ns = hpci_now_ns();
	pthread_mutex_init(&srv->sessions_lock, NULL);
	hpcd_metrics_init(&srv->metrics);
	register_instances(srv, world);
	srv->session_env = (struct hpcd_session_env){
	    .current = &srv->current,
	    .metrics = &srv->metrics,
	    .trace = &srv->trace,
	    .reap_fd = -1, /* below, once it exists */
	    .spin_ns = (uint64_t)cfg->spin_us * 1000u,
	};

	const char *path = socket_path_of(srv, cfg);
	if (strlen(path) >= sizeof(srv->socket_path))
		return set_err(err, errlen, -ENAMETOOLONG,
			       "socket path %s is longer than %zu bytes", path,
			       sizeof(srv->socket_path) - 1);
	strcpy(srv->socket_path, path);

	sigset_t set;
	hpcd_server_block_signals(&set);
	signal(SIGPIPE, SIG_IGN);
	int grc = hpcd_guard_init();
	if (grc < 0)
		return set_err(err, errlen, grc, "cannot install the fault handlers: %s",
			       strerror(-grc));

	srv->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	srv->reap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* Retired worlds and finished sessions are reaped on one eventfd. */
	srv->current.notify_fd = srv->session_env.reap_fd = srv->reap_fd;
	srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	/* Held in reserve for the moment descriptors run out (see accept_all). */
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (srv->signal_fd < 0 || srv->reap_fd < 0 || srv->epoll_fd < 0 || srv->timer_fd < 0 ||
	    srv->spare_fd < 0)
		return set_err(err, errlen, -errno, "cannot set up the event loop: %s",
			       strerror(errno));
	int trc = hpcd_tasks_create(SERVER_TASK_THREADS, &srv->tasks);
	if (trc < 0)
		return set_err(err, errlen, trc, "cannot set up the task threads: %s",
			       strerror(-trc));
	int rc = bind_socket(srv, err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = epoll_add(srv->epoll_fd, srv->listen_fd, &tag_listen, EPOLLIN)) < 0 ||
	    (rc = epoll_add(srv->epoll_fd, srv->signal_fd, &tag_signal, EPOLLIN)) < 0 ||
	    (rc = epoll_add(srv->epoll_fd, srv->reap_fd, &tag_reap, EPOLLIN)) < 0 ||
	    (rc = epoll_add(srv->epoll_fd, hpcd_tasks_fd(srv->tasks), &tag_tasks, EPOLLIN)) < 0 ||
	    (rc = epoll_add(srv->epoll_fd, srv->timer_fd, &tag_timer, EPOLLIN)) < 0)
		return set_err(err, errlen, rc, "epoll: %s", strerror(-rc));
	return 0;
}

/* ---- Status texts ---------------------------------------------------------- */

static void status_text(struct hpcd_server *srv, char *buf, size_t len)
{
	uint64_t done = srv->jobs_done_reaped, failed = srv->jobs_failed_reaped;
	unsigned live = 0;
	pthread_mutex_lock(&srv->sessions_lock);
	for (struct hpcd_client *cl = srv->clients; cl; cl = cl->next) {
		uint64_t d, f;
		hpcd_session_counts(cl->session, &d, &f);
		done += d;
		failed += f;
		live++;
	}
	pthread_mutex_unlock(&srv->sessions_lock);

	uint64_t gen;
	struct hpcd_world *w = hpcd_current_get(&srv->current, &gen);
	double up = (double)(hpci_now_ns() - srv->started_ns) / 1e9;
	snprintf(buf, len,
		 "hpcd %s, pid %d, up %.1f s\n"
		 "config %s (generation %llu)\n"
		 "socket %s\n"
		 "clients %u connected (max_clients %u), %llu since start\n"
		 "arenas %llu MiB in use (max_total_arena_mb %llu, max_arena_mb %llu)\n"
		 "jobs %llu done, %llu failed\n"
		 "backends %u, default %s\n"
		 "reloads %llu ok, %llu refused\n",
		 HPCD_VERSION, (int)getpid(), up, srv->cfg->path, (unsigned long long)gen,
		 srv->socket_path, live, srv->cfg->max_clients,
		 (unsigned long long)srv->clients_total,
		 (unsigned long long)((srv->arena_in_use + (1u << 20) - 1) >> 20),
		 (unsigned long long)(srv->cfg->max_total_arena_bytes >> 20),
		 (unsigned long long)(srv->cfg->max_arena_bytes >> 20), (unsigned long long)done,
		 (unsigned long long)failed, hpcd_world_count(w), hpcd_world_default_name(w),
		 (unsigned long long)srv->reloads_ok, (unsigned long long)srv->reloads_failed);
	hpcd_world_put(w);
}

/* ---- Reload ------------------------------------------------------------------- */

/*
 * A reload reads the config and opens the new world on a task thread (an
 * MPI backend's start alone may take its start_timeout), then comes back to
 * the event loop to switch. One runs at a time; requests that arrive
 * meanwhile are answered by the next one, which starts when this ends, so
 * that every answer reflects the config as it was after the request.
 */
struct reload_waiter {
	struct reload_waiter *next;
	uint64_t conn_id; /* 0: a SIGHUP, nobody to answer */
};

struct reload_job {
	struct hpcd_server *srv;
	struct hpcd_world *old; /* a reference: the world to share unchanged sections with */
	uint64_t gen;
	struct hpcd_config *cfg;
	struct hpcd_world *nw;
	int rc;
	struct reload_waiter *waiters;
	char msg[2048];
};

static struct hpcd_conn *conn_by_id(struct hpcd_server *srv, uint64_t id)
{
	for (struct hpcd_conn *c = srv->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static int reply_text(int fd, int32_t status, const char *text);
static void conn_close(struct hpcd_server *srv, struct hpcd_conn *c, const char *why);
static void trace_owner_gone(struct hpcd_server *srv, struct hpcd_conn *c);

static void reload_work(void *arg)
{
	struct reload_job *j = arg;
	j->rc = hpcd_config_load(j->srv->config_arg, &j->cfg, j->msg, sizeof(j->msg));
	if (j->rc < 0)
		return;
	j->rc = hpcd_world_build(j->cfg, j->old, j->gen, &j->nw, j->msg, sizeof(j->msg));
	if (j->rc < 0) {
		hpcd_config_free(j->cfg);
		j->cfg = NULL;
	}
}

static void reload_start(struct hpcd_server *srv);

static void reload_done(void *arg)
{
	struct reload_job *j = arg;
	struct hpcd_server *srv = j->srv;
	if (j->rc == 0 && srv->stopping) {
		/* Finished while the daemon stops: nothing to switch to. */
		put_world_later(srv, j->nw);
		hpcd_config_free(j->cfg);
		j->rc = -ESHUTDOWN;
		snprintf(j->msg, sizeof(j->msg), "the daemon is stopping");
	} else if (j->rc == 0) {
		if (!srv->socket_override && strcmp(j->cfg->socket, srv->socket_path) != 0)
			hpcd_warn("reload: socket changed to %s; a new socket takes a restart, "
				  "still serving %s",
				  j->cfg->socket, srv->socket_path);
		struct hpcd_world *old = hpcd_current_swap(&srv->current, j->nw, j->gen);
		put_world_later(srv, old); /* instances close once the sessions let go */
		register_instances(srv, j->nw);

		struct hpcd_config *old_cfg = srv->cfg;
		srv->cfg = j->cfg;
		hpcd_config_free(old_cfg);
		hpcd_log_set_level(srv->cfg->log_level);
		srv->session_env.spin_ns =
		    (uint64_t)srv->cfg->spin_us * 1000u; /* for new sessions */
		srv->reloads_ok++;
		snprintf(j->msg, sizeof(j->msg),
			 "reloaded %s: generation %llu, %u backends, default %s", srv->cfg->path,
			 (unsigned long long)j->gen, hpcd_world_count(j->nw),
			 hpcd_world_default_name(j->nw));
		hpcd_info("%s", j->msg);
	} else {
		srv->reloads_failed++;
		hpcd_err("reload refused, still serving generation %llu: %s",
			 (unsigned long long)hpcd_current_gen(&srv->current), j->msg);
	}
	put_world_later(srv, j->old);
	while (j->waiters) {
		struct reload_waiter *w = j->waiters;
		j->waiters = w->next;
		struct hpcd_conn *c = w->conn_id ? conn_by_id(srv, w->conn_id) : NULL;
		if (c && reply_text(c->fd, j->rc, j->msg) < 0)
			conn_close(srv, c, "reply failed");
		free(w);
	}
	free(j);
	srv->reloading = 0;
	if (srv->reload_waiters)
		reload_start(srv);
}

/* Start a reload for the waiters queued now. */
static void reload_start(struct hpcd_server *srv)
{
	struct reload_job *j = calloc(1, sizeof(*j));
	if (j) {
		j->srv = srv;
		j->gen = hpcd_current_gen(&srv->current) + 1; /* only the event loop swaps */
		j->old = hpcd_current_get(&srv->current, &(uint64_t){0});
		j->waiters = srv->reload_waiters;
		srv->reload_waiters = NULL;
		if (hpcd_tasks_submit(srv->tasks, reload_work, reload_done, j) == 0) {
			srv->reloading = 1;
			return;
		}
		srv->reload_waiters = j->waiters;
		hpcd_world_put(j->old);
		free(j);
	}
	/* No memory to reload with: refuse every waiter now rather than never. */
	srv->reloads_failed++;
	hpcd_err("reload refused: out of memory");
	while (srv->reload_waiters) {
		struct reload_waiter *w = srv->reload_waiters;
		srv->reload_waiters = w->next;
		struct hpcd_conn *c = w->conn_id ? conn_by_id(srv, w->conn_id) : NULL;
		if (c)
			reply_text(c->fd, -ENOMEM, "the daemon is out of memory");
		free(w);
	}
}

/*
 * Queue a reload request (conn_id 0 for SIGHUP). Returns 0, or -ENOMEM when
 * it cannot even be queued.
 */
static int reload_request(struct hpcd_server *srv, uint64_t conn_id)
{
	struct reload_waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->conn_id = conn_id;
	struct reload_waiter **pp = &srv->reload_waiters;
	while (*pp)
		pp = &(*pp)->next;
	*pp = w;
	if (!srv->reloading)
		reload_start(srv);
	return 0;
}

/* ---- Connections --------------------------------------------------------------- */

static int uid_allowed(const struct hpcd_server *srv, uid_t uid)
{
	if (uid == geteuid())
		return 1;
	for (unsigned i = 0; i < srv->cfg->nallow_uids; i++)
		if (srv->cfg->allow_uids[i] == uid)
			return 1;
	return 0;
}

/* Stop watching the listener for a moment; the timer brings it back. */
static void pause_listener(struct hpcd_server *srv)
{
	if (srv->listener_paused || srv->listen_fd < 0)
		return;
	epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
	struct itimerspec its = {.it_value = {.tv_nsec = ACCEPT_BACKOFF_MS * 1000000l}};
	timerfd_settime(srv->timer_fd, 0, &its, NULL);
	srv->listener_paused = 1;
}

static void resume_listener(struct hpcd_server *srv)
{
	uint64_t n;
	ssize_t r = read(srv->timer_fd, &n, sizeof(n));
	(void)r;
	if (!srv->listener_paused || srv->listen_fd < 0)
		return;
	srv->listener_paused = 0;
	if (epoll_add(srv->epoll_fd, srv->listen_fd, &tag_listen, EPOLLIN) < 0)
		pause_listener(srv);
}

/*
 * Out of descriptors: the listener stays readable (level-triggered) and a
 * plain retry would spin. Free the spare descriptor, take the newcomer with
 * it, tell it why and close it (libev's and nginx's remedy), so the backlog
 * drains and the newcomer learns at once instead of hanging; then take the
 * spare back. Without a spare, rest the listener instead.
 */
static void refuse_for_fds(struct hpcd_server *srv, int err)
{
	unsigned dropped;
	if (hpcd_ratelimit_ok(&srv->accept_rl, 1, 1000000000ull, &dropped))
		hpcd_warn("accept: %s: refusing new connections until descriptors free up "
			  "(%u more refused since the last line)",
			  strerror(err), dropped);
	if (srv->spare_fd < 0) {
		pause_listener(srv);
		return;
	}
	close(srv->spare_fd);
	srv->spare_fd = -1;
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd >= 0) {
		srv->refused_fds++;
		srv->refused[HPCD_REF_FDS]++;
		reply_text(fd, -EMFILE,
			   "the daemon has run out of file descriptors; try again later");
		close(fd);
	}
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || srv->spare_fd < 0)
		pause_listener(srv);
}

static void accept_all(struct hpcd_server *srv)
{
	for (int i = 0; i < 64; i++) { /* a batch, so a flood cannot starve other events */
		/* Non-blocking: a client that does not read its replies must not stall
		 * the event loop; a reply that does not fit closes that connection. */
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			int e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED)
				return;
			if (e == EMFILE || e == ENFILE) {
				refuse_for_fds(srv, e);
				return;
			}
			/* ENOBUFS, ENOMEM, ...: the condition persists for a while. */
			unsigned dropped;
			if (hpcd_ratelimit_ok(&srv->accept_rl, 1, 1000000000ull, &dropped))
				hpcd_warn("accept: %s; pausing the listener (%u lines dropped)",
					  strerror(e), dropped);
			pause_listener(srv);
			return;
		}
		uid_t uid = (uid_t)-1;
		pid_t pid = 0;
		if (hpci_sock_peer(fd, &uid, &pid) < 0) {
			close(fd);
			continue;
		}
		int refused = !uid_allowed(srv, uid);
		if (refused)
			hpcd_warn(
			    "refused a connection from uid %d pid %d: not allowed by the config",
			    (int)uid, (int)pid);
		struct hpcd_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->uid = uid;
		c->pid = pid;
		c->refused = refused;
		c->id = ++srv->next_client_id;
		if (epoll_add(srv->epoll_fd, fd, c, EPOLLIN | EPOLLRDHUP) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = srv->conns;
		if (c->next)
			c->next->prev = c;
		srv->conns = c;
		hpcd_debug("connection %llu from pid %d uid %d", (unsigned long long)c->id,
			   (int)pid, (int)uid);
	}
}

/*
 * Forget a connection. Its session, if any, is cancelled and reaped later:
 * the session thread never touches the socket, so it can close now.
 */
static void conn_close(struct hpcd_server *srv, struct hpcd_conn *c, const char *why)
{
	if (c->fd < 0)
		return; /* closed already, earlier in this batch */
	epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->client) {
		hpcd_info("client %llu (pid %d): %s", (unsigned long long)c->id, (int)c->pid, why);
		c->client->conn = NULL;
		hpcd_session_cancel(c->client->session);
	} else {
		hpcd_debug("connection %llu: %s", (unsigned long long)c->id, why);
	}
	close(c->fd);
	c->fd = -1;
	free(c->page);
	c->page = NULL;
	trace_owner_gone(srv, c);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* Not freed yet: the batch of events being handled may still name it
	 * (a reap can close a connection whose own event comes next). */
	c->next = srv->closed_conns;
	srv->closed_conns = c;
}

/* Free the connections closed while handling the last batch of events. */
static void free_closed_conns(struct hpcd_server *srv)
{
	while (srv->closed_conns) {
		struct hpcd_conn *c = srv->closed_conns;
		srv->closed_conns = c->next;
		free(c);
	}
}

static int reply_text(int fd, int32_t status, const char *text)
{
	return hpci_sock_send(fd, HPC_MSG_REPLY, status, text, strlen(text), -1);
}

/* Refuse a HELLO with status and one sentence saying why (also logged). */
static void refuse_hello(struct hpcd_server *srv, struct hpcd_conn *c, int status,
			 enum hpcd_metrics_refusal why, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void refuse_hello(struct hpcd_server *srv, struct hpcd_conn *c, int status,
			 enum hpcd_metrics_refusal why, const char *fmt, ...)
{
	srv->refused[why]++;
	char msg[HPC_REFUSAL_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
	unsigned dropped;
	if (hpcd_ratelimit_ok(&srv->hello_rl, 10, 1000000000ull, &dropped))
		hpcd_warn("client %llu (pid %d) refused: %s (%u similar lines dropped)",
			  (unsigned long long)c->id, (int)c->pid, msg, dropped);
	hpci_sock_send(c->fd, HPC_MSG_HELLO_REPLY, status, msg, len, -1);
}

static void handle_hello(struct hpcd_server *srv, struct hpcd_conn *c, const struct hpc_hello *h)
{
	const struct hpcd_config *cfg = srv->cfg;
	if (c->client || srv->stopping) {
		int32_t st = srv->stopping ? -ESHUTDOWN : -EPROTO;
		srv->refused[HPCD_REF_OTHER]++;
		hpci_sock_send(c->fd, HPC_MSG_HELLO_REPLY, st, NULL, 0, -1);
		return;
	}
	if (h->flags || h->reserved[0] || h->reserved[1] || h->reserved[2]) {
		srv->refused[HPCD_REF_OTHER]++;
		hpci_sock_send(c->fd, HPC_MSG_HELLO_REPLY, -EINVAL, NULL, 0, -1);
		return;
	}
	if (h->arena_bytes > cfg->max_arena_bytes) {
		refuse_hello(srv, c, -E2BIG, HPCD_REF_MAX_ARENA,
			     "an arena of %llu bytes is more than max_arena_mb = %llu allows",
			     (unsigned long long)h->arena_bytes,
			     (unsigned long long)(cfg->max_arena_bytes >> 20));
		return;
	}
	/* Sessions being released still hold their threads and memory: they count. */
	if (srv->nsessions + srv->departing >= cfg->max_clients) {
		refuse_hello(srv, c, -EUSERS, HPCD_REF_MAX_CLIENTS,
			     "the daemon serves max_clients = %u clients already",
			     cfg->max_clients);
		return;
	}
	uint32_t sq = h->sq_entries ? h->sq_entries : cfg->ring_entries;
	uint32_t cq = h->cq_entries ? h->cq_entries : sq;
	struct hpc_region_hdr layout;
	if (hpci_region_layout(h->arena_bytes, sq, cq, &layout) < 0) {
		refuse_hello(srv, c, -E2BIG, HPCD_REF_OTHER,
			     "a region for an arena of %llu bytes cannot be laid out",
			     (unsigned long long)h->arena_bytes);
		return;
	}
	/* What the region will pin (it is pre-faulted): the whole of it counts. */
	uint64_t want = layout.region_size;
	if (want > cfg->max_total_arena_bytes ||
	    srv->arena_in_use > cfg->max_total_arena_bytes - want) {
		refuse_hello(srv, c, -ENOMEM, HPCD_REF_MAX_TOTAL_ARENA,
			     "a region of %llu MiB would pass max_total_arena_mb = %llu "
			     "(%llu MiB in use by %u clients)",
			     (unsigned long long)((want + (1u << 20) - 1) >> 20),
			     (unsigned long long)(cfg->max_total_arena_bytes >> 20),
			     (unsigned long long)((srv->arena_in_use + (1u << 20) - 1) >> 20),
			     srv->nsessions + srv->departing);
		return;
	}
	/* Allocated first: once the session thread runs, nothing here may fail. */
	struct hpcd_client *cl = malloc(sizeof(*cl));
	struct hpcd_session *s = NULL;
	int rc = cl ? hpcd_session_start(&srv->session_env, c->fd, c->uid, c->pid, c->id,
					 h->arena_bytes, sq, cq, &s)
		    : -ENOMEM;
	if (rc < 0) {
		free(cl);
		refuse_hello(srv, c, rc, HPCD_REF_OTHER, "cannot start a session: %s",
			     strerror(-rc));
		return;
	}
	*cl = (struct hpcd_client){.srv = srv,
				   .session = s,
				   .conn = c,
				   .id = c->id,
				   .pid = c->pid,
				   .reserved_bytes = want};
	srv->arena_in_use += want;
	/* The session thread makes the region and answers; we only list it. */
	c->client = cl;
	pthread_mutex_lock(&srv->sessions_lock);
	cl->next = srv->clients;
	srv->clients = cl;
	srv->nsessions++;
	srv->clients_total++;
	pthread_mutex_unlock(&srv->sessions_lock);
}

struct backends_job {
	struct hpcd_server *srv;
	struct hpcd_world *world;
	uint64_t conn_id;
	char text[HPC_MSG_MAX - sizeof(struct hpc_msg)];
};

static void backends_work(void *arg)
{
	struct backends_job *j = arg;
	hpcd_world_describe(j->world, j->text, sizeof(j->text));
	hpcd_world_put(j->world);
}

static void backends_done(void *arg)
{
	struct backends_job *j = arg;
	struct hpcd_conn *c = conn_by_id(j->srv, j->conn_id);
	if (c && reply_text(c->fd, 0, j->text) < 0)
		conn_close(j->srv, c, "reply failed");
	free(j);
}

static int backends_request(struct hpcd_server *srv, struct hpcd_conn *c)
{
	struct backends_job *j = malloc(sizeof(*j));
	if (!j)
		return -ENOMEM;
	uint64_t gen;
	j->srv = srv;
	j->conn_id = c->id;
	j->world = hpcd_current_get(&srv->current, &gen);
	if (hpcd_tasks_submit(srv->tasks, backends_work, backends_done, j) < 0) {
		hpcd_world_put(j->world);
		free(j);
		return -ENOMEM;
	}
	return 0;
}

/* ---- Metrics and traces ---------------------------------------------------------- */

/* Reply with the page of [data, data + total) that starts at offset. */
static int reply_page(int fd, const void *data, uint64_t total, uint64_t offset,
		      size_t (*read_fn)(const void *src, uint64_t off, void *buf, size_t len))
{
	char *buf = malloc(HPC_MSG_MAX);
	if (!buf)
		return reply_text(fd, -ENOMEM, "the daemon is out of memory");
	struct hpc_page pg = {.offset = offset, .total = total};
	memcpy(buf, &pg, sizeof(pg));
	size_t want = total - offset < HPC_PAGE_MAX ? (size_t)(total - offset) : HPC_PAGE_MAX;
	size_t got = read_fn(data, offset, buf + sizeof(pg), want);
	int rc = hpci_sock_send(fd, HPC_MSG_REPLY, 0, buf, sizeof(pg) + got, -1);
	free(buf);
	return rc;
}

static size_t read_text(const void *src, uint64_t off, void *buf, size_t len)
{
	memcpy(buf, (const char *)src + off, len);
	return len;
}

static size_t read_trace(const void *src, uint64_t off, void *buf, size_t len)
{
	return hpcd_trace_read(src, off, buf, len);
}

/* The offset a paged request asks for, or -EPROTO for a malformed one. */
static int64_t page_offset(const void *in, ssize_t n)
{
	if (n == 0)
		return 0;
	struct hpc_page_req req;
	if (n != sizeof(req))
		return -EPROTO;
	memcpy(&req, in, sizeof(req));
	if (req.reserved || req.offset > INT64_MAX)
		return -EPROTO;
	return (int64_t)req.offset;
}

static int backend_up(void *ctx, const char *name, const char *plugin)
{
	struct hpcd_backend *b = hpcd_world_lookup(ctx, name);
	if (!b)
		return 0;
	char pl[HPC_BACKEND_NAME_MAX + 1];
	hpcd_metrics_plugin_name(hpcd_backend_conf(b)->plugin, pl, sizeof(pl));
	return strcmp(pl, plugin) == 0;
}

/*
 * HPC_MSG_METRICS: offset 0 renders a fresh snapshot onto the connection,
 * later offsets page through it. Rendering reads counters and copies a few
 * kilobytes: no plugin call, so it stays on the event loop like `status`.
 */
static int metrics_request(struct hpcd_server *srv, struct hpcd_conn *c, int64_t offset)
{
	if (offset == 0) {
		free(c->page);
		c->page = NULL;
		struct hpcd_metrics_daemon md = {
		    .version = HPCD_VERSION,
		    .uptime_s = (double)(hpci_now_ns() - srv->started_ns) / 1e9,
		    .clients_connected = srv->nsessions,
		    .clients_total = srv->clients_total,
		    .arena_in_use = srv->arena_in_use,
		    .max_arena_bytes = srv->cfg->max_arena_bytes,
		    .max_total_arena_bytes = srv->cfg->max_total_arena_bytes,
		    .max_clients = srv->cfg->max_clients,
		    .reloads_ok = srv->reloads_ok,
		    .reloads_refused = srv->reloads_failed,
		    .trace_active = srv->trace.state == HPCD_TRACE_ACTIVE,
		};
		memcpy(md.refused, srv->refused, sizeof(md.refused));
		uint64_t gen;
		struct hpcd_world *w = hpcd_current_get(&srv->current, &gen);
		md.generation = gen;
		int rc =
		    hpcd_metrics_render(&srv->metrics, &md, backend_up, w, &c->page, &c->page_len);
		hpcd_world_put(
		    w); /* the current world holds it too: never the last reference here */
		if (rc < 0)
			return reply_text(c->fd, rc, "the daemon is out of memory");
	} else if (!c->page || (uint64_t)offset > c->page_len) {
		return reply_text(c->fd, -EINVAL, "no metrics snapshot at that offset; start at 0");
	}
	int rc = reply_page(c->fd, c->page, c->page_len, (uint64_t)offset, read_text);
	if ((uint64_t)offset + HPC_PAGE_MAX >= c->page_len) {
		free(c->page); /* the last page went out */
		c->page = NULL;
	}
	return rc;
}

static void trace_summary(const struct hpcd_trace *t, char *buf, size_t len)
{
	snprintf(buf, len,
		 "trace of %.3f s: %llu jobs, %llu chunk records; %llu jobs and %llu chunk "
		 "records dropped for want of room",
		 (double)(t->hdr.t_stop_ns - t->hdr.t_start_ns) / 1e9,
		 (unsigned long long)t->hdr.njobs, (unsigned long long)t->hdr.nchunks,
		 (unsigned long long)t->hdr.jobs_dropped,
		 (unsigned long long)t->hdr.chunks_dropped);
}

static void trace_quiesce_work(void *arg)
{
	hpcd_trace_quiesce(&((struct hpcd_server *)arg)->trace);
}

static void trace_quiesce_done(void *arg)
{
	struct hpcd_server *srv = arg;
	struct hpcd_trace *t = &srv->trace;
	t->state = HPCD_TRACE_STOPPED;
	struct hpcd_conn *c = t->owner_gone ? NULL : conn_by_id(srv, t->owner);
	if (!c) {
		hpcd_trace_reset(t);
		return;
	}
	char msg[256];
	trace_summary(t, msg, sizeof(msg));
	hpcd_info("client pid %d: %s", (int)t->owner_pid, msg);
	if (reply_text(c->fd, 0, msg) < 0)
		conn_close(srv, c, "reply failed");
}

/* Stop the trace (its owner asked, or left); the answer comes when the writers are out. */
static int trace_stop(struct hpcd_server *srv)
{
	struct hpcd_trace *t = &srv->trace;
	hpcd_trace_halt(t);
	if (hpcd_tasks_submit(srv->tasks, trace_quiesce_work, trace_quiesce_done, srv) < 0) {
		/* No memory even for the note: wait here; a writer holds it for one copy. */
		hpcd_trace_quiesce(t);
		trace_quiesce_done(srv);
	}
	return 0;
}

/* The owner's connection closes: its trace ends with it. */
static void trace_owner_gone(struct hpcd_server *srv, struct hpcd_conn *c)
{
	struct hpcd_trace *t = &srv->trace;
	if (t->state == HPCD_TRACE_IDLE || t->owner != c->id)
		return;
	t->owner_gone = 1;
	if (t->state == HPCD_TRACE_ACTIVE)
		trace_stop(srv);
	else if (t->state == HPCD_TRACE_STOPPED)
		hpcd_trace_reset(t);
	/* STOPPING: trace_quiesce_done resets it. */
}

static int trace_request(struct hpcd_server *srv, struct hpcd_conn *c, uint16_t type,
			 const void *in, ssize_t n)
{
	struct hpcd_trace *t = &srv->trace;
	char msg[256];
	if (type == HPC_MSG_TRACE_START) {
		struct hpc_trace_start st;
		if (n != sizeof(st))
			return -EPROTO;
		memcpy(&st, in, sizeof(st));
		if (st.reserved[0] || st.reserved[1] || st.reserved[2])
			return reply_text(c->fd, -EINVAL,
					  "reserved fields of the trace request are not 0");
		if (srv->stopping)
			return reply_text(c->fd, -ESHUTDOWN, "the daemon is stopping");
		int rc = hpcd_trace_start(t, c->id, c->pid, st.max_jobs, st.max_chunks);
		if (rc == -EBUSY && t->state == HPCD_TRACE_ACTIVE)
			snprintf(msg, sizeof(msg),
				 "a trace is already running (started by pid %d); one at a time",
				 (int)t->owner_pid);
		else if (rc == -EBUSY)
			snprintf(msg, sizeof(msg),
				 "the last trace (pid %d) is not released yet: it ends "
				 "with its connection",
				 (int)t->owner_pid);
		else if (rc < 0)
			snprintf(msg, sizeof(msg), "no memory for a trace of that size");
		else
			snprintf(msg, sizeof(msg), "tracing: room for %u jobs and %u chunk records",
				 t->max_jobs, t->max_chunks);
		if (rc == 0)
			hpcd_info("client pid %d: %s", (int)c->pid, msg);
		return reply_text(c->fd, rc, msg);
	}
	if (t->state == HPCD_TRACE_IDLE || t->owner != c->id)
		return reply_text(c->fd, -ENOENT, "this connection has no trace");
	if (type == HPC_MSG_TRACE_STOP) {
		if (n != 0)
			return -EPROTO;
		if (t->state == HPCD_TRACE_ACTIVE)
			return trace_stop(srv);
		if (t->state == HPCD_TRACE_STOPPING)
			return reply_text(c->fd, -EBUSY, "the trace is stopping already");
		trace_summary(t, msg, sizeof(msg));
		return reply_text(c->fd, 0, msg);
	}
	/* HPC_MSG_TRACE_FETCH */
	int64_t off = page_offset(in, n);
	if (off < 0)
		return (int)off;
	if (t->state != HPCD_TRACE_STOPPED)
		return reply_text(c->fd, -EAGAIN, "the trace is still recording; stop it first");
	uint64_t total = hpcd_trace_size(t);
	if ((uint64_t)off > total)
		return reply_text(c->fd, -EINVAL, "offset past the end of the trace");
	return reply_page(c->fd, t, total, (uint64_t)off, read_trace);
}

static void handle_conn(struct hpcd_server *srv, struct hpcd_conn *c, uint32_t events)
{
	if (c->fd < 0)
		return; /* closed earlier in this batch */
	if (!(events & EPOLLIN)) {
		conn_close(srv, c, "disconnected");
		return;
	}
	union {
		struct hpc_hello hello;
		char raw[512];
	} in;
	struct hpc_msg hdr;
	ssize_t n = hpci_sock_recv(c->fd, &hdr, &in, sizeof(in), NULL);
	if (n == -EAGAIN)
		return;
	if (n == -ECONNRESET || n == -EPIPE) {
		conn_close(srv, c, "disconnected");
		return;
	}
	if (n < 0) {
		hpcd_warn("connection %llu (pid %d): %s; closing it", (unsigned long long)c->id,
			  (int)c->pid, n == -EPROTO ? "malformed message" : strerror((int)-n));
		conn_close(srv, c, "protocol error");
		return;
	}
	if (c->refused) {
		srv->refused[HPCD_REF_NOT_ALLOWED]++;
		/* Answered only now, after reading its request: closing a socket
		 * with unread data would reset the connection and lose the reason. */
		reply_text(c->fd, -EACCES, "this user may not use this hpcd (see allow_uids)");
		conn_close(srv, c, "not allowed");
		return;
	}
	char *text = malloc(HPC_MSG_MAX);
	if (!text)
		return;
	int rc = 0;
	switch (hdr.type) {
	case HPC_MSG_HELLO:
		if (n != sizeof(struct hpc_hello)) {
			rc = -EPROTO;
			break;
		}
		handle_hello(srv, c, &in.hello);
		break;
	case HPC_MSG_STATUS:
		status_text(srv, text, HPC_MSG_MAX - sizeof(struct hpc_msg));
		rc = reply_text(c->fd, 0, text);
		break;
	case HPC_MSG_BACKENDS:
		/* describe() is a plugin call: asked on a task thread. */
		rc = backends_request(srv, c);
		if (rc < 0)
			rc = reply_text(c->fd, rc, "the daemon is out of memory");
		break;
	case HPC_MSG_RELOAD:
		if (srv->stopping) {
			rc = reply_text(c->fd, -ESHUTDOWN, "the daemon is stopping");
		} else if (reload_request(srv, c->id) < 0) {
			rc = reply_text(c->fd, -ENOMEM, "the daemon is out of memory");
		}
		break;
	case HPC_MSG_METRICS: {
		int64_t off = page_offset(&in, n);
		rc = off < 0 ? (int)off : metrics_request(srv, c, off);
		break;
	}
	case HPC_MSG_TRACE_START:
	case HPC_MSG_TRACE_STOP:
	case HPC_MSG_TRACE_FETCH:
		rc = trace_request(srv, c, hdr.type, &in, n);
		break;
	default:
		rc = -EPROTO;
	}
	free(text);
	if (rc == -EPROTO) {
		hpcd_warn("connection %llu (pid %d): unexpected message type %u; closing it",
			  (unsigned long long)c->id, (int)c->pid, hdr.type);
		conn_close(srv, c, "protocol error");
	} else if (rc < 0) {
		conn_close(srv, c, "reply failed");
	}
}

/*
 * A finished session's last steps - telling every backend that its region
 * is gone (a plugin call, which may wait on a worker process) and unmapping
 * it - run on a task thread; the memory it held counts against the limits
 * until they are done.
 */
static void session_release_work(void *arg)
{
	struct hpcd_client *cl = arg;
	hpcd_session_release(cl->session);
}

static void session_release_done(void *arg)
{
	struct hpcd_client *cl = arg;
	struct hpcd_server *srv = cl->srv;
	srv->arena_in_use -= cl->reserved_bytes;
	srv->departing--;
	hpcd_session_free(cl->session);
	free(cl);
}

/* Hand every session whose thread has finished to a task for release. */
static void reap(struct hpcd_server *srv)
{
	uint64_t cnt;
	ssize_t r = read(srv->reap_fd, &cnt, sizeof(cnt));
	(void)r;
	put_retired(srv);
	pthread_mutex_lock(&srv->sessions_lock);
	struct hpcd_client **pp = &srv->clients;
	while (*pp) {
		struct hpcd_client *cl = *pp;
		if (!hpcd_session_finished(cl->session)) {
			pp = &cl->next;
			continue;
		}
		*pp = cl->next;
		srv->nsessions--;
		uint64_t done, failed;
		hpcd_session_counts(cl->session, &done, &failed);
		srv->jobs_done_reaped += done;
		srv->jobs_failed_reaped += failed;
		const char *why = hpcd_session_exit_reason(cl->session);
		hpcd_info("client %llu (pid %d) closed: %s; %llu jobs done, %llu failed",
			  (unsigned long long)cl->id, (int)cl->pid, why, (unsigned long long)done,
			  (unsigned long long)failed);
		if (cl->conn) {
			/* The session ended on its own (drained, or the client broke
			 * the ring protocol): closing the socket tells the client. */
			struct hpcd_conn *c = cl->conn;
			c->client = NULL;
			conn_close(srv, c, why);
		}
		srv->departing++;
		if (hpcd_tasks_submit(srv->tasks, session_release_work, session_release_done, cl) <
		    0) {
			session_release_work(cl); /* no memory for the task: pay here */
			session_release_done(cl);
		}
	}
	pthread_mutex_unlock(&srv->sessions_lock);
}

static void begin_stop(struct hpcd_server *srv, int sig)
{
	if (srv->stopping) {
		hpcd_warn("signal %d again: abandoning queued jobs", sig);
		srv->abandon_at_ns = hpci_now_ns() + ABANDON_GRACE_NS;
		pthread_mutex_lock(&srv->sessions_lock);
		for (struct hpcd_client *cl = srv->clients; cl; cl = cl->next)
			hpcd_session_cancel(cl->session);
		pthread_mutex_unlock(&srv->sessions_lock);
		return;
	}
	srv->stopping = 1;
	hpcd_info("signal %d: stopping; finishing accepted jobs, refusing new ones", sig);
	/* New clients find no socket; queued jobs finish; later ones are refused. */
	if (!srv->listener_paused)
		epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
	close(srv->listen_fd);
	srv->listen_fd = -1;
	unlink(srv->socket_path);
	pthread_mutex_lock(&srv->sessions_lock);
	for (struct hpcd_client *cl = srv->clients; cl; cl = cl->next)
		hpcd_session_drain(cl->session);
	pthread_mutex_unlock(&srv->sessions_lock);
}

static void handle_signals(struct hpcd_server *srv)
{
	struct signalfd_siginfo si;
	while (read(srv->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			hpcd_info("SIGHUP: reloading %s", srv->config_arg);
			if (srv->stopping)
				hpcd_warn("SIGHUP ignored: the daemon is stopping");
			else if (reload_request(srv, 0) < 0)
				hpcd_err("reload refused: out of memory");
		} else {
			begin_stop(srv, (int)si.ssi_signo);
		}
	}
}

/* Whether a stopping daemon may leave its loop now; sets *timeout_ms for the wait. */
static int done_stopping(struct hpcd_server *srv, int *timeout_ms)
{
	*timeout_ms = -1;
	if (!srv->stopping)
		return 0;
	pthread_mutex_lock(&srv->sessions_lock);
	unsigned left = srv->nsessions + srv->departing;
	pthread_mutex_unlock(&srv->sessions_lock);
	if (!left)
		return 1;
	if (!srv->abandon_at_ns)
		return 0;
	uint64_t now = hpci_now_ns();
	if (now >= srv->abandon_at_ns) {
		hpcd_err("stopping with %u clients still inside a backend that does not return; "
			 "abandoning them",
			 left);
		return 1;
	}
	*timeout_ms = (int)((srv->abandon_at_ns - now) / 1000000 + 1);
	return 0;
}

int hpcd_server_run(struct hpcd_server *srv)
{
	uint64_t gen;
	struct hpcd_world *w = hpcd_current_get(&srv->current, &gen);
	hpcd_info("hpcd %s serving %s (config %s, %u backends, default %s)", HPCD_VERSION,
		  srv->socket_path, srv->cfg->path, hpcd_world_count(w),
		  hpcd_world_default_name(w));
	hpcd_world_put(w);

	struct epoll_event evs[64];
	for (;;) {
		int timeout_ms;
		if (done_stopping(srv, &timeout_ms))
			break;
		int n = epoll_wait(srv->epoll_fd, evs, 64, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			hpcd_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &tag_listen)
				accept_all(srv);
			else if (tag == &tag_signal)
				handle_signals(srv);
			else if (tag == &tag_reap)
				reap(srv);
			else if (tag == &tag_tasks)
				hpcd_tasks_dispatch(srv->tasks);
			else if (tag == &tag_timer)
				resume_listener(srv);
			else
				handle_conn(srv, tag, evs[i].events);
		}
		free_closed_conns(srv);
	}
	hpcd_info("stopped");
	return 0;
}

void hpcd_server_fini(struct hpcd_server *srv)
{
	/* Sessions still listed (an error path out of the loop, or stuck in a
	 * backend) are cancelled; those whose thread ended are released, the
	 * stuck ones abandoned: joining them would wait on the backend. */
	pthread_mutex_lock(&srv->sessions_lock);
	struct hpcd_client *cl = srv->clients;
	srv->clients = NULL;
	pthread_mutex_unlock(&srv->sessions_lock);
	int stuck_sessions = 0;
	while (cl) {
		struct hpcd_client *next = cl->next;
		hpcd_session_cancel(cl->session);
		cl->conn = NULL;
		if (hpcd_session_finished(cl->session) && srv->tasks) {
			srv->departing++;
			if (hpcd_tasks_submit(srv->tasks, session_release_work,
					      session_release_done, cl) < 0)
				srv->departing--;
		} else {
			stuck_sessions = 1;
		}
		cl = next;
	}
	while (srv->conns) {
		srv->conns->client = NULL;
		conn_close(srv, srv->conns, "daemon stopped");
	}
	free_closed_conns(srv);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->socket_path);
	}
	put_retired(srv);
	struct hpcd_world *w = hpcd_current_clear(&srv->current);
	int abandoned = 0;
	if (srv->tasks) {
		/* Closing backends has deadlines of its own; this one is for a
		 * backend that hangs anyway: the daemon exits regardless. */
		put_world_later(srv, w);
		unsigned stuck;
		if (hpcd_tasks_drain(srv->tasks, hpci_now_ns() + CLOSE_GRACE_NS, &stuck) < 0) {
			hpcd_err("%u backend tasks did not finish within %llu s; abandoning them",
				 stuck, (unsigned long long)(CLOSE_GRACE_NS / 1000000000ull));
			abandoned = 1;
		}
		hpcd_tasks_destroy(srv->tasks);
		srv->tasks = NULL;
	} else if (w) {
		hpcd_world_put(w);
	}
	if (srv->epoll_fd >= 0)
		close(srv->epoll_fd);
	if (srv->signal_fd >= 0)
		close(srv->signal_fd);
	/* An abandoned session thread still writes the reap eventfd when it ends. */
	if (srv->reap_fd >= 0 && !stuck_sessions)
		close(srv->reap_fd);
	if (srv->timer_fd >= 0)
		close(srv->timer_fd);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	if (srv->cfg)
		hpcd_config_free(srv->cfg);
	while (srv->reload_waiters) {
		struct reload_waiter *rw = srv->reload_waiters;
		srv->reload_waiters = rw->next;
		free(rw);
	}
	if (!abandoned && !stuck_sessions) {
		/* No session thread is left to write them. */
		if (srv->trace.state != HPCD_TRACE_STOPPING)
			hpcd_trace_reset(&srv->trace);
		hpcd_metrics_fini(&srv->metrics);
		hpcd_current_fini(&srv->current);
		pthread_mutex_destroy(&srv->sessions_lock);
	}
}

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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/guard.h"
#include "daemon/loader.h"
#include "daemon/log.h"
#include "daemon/session.h"
#include "daemon/version.h"
#include "ipc/ring.h"
#include "ipc/sock.h"

/* A connected client socket. Control-only connections stay conns; one that
 * says HELLO gets a session, which then owns the fd. */
struct hpcd_conn {
	struct hpcd_conn *prev, *next; /* srv->conns; touched by the event loop only */
	int fd;
	uid_t uid;
	pid_t pid;
	uint64_t id;
	int refused; /* credentials not allowed: its first message gets -EACCES */
	struct hpcd_session *session;
};

/* epoll tags for the server's own fds (a conn is tagged by its pointer). */
static char tag_listen, tag_signal, tag_reap;

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

struct hpcd_retired {
	struct hpcd_retired *next;
	struct hpcd_world *world;
};

void hpcd_server_retire_world(struct hpcd_server *srv, struct hpcd_world *w)
{
	struct hpcd_retired *r = malloc(sizeof(*r));
	if (!r) {
		hpcd_world_put(w); /* no memory for the note: pay here rather than leak */
		return;
	}
	r->world = w;
	pthread_mutex_lock(&srv->world_lock);
	r->next = srv->retired;
	srv->retired = r;
	pthread_mutex_unlock(&srv->world_lock);
	uint64_t one = 1;
	ssize_t n = write(srv->reap_fd, &one, sizeof(one));
	(void)n; /* an eventfd write of 1 cannot fail short of overflow */
}

/* Drop the worlds sessions retired (event loop only). */
static void put_retired(struct hpcd_server *srv)
{
	pthread_mutex_lock(&srv->world_lock);
	struct hpcd_retired *r = srv->retired;
	srv->retired = NULL;
	pthread_mutex_unlock(&srv->world_lock);
	while (r) {
		struct hpcd_retired *next = r->next;
		hpcd_world_put(r->world);
		free(r);
		r = next;
	}
}

struct hpcd_world *hpcd_server_world(struct hpcd_server *srv, uint64_t *gen)
{
	pthread_mutex_lock(&srv->world_lock);
	struct hpcd_world *w = srv->world;
	hpcd_world_get(w);
	*gen = srv->world_gen;
	pthread_mutex_unlock(&srv->world_lock);
	return w;
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

static int epoll_add(int ep, int fd, void *tag, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = tag};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int hpcd_server_init(struct hpcd_server *srv, struct hpcd_config *cfg, struct hpcd_world *world,
		     const char *config_arg, const char *socket_override, char *err, size_t errlen)
{
	memset(srv, 0, sizeof(*srv));
	srv->listen_fd = srv->epoll_fd = srv->signal_fd = srv->reap_fd = -1;
	srv->cfg = cfg;
	srv->world = world;
	srv->world_gen = 1;
	srv->config_arg = config_arg;
	srv->socket_override = socket_override;
	srv->started_ns = hpci_now_ns();
	pthread_mutex_init(&srv->world_lock, NULL);
	pthread_mutex_init(&srv->sessions_lock, NULL);

	const char *path = socket_path_of(srv, cfg);
	if (strlen(path) >= sizeof(srv->socket_path))
		return set_err(err, errlen, -ENAMETOOLONG,
			       "socket path %s is longer than %zu bytes", path,
			       sizeof(srv->socket_path) - 1);
	strcpy(srv->socket_path, path);

	/* Signals arrive through a signalfd in the event loop; every thread
	 * started later inherits the mask, so none of them is interrupted. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int grc = hpcd_guard_init();
	if (grc < 0)
		return set_err(err, errlen, grc, "cannot install the fault handlers: %s",
			       strerror(-grc));

	srv->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	srv->reap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->signal_fd < 0 || srv->reap_fd < 0 || srv->epoll_fd < 0)
		return set_err(err, errlen, -errno, "cannot set up the event loop: %s",
			       strerror(errno));
	int rc = bind_socket(srv, err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = epoll_add(srv->epoll_fd, srv->listen_fd, &tag_listen, EPOLLIN)) < 0 ||
	    (rc = epoll_add(srv->epoll_fd, srv->signal_fd, &tag_signal, EPOLLIN)) < 0 ||
	    (rc = epoll_add(srv->epoll_fd, srv->reap_fd, &tag_reap, EPOLLIN)) < 0)
		return set_err(err, errlen, rc, "epoll: %s", strerror(-rc));
	return 0;
}

/* ---- Status texts ---------------------------------------------------------- */

static void status_text(struct hpcd_server *srv, char *buf, size_t len)
{
	uint64_t done = srv->jobs_done_reaped, failed = srv->jobs_failed_reaped;
	unsigned live = 0;
	pthread_mutex_lock(&srv->sessions_lock);
	for (struct hpcd_session *s = srv->sessions; s; s = s->next) {
		done += __atomic_load_n(&s->jobs_done, __ATOMIC_RELAXED);
		failed += __atomic_load_n(&s->jobs_failed, __ATOMIC_RELAXED);
		live++;
	}
	pthread_mutex_unlock(&srv->sessions_lock);

	uint64_t gen;
	struct hpcd_world *w = hpcd_server_world(srv, &gen);
	double up = (double)(hpci_now_ns() - srv->started_ns) / 1e9;
	snprintf(buf, len,
		 "hpcd %s, pid %d, up %.1f s\n"
		 "config %s (generation %llu)\n"
		 "socket %s\n"
		 "clients %u connected, %llu since start\n"
		 "jobs %llu done, %llu failed\n"
		 "backends %u, default %s\n"
		 "reloads %llu ok, %llu refused\n",
		 HPCD_VERSION, (int)getpid(), up, srv->cfg->path, (unsigned long long)gen,
		 srv->socket_path, live, (unsigned long long)srv->clients_total,
		 (unsigned long long)done, (unsigned long long)failed, hpcd_world_count(w),
		 hpcd_world_default_name(w), (unsigned long long)srv->reloads_ok,
		 (unsigned long long)srv->reloads_failed);
	hpcd_world_put(w);
}

/* ---- Reload ------------------------------------------------------------------- */

int hpcd_server_reload(struct hpcd_server *srv, char *msg, size_t len)
{
	struct hpcd_config *cfg;
	int rc = hpcd_config_load(srv->config_arg, &cfg, msg, len);
	if (rc < 0)
		goto refused;
	if (!srv->socket_override && strcmp(cfg->socket, srv->socket_path) != 0)
		hpcd_warn("reload: socket changed to %s; a new socket takes a restart, "
			  "still serving %s",
			  cfg->socket, srv->socket_path);

	uint64_t gen = srv->world_gen + 1; /* only this thread writes world_gen */
	struct hpcd_world *nw;
	rc = hpcd_world_build(cfg, srv->world, gen, &nw, msg, len);
	if (rc < 0) {
		hpcd_config_free(cfg);
		goto refused;
	}
	pthread_mutex_lock(&srv->world_lock);
	struct hpcd_world *old = srv->world;
	srv->world = nw;
	/* Release pairs with the acquire in the sessions' refresh_world. */
	__atomic_store_n(&srv->world_gen, gen, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&srv->world_lock);
	hpcd_world_put(old); /* instances close once the sessions let go */

	struct hpcd_config *old_cfg = srv->cfg;
	srv->cfg = cfg;
	hpcd_config_free(old_cfg);
	hpcd_log_set_level(cfg->log_level);
	srv->reloads_ok++;
	snprintf(msg, len, "reloaded %s: generation %llu, %u backends, default %s", cfg->path,
		 (unsigned long long)gen, hpcd_world_count(nw), hpcd_world_default_name(nw));
	hpcd_info("%s", msg);
	return 0;
refused:
	srv->reloads_failed++;
	hpcd_err("reload refused, still serving generation %llu: %s",
		 (unsigned long long)srv->world_gen, msg);
	return rc;
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

static void accept_all(struct hpcd_server *srv)
{
	for (;;) {
		/* Non-blocking: a client that does not read its replies must not stall
		 * the event loop; a reply that does not fit closes that connection. */
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				hpcd_warn("accept: %s", strerror(errno));
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
			hpcd_warn("refused a connection from uid %d pid %d: not allowed by the config",
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
		hpcd_debug("connection %llu from pid %d uid %d", (unsigned long long)c->id, (int)pid,
			   (int)uid);
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
	if (c->session) {
		hpcd_info("client %llu (pid %d): %s", (unsigned long long)c->id, (int)c->pid, why);
		c->session->conn = NULL;
		hpcd_session_cancel(c->session);
	} else {
		hpcd_debug("connection %llu: %s", (unsigned long long)c->id, why);
	}
	close(c->fd);
	c->fd = -1;
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

static void handle_hello(struct hpcd_server *srv, struct hpcd_conn *c, const struct hpc_hello *h)
{
	char msg[256];
	if (c->session || srv->stopping) {
		int32_t st = srv->stopping ? -ESHUTDOWN : -EPROTO;
		hpci_sock_send(c->fd, HPC_MSG_HELLO_REPLY, st, NULL, 0, -1);
		return;
	}
	if (h->flags || h->reserved[0] || h->reserved[1] || h->reserved[2]) {
		hpci_sock_send(c->fd, HPC_MSG_HELLO_REPLY, -EINVAL, NULL, 0, -1);
		return;
	}
	if (h->arena_bytes > srv->cfg->max_arena_bytes) {
		snprintf(msg, sizeof(msg), "asked for %llu bytes of arena", (unsigned long long)h->arena_bytes);
		hpcd_warn("client %llu (pid %d): %s, more than max_arena_mb allows",
			  (unsigned long long)c->id, (int)c->pid, msg);
		hpci_sock_send(c->fd, HPC_MSG_HELLO_REPLY, -E2BIG, NULL, 0, -1);
		return;
	}
	uint32_t sq = h->sq_entries ? h->sq_entries : srv->cfg->ring_entries;
	uint32_t cq = h->cq_entries ? h->cq_entries : sq;
	struct hpcd_session *s;
	int rc = hpcd_session_start(srv, c->fd, c->uid, c->pid, c->id, h->arena_bytes, sq, cq, &s);
	if (rc < 0) {
		hpcd_warn("client %llu (pid %d): cannot start a session: %s", (unsigned long long)c->id,
			  (int)c->pid, strerror(-rc));
		hpci_sock_send(c->fd, HPC_MSG_HELLO_REPLY, rc, NULL, 0, -1);
		return;
	}
	/* The session thread makes the region and answers; we only list it. */
	c->session = s;
	s->conn = c;
	pthread_mutex_lock(&srv->sessions_lock);
	s->next = srv->sessions;
	srv->sessions = s;
	srv->nsessions++;
	srv->clients_total++;
	pthread_mutex_unlock(&srv->sessions_lock);
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
	case HPC_MSG_BACKENDS: {
		uint64_t gen;
		struct hpcd_world *w = hpcd_server_world(srv, &gen);
		hpcd_world_describe(w, text, HPC_MSG_MAX - sizeof(struct hpc_msg));
		hpcd_world_put(w);
		rc = reply_text(c->fd, 0, text);
		break;
	}
	case HPC_MSG_RELOAD: {
		int st = srv->stopping ? -ESHUTDOWN : 0;
		if (st)
			snprintf(text, HPC_MSG_MAX - sizeof(struct hpc_msg), "the daemon is stopping");
		else
			st = hpcd_server_reload(srv, text, HPC_MSG_MAX - sizeof(struct hpc_msg));
		rc = reply_text(c->fd, st, text);
		break;
	}
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

/* Join and free every session whose thread has finished. */
static void reap(struct hpcd_server *srv)
{
	uint64_t cnt;
	ssize_t r = read(srv->reap_fd, &cnt, sizeof(cnt));
	(void)r;
	put_retired(srv);
	pthread_mutex_lock(&srv->sessions_lock);
	struct hpcd_session **pp = &srv->sessions;
	while (*pp) {
		struct hpcd_session *s = *pp;
		if (!__atomic_load_n(&s->finished, __ATOMIC_ACQUIRE)) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		srv->nsessions--;
		srv->jobs_done_reaped += s->jobs_done;
		srv->jobs_failed_reaped += s->jobs_failed;
		hpcd_info("client %llu (pid %d) closed: %s; %llu jobs done, %llu failed",
			  (unsigned long long)s->id, (int)s->pid, s->exit_reason,
			  (unsigned long long)s->jobs_done, (unsigned long long)s->jobs_failed);
		if (s->conn) {
			/* The session ended on its own (drained, or the client broke
			 * the ring protocol): closing the socket tells the client. */
			struct hpcd_conn *c = s->conn;
			c->session = NULL;
			conn_close(srv, c, s->exit_reason);
		}
		hpcd_session_free(s);
	}
	pthread_mutex_unlock(&srv->sessions_lock);
}

static void begin_stop(struct hpcd_server *srv, int sig)
{
	if (srv->stopping) {
		hpcd_warn("signal %d again: abandoning queued jobs", sig);
		pthread_mutex_lock(&srv->sessions_lock);
		for (struct hpcd_session *s = srv->sessions; s; s = s->next)
			hpcd_session_cancel(s);
		pthread_mutex_unlock(&srv->sessions_lock);
		return;
	}
	srv->stopping = 1;
	hpcd_info("signal %d: stopping; finishing accepted jobs, refusing new ones", sig);
	/* New clients find no socket; queued jobs finish; later ones are refused. */
	epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
	close(srv->listen_fd);
	srv->listen_fd = -1;
	unlink(srv->socket_path);
	pthread_mutex_lock(&srv->sessions_lock);
	for (struct hpcd_session *s = srv->sessions; s; s = s->next)
		hpcd_session_drain(s);
	pthread_mutex_unlock(&srv->sessions_lock);
}

static void handle_signals(struct hpcd_server *srv)
{
	struct signalfd_siginfo si;
	while (read(srv->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			char msg[1024];
			hpcd_info("SIGHUP: reloading %s", srv->config_arg);
			hpcd_server_reload(srv, msg, sizeof(msg));
		} else {
			begin_stop(srv, (int)si.ssi_signo);
		}
	}
}

int hpcd_server_run(struct hpcd_server *srv)
{
	uint64_t gen;
	struct hpcd_world *w = hpcd_server_world(srv, &gen);
	hpcd_info("hpcd %s serving %s (config %s, %u backends, default %s)", HPCD_VERSION,
		  srv->socket_path, srv->cfg->path, hpcd_world_count(w), hpcd_world_default_name(w));
	hpcd_world_put(w);

	struct epoll_event evs[64];
	for (;;) {
		if (srv->stopping) {
			pthread_mutex_lock(&srv->sessions_lock);
			unsigned left = srv->nsessions;
			pthread_mutex_unlock(&srv->sessions_lock);
			if (!left)
				break;
		}
		int n = epoll_wait(srv->epoll_fd, evs, 64, -1);
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
	/* Sessions still listed (an error path out of the loop) are cancelled. */
	pthread_mutex_lock(&srv->sessions_lock);
	struct hpcd_session *s = srv->sessions;
	srv->sessions = NULL;
	pthread_mutex_unlock(&srv->sessions_lock);
	while (s) {
		struct hpcd_session *next = s->next;
		hpcd_session_cancel(s);
		hpcd_session_free(s);
		s = next;
	}
	while (srv->conns) {
		srv->conns->session = NULL;
		conn_close(srv, srv->conns, "daemon stopped");
	}
	free_closed_conns(srv);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->socket_path);
	}
	if (srv->epoll_fd >= 0)
		close(srv->epoll_fd);
	if (srv->signal_fd >= 0)
		close(srv->signal_fd);
	if (srv->reap_fd >= 0)
		close(srv->reap_fd);
	put_retired(srv);
	if (srv->world)
		hpcd_world_put(srv->world);
	if (srv->cfg)
		hpcd_config_free(srv->cfg);
	pthread_mutex_destroy(&srv->world_lock);
	pthread_mutex_destroy(&srv->sessions_lock);
}

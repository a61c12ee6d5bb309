/*
 * daemon/server.h - the daemon's life cycle: the listening socket, the event
 * loop (connections, control requests, signals), the current world of
 * backends, and the client sessions.
 *
 * Threads: one event-loop thread (the caller of hpcd_server_run) owns the
 * sockets, the config and every reload; each client that asked for a region
 * has a session thread that consumes its submission ring and runs its jobs
 * (daemon/session.h). They meet in three places: the current world
 * (daemon/current.h, swapped here at a reload, read by sessions when its
 * generation moves), a session's cancel/drain flags, and the reap eventfd a
 * finished session writes. The server knows sessions only through the
 * functions of daemon/session.h (the struct is opaque; what the server keeps
 * about a client is its own struct hpcd_client); sessions know only what
 * struct hpcd_session_env hands them, never the server.
 */
#ifndef HPCD_SERVER_H
#define HPCD_SERVER_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/config.h"
#include "daemon/current.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/session.h"
#include "daemon/trace.h"
#include "daemon/world.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hpcd_client;
struct hpcd_conn;
struct hpcd_tasks;
struct reload_waiter;

struct hpcd_server {
	struct hpcd_config *cfg;
	const char *config_arg;      /* the -c argument, for reloads and messages */
	const char *socket_override; /* -s or $HPCD_SOCKET, or NULL */
	char socket_path[108];

	int listen_fd;
	int epoll_fd;
	int signal_fd;
	int reap_fd;  /* eventfd: a session thread has finished, or retired a world */
	int timer_fd; /* brings a paused listener back (see accept_all) */
	int spare_fd; /* a descriptor held back for refusing clients when none is left */
	int listener_paused;
	struct hpcd_ratelimit accept_rl, hello_rl; /* storms of refusals log a line a second */
	uint64_t refused_fds;                      /* connections refused for want of descriptors */
	struct hpcd_tasks *tasks; /* slow work off the event loop (daemon/tasks.h) */

	/* The backends now serving, published to the sessions. */
	struct hpcd_current current;
	struct hpcd_session_env session_env; /* what every session is handed */

	struct hpcd_conn *conns;        /* every open connection; event loop only */
	struct hpcd_conn *closed_conns; /* closed in this batch of events, freed after it */
	pthread_mutex_t sessions_lock;  /* guards the client list, for status */
	struct hpcd_client *clients;    /* every client with a session (server.c) */
	unsigned nsessions;
	unsigned departing;    /* sessions reaped whose release (forget, unmap) is still running */
	uint64_t arena_in_use; /* bytes of the regions of live and departing sessions */
	uint64_t next_client_id;

	int reloading;                        /* a reload runs on a task thread */
	struct reload_waiter *reload_waiters; /* requests for the next reload */

	/* Totals of sessions already reaped (live ones are summed on demand). */
	uint64_t jobs_done_reaped, jobs_failed_reaped;
	uint64_t clients_total;
	uint64_t reloads_ok, reloads_failed;
	uint64_t started_ns;
	uint64_t refused[HPCD_REF__COUNT]; /* connections and HELLOs refused, by reason */

	/* Counters session threads keep (daemon/metrics.h) and the trace they
	 * feed while one is asked for (daemon/trace.h). */
	struct hpcd_metrics metrics;
	struct hpcd_trace trace;

	int stopping;
	uint64_t abandon_at_ns; /* after a second stop signal: when stuck sessions are left */
};

/*
 * Block SIGTERM, SIGINT and SIGHUP in the calling thread, leaving them in
 * *set: the event loop takes them through a signalfd, and every thread
 * started later inherits the mask, so none of them is interrupted by a signal
 * meant for the daemon. Call before any plugin opens (a thread a plugin starts
 * in open(), as PoCL does, inherits the mask of its creator).
 */
void hpcd_server_block_signals(sigset_t *set);

/*
 * Build the server for a parsed config whose world is already open: take
 * ownership of both, bind the socket (refusing to steal one a live daemon
 * answers on), block and route SIGTERM, SIGINT and SIGHUP. Returns 0 or a
 * negative errno with a sentence in err.
 */
int hpcd_server_init(struct hpcd_server *srv, struct hpcd_config *cfg, struct hpcd_world *world,
		     const char *config_arg, const char *socket_override, char *err, size_t errlen);

/* Serve until SIGTERM or SIGINT, then stop gracefully. Returns 0. */
int hpcd_server_run(struct hpcd_server *srv);

/* Free everything; removes the socket file. */
void hpcd_server_fini(struct hpcd_server *srv);

#ifdef __cplusplus
}
#endif

#endif /* HPCD_SERVER_H */

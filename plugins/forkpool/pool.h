/*
 * plugins/forkpool/pool.h - the worker processes of one forkpool instance:
 * start (posix_spawn of hpc_forkpool_worker, then its HELLO), talk
 * (plugins/forkpool/proto.h over one SOCK_SEQPACKET socketpair each), stop
 * and reap. Private to the forkpool plugin.
 *
 * Not thread-safe by itself: the plugin calls these with its run lock held,
 * except fp_pool_info_* which describe() may call at any time.
 */
#ifndef HPC_FORKPOOL_POOL_H
#define HPC_FORKPOOL_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "plugins/base/regtab.h"
#include "plugins/forkpool/proto.h"

/* Regions one worker keeps mapped at most; beyond, the oldest is forgotten. */
#define FP_MAX_REGIONS 64

struct fp_worker {
	pid_t pid;    /* 0: the slot is empty (its last start failed) */
	int sock;     /* the plugin's end; -1 when empty */
	int chunk;    /* index of the chunk in flight, or -1 when idle */
	uint64_t seq; /* of the request in flight */
	uint64_t sent_ns;
	struct hpcb_idset regions; /* regions whose memfd it holds, oldest first */
};

struct fp_pool {
	char path[4096]; /* the worker executable */
	int exe_fd;      /* the embedded worker's read-only memfd behind path, or -1 */
	unsigned n;
	struct fp_worker *w;
	pthread_mutex_t *info_lock; /* the plugin's: guards every w[i].pid write */
};

/*
 * Make path name the worker executable embedded in the plugin (used when no
 * worker file is found next to the plugin, e.g. when the daemon loaded a
 * private copy of a rebuilt plugin): a sealed memfd holding it, named
 * /proc/PID/fd/N so that the spawned child can exec it. Returns 0 or a
 * negative errno.
 */
int fp_pool_use_embedded(struct fp_pool *p);

/*
 * Start worker slot i: spawn, then wait (up to 10 s) for its HELLO. On
 * failure the slot stays empty and err says why. Returns 0 or a negative errno.
 */
int fp_pool_spawn(struct fp_pool *p, unsigned i, char *err, size_t errlen);

/*
 * End worker slot i: close its socket, SIGKILL it and reap it. *status gets
 * its wait status (or -1 when it could not be reaped); may be NULL. The slot
 * is empty afterwards.
 */
void fp_pool_reap(struct fp_pool *p, unsigned i, int *status);

/*
 * End every worker: close the sockets (an idle worker exits on EOF), wait up
 * to grace_ms for them, SIGKILL the rest, reap all. No process is left behind,
 * and the slots' region sets are freed.
 */
void fp_pool_stop(struct fp_pool *p, int grace_ms);

/* Whether slot i's worker has died or hung up while idle (poll, no wait). */
bool fp_pool_idle_dead(struct fp_pool *p, unsigned i);

/*
 * Send a request to slot i, with fd attached when fd >= 0. Returns 0 or a
 * negative errno (the worker is then to be treated as failed).
 */
int fp_pool_send(struct fp_pool *p, unsigned i, const struct fp_chunk *req, int fd);

/*
 * Receive one reply from slot i without blocking for long (the caller polled).
 * Returns 0, -EPIPE at EOF (the worker died), -EPROTO for a malformed packet,
 * or another negative errno.
 */
int fp_pool_recv(struct fp_pool *p, unsigned i, struct fp_reply *r);

/* Wait up to timeout_ms for a reply from slot i. Same returns; -ETIMEDOUT. */
int fp_pool_wait(struct fp_pool *p, unsigned i, struct fp_reply *r, int timeout_ms);

#endif /* HPC_FORKPOOL_POOL_H */

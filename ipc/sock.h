/*
 * ipc/sock.h - the control socket: one struct hpc_msg + payload per
 * SOCK_SEQPACKET packet, optionally carrying one file descriptor.
 */
#ifndef HPC_IPC_SOCK_H
#define HPC_IPC_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hpc/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Send one message of the given type and status with len payload bytes, and
 * pass_fd (>= 0) as SCM_RIGHTS. Returns 0 or a negative errno. Never raises
 * SIGPIPE.
 */
int hpci_sock_send(int sock, uint16_t type, int32_t status, const void *payload, size_t len,
		   int pass_fd);

/*
 * Receive one message: header into *hdr, payload (at most cap bytes) into
 * payload. A passed fd is stored in *fd_out (when fd_out is NULL, or on any
 * error, a received fd is closed). Returns the payload length, 0 for a
 * header-only message, -ECONNRESET for an orderly close by the peer, -EPROTO
 * for a packet that is not a well-formed hpc message (bad magic or version,
 * truncated, length mismatch), or another negative errno.
 */
ssize_t hpci_sock_recv(int sock, struct hpc_msg *hdr, void *payload, size_t cap, int *fd_out);

/* The peer's credentials (SO_PEERCRED). */
int hpci_sock_peer(int sock, uid_t *uid, pid_t *pid);

/* Connect a SOCK_SEQPACKET socket to path. Returns the fd or a negative errno. */
int hpci_sock_connect(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* HPC_IPC_SOCK_H */

/*
 * plugins/base/fdpass.h - one packet with an optional file descriptor
 * (SCM_RIGHTS), for the backends that hand a client's memfd to their worker
 * processes (forkpool) or to rank 0 (mpi), and for those processes' side.
 *
 * Private to the project: linked into the plugins and their worker programs.
 */
#ifndef HPCB_FDPASS_H
#define HPCB_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Send len bytes as one packet and, when fd >= 0, the descriptor fd with
 * it. flags are added to MSG_NOSIGNAL (e.g. MSG_DONTWAIT); EINTR is
 * retried. Returns the bytes sent, or a negative errno (-EAGAIN with
 * MSG_DONTWAIT when the socket is full).
 */
ssize_t hpcb_fd_send(int sock, const void *buf, size_t len, int fd, int flags);

/*
 * Receive one packet of at most len bytes. The first descriptor passed with
 * it goes to *fd (close-on-exec), -1 when none; any further one is closed,
 * and so is the first when fd is NULL. EINTR is retried. Returns the bytes
 * received (0 at end of file), -EPROTO when the packet or its descriptors
 * were cut (nothing is kept then), or a negative errno.
 */
ssize_t hpcb_fd_recv(int sock, void *buf, size_t len, int *fd, int flags);

#endif /* HPCB_FDPASS_H */

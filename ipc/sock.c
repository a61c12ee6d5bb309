#include "ipc/sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/sys.h"

int hpci_sock_send(int sock, uint16_t type, int32_t status, const void *payload, size_t len,
		   int pass_fd)
{
	if (len > HPC_MSG_MAX - sizeof(struct hpc_msg))
		return -EMSGSIZE;
	struct hpc_msg hdr = {
	    .magic = HPC_MSG_MAGIC,
	    .type = type,
	    .version = HPC_WIRE_VERSION,
	    .len = (uint32_t)len,
	    .status = status,
	};
	struct iovec iov[2] = {
	    {.iov_base = &hdr, .iov_len = sizeof(hdr)},
	    {.iov_base = (void *)payload, .iov_len = len},
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	if (pass_fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	ssize_t n;
	do
		n = hpci_sys.sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* SEQPACKET sends whole packets or fails. */
	return (size_t)n == sizeof(hdr) + len ? 0 : -EIO;
}

ssize_t hpci_sock_recv(int sock, struct hpc_msg *hdr, void *payload, size_t cap, int *fd_out)
{
	if (fd_out)
		*fd_out = -1;
	struct iovec iov[2] = {
	    {.iov_base = hdr, .iov_len = sizeof(*hdr)},
	    {.iov_base = payload, .iov_len = cap},
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = {
	    .msg_iov = iov,
	    .msg_iovlen = cap ? 2 : 1,
	    .msg_control = ctl.buf,
	    .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;
	do
		n = hpci_sys.recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/* Collect every passed fd first, so that none leaks on a bad packet. */
	int got = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < 0)
				got = fd;
			else
				close(fd);
		}
	}
	ssize_t rc;
	if (n == 0)
		rc = -ECONNRESET;
	else if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n < sizeof(*hdr) ||
		 hdr->magic != HPC_MSG_MAGIC || hdr->version != HPC_WIRE_VERSION ||
		 hdr->len != (size_t)n - sizeof(*hdr))
		rc = -EPROTO;
	else
		rc = (ssize_t)hdr->len;
	if (rc >= 0 && fd_out)
		*fd_out = got;
	else if (got >= 0)
		close(got);
	return rc;
}

int hpci_sock_peer(int sock, uid_t *uid, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (uid)
		*uid = cred.uid;
	if (pid)
		*pid = cred.pid;
	return 0;
}

int hpci_sock_connect(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc;
	do
		rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

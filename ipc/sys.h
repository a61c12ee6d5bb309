/*
 * ipc/sys.h - the system calls of the IPC layer, behind a table that tests
 * can change (after SQLite's xSetSystemCall), so that mmap, sendmsg,
 * memfd_create and futex failures are tested cases rather than guesses.
 *
 * Production code calls hpci_sys.NAME(...); the defaults are the real calls.
 */
#ifndef HPC_IPC_SYS_H
#define HPC_IPC_SYS_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hpci_sys_table {
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
	ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
	ssize_t (*recvmsg)(int fd, struct msghdr *msg, int flags);
	int (*memfd_create)(const char *name, unsigned int flags);
	/* futex(2) on a word that may be shared between processes. */
	long (*futex)(uint32_t *uaddr, int op, uint32_t val, const struct timespec *timeout);
};

/* The table in use. Tests may replace entries; restore with hpci_sys_reset(). */
extern struct hpci_sys_table hpci_sys;

/* Put the real system calls back. */
void hpci_sys_reset(void);

#ifdef __cplusplus
}
#endif

#endif /* HPC_IPC_SYS_H */

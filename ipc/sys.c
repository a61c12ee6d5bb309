#include "ipc/sys.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *timeout)
{
	return syscall(SYS_futex, uaddr, op, val, timeout, NULL, 0);
}

static int sys_memfd_create(const char *name, unsigned int flags)
{
	return memfd_create(name, flags);
}

static const struct hpci_sys_table sys_real = {
    .mmap = mmap,
    .sendmsg = sendmsg,
    .recvmsg = recvmsg,
    .memfd_create = sys_memfd_create,
    .futex = sys_futex,
};

struct hpci_sys_table hpci_sys = {
    .mmap = mmap,
    .sendmsg = sendmsg,
    .recvmsg = recvmsg,
    .memfd_create = sys_memfd_create,
    .futex = sys_futex,
};

void hpci_sys_reset(void)
{
	hpci_sys = sys_real;
}

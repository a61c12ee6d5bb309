// Regions and the control socket: layout, sealing, fd passing, malformed
// packets, and failures injected through the system-call seam.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern "C" {
#include "ipc/region.h"
#include "ipc/sock.h"
#include "ipc/sys.h"
}

namespace
{

int open_fds()
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

class Region : public ::testing::Test
{
      protected:
	void TearDown() override
	{
		hpci_sys_reset();
	}
};

TEST_F(Region, LayoutIsAlignedAndSelfConsistent)
{
	hpc_region_hdr l;
	ASSERT_EQ(hpci_region_layout(1000, 3, 1, &l), 0);
	EXPECT_EQ(l.sq_entries, 4u);
	EXPECT_EQ(l.cq_entries, 4u); // never smaller than the SQ
	EXPECT_EQ(l.sq_ctl_off % 64, 0u);
	EXPECT_EQ(l.cq_ctl_off % 64, 0u);
	EXPECT_EQ(l.arena_off % 4096, 0u);
	EXPECT_EQ(l.arena_size, 4096u);
	EXPECT_EQ(l.region_size, l.arena_off + l.arena_size);
	EXPECT_EQ(hpci_region_layout_check(&l), 0);
	hpc_region_hdr bad = l;
	bad.cq_ring_off += 64;
	EXPECT_EQ(hpci_region_layout_check(&bad), -EPROTO);
	bad = l;
	bad.magic = 0;
	EXPECT_EQ(hpci_region_layout_check(&bad), -EPROTO);
	EXPECT_EQ(hpci_region_layout(UINT64_MAX - 100, 4, 4, &l), -EOVERFLOW);
}

TEST_F(Region, IsSealedAgainstResizing)
{
	hpc_region_hdr l;
	ASSERT_EQ(hpci_region_layout(1 << 16, 8, 8, &l), 0);
	hpci_region r;
	ASSERT_EQ(hpci_region_create(&l, "test", 1, &r), 0);
	EXPECT_EQ(ftruncate(r.fd, 0), -1);
	EXPECT_EQ(errno, EPERM);
	EXPECT_EQ(ftruncate(r.fd, (off_t)l.region_size * 2), -1);
	EXPECT_EQ(fcntl(r.fd, F_ADD_SEALS, F_SEAL_WRITE), -1); // sealing itself is sealed
	EXPECT_EQ(memcmp(r.base, &l, sizeof(l)), 0);

	// The other side maps it; what one writes the other sees.
	hpci_region peer;
	ASSERT_EQ(hpci_region_map(dup(r.fd), &l, 0, &peer), 0);
	peer.arena[100] = 42;
	EXPECT_EQ(r.arena[100], 42);
	hpci_region_unmap(&peer);
	hpci_region_unmap(&r);
}

TEST_F(Region, MapRefusesAFileThatDoesNotMatch)
{
	hpc_region_hdr l;
	ASSERT_EQ(hpci_region_layout(1 << 16, 8, 8, &l), 0);
	int fd = memfd_create("unsealed", MFD_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(ftruncate(fd, (off_t)l.region_size), 0);
	hpci_region r;
	int before = open_fds();
	EXPECT_EQ(hpci_region_map(fd, &l, 0, &r), -EPROTO); // not sealed
	EXPECT_EQ(open_fds(), before - 1);                  // and fd was closed
}

TEST_F(Region, InjectedFailuresLeaveNothingBehind)
{
	hpc_region_hdr l;
	ASSERT_EQ(hpci_region_layout(1 << 16, 8, 8, &l), 0);
	hpci_region r;
	int before = open_fds();

	hpci_sys.memfd_create = [](const char *, unsigned) -> int {
		errno = EMFILE;
		return -1;
	};
	EXPECT_EQ(hpci_region_create(&l, "x", 0, &r), -EMFILE);
	hpci_sys_reset();

	hpci_sys.mmap = [](void *, size_t, int, int, int, off_t) -> void * {
		errno = ENOMEM;
		return MAP_FAILED;
	};
	EXPECT_EQ(hpci_region_create(&l, "x", 0, &r), -ENOMEM);
	hpci_sys_reset();
	EXPECT_EQ(open_fds(), before);
}

TEST_F(Region, SocketPassesAnFdAndRefusesGarbage)
{
	int sv[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	int fd = memfd_create("pass", MFD_CLOEXEC);
	const char payload[] = "hello";
	ASSERT_EQ(hpci_sock_send(sv[0], HPC_MSG_STATUS, -5, payload, sizeof(payload), fd), 0);
	hpc_msg hdr;
	char buf[64];
	int got = -1;
	ASSERT_EQ(hpci_sock_recv(sv[1], &hdr, buf, sizeof(buf), &got), (ssize_t)sizeof(payload));
	EXPECT_EQ(hdr.type, HPC_MSG_STATUS);
	EXPECT_EQ(hdr.status, -5);
	EXPECT_STREQ(buf, "hello");
	EXPECT_GE(got, 0);
	close(got);
	close(fd);

	// Garbage: wrong magic, short packets, a length that lies, a passed fd
	// on a bad packet (which must not leak).
	int before = open_fds();
	const char junk[] = "GET / HTTP/1.1\r\n\r\n";
	ASSERT_EQ(write(sv[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	EXPECT_EQ(hpci_sock_recv(sv[1], &hdr, buf, sizeof(buf), &got), -EPROTO);
	ASSERT_EQ(write(sv[0], "x", 1), 1);
	EXPECT_EQ(hpci_sock_recv(sv[1], &hdr, buf, sizeof(buf), &got), -EPROTO);
	hpc_msg lie = {HPC_MSG_MAGIC, HPC_MSG_STATUS, HPC_WIRE_VERSION, 100, 0};
	ASSERT_EQ(write(sv[0], &lie, sizeof(lie)), (ssize_t)sizeof(lie));
	EXPECT_EQ(hpci_sock_recv(sv[1], &hdr, buf, sizeof(buf), &got), -EPROTO);
	char big[200];
	memset(big, 0, sizeof(big));
	memcpy(big, &lie, sizeof(lie));
	reinterpret_cast<hpc_msg *>(big)->len = sizeof(big) - sizeof(lie);
	ASSERT_EQ(write(sv[0], big, sizeof(big)), (ssize_t)sizeof(big));
	EXPECT_EQ(hpci_sock_recv(sv[1], &hdr, buf, sizeof(buf), &got), -EPROTO); // truncated
	int fd2 = memfd_create("leak?", MFD_CLOEXEC);
	ASSERT_EQ(hpci_sock_send(sv[0], 99, 0, nullptr, 0, fd2), 0);
	close(fd2);
	reinterpret_cast<hpc_msg *>(big)->magic = 0;
	ASSERT_EQ(write(sv[0], big, sizeof(hpc_msg)), (ssize_t)sizeof(hpc_msg));
	EXPECT_EQ(hpci_sock_recv(sv[1], &hdr, buf, sizeof(buf), nullptr), 0); // fd closed, unused
	EXPECT_EQ(hpci_sock_recv(sv[1], &hdr, buf, sizeof(buf), &got), -EPROTO);
	EXPECT_EQ(open_fds(), before);

	close(sv[0]);
	EXPECT_EQ(hpci_sock_recv(sv[1], &hdr, buf, sizeof(buf), &got), -ECONNRESET);
	close(sv[1]);
}

TEST_F(Region, InjectedSendFailureIsReported)
{
	int sv[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	hpci_sys.sendmsg = [](int, const msghdr *, int) -> ssize_t {
		errno = ENOBUFS;
		return -1;
	};
	EXPECT_EQ(hpci_sock_send(sv[0], HPC_MSG_STATUS, 0, nullptr, 0, -1), -ENOBUFS);
	close(sv[0]);
	close(sv[1]);
}

} // namespace

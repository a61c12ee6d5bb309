#include "tests/e2e/hostile.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

extern "C" {
#include "ipc/sock.h"
}

namespace hpce
{

bool RawClient::connect(const std::string &path, uint64_t arena, uint32_t entries)
{
	sock = hpci_sock_connect(path.c_str());
	if (sock < 0)
		return false;
	hpc_hello h{};
	h.arena_bytes = arena;
	h.sq_entries = h.cq_entries = entries;
	if (hpci_sock_send(sock, HPC_MSG_HELLO, 0, &h, sizeof(h), -1) < 0)
		return false;
	union {
		hpc_hello_reply rep;
		char text[1024];
	} in;
	hpc_msg hdr;
	int fd = -1;
	ssize_t n = hpci_sock_recv(sock, &hdr, &in, sizeof(in) - 1, &fd);
	if (n < 0)
		return false;
	if (hdr.status) {
		hello_status = hdr.status;
		hello_text.assign(in.text, (size_t)n);
		if (fd >= 0)
			::close(fd);
		return false;
	}
	if (n != sizeof(in.rep) || fd < 0)
		return false;
	if (hpci_region_map(fd, &in.rep.layout, 0, &region) < 0)
		return false;
	hpci_region_sq(&region, &sq);
	hpci_region_cq(&region, &cq);
	return true;
}

void RawClient::post(const hpc_sqe &e)
{
	memcpy(hpci_ring_slot(&sq, 0), &e, sizeof(e));
	hpci_ring_publish(&sq, 1);
}

bool RawClient::reap(hpc_cqe *out, int timeout_ms)
{
	if (hpci_ring_wait_avail(&cq, 100000, (int64_t)timeout_ms * 1000 * 1000, nullptr) != 0)
		return false;
	memcpy(out, hpci_ring_slot(&cq, 0), sizeof(*out));
	hpci_ring_release(&cq, 1);
	return true;
}

hpc_cqe RawClient::submit(const hpc_sqe &e, int timeout_ms)
{
	post(e);
	hpc_cqe c{};
	EXPECT_TRUE(reap(&c, timeout_ms)) << "no completion within " << timeout_ms << " ms";
	return c;
}

void RawClient::close()
{
	if (region.base)
		hpci_region_unmap(&region);
	region = hpci_region{};
	if (sock >= 0)
		::close(sock);
	sock = -1;
}

} // namespace hpce

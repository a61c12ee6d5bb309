// A client that speaks hpcd's protocol by hand, for tests that play a
// hostile client: it writes descriptors and ring indexes straight into the
// shared region, skipping every check libhpc makes.
#pragma once

#include <stdint.h>

#include <string>

extern "C" {
#include "hpc/wire.h"
#include "ipc/region.h"
#include "ipc/ring.h"
}

namespace hpce
{

struct RawClient {
	int sock = -1;
	hpci_region region{};
	hpci_ring sq{}, cq{};
	int32_t hello_status = 0; // the daemon's answer to HELLO when refused
	std::string hello_text;   // its reason, when it sent one

	// HELLO for an arena of `arena` bytes and rings of `entries`; false
	// (with hello_status and hello_text set when the daemon answered) if refused.
	bool connect(const std::string &path, uint64_t arena, uint32_t entries = 8);
	// Write e into the next submission slot and publish it.
	void post(const hpc_sqe &e);
	// Wait up to timeout_ms for the next completion; false on timeout.
	bool reap(hpc_cqe *out, int timeout_ms = 10000);
	// post() then reap(); a timeout fails the test.
	hpc_cqe submit(const hpc_sqe &e, int timeout_ms = 10000);
	// The arena and an offset-from-pointer helper.
	unsigned char *arena() const
	{
		return region.arena;
	}
	void close();
	~RawClient()
	{
		close();
	}
};

} // namespace hpce

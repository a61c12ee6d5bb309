// One thread submits while another collects on the same handle (the one
// exception to "one handle per thread" in hpc/client.h, which the Python
// client's collector thread relies on): every job completes exactly once, with
// its own result, and hpc_inflight() counts down to zero. Tagged "threads":
// run under ThreadSanitizer too.
#include <errno.h>

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/e2e/harness.h"

extern "C" {
#include "hpc/client.h"
}

namespace
{

constexpr unsigned kJobs = 20000;
constexpr unsigned kVecs = 64;

TEST(Split, SubmitterAndCollectorThreads)
{
	hpce::Daemon d("[backend serial]\nplugin = serial\n");
	ASSERT_TRUE(d.start()) << d.log();
	struct hpc_connect_opts opts = {};
	opts.sq_entries = 64; // small rings: the submitter often waits for room
	struct hpc_client *c = nullptr;
	ASSERT_EQ(hpc_connect_opts(d.socket().c_str(), 1 << 20, &opts, &c), 0);
	std::vector<double *> vecs;
	for (unsigned v = 0; v < kVecs; v++) {
		double *x = static_cast<double *>(hpc_alloc(c, 4 * sizeof(double)));
		ASSERT_NE(x, nullptr);
		for (int i = 0; i < 4; i++)
			x[i] = v; // sum = 4 v
		vecs.push_back(x);
	}
	std::vector<std::atomic<int>> seen(kJobs);
	std::atomic<int> bad{0};
	std::thread collector([&] {
		unsigned got = 0;
		struct hpc_completion done[32];
		while (got < kJobs) {
			int n = hpc_wait(c, done, 1, 32, 10000);
			if (n <= 0) {
				bad++;
				return;
			}
			for (int i = 0; i < n; i++) {
				uint64_t j = done[i].user_data;
				if (j >= kJobs || done[i].status != 0 ||
				    done[i].result != 4.0 * (double)(j % kVecs) || seen[j]++ != 0)
					bad++;
			}
			got += n;
		}
	});
	for (unsigned j = 0; j < kJobs;) {
		struct hpc_request r[8] = {};
		unsigned k = 0;
		for (; k < 8 && j + k < kJobs; k++) {
			r[k].op = HPC_OP_SUM;
			r[k].n = 4;
			r[k].a = vecs[(j + k) % kVecs];
			r[k].user_data = j + k;
		}
		int rc = hpc_submit(c, r, k);
		ASSERT_GT(rc, 0);
		j += rc;
	}
	collector.join();
	EXPECT_EQ(bad.load(), 0);
	for (unsigned j = 0; j < kJobs; j++)
		ASSERT_EQ(seen[j].load(), 1) << "job " << j;
	EXPECT_EQ(hpc_inflight(c), 0u);
	hpc_close(c);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

} // namespace

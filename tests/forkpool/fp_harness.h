// tests/forkpool/fp_harness.h - what only the forkpool tests need on top of
// //tests/common:plugin_harness (the real plugin file, a real sealed memfd
// region, struct hpc_job as daemon/session.c fills it): an instance of
// libhpc_forkpool.so that logs to one shared place, the worker pids its
// describe() shows, and jobs that ask for their chunk records.
#ifndef HPC_TESTS_FORKPOOL_HARNESS_H
#define HPC_TESTS_FORKPOOL_HARNESS_H

#include <sys/types.h>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "hpc/plugin.h"
#include "tests/common/plugin_harness.h"

namespace fpt
{

using namespace hpctest;

// Log lines of every instance, as the daemon's host->log would print them.
inline HostLog &FpLog()
{
	static HostLog log;
	return log;
}

// One opened forkpool instance (of ops, by default the plugin among the
// runfiles); closed on destruction (or Close()).
class Instance : public hpctest::Instance
{
      public:
	explicit Instance(const Settings &settings, const hpc_plugin_ops *ops = nullptr)
	    : hpctest::Instance(ops ? ops : Ops("forkpool"), settings, &FpLog())
	{
	}
	Instance(std::initializer_list<std::pair<std::string, std::string>> s)
	    : Instance(Settings(s))
	{
	}

	// The worker pids that describe() shows ("pids=1,2"; 0 for an empty slot).
	std::vector<pid_t> Pids() const
	{
		std::vector<pid_t> v;
		std::stringstream ss(DescribeField("pids"));
		std::string item;
		while (std::getline(ss, item, ','))
			v.push_back((pid_t)std::atoi(item.c_str()));
		return v;
	}
};

// A job as daemon/session.c builds it; the extension asks for the chunk records.
struct Job {
	hpc_job job;
	std::vector<hpc_chunk_rec> recs;
	Job(const Region &reg, uint32_t op, uint32_t dtype, uint64_t m, uint64_t n, uint64_t k,
	    uint64_t a_off, uint64_t b_off, uint64_t out_off, bool has_b, bool has_out,
	    double alpha = 0.0)
	    : job(reg.Job(op, dtype, m, n, k, a_off, b_off, out_off, alpha, has_b, has_out)),
	      recs(4096)
	{
		job.chunks = recs.data();
		job.chunks_cap = (uint32_t)recs.size();
	}
	hpc_job *get()
	{
		return &job;
	}
	std::vector<hpc_chunk_rec> Records() const
	{
		size_t n = std::min<size_t>(job.chunks_count, recs.size());
		return std::vector<hpc_chunk_rec>(recs.begin(), recs.begin() + n);
	}
};

} // namespace fpt

#endif // HPC_TESTS_FORKPOOL_HARNESS_H

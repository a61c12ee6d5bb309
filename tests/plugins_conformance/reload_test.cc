// Unloading the openmp plugin while the threads that ran its jobs live on,
// as the daemon does on a reload: libgomp parks a pool of threads per
// calling thread and frees it when that thread exits. The plugin must be
// really unloaded (a rebuilt file at the same path has to load afresh), yet
// those threads must survive it. This test program deliberately does not link
// libgomp itself, so only the plugin keeps it loaded.
#include <dlfcn.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/common/plugin_harness.h"

namespace hpctest
{
namespace
{

// A sum large enough for a parallel region; returns the job's status.
int RunParallelSum(const Instance &inst, double *result)
{
	std::vector<double> x(200000, 0.5);
	hpc_job j = MakeJob(HPC_OP_SUM, HPC_F64, 0, x.size(), 0, x.data(), nullptr, nullptr, 0);
	int rc = inst.Run(&j);
	*result = j.result;
	return rc;
}

TEST(Reload, OpenMPPluginUnloadsAndItsThreadsSurvive)
{
	for (int round = 0; round < 3; round++) {
		SCOPED_TRACE("round " + std::to_string(round));
		const hpc_plugin_ops *ops = nullptr;
		std::string err;
		void *h = LoadPlugin("openmp", &ops, &err);
		ASSERT_NE(h, nullptr) << err;

		std::mutex mu;
		std::condition_variable cv;
		bool ran = false, may_exit = false;
		double worker_result = 0;
		std::thread worker;
		{
			Instance inst(ops, {{"threads", "2"}});
			ASSERT_EQ(inst.rc(), 0) << inst.err();
			double r = 0;
			ASSERT_EQ(RunParallelSum(inst, &r), 0);
			EXPECT_EQ(r, 100000.0);

			// A "daemon thread" that runs a job and exits only after the unload.
			worker = std::thread([&] {
				double wr = 0;
				int rc = RunParallelSum(inst, &wr);
				std::unique_lock<std::mutex> lk(mu);
				worker_result = rc == 0 ? wr : -1;
				ran = true;
				cv.notify_all();
				cv.wait(lk, [&] { return may_exit; });
			});
			std::unique_lock<std::mutex> lk(mu);
			cv.wait(lk, [&] { return ran; });
		}
		EXPECT_EQ(worker_result, 100000.0);

		ASSERT_EQ(dlclose(h), 0);
		void *still = dlopen(PluginPath("openmp").c_str(), RTLD_NOW | RTLD_NOLOAD);
		EXPECT_EQ(still, nullptr) << "the plugin stayed loaded after dlclose";
		if (still)
			dlclose(still);

		{
			std::lock_guard<std::mutex> lk(mu);
			may_exit = true;
		}
		cv.notify_all();
		worker.join(); // runs libgomp's thread-exit cleanup
	}
	// What kept the threads safe: libgomp itself stays.
	EXPECT_NE(dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD), nullptr);
}

} // namespace
} // namespace hpctest

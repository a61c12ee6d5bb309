// Faults and lifecycle of the forkpool backend, with real processes: workers
// SIGKILLed in the middle of a job (the job still right, the worker
// replaced), the same chunk killed twice (a clear -EIO), chunks that run past
// the timeout, workers killed while idle, no orphan after close, regions
// forgotten in every worker, settings refused with the culprit named, and the
// chunk records a job hands back.
#include <dlfcn.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <set>
#include <thread>

#include "kernels/serial.h"
#include "tests/forkpool/fp_harness.h"

namespace fpt
{
namespace
{

using std::chrono::milliseconds;

// A sum over x = 0, 1, 2, ... (n elements) in a region of its own.
struct SumJob {
	Region reg;
	size_t n;
	uint64_t x_off;
	double want;
	explicit SumJob(size_t n_, const std::string &name = "fp-fault")
	    : reg(n_ * 8 + 4096, name), n(n_)
	{
		x_off = reg.Alloc(n * 8);
		double *x = reg.At<double>(x_off);
		for (size_t i = 0; i < n; i++)
			x[i] = (double)i;
		want = (double)n * (double)(n - 1) / 2;
	}
	Job Make()
	{
		return Job(reg, HPC_OP_SUM, HPC_F64, 0, n, 0, x_off, 0, 0, false, false);
	}
};

// Waits until pred() or timeout; returns pred().
template <typename F> bool WaitFor(F pred, int ms)
{
	auto end = std::chrono::steady_clock::now() + milliseconds(ms);
	while (std::chrono::steady_clock::now() < end) {
		if (pred())
			return true;
		std::this_thread::sleep_for(milliseconds(5));
	}
	return pred();
}

// The successful records cover every chunk exactly once, back to back over the units.
void ExpectCovers(const std::vector<hpc_chunk_rec> &recs, uint64_t units)
{
	std::vector<hpc_chunk_rec> ok;
	for (const auto &r : recs)
		if (!(r.flags & HPC_CHUNK_FAILED))
			ok.push_back(r);
	std::sort(ok.begin(), ok.end(),
		  [](const hpc_chunk_rec &a, const hpc_chunk_rec &b) { return a.chunk < b.chunk; });
	uint64_t next = 0;
	for (size_t i = 0; i < ok.size(); i++) {
		EXPECT_EQ(ok[i].chunk, i);
		EXPECT_EQ(ok[i].first, next);
		EXPECT_LE(ok[i].start_ns, ok[i].end_ns);
		EXPECT_GT(ok[i].pid, 0u);
		next = ok[i].first + ok[i].count;
	}
	EXPECT_EQ(next, units);
}

TEST(Faults, WorkerKilledMidJobIsReplacedAndTheJobIsRight)
{
	for (const char *schedule : {"dynamic", "static"}) {
		SCOPED_TRACE(schedule);
		FpLog().Clear();
		// 2 workers; each chunk takes 300 ms, so the kill lands inside one.
		Instance inst({{"workers", "2"},
			       {"schedule", schedule},
			       {"chunk", "250000"},
			       {"chunk_delay_us", "300000"}});
		ASSERT_EQ(inst.rc(), 0) << inst.err();
		std::vector<pid_t> before = inst.Pids();
		ASSERT_EQ(before.size(), 2u);
		SumJob s(1000000);
		Job job = s.Make();
		auto run = std::async(std::launch::async, [&] { return inst.Run(job.get()); });
		std::this_thread::sleep_for(milliseconds(100));
		ASSERT_EQ(kill(before[1], SIGKILL), 0);
		ASSERT_EQ(run.wait_for(std::chrono::seconds(20)), std::future_status::ready)
		    << "hung";
		ASSERT_EQ(run.get(), 0) << FpLog().All();
		EXPECT_EQ(job.get()->result, s.want);

		std::vector<pid_t> after = inst.Pids();
		ASSERT_EQ(after.size(), 2u);
		EXPECT_EQ(after[0], before[0]);
		EXPECT_NE(after[1], before[1]);
		EXPECT_TRUE(Alive(after[1]));
		EXPECT_FALSE(Alive(before[1])) << "the killed worker was not reaped";
		EXPECT_EQ(inst.Counter("respawns"), 1u);
		EXPECT_EQ(inst.Counter("retried"), 1u);

		// The records show the failed attempt on the killed pid and its rerun elsewhere.
		auto recs = job.Records();
		int failed = 0;
		for (const auto &r : recs)
			if (r.flags & HPC_CHUNK_FAILED) {
				failed++;
				EXPECT_EQ((pid_t)r.pid, before[1]);
				EXPECT_EQ(r.attempt, 1);
			}
		EXPECT_EQ(failed, 1);
		ExpectCovers(recs, s.n);
		EXPECT_NE(FpLog().All().find("the chunk runs again"), std::string::npos)
		    << FpLog().All();

		// The pool is whole again: another job runs on both workers.
		Job again = s.Make();
		ASSERT_EQ(inst.Run(again.get()), 0);
		EXPECT_EQ(again.get()->result, s.want);
	}
}

TEST(Faults, SameChunkKilledTwiceFailsTheJobClearly)
{
	FpLog().Clear();
	// A chunk timeout far longer than the test: the failure must come from the
	// deaths, not from waiting the timeout out.
	Instance inst({{"workers", "1"}, {"chunk_delay_us", "1000000"}, {"timeout", "30000"}});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	pid_t first = inst.Pids().at(0);
	SumJob s(1000);
	Job job = s.Make();
	auto t0 = std::chrono::steady_clock::now();
	auto run = std::async(std::launch::async, [&] { return inst.Run(job.get()); });
	std::this_thread::sleep_for(milliseconds(150));
	ASSERT_EQ(kill(first, SIGKILL), 0);
	// The replacement takes the chunk over; kill it too.
	ASSERT_TRUE(
	    WaitFor([&] { return inst.Pids().at(0) != first && inst.Pids().at(0) > 0; }, 5000));
	pid_t second = inst.Pids().at(0);
	std::this_thread::sleep_for(milliseconds(150));
	ASSERT_EQ(kill(second, SIGKILL), 0);
	ASSERT_EQ(run.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "hung";
	EXPECT_EQ(run.get(), -EIO);
	EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15))
	    << "the failure waited for the chunk timeout (30 s) instead of seeing the deaths";
	std::string log = FpLog().All();
	EXPECT_NE(log.find("failed twice"), std::string::npos) << log;
	EXPECT_NE(log.find("signal 9"), std::string::npos) << log;
	EXPECT_FALSE(Alive(first));
	EXPECT_FALSE(Alive(second));
	auto recs = job.Records();
	ASSERT_EQ(recs.size(), 2u);
	EXPECT_EQ(recs[0].attempt, 1);
	EXPECT_EQ(recs[1].attempt, 2);
	EXPECT_EQ((pid_t)recs[0].pid, first);
	EXPECT_EQ((pid_t)recs[1].pid, second);
	EXPECT_EQ(inst.Counter("failed"), 1u);

	// The instance goes on: a third worker is in place and runs the next job.
	pid_t third = inst.Pids().at(0);
	EXPECT_TRUE(Alive(third));
	Job next = s.Make();
	ASSERT_EQ(inst.Run(next.get()), 0);
	EXPECT_EQ(next.get()->result, s.want);
}

TEST(Faults, ChunkPastTheTimeoutIsKilledAndRetriedThenFails)
{
	FpLog().Clear();
	// Every chunk sleeps 5 s, the timeout is 200 ms: attempt, kill, retry, kill, -EIO.
	Instance inst({{"workers", "2"}, {"timeout", "200"}, {"chunk_delay_us", "5000000"}});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	std::vector<pid_t> before = inst.Pids();
	SumJob s(1000);
	Job job = s.Make();
	auto t0 = std::chrono::steady_clock::now();
	EXPECT_EQ(inst.Run(job.get()), -EIO);
	auto took = std::chrono::steady_clock::now() - t0;
	EXPECT_GE(took, milliseconds(400));
	// Waiting for the chunks' sleeps instead would take 5 s or more; a busy machine only slows
	// the two kills and the retry.
	EXPECT_LT(took, milliseconds(4500));
	std::string log = FpLog().All();
	EXPECT_NE(log.find("ran past the timeout of 200 ms"), std::string::npos) << log;
	EXPECT_NE(log.find("failed twice"), std::string::npos) << log;
	auto recs = job.Records();
	ASSERT_EQ(recs.size(), 2u);
	for (const auto &r : recs) {
		EXPECT_TRUE(r.flags & HPC_CHUNK_FAILED);
		EXPECT_FALSE(Alive((pid_t)r.pid))
		    << "worker " << r.pid << " should have been killed";
		EXPECT_GE(r.end_ns - r.start_ns, 190000000u);
	}
	EXPECT_EQ(recs[1].attempt, 2);
	for (pid_t p : inst.Pids())
		EXPECT_TRUE(Alive(p));
}

TEST(Faults, TimeoutOnceThenRightOnAnotherWorker)
{
	// A worker that stalls once (SIGSTOP) past the timeout: its chunk reruns elsewhere.
	FpLog().Clear();
	Instance inst({{"workers", "2"},
		       {"schedule", "static"},
		       {"timeout", "500"},
		       {"chunk_delay_us", "100000"}});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	std::vector<pid_t> before = inst.Pids();
	SumJob s(100000);
	Job job = s.Make();
	auto run = std::async(std::launch::async, [&] { return inst.Run(job.get()); });
	std::this_thread::sleep_for(milliseconds(30));
	ASSERT_EQ(kill(before[0], SIGSTOP), 0);
	ASSERT_EQ(run.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "hung";
	ASSERT_EQ(run.get(), 0) << FpLog().All();
	EXPECT_EQ(job.get()->result, s.want);
	EXPECT_FALSE(Alive(before[0]));
	EXPECT_NE(FpLog().All().find("ran past the timeout"), std::string::npos);
	ExpectCovers(job.Records(), s.n);
}

TEST(Faults, WorkerKilledWhileIdleIsReplacedBeforeTheNextJob)
{
	Instance inst({{"workers", "2"}});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	std::vector<pid_t> before = inst.Pids();
	ASSERT_EQ(kill(before[0], SIGKILL), 0);
	ASSERT_TRUE(WaitFor([&] { return !Alive(before[0]); }, 2000));
	SumJob s(100000);
	Job job = s.Make();
	ASSERT_EQ(inst.Run(job.get()), 0);
	EXPECT_EQ(job.get()->result, s.want);
	EXPECT_NE(inst.Pids()[0], before[0]);
	EXPECT_EQ(inst.Counter("retried"), 0u) << "no chunk was lost";
}

TEST(Lifecycle, CloseLeavesNoProcessBehind)
{
	std::vector<pid_t> pids;
	{
		Instance inst({{"workers", "5"}});
		ASSERT_EQ(inst.rc(), 0) << inst.err();
		pids = inst.Pids();
		ASSERT_EQ(pids.size(), 5u);
		for (pid_t p : pids)
			EXPECT_TRUE(Alive(p));
		SumJob s(100000);
		Job job = s.Make();
		ASSERT_EQ(inst.Run(job.get()), 0);
		// One stopped worker must not hold close() up either.
		kill(pids[2], SIGSTOP);
	}
	for (pid_t p : pids) {
		EXPECT_FALSE(Alive(p)) << "worker " << p << " outlived close()";
		// Reaped, not a zombie left for us: it is no child of ours any more.
		EXPECT_EQ(waitpid(p, nullptr, WNOHANG), -1);
		EXPECT_EQ(errno, ECHILD);
	}
}

TEST(Lifecycle, WorkersHoldNoDescriptorOfTheHost)
{
	// A worker must not keep a host fd (say another client's memfd) open.
	Region unrelated(1 << 20, "fp-unrelated");
	Instance inst({{"workers", "1"}});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	pid_t pid = inst.Pids().at(0);
	EXPECT_FALSE(MapsMemfd(pid, "fp-unrelated"));
	int fds = 0;
	std::string dir = "/proc/" + std::to_string(pid) + "/fd";
	for (int fd = 0; fd < 1024; fd++) {
		char link[256];
		std::string p = dir + "/" + std::to_string(fd);
		ssize_t n = readlink(p.c_str(), link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		fds++;
		EXPECT_EQ(std::string(link).find("memfd:fp-unrelated"), std::string::npos) << fd;
		EXPECT_LE(fd, 3) << "fd " << fd << " -> " << link;
	}
	EXPECT_GE(fds, 1);
}

// The daemon loads a rebuilt plugin from a private memfd copy (daemon/loader.c):
// no worker file next to it then, so it runs the worker built into it.
TEST(Lifecycle, PrivateCopyOfThePluginRunsItsBuiltInWorker)
{
	std::ifstream in(PluginPath("forkpool"), std::ios::binary);
	std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	ASSERT_GT(bytes.size(), 0u);
	int mfd = memfd_create("libhpc_forkpool.so", MFD_CLOEXEC);
	ASSERT_GE(mfd, 0);
	ASSERT_EQ(write(mfd, bytes.data(), bytes.size()), (ssize_t)bytes.size());
	std::string name = "/proc/self/fd/" + std::to_string(mfd);
	const hpc_plugin_ops *ops = nullptr;
	std::string err;
	void *h = LoadPluginFile(name, &ops, &err);
	ASSERT_NE(h, nullptr) << err;
	ASSERT_NE(ops, nullptr);
	FpLog().Clear();
	std::vector<pid_t> pids;
	{
		Instance inst({{"workers", "2"}}, ops);
		ASSERT_EQ(inst.rc(), 0) << inst.err();
		EXPECT_NE(FpLog().All().find("built into the plugin"), std::string::npos)
		    << FpLog().All();
		pids = inst.Pids();
		for (pid_t p : pids) {
			char exe[256] = "";
			std::string link = "/proc/" + std::to_string(p) + "/exe";
			ssize_t n = readlink(link.c_str(), exe, sizeof(exe) - 1);
			ASSERT_GT(n, 0);
			EXPECT_NE(std::string(exe).find("memfd:hpc_forkpool_worker"),
				  std::string::npos)
			    << exe;
		}
		SumJob s(100000);
		Job job = s.Make();
		ASSERT_EQ(inst.Run(job.get()), 0);
		EXPECT_EQ(job.get()->result, s.want);
		// A replacement starts from the built-in copy too.
		Job j2 = s.Make();
		ASSERT_EQ(kill(pids[0], SIGKILL), 0);
		ASSERT_TRUE(WaitFor([&] { return !Alive(pids[0]); }, 2000));
		ASSERT_EQ(inst.Run(j2.get()), 0);
		EXPECT_EQ(j2.get()->result, s.want);
		EXPECT_NE(inst.Pids()[0], pids[0]);
		pids.push_back(inst.Pids()[0]);
	}
	for (pid_t p : pids)
		EXPECT_FALSE(Alive(p));
	dlclose(h);
	close(mfd);
}

TEST(Regions, ForgetDropsTheWorkersMappings)
{
	Instance inst({{"workers", "2"}, {"schedule", "static"}});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	const std::string name = "fp-forget-" + std::to_string(getpid());
	SumJob s(100000, name);
	Job job = s.Make();
	ASSERT_EQ(inst.Run(job.get()), 0);
	std::vector<pid_t> pids = inst.Pids();
	for (pid_t p : pids)
		EXPECT_TRUE(MapsMemfd(p, name))
		    << "worker " << p << " should have mapped the region";
	inst.Forget(s.reg.id());
	for (pid_t p : pids)
		EXPECT_FALSE(MapsMemfd(p, name))
		    << "worker " << p << " still maps a forgotten region";
	EXPECT_EQ(inst.Pids(), pids) << "forgetting needs no new workers";
	// A later job of a region sends its memfd again.
	Job again = s.Make();
	ASSERT_EQ(inst.Run(again.get()), 0);
	EXPECT_EQ(again.get()->result, s.want);
	// Forgetting an unknown region is harmless.
	inst.Forget(123456789);
}

TEST(Regions, ForgetDuringAJobOfAnotherRegionIsDoneAfterIt)
{
	Instance inst({{"workers", "1"}, {"chunk_delay_us", "300000"}});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	const std::string name = "fp-forget2-" + std::to_string(getpid());
	const std::string busy_name = "fp-busy2-" + std::to_string(getpid());
	SumJob gone(1000, name), busy(1000, busy_name);
	Job j1 = gone.Make();
	ASSERT_EQ(inst.Run(j1.get()), 0);
	pid_t pid = inst.Pids().at(0);
	ASSERT_TRUE(MapsMemfd(pid, name));
	Job j2 = busy.Make();
	auto run = std::async(std::launch::async, [&] { return inst.Run(j2.get()); });
	// The worker is inside the job once it has mapped that job's region.
	ASSERT_TRUE(WaitFor([&] { return MapsMemfd(pid, busy_name); }, 5000));
	inst.Forget(gone.reg.id()); // must not wait for the job it does not concern
	EXPECT_EQ(run.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
	    << "forget returned only after the job (300 ms chunk) had finished";
	ASSERT_EQ(run.get(), 0);
	EXPECT_FALSE(MapsMemfd(pid, name));
}

TEST(Records, OnePerChunkWithTheWorkersPids)
{
	Instance inst({{"workers", "2"}, {"schedule", "dynamic"}, {"chunk", "100"}});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	Region reg(8 << 20);
	const uint64_t m = 1000, n = 500;
	uint64_t a_off = reg.Alloc(m * n * 8), x_off = reg.Alloc(n * 8), y_off = reg.Alloc(m * 8);
	for (uint64_t i = 0; i < m * n; i++)
		reg.At<double>(a_off)[i] = (double)(i % 13);
	for (uint64_t i = 0; i < n; i++)
		reg.At<double>(x_off)[i] = 1.0;
	Job job(reg, HPC_OP_MATVEC, HPC_F64, m, n, 0, a_off, x_off, y_off, true, true);
	ASSERT_EQ(inst.Run(job.get()), 0);
	auto recs = job.Records();
	EXPECT_EQ(recs.size(), 10u);
	ExpectCovers(recs, m);
	std::vector<pid_t> pids = inst.Pids();
	for (const auto &r : recs) {
		EXPECT_EQ((pid_t)r.pid, pids.at(r.worker));
		EXPECT_EQ(r.count, 100u);
		EXPECT_EQ(r.attempt, 1);
	}
	// A buffer too small: the count says how many there were.
	Job small(reg, HPC_OP_MATVEC, HPC_F64, m, n, 0, a_off, x_off, y_off, true, true);
	small.job.chunks_cap = 3;
	ASSERT_EQ(inst.Run(small.get()), 0);
	EXPECT_EQ(small.job.chunks_count, 10u);
	// Static: one chunk per worker, equal shares.
	Instance st({{"workers", "3"}, {"schedule", "static"}});
	ASSERT_EQ(st.rc(), 0);
	Job sj(reg, HPC_OP_MATVEC, HPC_F64, m, n, 0, a_off, x_off, y_off, true, true);
	ASSERT_EQ(st.Run(sj.get()), 0);
	auto srecs = sj.Records();
	ASSERT_EQ(srecs.size(), 3u);
	ExpectCovers(srecs, m);
	std::set<uint32_t> workers;
	for (const auto &r : srecs) {
		workers.insert(r.worker);
		EXPECT_EQ(r.worker, r.chunk) << "static: chunk i runs on worker i";
		EXPECT_GE(r.count, 333u);
		EXPECT_LE(r.count, 334u);
	}
	EXPECT_EQ(workers.size(), 3u);
}

TEST(Settings, Defaults)
{
	Instance inst(Instance::Settings{});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	EXPECT_EQ(inst.Pids().size(), (size_t)std::min<long>(std::max<long>(ncpu, 1), 256));
	std::string d = inst.Describe();
	EXPECT_NE(d.find("schedule=dynamic"), std::string::npos) << d;
	EXPECT_NE(d.find("chunk=auto"), std::string::npos) << d;
	EXPECT_NE(d.find("timeout=60000ms"), std::string::npos) << d;
}

TEST(Settings, RefusedWithTheCulpritNamed)
{
	const std::vector<Instance::Settings> bad = {
	    {{"workers", "0"}},
	    {{"workers", "257"}},
	    {{"workers", "two"}},
	    {{"workers", "2"}, {"schedule", "guided"}},
	    {{"workers", "2"}, {"chunk", "0"}},
	    {{"workers", "2"}, {"chunk", "-5"}},
	    {{"workers", "2"}, {"timeout", "0"}},
	    {{"workers", "2"}, {"chunk_delay_us", "x"}},
	    {{"workers", "2"}, {"threads", "2"}},
	    {{"workers", "2"}, {"workers", "3"}},
	    {{"workers", "2"}, {"worker", "/nonexistent/hpc_forkpool_worker"}},
	};
	for (const auto &s : bad) {
		Instance inst(s);
		EXPECT_EQ(inst.rc(), -EINVAL) << s.back().first << "=" << s.back().second;
		EXPECT_EQ(inst.err_setting(), (int32_t)s.size() - 1) << inst.err();
		EXPECT_NE(inst.err().find(s.back().first), std::string::npos) << inst.err();
		EXPECT_EQ(inst.err().back(), '.') << inst.err();
	}
	// A worker that is not ours (it never greets): refused at open, nothing left running.
	Instance notours({{"workers", "1"}, {"worker", "/bin/true"}});
	EXPECT_LT(notours.rc(), 0);
	EXPECT_NE(notours.err().find("failed to start"), std::string::npos) << notours.err();
}

} // namespace
} // namespace fpt

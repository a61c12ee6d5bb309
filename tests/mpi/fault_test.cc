// Faults and the life of the MPI job: settings and start-up failures reported
// by open() in one sentence; no process left behind by close(); a rank killed
// mid-job turns that job into an error and the next job runs on a fresh MPI
// job; a job past `timeout` fails with ETIMEDOUT likewise; ranks or mpirun
// that die while idle are replaced before the next job, which succeeds; a
// stopped rank 0 holds neither forget_region(), nor a job past `timeout`, nor
// close(); a hostfile naming this host.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/mpi/mpi_harness.h"

namespace mpitest
{
namespace
{

using Settings = Instance::Settings;

bool Contains(const std::string &s, const std::string &part)
{
	return s.find(part) != std::string::npos;
}

// Wait up to 3 s for no process to name token (SIGKILLed ones take a moment to go).
std::vector<pid_t> Survivors(const std::string &token)
{
	std::vector<pid_t> left;
	for (int i = 0; i < 300; i++) {
		left = ProcessesWith(token);
		if (left.empty())
			break;
		usleep(10000);
	}
	return left;
}

double Since(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// mpirun's pid: the process naming worker that is not a rank.
pid_t MpirunPid(const std::string &worker)
{
	for (pid_t p : ProcessesWith(worker))
		if (Argv0(p) != worker && Argv0(p).find("mpirun") != std::string::npos)
			return p;
	return 0;
}

TEST(MpiOpen, SettingsAreChecked)
{
	struct Bad {
		Settings s;
		int32_t blamed;
		const char *says;
	} bad[] = {
	    {{{"np", "0"}}, 0, "np must be"},
	    {{{"np", "2x"}}, 0, "\"2x\""},
	    {{{"timeout", "0"}}, 0, "timeout"},
	    {{{"local_mmap", "maybe"}}, 0, "local_mmap"},
	    {{{"resident", "65"}}, 0, "resident"},
	    {{{"np", "2"}, {"colour", "red"}}, 1, "colour"},
	    {{{"np", "2"}, {"np", "3"}}, 1, "more than once"},
	    {{{"mpirun", "/nonexistent/mpirun"}}, 0, "/nonexistent/mpirun"},
	    {{{"worker", "/nonexistent/worker"}}, 0, "/nonexistent/worker"},
	    {{{"hostfile", "/nonexistent/hosts"}}, 0, "/nonexistent/hosts"},
	    {{{"mca", "btl tcp,self"}}, 0, "KEY=VALUE"},
	    {{{"mca", "btl=tcp =x"}}, 0, "\"=x\""},
	    {{{"mca", "b-tl=tcp"}}, 0, "\"b-tl=tcp\""},
	    {{{"mca", "btl="}}, 0, "\"btl=\""},
	};
	for (const Bad &b : bad) {
		Instance inst("mpi", b.s);
		EXPECT_LT(inst.rc(), 0) << b.says;
		EXPECT_EQ(inst.err_setting(), b.blamed) << inst.err();
		EXPECT_TRUE(Contains(inst.err(), b.says)) << inst.err();
	}
}

// A launcher that is not on PATH, or that fails, is reported by open() with its reason.
TEST(MpiOpen, LauncherFailuresAreReported)
{
	Instance missing("mpi", {{"mpirun", "no-such-mpirun-here"}});
	EXPECT_EQ(missing.rc(), -ENOENT);
	EXPECT_TRUE(Contains(missing.err(), "mpirun not found: \"no-such-mpirun-here\""))
	    << missing.err();

	Instance fails("mpi", {{"mpirun", "/bin/false"}});
	EXPECT_LT(fails.rc(), 0);
	EXPECT_TRUE(Contains(fails.err(), "mpirun exited with status 1 before rank 0 connected"))
	    << fails.err();

	// Open MPI itself refusing: as root without --allow-run-as-root.
	if (geteuid() == 0) {
		Instance root("mpi", {{"np", "1"}});
		EXPECT_LT(root.rc(), 0);
		EXPECT_TRUE(Contains(root.err(), "root")) << root.err();
	}
	// A launcher that never starts rank 0 is given up after start_timeout.
	std::string dir = TempDir("mpi");
	std::string hang = dir + "/hang.sh";
	std::ofstream(hang) << "#!/bin/sh\nexec sleep 30\n";
	chmod(hang.c_str(), 0755);
	auto t0 = std::chrono::steady_clock::now();
	Instance slow("mpi", {{"mpirun", hang}, {"start_timeout", "300"}});
	double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	EXPECT_EQ(slow.rc(), -ETIMEDOUT);
	EXPECT_TRUE(Contains(slow.err(), "did not connect within 300 ms")) << slow.err();
	EXPECT_LT(s, 5.0);
	EXPECT_TRUE(Survivors(hang).empty()) << "the launcher was left running";
}

// mca = KEY=VALUE words reach mpirun as --mca KEY VALUE: a transport that
// exists works, one that does not makes Open MPI refuse (and open() say so).
TEST(MpiOpen, McaReachesMpirun)
{
	Instance good("mpi",
		      {{"np", "2"}, {"mpirun_args", MpirunArgs()}, {"mca", "btl=self,vader"}});
	ASSERT_EQ(good.rc(), 0) << good.err();
	SmallMatvec(good, 50);
	good.Close();
	Instance bad("mpi", {{"np", "2"},
			     {"mpirun_args", MpirunArgs()},
			     {"mca", "btl=self,nosuchbtl"},
			     {"start_timeout", "20000"}});
	EXPECT_LT(bad.rc(), 0); /* the same settings without mca start (above) */
	EXPECT_TRUE(Contains(bad.err(), "before rank 0 connected")) << bad.err();
}

// close() ends mpirun and every rank; nothing that names the worker is left.
TEST(MpiLife, CloseLeavesNoProcess)
{
	std::string worker = UniqueWorker("close");
	{
		Instance mpi("mpi",
			     {{"np", "2"}, {"mpirun_args", MpirunArgs()}, {"worker", worker}});
		ASSERT_EQ(mpi.rc(), 0) << mpi.err();
		// mpirun and both ranks carry the worker's path on their command lines.
		EXPECT_GE(ProcessesWith(worker).size(), 3u);
		SmallMatvec(mpi, 1);
	}
	std::vector<pid_t> left = Survivors(worker);
	EXPECT_TRUE(left.empty()) << left.size() << " process(es) left, e.g. pid " << left[0];
}

// Kill one rank while a job runs: that job fails with EIO, the death is
// logged, the next job starts a fresh MPI job, and nothing is left at the end.
TEST(MpiFaults, RankKilledMidJob)
{
	std::string worker = UniqueWorker("kill");
	/* The first MPI job's jobs take 120 s: a job that waits for the sleep is told from one
	 * that fails at the death by a wide margin, however busy the machine. */
	setenv("HPC_MPI_WORKER_SLEEP_MS", "120000", 1);
	Instance mpi("mpi", {{"np", "2"}, {"mpirun_args", MpirunArgs()}, {"worker", worker}});
	unsetenv("HPC_MPI_WORKER_SLEEP_MS");
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();

	Region reg(1 << 16, "mpi-test", 7);
	ASSERT_TRUE(reg.ok());
	uint64_t x = reg.Alloc(800);
	FillRandom(reg.arena() + x, HPC_F64, 100, 3);
	hpc_job j = reg.Job(HPC_OP_SUM, HPC_F64, 0, 100, 0, x, 0, 0, 0, false, false);
	int rc = 1;
	auto t0 = std::chrono::steady_clock::now();
	std::thread job([&] { rc = mpi.Run(&j); });
	/* Mid-job means after STARTED: rank 0 is in the seam's sleep (clock_nanosleep; an
	 * idle rank 0 waits in recvmsg). */
	pid_t rank0 = RankPid(worker, 0), rank1 = RankPid(worker, 1);
	ASSERT_GT(rank0, 0);
	ASSERT_GT(rank1, 0);
	for (int i = 0; i < 3000 && SyscallOf(rank0) != 230 /* clock_nanosleep */; i++)
		usleep(10000);
	ASSERT_EQ(SyscallOf(rank0), 230) << "rank 0 never reached the job's sleep";
	ASSERT_EQ(kill(rank1, SIGKILL), 0);
	job.join();
	double s = Since(t0);
	EXPECT_EQ(rc, -EIO);
	EXPECT_LT(s, 60.0) << "the job waited for the sleep instead of failing when the rank died";
	bool logged = false;
	for (const std::string &l : Logged().Lines())
		logged = logged || Contains(l, "MPI job died");
	EXPECT_TRUE(logged);
	EXPECT_TRUE(Survivors(worker).empty()) << "processes of the dead MPI job are left";

	// The next job runs on a new MPI job (without the sleep).
	SmallMatvec(mpi, 8);
	EXPECT_TRUE(Contains(mpi.Describe(), "restarts=1")) << mpi.Describe();
	mpi.Close();
	EXPECT_TRUE(Survivors(worker).empty());
}

// Ranks and mpirun that die while the backend is idle are noticed and replaced
// before the next job, and that job succeeds: a rank other than 0 killed just
// before the job is sent (its death has not reached rank 0 yet: the job is
// sent again once STARTED never came), rank 0 killed, mpirun killed.
TEST(MpiFaults, IdleDeathsAreHealedBeforeTheNextJob)
{
	std::string worker = UniqueWorker("idle");
	Instance mpi("mpi", {{"np", "2"}, {"mpirun_args", MpirunArgs()}, {"worker", worker}});
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();
	SmallMatvec(mpi, 30);

	struct Victim {
		const char *what;
		std::function<pid_t()> pick;
		bool settle; // wait for the death to be complete before the next job
	} victims[] = {
	    {"rank 1, job sent at once", [&] { return RankPid(worker, 1); }, false},
	    {"rank 1, job sent later", [&] { return RankPid(worker, 1); }, true},
	    {"rank 0", [&] { return RankPid(worker, 0); }, true},
	    {"mpirun", [&] { return MpirunPid(worker); }, true},
	};
	int healed = 0;
	for (const Victim &v : victims) {
		SCOPED_TRACE(v.what);
		pid_t p = v.pick();
		ASSERT_GT(p, 0);
		ASSERT_EQ(kill(p, SIGKILL), 0);
		if (v.settle)
			for (int i = 0; i < 500 && !ProcessesWith(worker + " --socket").empty();
			     i++)
				usleep(10000);
		SmallMatvec(mpi, 31 + healed);
		healed++;
		EXPECT_TRUE(Contains(mpi.Describe(), "healed=" + std::to_string(healed)))
		    << mpi.Describe();
	}
	EXPECT_TRUE(Contains(mpi.Describe(), "failed=0")) << mpi.Describe();
	mpi.Close();
	EXPECT_TRUE(Survivors(worker).empty());
}

// A SIGSTOPped rank 0 takes no request. forget_region() must not wait for it
// (600 FORGETs fill the channel: a blocking send would wait for ever), a job
// must fail within `timeout`, the next job runs on a fresh MPI job, and
// close() returns in bounded time, leaving nothing behind.
TEST(MpiFaults, StoppedRank0HoldsNothingPastItsDeadline)
{
	std::string worker = UniqueWorker("stop");
	Instance mpi(
	    "mpi",
	    {{"np", "2"}, {"mpirun_args", MpirunArgs()}, {"worker", worker}, {"timeout", "3000"}});
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();
	const int kRegions = 600;
	for (int i = 0; i < kRegions; i++) {
		Region reg(4096, "mpi-held", 1000 + i);
		ASSERT_TRUE(reg.ok());
		uint64_t x = reg.Alloc(64);
		hpc_job j = reg.Job(HPC_OP_SUM, HPC_F64, 0, 8, 0, x, 0, 0, 0, false, false);
		ASSERT_EQ(mpi.Run(&j), 0) << i;
	}
	pid_t rank0 = RankPid(worker, 0);
	ASSERT_GT(rank0, 0);
	ASSERT_EQ(kill(rank0, SIGSTOP), 0);

	// Every client leaves: the forgets return in bounded time (the stuck MPI job is killed).
	auto t0 = std::chrono::steady_clock::now();
	auto forgets = std::async(std::launch::async, [&] {
		for (int i = 0; i < kRegions; i++)
			mpi.Forget(1000 + i);
	});
	if (forgets.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
		ADD_FAILURE() << "forget_region() blocked on the stopped rank 0 for 60 s";
		kill(rank0, SIGKILL); /* let it go, to end the test */
		forgets.wait();
	}
	double s = Since(t0);
	EXPECT_LT(s, 20.0) << "forget_region() waited " << s << " s for a stopped rank 0";

	// A fresh MPI job serves the next job; then its rank 0 is stopped mid-idle too.
	SmallMatvec(mpi, 40);
	pid_t rank0b = RankPid(worker, 0);
	ASSERT_GT(rank0b, 0);
	ASSERT_NE(rank0b, rank0);
	ASSERT_EQ(kill(rank0b, SIGSTOP), 0);
	Region reg(1 << 16, "mpi-test", 41);
	ASSERT_TRUE(reg.ok());
	uint64_t x = reg.Alloc(80);
	hpc_job j = reg.Job(HPC_OP_SUM, HPC_F64, 0, 10, 0, x, 0, 0, 0, false, false);
	t0 = std::chrono::steady_clock::now();
	auto job = std::async(std::launch::async, [&] { return mpi.Run(&j); });
	if (job.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
		ADD_FAILURE() << "a job waited on the stopped rank 0 for 60 s (timeout = 3 s)";
		kill(rank0b, SIGKILL);
	}
	EXPECT_EQ(job.get(), -ETIMEDOUT);
	s = Since(t0);
	EXPECT_GE(s, 2.9);
	EXPECT_LT(s, 3.0 + 15.0) << "timeout = 3 s, plus the kill of the MPI job";
	SmallMatvec(mpi, 42);

	// close() with a stopped rank 0: bounded, nothing left.
	pid_t rank0c = RankPid(worker, 0);
	ASSERT_GT(rank0c, 0);
	ASSERT_EQ(kill(rank0c, SIGSTOP), 0);
	t0 = std::chrono::steady_clock::now();
	auto closing = std::async(std::launch::async, [&] { mpi.Close(); });
	if (closing.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
		ADD_FAILURE() << "close() waited on the stopped rank 0 for 60 s";
		kill(rank0c, SIGKILL);
	}
	closing.wait();
	EXPECT_LT(Since(t0), 20.0);
	EXPECT_TRUE(Survivors(worker).empty()) << "processes of the stopped MPI job are left";
}

// A job that takes longer than `timeout` fails with ETIMEDOUT; the MPI job is
// replaced and the next job works.
TEST(MpiFaults, TimeoutFailsTheJobAndRestarts)
{
	std::string worker = UniqueWorker("timeout");
	setenv("HPC_MPI_WORKER_SLEEP_MS", "10000", 1);
	Instance mpi(
	    "mpi",
	    {{"np", "2"}, {"mpirun_args", MpirunArgs()}, {"worker", worker}, {"timeout", "400"}});
	unsetenv("HPC_MPI_WORKER_SLEEP_MS");
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();
	Region reg(1 << 16, "mpi-test", 9);
	ASSERT_TRUE(reg.ok());
	uint64_t x = reg.Alloc(80), y = reg.Alloc(80);
	hpc_job j = reg.Job(HPC_OP_DOT, HPC_F64, 0, 10, 0, x, y, 0, 0, true, false);
	auto t0 = std::chrono::steady_clock::now();
	EXPECT_EQ(mpi.Run(&j), -ETIMEDOUT);
	double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	EXPECT_LT(s, 15.0)
	    << "timeout = 0.4 s, plus the kill of the MPI job (generous: a busy machine)";
	EXPECT_TRUE(Survivors(worker).empty());
	SmallMatvec(mpi, 10);
	EXPECT_TRUE(Contains(mpi.Describe(), "restarts=1")) << mpi.Describe();
	mpi.Close();
	EXPECT_TRUE(Survivors(worker).empty());
}

// Ranks placed by a hostfile that names this host, by "localhost" and by its
// own name: no --oversubscribe needed, since the hostfile gives the slots.
TEST(MpiHostfile, RunsOnTheHostsItNames)
{
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	for (std::string name : {std::string("localhost"), std::string(host)}) {
		SCOPED_TRACE(name);
		std::string dir = TempDir("mpi");
		std::string hf = dir + "/hosts";
		std::ofstream(hf) << "# ranks of the test\n" << name << " slots=4\n";
		Settings s = {{"np", "3"}, {"hostfile", hf}};
		if (geteuid() == 0)
			s.push_back({"mpirun_args", "--allow-run-as-root"});
		Instance mpi("mpi", s);
		ASSERT_EQ(mpi.rc(), 0) << mpi.err();
		EXPECT_TRUE(Contains(mpi.Describe(), "np=3")) << mpi.Describe();
		SmallMatvec(mpi, 20);
	}
}

// Several daemon threads submit at once: the instance serialises them.
TEST(MpiLife, ConcurrentRunsAreSerialised)
{
	Instance mpi("mpi", {{"np", "2"}, {"mpirun_args", MpirunArgs()}});
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();
	std::vector<std::thread> ts;
	for (int t = 0; t < 4; t++)
		ts.emplace_back([&mpi, t] {
			for (int i = 0; i < 10; i++)
				SmallMatvec(mpi, 100 + t * 100 + i);
		});
	for (auto &t : ts)
		t.join();
	EXPECT_TRUE(Contains(mpi.Describe(), "failed=0")) << mpi.Describe();
}

} // namespace
} // namespace mpitest

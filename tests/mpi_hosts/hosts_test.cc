// The mpi backend across (simulated) hosts: rank 0 on this host, one rank on
// each of the test hosts hpcdh1 and hpcdh2 (test_hosts.h: network namespaces
// with their own host names, reached by an rsh agent, TCP over a bridge of
// their own). What a cluster relies on, each checked for real:
//  - `hpcd --check` names the hosts the ranks run on; the ranks on the test
//    hosts take the network path (they do not map client regions);
//  - every op and element type through the real daemon agrees with serial;
//  - an operand with a generation is sent to each rank once and then found
//    resident: `hpcrun backends` counts the bytes sent to each rank and the
//    hits, and the counts are exactly what the split says;
//  - a rank killed on a test host mid-job fails that job with EIO, one killed
//    while idle fails nothing; either way the next job runs on a fresh MPI job;
//  - a test host cut off the network mid-job fails the job within `timeout`,
//    the processes left on that host end by themselves (orted loses mpirun:
//    oob_tcp_keepalive_*), and once the link is back jobs run again;
//  - closing leaves no process on any host.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/common/daemon_compare.h"
#include "tests/e2e/harness.h"
#include "tests/mpi/mpi_harness.h"
#include "tests/mpi_hosts/test_hosts.h"

extern "C" {
#include "hpc/client.h"
}

namespace
{

using mhtest::TestHosts;
using Settings = mpitest::Instance::Settings;

double Since(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool Contains(const std::string &s, const std::string &part)
{
	return s.find(part) != std::string::npos;
}

// The number after "key" in text (key includes its '='), or -1.
long long Field(const std::string &text, const std::string &key)
{
	size_t p = text.find(key);
	return p == std::string::npos ? -1 : std::atoll(text.c_str() + p + key.size());
}

// Wait up to seconds for no process on any test host and none here naming token.
bool NothingLeft(const std::string &token, double seconds, std::string *what)
{
	auto t0 = std::chrono::steady_clock::now();
	for (;;) {
		std::string left;
		for (int i = 1; i <= mhtest::kHosts; i++)
			for (pid_t p : TestHosts::Get().Pids(i))
				left += " " + TestHosts::Name(i) + ":" + std::to_string(p) + "(" +
					hpctest::Argv0(p) + ")";
		for (pid_t p : hpctest::ProcessesWith(token))
			left += " here:" + std::to_string(p) + "(" + hpctest::Argv0(p) + ")";
		if (left.empty())
			return true;
		if (Since(t0) > seconds) {
			*what = left;
			return false;
		}
		usleep(100000);
	}
}

// The backend's settings over the test hosts, for the plugin harness.
Settings HostSettings(const std::string &worker, const std::string &timeout_ms)
{
	const TestHosts &th = TestHosts::Get();
	return {{"np", std::to_string(1 + mhtest::kHosts)},
		{"hostfile", th.Hostfile()},
		{"mpirun_args", TestHosts::MpirunArgs()},
		{"mca", th.Mca()},
		{"worker", worker},
		{"timeout", timeout_ms},
		{"start_timeout", "60000"}};
}

// The same as a config section for the daemon.
std::string HostSection(const std::string &worker)
{
	std::string ini = "[backend serial]\nplugin = serial\n[backend cluster]\nplugin = mpi\n";
	for (const auto &kv : HostSettings(worker, "60000"))
		ini += kv.first + " = " + kv.second + "\n";
	return ini;
}

// `hpcd --check` starts the MPI job and names every host a rank runs on; only
// rank 0 reads client regions in place.
TEST(MpiHosts, CheckListsTheHosts)
{
	REQUIRE_TEST_HOSTS();
	const TestHosts &th = TestHosts::Get();
	std::string worker = mpitest::UniqueWorker("check", th.dir());
	std::string dir = th.dir() + "/check", ini = dir + "/hpcd.ini";
	ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
	hpce::write_file(ini, "[daemon]\nsocket = " + dir + "/s\nplugin_dir = " +
				  hpce::runfile("plugins") + "\n" + HostSection(worker));
	hpce::Result r = hpce::run({hpce::runfile("daemon/hpcd"), "-c", ini, "--check"});
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_TRUE(Contains(r.out, "np=3 on " + th.self() + " x1, hpcdh1 x1, hpcdh2 x1")) << r.out;
	EXPECT_TRUE(Contains(r.out, "mapped=1 ")) << r.out;
	std::string left;
	EXPECT_TRUE(NothingLeft(worker, 30, &left)) << "left after --check:" << left;
}

// Every op and element type through the daemon, against serial; operands
// with generations on the second pass; the ranks on the test hosts got their
// data over the network.
TEST(MpiHosts, EveryOpAndTypeMatchesSerialThroughTheDaemon)
{
	REQUIRE_TEST_HOSTS();
	std::string worker = mpitest::UniqueWorker("ops", TestHosts::Get().dir());
	{
		hpce::Daemon d(HostSection(worker));
		ASSERT_TRUE(d.start()) << d.log();
		hpc_client *c = nullptr;
		ASSERT_EQ(hpc_connect(d.socket().c_str(), 64 << 20, &c), 0);
		const hpctest::Shape shapes[] = {
		    {HPC_OP_MATVEC, 1, 1, 0},    {HPC_OP_MATVEC, 2, 3, 0},
		    {HPC_OP_MATVEC, 7, 5, 0},    {HPC_OP_MATVEC, 301, 203, 0},
		    {HPC_OP_MATMUL, 1, 1, 1},    {HPC_OP_MATMUL, 7, 5, 3},
		    {HPC_OP_MATMUL, 40, 33, 70}, {HPC_OP_DOT, 0, 1, 0},
		    {HPC_OP_DOT, 0, 1001, 0},    {HPC_OP_SUM, 0, 2, 0},
		    {HPC_OP_SUM, 0, 4099, 0},    {HPC_OP_AXPY, 0, 1, 0},
		    {HPC_OP_AXPY, 0, 999, 0},
		};
		std::mt19937_64 rng(13);
		hpctest::DaemonCompare opt;
		opt.passes = 3; /* plain, then a generation twice: sent, then resident */
		opt.gen = 5;
		for (uint32_t dtype : {HPC_F64, HPC_F32})
			for (const hpctest::Shape &s : shapes) {
				hpctest::CompareWithSerial(c, "cluster", s, dtype, rng, opt);
				opt.gen += 2;
			}
		hpc_close(c);
		hpce::Result b =
		    hpce::run({hpce::runfile("cli/hpcrun"), "-s", d.socket(), "backends"});
		EXPECT_EQ(b.status, 0) << b.err;
		EXPECT_TRUE(Contains(b.out, "mapped=1 ")) << b.out;
		EXPECT_TRUE(Contains(b.out, "failed=0 ")) << b.out;
		EXPECT_GT(Field(b.out, " r1="), 0) << b.out;
		EXPECT_GT(Field(b.out, " r2="), 0) << b.out;
		EXPECT_GT(Field(b.out, " hits="), 0) << b.out;
		EXPECT_EQ(d.stop(), 0) << d.log();
	}
	std::string left;
	EXPECT_TRUE(NothingLeft(worker, 30, &left)) << "left after the daemon stopped:" << left;
}

// A = 300 x 200 with generation 7, five times: A's 100 rows go to each rank
// once, x every time; then five times with generation 0: A every time. The
// counters of `hpcrun backends` say exactly that.
TEST(MpiHosts, ResidentOperandsAreSentOnce)
{
	REQUIRE_TEST_HOSTS();
	std::string worker = mpitest::UniqueWorker("resident", TestHosts::Get().dir());
	hpce::Daemon d(HostSection(worker));
	ASSERT_TRUE(d.start()) << d.log();
	hpc_client *c = nullptr;
	const uint64_t m = 300, n = 200;
	ASSERT_EQ(hpc_connect(d.socket().c_str(), 4 << 20, &c), 0);
	double *A = static_cast<double *>(hpc_alloc(c, m * n * 8));
	double *x = static_cast<double *>(hpc_alloc(c, n * 8));
	double *y = static_cast<double *>(hpc_alloc(c, m * 8));
	ASSERT_TRUE(A && x && y);
	std::mt19937_64 rng(3);
	hpctest::FillRandom(A, m * n, rng);
	auto backends = [&] {
		hpce::Result b =
		    hpce::run({hpce::runfile("cli/hpcrun"), "-s", d.socket(), "backends"});
		EXPECT_EQ(b.status, 0) << b.err;
		return b.out;
	};
	auto run = [&](uint64_t gen) {
		hpctest::FillRandom(x, n, rng);
		hpc_request r = hpce::request(HPC_OP_MATVEC, m, n, 0, A, x, y, "cluster");
		r.a_gen = gen;
		hpc_completion done{};
		ASSERT_EQ(hpc_run(c, &r, &done), 0) << d.log();
		for (uint64_t i = 0; i < m; i += 37) {
			long double s = 0;
			for (uint64_t k = 0; k < n; k++)
				s += (long double)A[i * n + k] * x[k];
			EXPECT_NEAR(y[i], (double)s, 1e-12);
		}
	};
	const long long rows = 100 * n * 8, vec = n * 8; /* bytes per rank */
	for (int i = 0; i < 5; i++)
		run(7);
	std::string t = backends();
	EXPECT_EQ(Field(t, " r1="), rows + 5 * vec) << t;
	EXPECT_EQ(Field(t, " r2="), rows + 5 * vec) << t;
	EXPECT_EQ(Field(t, " hits="), 4) << t;
	EXPECT_EQ(Field(t, " recv="), 5 * 2 * 100 * 8) << t; /* y's rows back */
	for (int i = 0; i < 5; i++)
		run(0);
	t = backends();
	EXPECT_EQ(Field(t, " r1="), 6 * rows + 10 * vec) << t;
	EXPECT_EQ(Field(t, " r2="), 6 * rows + 10 * vec) << t;
	EXPECT_EQ(Field(t, " hits="), 4) << t;
	hpc_close(c);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

// A test host with the same host name as this one (HPC_TEST_HOSTS_SAME_NAME
// in the agent) is still another host: its rank takes the network path, not
// /proc/<rank 0>/fd, which would work on this one kernel.
TEST(MpiHosts, SameNameIsStillAnotherHost)
{
	REQUIRE_TEST_HOSTS();
	const TestHosts &th = TestHosts::Get();
	std::string worker = mpitest::UniqueWorker("samename", th.dir());
	Settings s = HostSettings(worker, "60000");
	s[0].second = "2";
	s[1].second = th.Hostfile(1);
	setenv("HPC_TEST_HOSTS_SAME_NAME", "1", 1);
	mpitest::Instance mpi("mpi", s);
	unsetenv("HPC_TEST_HOSTS_SAME_NAME");
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();
	EXPECT_TRUE(Contains(mpi.Describe(), "np=2 on " + th.self() + " x2;")) << mpi.Describe();
	EXPECT_TRUE(Contains(mpi.Describe(), "mapped=1 ")) << mpi.Describe();
	mpitest::SmallMatvec(mpi, 5);
	EXPECT_GT(Field(mpi.Describe(), " r1="), 0) << mpi.Describe();
	mpi.Close();
	std::string left;
	EXPECT_TRUE(NothingLeft(worker, 30, &left)) << "left after close:" << left;
}

// A rank on a test host killed mid-job: the job fails with EIO, the next one
// runs on a fresh MPI job. One killed while idle: the next job does not fail.
TEST(MpiHosts, RankKilledOnATestHost)
{
	REQUIRE_TEST_HOSTS();
	std::string worker = mpitest::UniqueWorker("kill", TestHosts::Get().dir());
	setenv("HPC_MPI_WORKER_SLEEP_MS", "120000", 1); /* the first MPI job's jobs sleep */
	mpitest::Instance mpi("mpi", HostSettings(worker, "300000"));
	unsetenv("HPC_MPI_WORKER_SLEEP_MS");
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();
	pid_t rank0 = mpitest::RankPid(worker, 0), rank1 = mpitest::RankPid(worker, 1);
	ASSERT_GT(rank0, 0);
	ASSERT_GT(rank1, 0);
	std::vector<pid_t> on1 = TestHosts::Get().Pids(1);
	ASSERT_NE(std::find(on1.begin(), on1.end(), rank1), on1.end()) << "rank 1 is not on hpcdh1";

	hpctest::Region reg(1 << 16, "mpi-hosts", 7);
	ASSERT_TRUE(reg.ok());
	uint64_t x = reg.Alloc(800);
	hpctest::FillRandom(reg.arena() + x, HPC_F64, 100, 3);
	hpc_job j = reg.Job(HPC_OP_SUM, HPC_F64, 0, 100, 0, x, 0, 0, 0, false, false);
	auto t0 = std::chrono::steady_clock::now();
	auto job = std::async(std::launch::async, [&] { return mpi.Run(&j); });
	for (int i = 0; i < 3000 && mpitest::SyscallOf(rank0) != 230 /* clock_nanosleep */; i++)
		usleep(10000);
	ASSERT_EQ(mpitest::SyscallOf(rank0), 230) << "rank 0 never reached the job's sleep";
	ASSERT_EQ(kill(rank1, SIGKILL), 0);
	EXPECT_EQ(job.get(), -EIO);
	EXPECT_LT(Since(t0), 60.0) << "the job waited for the sleep, not for the death";
	mpitest::SmallMatvec(mpi, 8);
	EXPECT_TRUE(Contains(mpi.Describe(), "restarts=1 ")) << mpi.Describe();

	// Idle: the rank on hpcdh2 this time.
	pid_t rank2 = mpitest::RankPid(worker, 2);
	ASSERT_GT(rank2, 0);
	ASSERT_EQ(kill(rank2, SIGKILL), 0);
	usleep(200000);
	mpitest::SmallMatvec(mpi, 9);
	EXPECT_EQ(Field(mpi.Describe(), " healed="), 1) << mpi.Describe();
	EXPECT_EQ(Field(mpi.Describe(), " failed="), 1) << mpi.Describe();
	mpi.Close();
	std::string left;
	EXPECT_TRUE(NothingLeft(worker, 30, &left)) << "left after close:" << left;
}

// hpcdh2's link goes down mid-job (timeout = 8 s): the job fails within the
// timeout and the kill that follows - with EIO when mpirun's keepalive
// (oob_tcp_keepalive_*: 1 s, 1 s, 3 probes) gives the host up first, which it
// does after ~5 s, else with ETIMEDOUT; what ran there ends by itself
// although nothing here can reach it (orted's keepalive); with the link back,
// jobs run again; close leaves nothing anywhere.
TEST(MpiHosts, CutLinkFailsTheJobWithinTimeout)
{
	REQUIRE_TEST_HOSTS();
	const TestHosts &th = TestHosts::Get();
	std::string worker = mpitest::UniqueWorker("cut", th.dir());
	setenv("HPC_MPI_WORKER_SLEEP_MS", "1500", 1);
	mpitest::Instance mpi("mpi", HostSettings(worker, "8000"));
	unsetenv("HPC_MPI_WORKER_SLEEP_MS");
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();
	pid_t rank0 = mpitest::RankPid(worker, 0);
	ASSERT_GT(rank0, 0);
	ASSERT_FALSE(th.Pids(2).empty());

	hpctest::Region reg(1 << 20, "mpi-hosts", 11);
	ASSERT_TRUE(reg.ok());
	const uint64_t m = 90, n = 1000;
	uint64_t a = reg.Alloc(m * n * 8), x = reg.Alloc(n * 8), y = reg.Alloc(m * 8);
	hpc_job j = reg.Job(HPC_OP_MATVEC, HPC_F64, m, n, 0, a, x, y, 0, true, true);
	auto t0 = std::chrono::steady_clock::now();
	auto job = std::async(std::launch::async, [&] { return mpi.Run(&j); });
	for (int i = 0; i < 3000 && mpitest::SyscallOf(rank0) != 230 /* clock_nanosleep */; i++)
		usleep(10000);
	ASSERT_EQ(mpitest::SyscallOf(rank0), 230) << "rank 0 never reached the job's sleep";
	ASSERT_TRUE(th.Cut(2));
	if (job.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
		ADD_FAILURE() << "the job hung for 120 s with hpcdh2 cut off (timeout = 8 s)";
		th.Mend(2);
	}
	int rc = job.get();
	double s = Since(t0);
	EXPECT_TRUE(rc == -EIO || rc == -ETIMEDOUT) << rc;
	if (rc == -ETIMEDOUT) {
		EXPECT_GE(s, 7.9);
	}
	EXPECT_LT(s, 8.0 + 20.0) << "timeout = 8 s, plus the kill of the MPI job";
	fprintf(stderr, "cut link: the job failed with %s after %.1f s\n",
		rc == -EIO ? "EIO" : "ETIMEDOUT", s);

	// Nothing here can reach hpcdh2: its orted must notice that mpirun is gone.
	std::vector<pid_t> left;
	auto t1 = std::chrono::steady_clock::now();
	while (!(left = th.Pids(2)).empty() && Since(t1) < 60)
		usleep(200000);
	EXPECT_TRUE(left.empty()) << left.size() << " process(es) still on the cut-off hpcdh2 "
				  << Since(t1) << " s after the MPI job was killed, e.g. "
				  << (left.empty() ? "" : hpctest::Argv0(left[0]));

	ASSERT_TRUE(th.Mend(2));
	mpitest::SmallMatvec(mpi, 12);
	EXPECT_EQ(Field(mpi.Describe(), " restarts="), 1) << mpi.Describe();
	mpi.Close();
	std::string what;
	EXPECT_TRUE(NothingLeft(worker, 30, &what)) << "left after close:" << what;
}

} // namespace

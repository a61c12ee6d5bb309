// forkpool through the real daemon: every op and type against the serial
// backend, a worker SIGKILLed in the middle of a job while another client
// keeps working, and no worker left behind after the daemon stops.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/common/daemon_compare.h"
#include "tests/common/procs.h"
#include "tests/e2e/harness.h"

extern "C" {
#include "hpc/client.h"
}

namespace
{

// Worker pids of backend `name` from `hpcrun backends`'s text (describe: "pids=1,2").
std::vector<pid_t> WorkerPids(const std::string &sock, const std::string &name)
{
	char buf[16384];
	std::vector<pid_t> pids;
	if (hpc_control(sock.c_str(), HPC_CTL_BACKENDS, buf, sizeof(buf)) != 0)
		return pids;
	std::stringstream ss(buf);
	std::string line;
	while (std::getline(ss, line)) {
		if (line.rfind(name + "\t", 0) != 0 && line.rfind(name + " ", 0) != 0)
			continue;
		size_t p = line.find("pids=");
		if (p == std::string::npos)
			continue;
		std::stringstream list(line.substr(p + 5, line.find_first_of(" \t", p) - p - 5));
		std::string item;
		while (std::getline(list, item, ','))
			pids.push_back((pid_t)atoi(item.c_str()));
	}
	return pids;
}

class ForkpoolE2E : public ::testing::Test
{
      protected:
	void SetUp() override
	{
		daemon_.reset(new hpce::Daemon(
		    "[backend serial]\nplugin = serial\n"
		    "[backend fp]\nplugin = forkpool\nworkers = 2\nschedule = dynamic\n"
		    "[backend fps]\nplugin = forkpool\nworkers = 2\nschedule = static\n"
		    "[backend slow]\nplugin = forkpool\nworkers = 1\nchunk_delay_us = 400000\n"));
		ASSERT_TRUE(daemon_->start()) << daemon_->log();
	}
	void TearDown() override
	{
		if (daemon_->running()) {
			EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
		}
	}
	std::unique_ptr<hpce::Daemon> daemon_;
};

// Every op and type on backend against serial. Each worker runs the serial
// kernel on its rows: vectors have the same bits as serial's.
void EveryOp(hpc_client *c, const char *backend, uint32_t dtype)
{
	const hpctest::Shape cases[] = {{HPC_OP_MATVEC, 301, 257, 0}, {HPC_OP_MATVEC, 1, 7, 0},
					{HPC_OP_MATMUL, 33, 65, 17},  {HPC_OP_DOT, 0, 100003, 0},
					{HPC_OP_SUM, 0, 1000001, 0},  {HPC_OP_AXPY, 0, 4097, 0},
					{HPC_OP_DOT, 0, 0, 0}};
	hpctest::DaemonCompare opt;
	opt.same_bits = true;
	std::mt19937_64 rng(99);
	for (const hpctest::Shape &cs : cases) {
		hpctest::CompareWithSerial(c, backend, cs, dtype, rng, opt);
		if (::testing::Test::HasFatalFailure())
			return;
	}
}

TEST_F(ForkpoolE2E, EveryOpAndTypeAgreesWithSerial)
{
	hpc_client *c;
	ASSERT_EQ(hpc_connect(daemon_->socket().c_str(), 64 << 20, &c), 0);
	for (const char *b : {"fp", "fps"}) {
		EveryOp(c, b, HPC_F64);
		EveryOp(c, b, HPC_F32);
	}
	hpc_close(c);
	EXPECT_EQ(WorkerPids(daemon_->socket(), "fp").size(), 2u);
}

TEST_F(ForkpoolE2E, KilledWorkerMidJobLeavesEveryoneElseUnharmed)
{
	std::vector<pid_t> pids = WorkerPids(daemon_->socket(), "slow");
	ASSERT_EQ(pids.size(), 1u) << daemon_->log();
	// Another client keeps submitting to serial meanwhile.
	std::atomic<bool> stop{false};
	std::atomic<int> other_ok{0}, other_bad{0};
	std::thread other([&] {
		hpc_client *c;
		if (hpc_connect(daemon_->socket().c_str(), 1 << 20, &c) != 0) {
			other_bad++;
			return;
		}
		double *x = static_cast<double *>(hpc_alloc(c, 1000 * 8));
		for (int i = 0; i < 1000; i++)
			x[i] = 1.0;
		while (!stop) {
			hpc_request r =
			    hpce::request(HPC_OP_SUM, 0, 1000, 0, x, nullptr, nullptr, "serial");
			hpc_completion done;
			if (hpc_run(c, &r, &done) == 0 && done.result == 1000.0)
				other_ok++;
			else
				other_bad++;
		}
		hpc_close(c);
	});

	hpc_client *c;
	ASSERT_EQ(hpc_connect(daemon_->socket().c_str(), 1 << 20, &c), 0);
	double *x = static_cast<double *>(hpc_alloc(c, 1000 * 8));
	for (int i = 0; i < 1000; i++)
		x[i] = (double)i;
	hpc_request r = hpce::request(HPC_OP_SUM, 0, 1000, 0, x, nullptr, nullptr, "slow");
	ASSERT_EQ(hpc_submit(c, &r, 1), 1);
	std::this_thread::sleep_for(std::chrono::milliseconds(150));
	ASSERT_EQ(kill(pids[0], SIGKILL), 0);
	hpc_completion done;
	ASSERT_EQ(hpc_wait(c, &done, 1, 1, 20000), 1);
	EXPECT_EQ(done.status, 0) << hpc_strerror(done.status, done.detail) << daemon_->log();
	EXPECT_EQ(done.result, 999.0 * 1000 / 2);
	hpc_close(c);
	stop = true;
	other.join();
	EXPECT_GT(other_ok.load(), 0);
	EXPECT_EQ(other_bad.load(), 0);
	EXPECT_TRUE(daemon_->running());
	std::vector<pid_t> now = WorkerPids(daemon_->socket(), "slow");
	ASSERT_EQ(now.size(), 1u);
	EXPECT_NE(now[0], pids[0]);
	EXPECT_NE(daemon_->log().find("the chunk runs again"), std::string::npos) << daemon_->log();
}

// hpcrun --timeline: the job's chunks on their workers, drawn as SVG — one
// row per worker process, one bar per chunk.
TEST_F(ForkpoolE2E, HpcrunDrawsTheTimelineOfAJob)
{
	std::string dir = hpce::temp_dir();
	std::string gen = hpce::runfile("cli/hpcgen"), run = hpce::runfile("cli/hpcrun");
	ASSERT_EQ(hpce::run({gen, "--seed", "3", "600", "500", dir + "/A.bin"}).status, 0);
	ASSERT_EQ(hpce::run({gen, "--seed", "4", "500", dir + "/x.bin"}).status, 0);
	for (const char *b : {"fp", "fps"}) {
		std::string svg = dir + "/t_" + b + ".svg";
		auto r = hpce::run({run, "-s", daemon_->socket(), "-b", b, "matvec", dir + "/A.bin",
				    dir + "/x.bin", "--timeline", svg});
		ASSERT_EQ(r.status, 0) << r.err;
		EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 600);
		std::string pic = hpce::read_file(svg);
		ASSERT_EQ(pic.rfind("<svg", 0) == 0 || pic.find("<svg") != std::string::npos, true)
		    << pic.substr(0, 200);
		std::vector<pid_t> pids = WorkerPids(daemon_->socket(), b);
		ASSERT_EQ(pids.size(), 2u);
		// Both workers ran chunks, and each has its row.
		for (pid_t p : pids)
			EXPECT_NE(pic.find("pid " + std::to_string(p)), std::string::npos)
			    << b << ": no row for worker " << p;
		EXPECT_NE(pic.find("class=\"chunk"), std::string::npos);
	}
	// A backend that does not split jobs: one bar for the whole job.
	std::string svg = dir + "/t_serial.svg";
	auto r = hpce::run({run, "-s", daemon_->socket(), "-b", "serial", "matvec", dir + "/A.bin",
			    dir + "/x.bin", "--timeline", svg});
	ASSERT_EQ(r.status, 0) << r.err;
	EXPECT_NE(hpce::read_file(svg).find("does not split jobs"), std::string::npos);
	// --timeline with a control command is a usage error.
	EXPECT_EQ(hpce::run({run, "-s", daemon_->socket(), "status", "--timeline", svg}).status, 2);
	std::string cmd = "rm -rf '" + dir + "'";
	EXPECT_EQ(system(cmd.c_str()), 0);
}

TEST_F(ForkpoolE2E, NoWorkerOutlivesTheDaemon)
{
	std::vector<pid_t> all;
	for (const char *b : {"fp", "fps", "slow"})
		for (pid_t p : WorkerPids(daemon_->socket(), b))
			all.push_back(p);
	ASSERT_EQ(all.size(), 5u) << daemon_->log();
	for (pid_t p : all)
		EXPECT_TRUE(hpctest::Alive(p));
	EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
	for (pid_t p : all)
		EXPECT_FALSE(hpctest::Alive(p)) << "worker " << p << " outlived hpcd";
}

} // namespace

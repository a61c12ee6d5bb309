// No client and no backend can stall, crash or exhaust the daemon (SPEC:
// Jobs, Limits, Safety). Each test plays one hostile client or one failing
// backend against the real daemon, and checks the front door throughout:
// `hpcrun status` answers within a second and a job on another backend runs.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/harness.h"
#include "tests/e2e/hostile.h"

extern "C" {
#include "hpc/client.h"
#include "hpc/ops.h"
#include "hpc/wire.h"
}

namespace
{

using hpce::RawClient;

// The contract: hpcrun status answers within a second while a backend stalls.
constexpr double kFrontDoorMs = 1000;
// Where the defect would be a wait forever (a job looping over empty rows, a
// call into a crashed instance), this much time already shows it, and no
// burst of load on a shared 2-core machine reaches it.
constexpr double kForeverMs = 5000;

double now_ms()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

// Sum 1..100 on backend; true when the answer is right.
bool job_runs(const std::string &sock, const char *backend)
{
	return hpce::sum_job(sock, backend) == 0;
}

// The liveness check of every test here: status within a second, and a job
// on another backend.
//
// A stalled front door stays stalled for the backend's whole delay (seconds),
// while a burst of load on a shared machine (a compile beside the test) slows
// one start of hpcrun: so the best of up to three tries in a row must answer
// within the second (one slow try was seen in CI at 1.56 s).
void expect_front_door_open(const hpce::Daemon &d, const char *other_backend)
{
	double best = 1e300;
	std::string tries;
	for (int i = 0; i < 3 && best >= kFrontDoorMs; i++) {
		double ms;
		hpce::Result r = hpce::hpcrun_status(d.socket(), &ms);
		EXPECT_EQ(r.status, 0) << r.err;
		best = std::min(best, ms);
		tries += (tries.empty() ? "" : ", ") + std::to_string((int)ms) + " ms";
	}
	EXPECT_LT(best, kFrontDoorMs) << "hpcrun status took " << tries;
	EXPECT_TRUE(job_runs(d.socket(), other_backend)) << "no job ran on " << other_backend;
}

hpc_sqe sqe(uint32_t op, uint64_t m, uint64_t n, uint64_t k, const char *backend)
{
	hpc_sqe e{};
	e.op = op;
	e.dtype = HPC_F64;
	e.m = m;
	e.n = n;
	e.k = k;
	snprintf(e.backend, sizeof(e.backend), "%s", backend);
	return e;
}

void append_to(const std::string &path, const std::string &text)
{
	std::ofstream f(path, std::ios::app);
	f << text;
}

// ---- Finding 1: empty jobs ------------------------------------------------------

const char *kEmptyBackends = "[backend serial]\nplugin = serial\n"
			     "[backend omp]\nplugin = openmp\nthreads = 2\n"
			     "[backend pool]\nplugin = forkpool\nworkers = 2\nchunk = 1000\n";

TEST(Robustness, EmptyJobsCompleteAtOnceOnEveryBackend)
{
	hpce::Daemon d(kEmptyBackends);
	ASSERT_TRUE(d.start()) << d.log();
	RawClient rc;
	ASSERT_TRUE(rc.connect(d.socket(), 1 << 16));

	for (const char *b : {"serial", "omp", "pool"}) {
		SCOPED_TRACE(b);
		// Every operand is 0 bytes, so validation passes; a backend that
		// looped over the m empty rows would never finish (and forkpool's
		// chunk count used to wrap and divide by zero).
		const uint64_t huge[] = {1ull << 63, (~0ull) - (1ull << 20) + 2};
		for (uint64_t m : huge) {
			double t0 = now_ms();
			hpc_cqe c =
			    rc.submit(sqe(HPC_OP_MATMUL, m, 0, 0, b), (int)(2 * kForeverMs));
			EXPECT_EQ(c.status, 0) << "matmul m=" << m << " n=k=0";
			EXPECT_LT(now_ms() - t0, kForeverMs);
		}
		hpc_cqe c = rc.submit(sqe(HPC_OP_DOT, 0, 0, 0, b));
		EXPECT_EQ(c.status, 0);
		EXPECT_EQ(c.result, 0.0);
		c = rc.submit(sqe(HPC_OP_SUM, 0, 0, 0, b));
		EXPECT_EQ(c.status, 0);
		EXPECT_EQ(c.result, 0.0);

		// An empty inner dimension still has an output: zeros, as NumPy gives.
		double *y = reinterpret_cast<double *>(rc.arena());
		for (int i = 0; i < 8; i++)
			y[i] = 99.0;
		hpc_sqe e = sqe(HPC_OP_MATVEC, 8, 0, 0, b);
		e.out_off = 0;
		e.a_off = e.b_off = 4096;
		c = rc.submit(e);
		EXPECT_EQ(c.status, 0);
		for (int i = 0; i < 8; i++)
			EXPECT_EQ(y[i], 0.0) << "y[" << i << "]";
		for (int i = 0; i < 6; i++)
			y[i] = 99.0;
		e = sqe(HPC_OP_MATMUL, 2, 3, 0, b);
		e.a_off = e.b_off = 4096;
		c = rc.submit(e);
		EXPECT_EQ(c.status, 0);
		for (int i = 0; i < 6; i++)
			EXPECT_EQ(y[i], 0.0) << "C[" << i << "]";
		// axpy on nothing leaves y as it was.
		y[0] = 7.0;
		e = sqe(HPC_OP_AXPY, 0, 0, 0, b);
		e.alpha = 2.0;
		c = rc.submit(e);
		EXPECT_EQ(c.status, 0);
		EXPECT_EQ(y[0], 7.0);
	}
	// None of it broke the pool: real jobs still run on it.
	EXPECT_TRUE(job_runs(d.socket(), "pool"));
	hpce::Result r = hpce::run({hpce::runfile("cli/hpcrun"), "-s", d.socket(), "backends"});
	EXPECT_EQ(r.out.find("state=crashed"), std::string::npos) << r.out;
	expect_front_door_open(d, "serial");
	rc.close();
	EXPECT_EQ(d.stop(), 0) << d.log();
}

// ---- Finding 2 and 8: limits -------------------------------------------------------

TEST(Robustness, TotalArenaLimitRefusesTheNewcomerOnly)
{
	hpce::Daemon d("[backend serial]\nplugin = serial\n",
		       "max_arena_mb = 48\nmax_total_arena_mb = 64\n");
	ASSERT_TRUE(d.start()) << d.log();
	hpc_client *a;
	ASSERT_EQ(hpc_connect(d.socket().c_str(), 40u << 20, &a), 0);

	char why[HPC_REFUSAL_MAX + 1] = "unset";
	struct hpc_connect_opts o {
	};
	o.err = why;
	o.err_len = sizeof(why);
	hpc_client *b = nullptr;
	EXPECT_EQ(hpc_connect_opts(d.socket().c_str(), 40u << 20, &o, &b), -ENOMEM);
	EXPECT_NE(std::string(why).find("max_total_arena_mb = 64"), std::string::npos) << why;

	// Too large for one client is E2BIG, also with a reason.
	EXPECT_EQ(hpc_connect_opts(d.socket().c_str(), 50u << 20, &o, &b), -E2BIG);
	EXPECT_NE(std::string(why).find("max_arena_mb = 48"), std::string::npos) << why;

	// hpcrun says the same sentence.
	hpce::Result st = hpce::run({hpce::runfile("cli/hpcrun"), "-s", d.socket(), "status"});
	EXPECT_NE(st.out.find("arenas 41 MiB in use (max_total_arena_mb 64, max_arena_mb 48)"),
		  std::string::npos)
	    << st.out;

	// The client already served keeps working.
	double *x = static_cast<double *>(hpc_alloc(a, 10 * sizeof(double)));
	for (int i = 0; i < 10; i++)
		x[i] = 1;
	hpc_request r{};
	r.op = HPC_OP_SUM;
	r.n = 10;
	r.a = x;
	hpc_completion done{};
	EXPECT_EQ(hpc_run(a, &r, &done), 0);
	EXPECT_EQ(done.result, 10.0);
	hpc_close(a);

	// Its memory is given back once its region is gone.
	int rc = -1;
	for (int i = 0; i < 500 && rc != 0; i++) {
		rc = hpc_connect(d.socket().c_str(), 40u << 20, &b);
		if (rc)
			usleep(10000);
	}
	EXPECT_EQ(rc, 0);
	if (rc == 0)
		hpc_close(b);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(Robustness, MaxClientsRefusesOneMoreWithAReason)
{
	hpce::Daemon d("[backend serial]\nplugin = serial\n", "max_clients = 2\n");
	ASSERT_TRUE(d.start()) << d.log();
	hpc_client *a, *b, *c = nullptr;
	ASSERT_EQ(hpc_connect(d.socket().c_str(), 1 << 16, &a), 0);
	ASSERT_EQ(hpc_connect(d.socket().c_str(), 1 << 16, &b), 0);
	char why[HPC_REFUSAL_MAX + 1];
	struct hpc_connect_opts o {
	};
	o.err = why;
	o.err_len = sizeof(why);
	EXPECT_EQ(hpc_connect_opts(d.socket().c_str(), 1 << 16, &o, &c), -EUSERS);
	EXPECT_NE(std::string(why).find("max_clients = 2"), std::string::npos) << why;

	hpce::Result st = hpce::run({hpce::runfile("cli/hpcrun"), "-s", d.socket(), "status"});
	EXPECT_NE(st.out.find("clients 2 connected (max_clients 2)"), std::string::npos) << st.out;
	// A one-shot hpcrun job is refused with the daemon's sentence, not left hanging.
	std::string x = d.dir() + "/x.bin";
	hpce::write_file(x, std::string(8 * 4, '\0'));
	hpce::Result j = hpce::run({hpce::runfile("cli/hpcrun"), "-s", d.socket(), "sum", x});
	EXPECT_NE(j.status, 0);
	EXPECT_NE(j.err.find("max_clients = 2"), std::string::npos) << j.err;
	hpc_close(a);
	hpc_close(b);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

// ---- Finding 3: descriptors run out --------------------------------------------------

// CPU seconds the process has used (user + system).
double cpu_seconds(pid_t pid)
{
	std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
	std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
	std::istringstream in(s.substr(s.rfind(')') + 2));
	std::string field;
	unsigned long long utime = 0, stime = 0;
	for (int i = 3; i <= 15 && in >> field; i++) {
		if (i == 14)
			utime = std::stoull(field);
		if (i == 15)
			stime = std::stoull(field);
	}
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

int count_lines(const std::string &text, const std::string &needle)
{
	int n = 0;
	for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1))
		n++;
	return n;
}

TEST(Robustness, RunningOutOfDescriptorsNeitherSpinsNorFloodsTheLog)
{
	hpce::Daemon d("[backend serial]\nplugin = serial\n[backend omp]\nplugin = openmp\n");
	d.set_wrapper({"prlimit", "--nofile=64", "--"});
	ASSERT_TRUE(d.start()) << d.log();
	// A client served before the flood.
	hpc_client *a;
	ASSERT_EQ(hpc_connect(d.socket().c_str(), 1 << 16, &a), 0);

	// Far more idle connections than descriptors: the daemon hits EMFILE.
	std::vector<int> flood;
	for (int i = 0; i < 150; i++) {
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		sockaddr_un addr{};
		addr.sun_family = AF_UNIX;
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", d.socket().c_str());
		if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0) {
			close(fd); // the backlog is full: the kernel refuses the rest
			continue;
		}
		flood.push_back(fd);
	}
	ASSERT_GT(flood.size(), 64u);
	usleep(200 * 1000);
	double cpu0 = cpu_seconds(d.pid());
	usleep(2000 * 1000);
	double cpu = cpu_seconds(d.pid()) - cpu0;
	EXPECT_LT(cpu, 0.2) << "the daemon spun at " << cpu / 2 * 100 << "% of a core";
	std::string log = d.log();
	EXPECT_GE(count_lines(log, "accept:"), 1) << log.substr(0, 2000);
	EXPECT_LE(count_lines(log, "accept:"), 5) << log.substr(0, 2000);

	// Refused newcomers were told why (not left hanging in the backlog).
	int told = 0;
	for (int fd : flood) {
		char buf[512];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > (ssize_t)sizeof(hpc_msg) &&
		    std::string(buf + sizeof(hpc_msg), (size_t)n - sizeof(hpc_msg))
			    .find("file descriptors") != std::string::npos)
			told++;
	}
	EXPECT_GT(told, 0);

	// The client already served still runs jobs.
	double *x = static_cast<double *>(hpc_alloc(a, 4 * sizeof(double)));
	x[0] = x[1] = x[2] = x[3] = 1.5;
	hpc_request r{};
	r.op = HPC_OP_SUM;
	r.n = 4;
	r.a = x;
	r.backend = "serial";
	hpc_completion done{};
	EXPECT_EQ(hpc_run(a, &r, &done), 0);
	EXPECT_EQ(done.result, 6.0);

	for (int fd : flood)
		close(fd);
	usleep(300 * 1000); // the listener rests at most 100 ms between tries
	expect_front_door_open(d, "omp");
	hpc_close(a);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

// ---- Finding 4: the front door never waits on a backend ---------------------------------

TEST(Robustness, AReloadThatOpensSlowlyDoesNotStallTheFrontDoor)
{
	hpce::Daemon d("[backend serial]\nplugin = serial\n");
	ASSERT_TRUE(d.start()) << d.log();
	append_to(
	    d.config(),
	    d.expand("[backend slow]\nplugin = ${TESTPLUGINS}/libhpc_stall.so\nopen_ms = 10000\n"));

	std::atomic<int> reload_rc{1};
	double t0 = now_ms();
	std::thread reloader([&] {
		char buf[4096];
		reload_rc = hpc_control(d.socket().c_str(), HPC_CTL_RELOAD, buf, sizeof(buf));
	});
	usleep(300 * 1000);
	for (int i = 0; i < 3; i++) {
		expect_front_door_open(d, "serial");
		usleep(500 * 1000);
	}
	EXPECT_LT(now_ms() - t0, 9000) << "the checks themselves waited for the open";
	reloader.join();
	EXPECT_EQ(reload_rc.load(), 0);
	EXPECT_GE(now_ms() - t0, 9500) << "the slow open did not run";
	EXPECT_TRUE(job_runs(d.socket(), "serial"));
	EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(Robustness, ABackendSlowToForgetAClientDoesNotStallTheFrontDoor)
{
	hpce::Daemon d(
	    "[backend serial]\nplugin = serial\n"
	    "[backend slow]\nplugin = ${TESTPLUGINS}/libhpc_stall.so\nforget_ms = 5000\n");
	ASSERT_TRUE(d.start()) << d.log();
	double t0 = now_ms();
	ASSERT_TRUE(job_runs(d.socket(), "slow")); // a client that leaves at once
	for (int i = 0; i < 3; i++) {
		expect_front_door_open(d, "serial"); // each of these clients leaves too
		usleep(300 * 1000);
	}
	EXPECT_LT(now_ms() - t0, 4500) << "the checks waited for forget_region";
	// Every departed client (the first and one per check) was forgotten in the end.
	std::string out;
	for (int i = 0; i < 300; i++) {
		out = hpce::run({hpce::runfile("cli/hpcrun"), "-s", d.socket(), "backends"}).out;
		if (out.find("forgets=4") != std::string::npos)
			break;
		usleep(100 * 1000);
	}
	EXPECT_NE(out.find("forgets=4"), std::string::npos) << out;
	EXPECT_EQ(d.stop(), 0) << d.log();
}

// ---- Finding 5: a crash with a lock held ---------------------------------------------

TEST(Robustness, ABackendThatCrashedHoldingItsLockIsNeverCalledAgain)
{
#if defined(__SANITIZE_THREAD__)
	// As in daemon_test: TSan does not follow a siglongjmp out of a SIGSEGV handler.
	GTEST_SKIP() << "crash containment is not modelled by ThreadSanitizer";
#endif
	hpce::Daemon d(
	    "[backend serial]\nplugin = serial\n"
	    "[backend locked]\nplugin = ${TESTPLUGINS}/libhpc_stall.so\ncrash_locked = 1\n");
	ASSERT_TRUE(d.start()) << d.log();
	std::string before =
	    hpce::run({hpce::runfile("cli/hpcrun"), "-s", d.socket(), "backends"}).out;
	EXPECT_EQ(job_runs(d.socket(), "locked"), false);

	// describe() would take the held mutex: the daemon shows the last line instead.
	double t0 = now_ms();
	hpce::Result r = hpce::run({hpce::runfile("cli/hpcrun"), "-s", d.socket(), "backends"});
	EXPECT_LT(now_ms() - t0, kForeverMs);
	EXPECT_EQ(r.status, 0) << r.err;
	EXPECT_NE(r.out.find("state=crashed"), std::string::npos) << r.out;
	EXPECT_NE(r.out.find("info=forgets=0"), std::string::npos) << r.out;
	expect_front_door_open(d, "serial");

	// The client that ran the crashing job has left: forget_region was not
	// called either (it takes the mutex too), or the next line would hang.
	expect_front_door_open(d, "serial");

	// A reload that replaces it would close() it, which takes the mutex: it is
	// left unclosed instead, and the reload completes.
	std::string ini = hpce::read_file(d.config());
	ini.replace(ini.find("crash_locked = 1"), 16, "crash_locked = 0");
	hpce::write_file(d.config(), ini);
	char buf[4096];
	t0 = now_ms();
	EXPECT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_RELOAD, buf, sizeof(buf)), 0) << buf;
	EXPECT_LT(now_ms() - t0, 5000);
	EXPECT_TRUE(job_runs(d.socket(), "locked")); // the fresh instance works
	bool left = false;
	for (int i = 0; i < 200 && !left; i++, usleep(10000))
		left = d.log().find("is not closed") != std::string::npos;
	EXPECT_TRUE(left) << d.log();
	expect_front_door_open(d, "serial");
	EXPECT_EQ(d.stop(), 0) << d.log();
}

// ---- Stopping while a backend never returns ---------------------------------------

TEST(Robustness, ASecondStopSignalEndsTheDaemonEvenIfABackendHangs)
{
	hpce::Daemon d(
	    "[backend serial]\nplugin = serial\n"
	    "[backend hung]\nplugin = ${TESTPLUGINS}/libhpc_stall.so\nrun_ms = 600000\n");
	ASSERT_TRUE(d.start()) << d.log();
	RawClient rc;
	ASSERT_TRUE(rc.connect(d.socket(), 1 << 16));
	hpc_sqe e = sqe(HPC_OP_SUM, 0, 4, 0, "hung");
	rc.post(e);
	usleep(200 * 1000);
	expect_front_door_open(d, "serial"); // a hung job stalls nobody else
	kill(d.pid(), SIGTERM);
	usleep(200 * 1000);
	EXPECT_TRUE(d.running()) << "the accepted job must be given its chance";
	double t0 = now_ms();
	kill(d.pid(), SIGTERM);
	for (int i = 0; i < 1000 && d.running(); i++)
		usleep(10000);
	EXPECT_FALSE(d.running()) << d.log();
	EXPECT_LT(now_ms() - t0, 6000);
	EXPECT_NE(d.log().find("abandoning"), std::string::npos) << d.log();
}

} // namespace

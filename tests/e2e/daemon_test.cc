// The daemon's life cycle and safety, with the real binary and real clients:
// --check, bad configs, status and backends, graceful stop, garbage on the
// socket, hostile descriptors and ring indexes written straight into shared
// memory, a client killed mid-job, 16 concurrent clients, and credentials.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "tests/e2e/harness.h"
#include "tests/e2e/hostile.h"

extern "C" {
#include "hpc/client.h"
#include "hpc/wire.h"
#include "ipc/region.h"
#include "ipc/ring.h"
#include "ipc/sock.h"
}

namespace
{

const char *kBackends = "[backend serial]\nplugin = serial\n"
			"[backend omp]\nplugin = openmp\nthreads = 2\n";

std::string hpcd()
{
	return hpce::runfile("daemon/hpcd");
}

// A quick proof that the daemon still serves.
void expect_serves(const std::string &sock)
{
	EXPECT_EQ(hpce::sum_job(sock, nullptr), 0);
}

TEST(Daemon, CheckReportsBackendsAndExitsZero)
{
	hpce::Daemon d(kBackends);
	auto r = hpce::run({hpcd(), "-c", d.config(), "--check"});
	EXPECT_EQ(r.status, 0) << r.err;
	EXPECT_NE(r.out.find("serial"), std::string::npos) << r.out;
	EXPECT_NE(r.out.find("omp"), std::string::npos) << r.out;
	EXPECT_NE(r.out.find("threads=2"), std::string::npos) << r.out;
	EXPECT_NE(r.out.find("limits max_clients 256, max_arena_mb "), std::string::npos) << r.out;
	struct stat st;
	EXPECT_NE(stat(d.socket().c_str(), &st), 0) << "--check must not serve";
}

TEST(Daemon, BadConfigsExitNonZeroNamingFileAndLine)
{
	std::string dir = hpce::temp_dir();
	struct Bad {
		std::string text, want;
	} cases[] = {
	    // Two lines of [daemon] come first: the case's own lines start at 3.
	    {"sokcet = /tmp/x\n[backend s]\nplugin = serial\n", "bad.ini:3:"},
	    {"[backend s]\nplugin = serial\n[bogus]\nx = 1\n", "bad.ini:5:"},
	    {"[backend s]\nplugin = nosuchplugin\n", "libhpc_nosuchplugin.so"},
	    {"[backend s]\nplugin = openmp\nthreads = lots\n", "bad.ini:5:"},
	    {"[backend s]\nplugin = openmp\nthread = 2\n", "bad.ini:5:"},
	    {"[backend s]\nplugin = openmp\nthread = 2\n", "'thread'"},
	};
	for (const auto &b : cases) {
		std::string cfg = dir + "/bad.ini";
		hpce::write_file(cfg, "[daemon]\nplugin_dir = " + hpce::runfile("plugins") + "\n" +
					  b.text);
		auto r = hpce::run({hpcd(), "-c", cfg, "--check"});
		EXPECT_NE(r.status, 0) << b.text;
		EXPECT_NE(r.err.find(b.want), std::string::npos)
		    << "want " << b.want << " in: " << r.err;
	}
	auto r = hpce::run({hpcd(), "-c", dir + "/missing.ini"});
	EXPECT_NE(r.status, 0);
	EXPECT_NE(r.err.find("missing.ini"), std::string::npos) << r.err;
	r = hpce::run({hpcd()});
	EXPECT_EQ(r.status, 2);
	r = hpce::run({hpcd(), "--version"});
	EXPECT_EQ(r.status, 0);
	EXPECT_NE(r.out.find("hpcd"), std::string::npos);
	std::string cmd = "rm -rf '" + dir + "'";
	EXPECT_EQ(system(cmd.c_str()), 0);
}

TEST(Daemon, StatusBackendsAndGracefulStop)
{
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	char buf[8192];
	ASSERT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_STATUS, buf, sizeof(buf)), 0);
	EXPECT_NE(std::string(buf).find("hpcd"), std::string::npos) << buf;
	ASSERT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, buf, sizeof(buf)), 0);
	EXPECT_NE(std::string(buf).find("serial"), std::string::npos) << buf;
	EXPECT_NE(std::string(buf).find("libhpc_openmp.so"), std::string::npos) << buf;
	expect_serves(d.socket());
	EXPECT_EQ(d.stop(), 0) << d.log();
	struct stat st;
	EXPECT_NE(stat(d.socket().c_str(), &st), 0) << "socket file must be removed";
	EXPECT_NE(hpc_control(d.socket().c_str(), HPC_CTL_STATUS, buf, sizeof(buf)), 0);
}

TEST(Daemon, RefusesToStealALiveSocket)
{
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	auto r = hpce::run({hpcd(), "-c", d.config()});
	EXPECT_NE(r.status, 0);
	EXPECT_NE(r.err.find("already serving"), std::string::npos) << r.err;
	expect_serves(d.socket());
}

TEST(Daemon, StopFinishesAcceptedJobs)
{
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	hpc_client *c;
	const uint64_t n = 400;
	ASSERT_EQ(hpc_connect(d.socket().c_str(), 64 << 20, &c), 0);
	double *a = static_cast<double *>(hpc_alloc(c, n * n * 8));
	double *b = static_cast<double *>(hpc_alloc(c, n * n * 8));
	for (uint64_t i = 0; i < n * n; i++)
		a[i] = b[i] = 1.0;
	std::vector<double *> outs;
	std::vector<hpc_request> reqs;
	for (int j = 0; j < 8; j++) {
		outs.push_back(static_cast<double *>(hpc_alloc(c, n * n * 8)));
		hpc_request r{};
		r.op = HPC_OP_MATMUL;
		r.m = r.n = r.k = n;
		r.a = a;
		r.b = b;
		r.out = outs.back();
		r.backend = "serial"; // slow on purpose: the stop arrives mid-queue
		r.user_data = (uint64_t)j;
		reqs.push_back(r);
	}
	ASSERT_EQ(hpc_submit(c, reqs.data(), 8), 8);
	usleep(20000);
	kill(d.pid(), SIGTERM);
	hpc_completion done[8];
	int got = 0;
	while (got < 8) {
		int k = hpc_wait(c, done + got, 1, 8 - got, 30000);
		ASSERT_GT(k, 0) << "lost completions";
		got += k;
	}
	for (int j = 0; j < 8; j++) {
		EXPECT_EQ(done[j].status, 0)
		    << "job " << j << ": " << hpc_strerror(done[j].status, done[j].detail);
		EXPECT_EQ(outs[done[j].user_data][n * n - 1], (double)n);
	}
	// Later jobs are refused, clearly: by the daemon or by the closed socket.
	hpc_request late = reqs[0];
	hpc_completion lc;
	int rc = hpc_run(c, &late, &lc);
	EXPECT_TRUE(rc == -ESHUTDOWN || rc == -EPIPE) << rc << d.log();
	hpc_close(c);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(Daemon, GarbageOnTheSocketIsSurvived)
{
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	const char *junk[] = {"", "x", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
			      "\x31\x43\x50\x48\x01\x00\x01\x00\xff\xff\xff\xff\x00\x00\x00\x00"};
	for (const char *j : junk) {
		int fd = hpci_sock_connect(d.socket().c_str());
		ASSERT_GE(fd, 0);
		ssize_t w = write(fd, j, strlen(j) ? strlen(j) : 0);
		(void)w;
		char buf[64];
		// The daemon hangs up on garbage (or waits on an empty packet).
		struct timeval tv = {0, 200000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssize_t n = read(fd, buf, sizeof(buf));
		EXPECT_LE(n, 0);
		close(fd);
	}
	// Random bytes of every length up to 600.
	unsigned seed = 7;
	for (int len = 1; len < 600; len += 37) {
		int fd = hpci_sock_connect(d.socket().c_str());
		ASSERT_GE(fd, 0);
		std::vector<char> b((size_t)len);
		for (auto &ch : b)
			ch = (char)rand_r(&seed);
		ssize_t w = write(fd, b.data(), b.size());
		(void)w;
		close(fd);
	}
	// Well-formed headers with wrong payloads: a short HELLO, a second HELLO.
	int fd = hpci_sock_connect(d.socket().c_str());
	uint32_t small = 5;
	ASSERT_EQ(hpci_sock_send(fd, HPC_MSG_HELLO, 0, &small, sizeof(small), -1), 0);
	close(fd);
	hpc_hello h{};
	h.arena_bytes = 4096;
	h.flags = 1; // undefined flag
	fd = hpci_sock_connect(d.socket().c_str());
	ASSERT_EQ(hpci_sock_send(fd, HPC_MSG_HELLO, 0, &h, sizeof(h), -1), 0);
	hpc_msg hdr;
	char buf[256];
	int rfd;
	ASSERT_GE(hpci_sock_recv(fd, &hdr, buf, sizeof(buf), &rfd), 0);
	EXPECT_EQ(hdr.status, -EINVAL);
	close(fd);
	ASSERT_TRUE(d.running()) << d.log();
	expect_serves(d.socket());
}

TEST(Daemon, AClientThatNeverReadsCannotStallIt)
{
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	int fd = hpci_sock_connect(d.socket().c_str());
	ASSERT_GE(fd, 0);
	// Requests whose replies (~300 bytes each) it never reads: far more than
	// the socket buffers hold.
	struct timeval tv = {0, 100000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int sent = 0;
	for (int i = 0; i < 20000; i++) {
		if (hpci_sock_send(fd, HPC_MSG_STATUS, 0, nullptr, 0, -1) < 0)
			break;
		sent++;
	}
	EXPECT_GT(sent, 100);
	expect_serves(d.socket());
	char buf[256];
	EXPECT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_STATUS, buf, sizeof(buf)), 0);
	close(fd);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

using hpce::RawClient;

TEST(Daemon, HostileDescriptorsAreRefusedOneByOne)
{
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	RawClient rc;
	ASSERT_TRUE(rc.connect(d.socket(), 1 << 16));
	const uint64_t arena = rc.region.layout.arena_size;
	struct Hostile {
		const char *what;
		hpc_sqe e;
		int status;
		uint32_t detail;
	};
	auto base = [] {
		hpc_sqe e{};
		e.op = HPC_OP_SUM;
		e.n = 8;
		return e;
	};
	std::vector<Hostile> cases;
	hpc_sqe e = base();
	e.op = 99;
	cases.push_back({"unknown op", e, -EINVAL, HPC_E_BAD_OP});
	e = base();
	e.a_off = arena;
	cases.push_back({"past the end", e, -ERANGE, HPC_E_OUT_OF_REGION});
	e = base();
	e.n = UINT64_MAX / 4;
	cases.push_back({"length overflows", e, -EOVERFLOW, HPC_E_SIZE_OVERFLOW});
	e = base();
	e.a_off = UINT64_MAX - 8;
	cases.push_back({"offset wraps", e, -EOVERFLOW, HPC_E_SIZE_OVERFLOW});
	e = base();
	e.op = HPC_OP_MATVEC;
	e.m = 1ull << 40;
	e.n = 1ull << 40;
	cases.push_back({"m*n overflows", e, -EOVERFLOW, HPC_E_SIZE_OVERFLOW});
	e = base();
	memset(e.backend, 'z', sizeof(e.backend));
	cases.push_back({"unterminated name", e, -EINVAL, HPC_E_BAD_NAME});
	e = base();
	strcpy(e.backend, "nope");
	cases.push_back({"unknown backend", e, -ENOENT, HPC_E_NO_BACKEND});
	e = base();
	e.a_off = 4;
	cases.push_back({"misaligned", e, -EINVAL, HPC_E_MISALIGNED});
	for (size_t i = 0; i < cases.size(); i++) {
		cases[i].e.user_data = 1000 + i;
		hpc_cqe c = rc.submit(cases[i].e);
		EXPECT_EQ(c.user_data, 1000 + i) << cases[i].what;
		EXPECT_EQ(c.status, cases[i].status) << cases[i].what;
		EXPECT_EQ(c.detail, cases[i].detail) << cases[i].what;
	}
	// A good job on the same session still works.
	double *x = reinterpret_cast<double *>(rc.region.arena);
	for (int i = 0; i < 8; i++)
		x[i] = 0.5;
	hpc_cqe c = rc.submit(base());
	EXPECT_EQ(c.status, 0);
	EXPECT_EQ(c.result, 4.0);
	ASSERT_TRUE(d.running());
}

TEST(Daemon, CorruptRingIndexEndsOnlyThatSession)
{
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	RawClient bad;
	ASSERT_TRUE(bad.connect(d.socket(), 1 << 16));
	int fds_before = d.open_fds();
	// Claim a billion entries in an 8-entry ring.
	__atomic_store_n(&bad.sq.ctl->tail, 1000000000u, __ATOMIC_RELEASE);
	hpci_ring_wake_all(&bad.sq.ctl->tail);
	// The daemon hangs up on this client...
	struct timeval tv = {5, 0};
	setsockopt(bad.sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char buf[16];
	EXPECT_EQ(read(bad.sock, buf, sizeof(buf)), 0);
	// ...frees what it held, and serves everyone else.
	for (int i = 0; i < 100 && d.open_fds() >= fds_before; i++)
		usleep(10000);
	EXPECT_LT(d.open_fds(), fds_before);
	expect_serves(d.socket());
	EXPECT_NE(d.log().find("protocol violation"), std::string::npos);
}

TEST(Daemon, KilledClientLeavesNothingBehind)
{
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	expect_serves(d.socket());
	// The baseline: that client's session is reaped (asynchronously) first.
	for (int i = 0; i < 500 && d.region_mappings() != 0; i++)
		usleep(10000);
	usleep(50000);
	int fds0 = d.open_fds(), maps0 = d.region_mappings();
	ASSERT_GT(fds0, 0);
	ASSERT_EQ(maps0, 0);
	for (int round = 0; round < 3; round++) {
		int pipefd[2];
		ASSERT_EQ(pipe(pipefd), 0);
		pid_t pid = fork();
		if (pid == 0) {
			hpc_client *c;
			const uint64_t n = 600;
			if (hpc_connect(d.socket().c_str(), 3 * n * n * 8 + (1 << 20), &c) < 0)
				_exit(1);
			double *a = static_cast<double *>(hpc_alloc(c, n * n * 8));
			double *b = static_cast<double *>(hpc_alloc(c, n * n * 8));
			double *o = static_cast<double *>(hpc_alloc(c, n * n * 8));
			for (uint64_t i = 0; i < n * n; i++)
				a[i] = b[i] = 1.0;
			hpc_request r{};
			r.op = HPC_OP_MATMUL;
			r.m = r.n = r.k = n;
			r.a = a, r.b = b, r.out = o;
			r.backend = "serial";
			hpc_request many[4] = {r, r, r, r};
			hpc_submit(c, many, 4);
			ssize_t w = write(pipefd[1], "x", 1);
			(void)w;
			pause();
			_exit(0);
		}
		close(pipefd[1]);
		char ch;
		ASSERT_EQ(read(pipefd[0], &ch, 1), 1);
		close(pipefd[0]);
		usleep(10000); // mid-job
		EXPECT_EQ(d.region_mappings(), 1);
		kill(pid, SIGKILL);
		waitpid(pid, nullptr, 0);
		for (int i = 0; i < 500 && (d.open_fds() != fds0 || d.region_mappings() != 0); i++)
			usleep(10000);
		EXPECT_EQ(d.open_fds(), fds0) << "round " << round;
		EXPECT_EQ(d.region_mappings(), 0) << "round " << round;
		expect_serves(d.socket());
	}
}

TEST(Daemon, PluginsHearThatARegionIsGone)
{
	hpce::Daemon d("[backend echo]\nplugin = ${TESTPLUGINS}/libhpc_echo.so\n");
	ASSERT_TRUE(d.start()) << d.log();
	char buf[4096];
	for (int round = 1; round <= 2; round++) {
		hpc_client *c;
		ASSERT_EQ(hpc_connect(d.socket().c_str(), 1 << 16, &c), 0);
		double *x = static_cast<double *>(hpc_alloc(c, 64));
		x[0] = 2;
		hpc_request r = hpce::request(HPC_OP_SUM, 0, 1, 0, x, nullptr, nullptr);
		hpc_completion done;
		ASSERT_EQ(hpc_run(c, &r, &done), 0);
		hpc_close(c);
		// The daemon tells the plugin once the region is freed.
		std::string want = "forgotten=" + std::to_string(round);
		for (int i = 0; i < 200; i++) {
			ASSERT_EQ(
			    hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, buf, sizeof(buf)), 0);
			if (strstr(buf, want.c_str()))
				break;
			usleep(10000);
		}
		EXPECT_NE(strstr(buf, want.c_str()), nullptr) << buf;
	}
}

TEST(Daemon, ACrashingBackendFailsItsJobsAndNothingElse)
{
#if defined(__SANITIZE_THREAD__)
	// TSan does not follow a siglongjmp out of a SIGSEGV handler (it keeps
	// believing the thread is in the handler); ASan and plain builds run this.
	GTEST_SKIP() << "crash containment is not modelled by ThreadSanitizer";
#endif
	hpce::Daemon d("[backend serial]\nplugin = serial\n"
		       "[backend boom]\nplugin = ${TESTPLUGINS}/libhpc_crash.so\n");
	ASSERT_TRUE(d.start()) << d.log();
	hpc_client *c, *other;
	ASSERT_EQ(hpc_connect(d.socket().c_str(), 1 << 16, &c), 0);
	ASSERT_EQ(hpc_connect(d.socket().c_str(), 1 << 16, &other), 0);
	double *x = static_cast<double *>(hpc_alloc(c, 64));
	x[0] = 3;
	double *y = static_cast<double *>(hpc_alloc(other, 64));
	y[0] = 4;
	hpc_request r = hpce::request(HPC_OP_SUM, 0, 1, 0, x, nullptr, nullptr, "boom");
	hpc_completion done;
	EXPECT_EQ(hpc_run(c, &r, &done), -EFAULT);
	EXPECT_EQ(done.detail, (uint32_t)HPC_E_BACKEND_CRASHED);
	ASSERT_TRUE(d.running()) << d.log();
	// The crashed instance is out of service; its neighbours are not.
	EXPECT_EQ(hpc_run(c, &r, &done), -EIO);
	EXPECT_EQ(done.detail, (uint32_t)HPC_E_BACKEND_BROKEN);
	r.backend = "serial";
	ASSERT_EQ(hpc_run(c, &r, &done), 0);
	EXPECT_EQ(done.result, 3.0);
	hpc_request r2 = r;
	r2.a = y;
	ASSERT_EQ(hpc_run(other, &r2, &done), 0);
	EXPECT_EQ(done.result, 4.0);
	char buf[4096];
	ASSERT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, buf, sizeof(buf)), 0);
	EXPECT_NE(strstr(buf, "state=crashed"), nullptr) << buf;
	// A reload of the same config opens a fresh instance in its place.
	ASSERT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_RELOAD, buf, sizeof(buf)), 0) << buf;
	ASSERT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, buf, sizeof(buf)), 0);
	EXPECT_EQ(strstr(buf, "state=crashed"), nullptr) << buf;
	r.backend = "boom";
	EXPECT_EQ(hpc_run(c, &r, &done), -EFAULT); // fresh, and crashes again
	hpc_close(c);
	hpc_close(other);
	EXPECT_NE(d.log().find("died of signal 11"), std::string::npos) << d.log();
	EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(Daemon, SixteenConcurrentClients)
{
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	std::atomic<int> failures{0}, completed{0};
	std::vector<std::thread> ts;
	for (int t = 0; t < 16; t++) {
		ts.emplace_back([&, t] {
			hpc_client *c;
			if (hpc_connect(d.socket().c_str(), 1 << 20, &c) < 0) {
				failures++;
				return;
			}
			const uint64_t m = 64, n = 48;
			double *a = static_cast<double *>(hpc_alloc(c, m * n * 8));
			double *x = static_cast<double *>(hpc_alloc(c, n * 8));
			double *y = static_cast<double *>(hpc_alloc(c, m * 8));
			for (int it = 0; it < 200; it++) {
				// Each client's own values: a mix-up between clients shows.
				for (uint64_t i = 0; i < m * n; i++)
					a[i] = (double)((i % 7) + t);
				for (uint64_t j = 0; j < n; j++)
					x[j] = (double)(it % 5 + 1);
				hpc_request r{};
				r.op = HPC_OP_MATVEC;
				r.m = m, r.n = n;
				r.a = a;
				r.b = x, r.out = y;
				r.backend = (it + t) % 2 ? "omp" : "serial";
				hpc_completion done;
				if (hpc_run(c, &r, &done) != 0) {
					failures++;
					continue;
				}
				for (uint64_t i = 0; i < m; i++) {
					double want = 0;
					for (uint64_t j = 0; j < n; j++)
						want += (double)(((i * n + j) % 7) + t) *
							(double)(it % 5 + 1);
					if (y[i] != want) {
						failures++;
						break;
					}
				}
				completed++;
			}
			hpc_close(c);
		});
	}
	for (auto &th : ts)
		th.join();
	EXPECT_EQ(failures.load(), 0);
	EXPECT_EQ(completed.load(), 16 * 200);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(Daemon, OnlyAllowedUsersMayConnect)
{
	if (geteuid() != 0)
		GTEST_SKIP() << "needs root to act as another user";
	const uid_t nobody = 65534;
	for (bool allowed : {false, true}) {
		hpce::Daemon d(kBackends, allowed ? "allow_uids = 65534\n" : "");
		ASSERT_TRUE(d.start()) << d.log();
		// Let the other user through the file permissions, so that the
		// daemon's own credentials check is what is tested.
		chmod(d.dir().c_str(), 0755);
		chmod(d.socket().c_str(), 0666);
		pid_t pid = fork();
		if (pid == 0) {
			if (setgid(nobody) != 0 || setuid(nobody) != 0)
				_exit(3);
			char buf[512];
			int rc = hpc_control(d.socket().c_str(), HPC_CTL_STATUS, buf, sizeof(buf));
			hpc_client *c = nullptr;
			int rc2 = hpc_connect(d.socket().c_str(), 4096, &c);
			if (c)
				hpc_close(c);
			if (rc == 0 && rc2 == 0)
				_exit(0);
			// A refusal says so: the client can tell it from a missing daemon.
			_exit(rc == -EACCES && rc2 == -EACCES ? 1 : 4);
		}
		int st;
		waitpid(pid, &st, 0);
		ASSERT_TRUE(WIFEXITED(st));
		if (WEXITSTATUS(st) == 3)
			GTEST_SKIP() << "cannot switch to uid 65534 here (user namespace?)";
		EXPECT_EQ(WEXITSTATUS(st), allowed ? 0 : 1) << d.log();
		expect_serves(d.socket());
	}
}

} // namespace

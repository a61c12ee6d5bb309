// Hot swap under load: clients keep submitting verified jobs while the
// daemon's config is reloaded again and again — settings change, sections
// come and go, the default backend moves, and a plugin file is rebuilt at the
// same path. Every job submitted must complete exactly once, correctly.
#include <gtest/gtest.h>

#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/harness.h"

extern "C" {
#include "hpc/client.h"
#include "hpc/wire.h"
}

namespace
{

uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// Copy a file to dst through a temporary name and rename(2): what a linker
// or `install` does, and what makes a rebuilt plugin a new file.
void replace_file(const std::string &src, const std::string &dst)
{
	std::string tmp = dst + ".tmp";
	hpce::write_file(tmp, hpce::read_file(src));
	ASSERT_EQ(rename(tmp.c_str(), dst.c_str()), 0);
}

std::string config_variant(int i, const std::string &echo_dir)
{
	// Backends every variant has: serial, omp, echo. The rest varies.
	std::string ini;
	ini += "[backend serial]\nplugin = serial\n";
	ini += "[backend omp]\nplugin = openmp\nthreads = " + std::to_string(1 + i % 2) + "\n";
	ini += "[backend echo]\nplugin = " + echo_dir + "/libhpc_echo.so\ntag = v" +
	       std::to_string(i % 3) + "\n";
	if (i % 4 == 1)
		ini += "[backend extra]\nplugin = openmp\nthreads = 1\n";
	return ini;
}

std::string daemon_part(int i)
{
	return std::string("default_backend = ") + (i % 2 ? "omp" : "serial") + "\n";
}

TEST(Reload, HundredReloadsUnderLoadLoseNothing)
{
	const int kClients = 8, kReloads = 100;
	std::string echo_dir = hpce::temp_dir();
	std::string echo1 = hpce::runfile("tests/plugins/libhpc_echo.so");
	std::string echo2 = hpce::runfile("tests/plugins/libhpc_echo2.so");
	replace_file(echo1, echo_dir + "/libhpc_echo.so");

	hpce::Daemon d(config_variant(0, echo_dir), daemon_part(0));
	ASSERT_TRUE(d.start()) << d.log();
	const std::string head =
	    hpce::read_file(d.config())
		.substr(0, hpce::read_file(d.config()).find("default_backend"));

	std::atomic<bool> stop{false};
	std::atomic<uint64_t> submitted{0}, completed{0}, failed{0}, wrong{0}, dup{0}, lost{0};
	std::atomic<uint64_t> worst_pause_ns{0};
	std::vector<std::thread> clients;
	for (int t = 0; t < kClients; t++) {
		clients.emplace_back([&, t] {
			hpc_client *c;
			if (hpc_connect(d.socket().c_str(), 1 << 20, &c) != 0) {
				failed++;
				return;
			}
			const uint64_t m = 16, n = 16;
			double *a = static_cast<double *>(hpc_alloc(c, m * n * 8));
			double *x = static_cast<double *>(hpc_alloc(c, n * 8));
			std::vector<double *> ys;
			for (int j = 0; j < 4; j++)
				ys.push_back(static_cast<double *>(hpc_alloc(c, m * 8)));
			for (uint64_t i = 0; i < m * n; i++)
				a[i] = (double)((i * 7 + (uint64_t)t) % 11);
			for (uint64_t j = 0; j < n; j++)
				x[j] = (double)(j % 5);
			std::vector<double> want(m);
			for (uint64_t i = 0; i < m; i++)
				for (uint64_t j = 0; j < n; j++)
					want[i] += a[i * n + j] * x[j];
			double want_sum = 0;
			for (uint64_t j = 0; j < n; j++)
				want_sum += x[j];
			const char *names[] = {"serial", "omp", nullptr /* default */, "echo"};
			uint64_t seq = 0;
			std::set<uint64_t> outstanding;
			while (!stop.load()) {
				// A batch of 4 jobs in flight at once, each on its own output.
				hpc_request rs[4];
				for (int j = 0; j < 4; j++) {
					hpc_request r{};
					const char *b = names[(seq + (uint64_t)j) % 4];
					if (b && !strcmp(b, "echo")) {
						r.op = HPC_OP_SUM;
						r.n = n;
						r.a = x;
					} else {
						r.op = HPC_OP_MATVEC;
						r.m = m, r.n = n;
						r.a = a, r.b = x, r.out = ys[j];
						memset(ys[j], 0xff,
						       m * 8); // stale results would show
					}
					r.backend = b;
					r.user_data = (seq + (uint64_t)j) * 8 + (uint64_t)j;
					rs[j] = r;
					outstanding.insert(r.user_data);
				}
				uint64_t t0 = now_ns();
				int k = 0;
				while (k < 4) {
					int rc = hpc_submit(c, rs + k, 4u - (unsigned)k);
					if (rc < 0) {
						failed++;
						break;
					}
					k += rc;
				}
				submitted += (uint64_t)k;
				int got = 0;
				while (got < k) {
					hpc_completion done[4];
					int rc = hpc_wait(c, done, 1, 4, 10000);
					if (rc <= 0) {
						lost += (uint64_t)(k - got);
						break;
					}
					for (int i = 0; i < rc; i++) {
						if (!outstanding.erase(done[i].user_data)) {
							dup++;
							continue;
						}
						completed++;
						if (done[i].status != 0) {
							failed++;
							continue;
						}
						int j = (int)(done[i].user_data % 8);
						if (rs[j].op == HPC_OP_SUM) {
							if (done[i].result != want_sum)
								wrong++;
						} else if (!std::equal(want.begin(), want.end(),
								       ys[j])) {
							wrong++;
						}
					}
					got += rc;
				}
				uint64_t pause = now_ns() - t0;
				uint64_t prev = worst_pause_ns.load();
				while (pause > prev &&
				       !worst_pause_ns.compare_exchange_weak(prev, pause)) {
				}
				seq += 4;
			}
			lost += outstanding.size();
			hpc_close(c);
		});
	}

	// Reloads alternate: settings, sections, the default, and every fifth
	// one a rebuilt echo plugin (versions 1.0.0 and 2.0.0 in turn).
	std::vector<double> reload_ms;
	char buf[65536];
	int echo_version = 1;
	for (int i = 1; i <= kReloads; i++) {
		if (i % 5 == 0) {
			echo_version = echo_version == 1 ? 2 : 1;
			replace_file(echo_version == 1 ? echo1 : echo2,
				     echo_dir + "/libhpc_echo.so");
		}
		hpce::write_file(d.config(), head + daemon_part(i) + config_variant(i, echo_dir));
		uint64_t t0 = now_ns();
		int rc = hpc_control(d.socket().c_str(), HPC_CTL_RELOAD, buf, sizeof(buf));
		reload_ms.push_back((double)(now_ns() - t0) / 1e6);
		ASSERT_EQ(rc, 0) << "reload " << i << ": " << buf;
		if (i % 5 == 0) {
			// The swap took effect: the echo instance reports the new build.
			ASSERT_EQ(
			    hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, buf, sizeof(buf)), 0);
			std::string want = echo_version == 1 ? "echo 1.0.0" : "echo 2.0.0";
			EXPECT_NE(std::string(buf).find("plugin=" + want), std::string::npos)
			    << "after reload " << i << ":\n"
			    << buf;
		}
		usleep(5000);
	}
	stop = true;
	for (auto &th : clients)
		th.join();

	std::sort(reload_ms.begin(), reload_ms.end());
	printf("reload: %zu reloads, median %.2f ms, max %.2f ms from request to the new config "
	       "serving\n",
	       reload_ms.size(), reload_ms[reload_ms.size() / 2], reload_ms.back());
	printf("clients: %llu jobs submitted, %llu completed; longest pause a client saw %.2f ms\n",
	       (unsigned long long)submitted.load(), (unsigned long long)completed.load(),
	       (double)worst_pause_ns.load() / 1e6);
	EXPECT_GT(submitted.load(), 1000u);
	EXPECT_EQ(completed.load(), submitted.load());
	EXPECT_EQ(failed.load(), 0u);
	EXPECT_EQ(wrong.load(), 0u);
	EXPECT_EQ(dup.load(), 0u);
	EXPECT_EQ(lost.load(), 0u);
	EXPECT_EQ(d.stop(), 0) << d.log();
	std::string cmd = "rm -rf '" + echo_dir + "'";
	EXPECT_EQ(system(cmd.c_str()), 0);
}

TEST(Reload, BadConfigLeavesEverythingAsItWas)
{
	hpce::Daemon d(
	    "[backend serial]\nplugin = serial\n[backend omp]\nplugin = openmp\nthreads = 2\n");
	ASSERT_TRUE(d.start()) << d.log();
	char before[65536], after[65536], why[4096];
	ASSERT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, before, sizeof(before)), 0);
	std::string good = hpce::read_file(d.config());

	const char *bad[] = {
	    "[backend omp]\nplugin = openmp\nthreads = zero\n",     // a backend fails to open
	    "[backend omp]\nplugin = openmp\nthreads = 2\n[oops\n", // does not parse
	    "[backend omp]\nplugin = nosuch\n",                     // no such plugin
	};
	for (const char *b : bad) {
		hpce::write_file(d.config(), good.substr(0, good.find("[backend")) + b);
		int rc = hpc_control(d.socket().c_str(), HPC_CTL_RELOAD, why, sizeof(why));
		EXPECT_LT(rc, 0) << b;
		EXPECT_NE(std::string(why).find("hpcd.ini"), std::string::npos) << why;
		ASSERT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, after, sizeof(after)),
			  0);
		EXPECT_STREQ(before, after);
	}
	// SIGHUP with a bad config: logged, nothing changes, still serving. The
	// status's count of refused reloads says when the reload has run.
	auto refused = [&] {
		char st[4096];
		EXPECT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_STATUS, st, sizeof(st)), 0);
		const char *p = strstr(st, " ok, ");
		return p ? atoi(p + 5) : -1;
	};
	const int refused_before = refused();
	ASSERT_GE(refused_before, 3) << "the three refusals above count";
	kill(d.pid(), SIGHUP);
	for (int i = 0; i < 500 && refused() == refused_before; i++)
		usleep(10000);
	ASSERT_EQ(refused(), refused_before + 1) << "the SIGHUP reload never ran";
	ASSERT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, after, sizeof(after)), 0);
	EXPECT_STREQ(before, after);
	EXPECT_NE(d.log().find("reload refused"), std::string::npos);

	// A job naming a backend that a good reload removed fails clearly.
	hpce::write_file(d.config(), good.substr(0, good.find("[backend")) +
					 "[backend serial]\nplugin = serial\n");
	kill(d.pid(), SIGHUP);
	for (int i = 0; i < 100; i++) {
		hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, after, sizeof(after));
		if (!strstr(after, "openmp"))
			break;
		usleep(20000);
	}
	EXPECT_EQ(strstr(after, "openmp"), nullptr) << after;
	uint32_t detail = 0;
	EXPECT_EQ(hpce::sum_job(d.socket(), "omp", 1, &detail), -ENOENT);
	EXPECT_EQ(detail, (uint32_t)HPC_E_NO_BACKEND);
	EXPECT_EQ(d.stop(), 0) << d.log();
}

} // namespace

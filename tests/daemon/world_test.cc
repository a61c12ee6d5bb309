// Unit tests of daemon/world.c: building a world from a config, lookups,
// sharing unchanged instances across a rebuild, all-or-nothing failure, and
// get/put/lookup from many threads while worlds are swapped (run it under
// --config=tsan too).
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/config.h"
#include "daemon/loader.h"
#include "daemon/world.h"
#include "tests/daemon/test_util.h"

using namespace hpcd_test;

namespace
{

class WorldTest : public InFreshDir
{
      protected:
	void SetUp() override
	{
		InFreshDir::SetUp();
		pdir = plugin_dir();
	}
	void TearDown() override
	{
		for (hpcd_config *c : cfgs)
			hpcd_config_free(c);
		EXPECT_EQ(hpcd_plugin_count(), 0u) << "a plugin was left loaded";
	}
	// A config from this text (after a [daemon] with plugin_dir); kept until TearDown.
	hpcd_config *config(const std::string &text)
	{
		std::string body = text;
		if (body.rfind("[daemon]\n", 0) == 0)
			body = body.substr(9); // one [daemon] section, ours first
		write_file("w.ini", "[daemon]\nplugin_dir = " + pdir + "\n" + body);
		hpcd_config *c = nullptr;
		char err[512];
		EXPECT_EQ(hpcd_config_load("w.ini", &c, err, sizeof(err)), 0) << err;
		cfgs.push_back(c);
		return c;
	}
	int build(hpcd_config *c, hpcd_world *old, uint64_t gen, hpcd_world **w)
	{
		char err[512] = "";
		int rc = hpcd_world_build(c, old, gen, w, err, sizeof(err));
		msg = err;
		return rc;
	}

	std::string pdir, msg;
	std::vector<hpcd_config *> cfgs;
};

const char *const kTwo = "[daemon]\ndefault_backend = b\n"
			 "[backend a]\nplugin = echo\ntag = A\n"
			 "[backend b]\nplugin = echo\ntag = B\n";

TEST_F(WorldTest, BuildLookupDefault)
{
	hpcd_world *w;
	ASSERT_EQ(build(config(std::string("") + "[backend a]\nplugin = echo\ntag = A\n"
						 "[backend b]\nplugin = valid\n"),
			nullptr, 1, &w),
		  0)
	    << msg;
	EXPECT_EQ(hpcd_world_count(w), 2u);
	EXPECT_EQ(hpcd_world_generation(w), 1u);
	hpcd_backend *a = hpcd_world_lookup(w, "a");
	ASSERT_NE(a, nullptr);
	EXPECT_STREQ(hpcd_backend_name(a), "a");
	EXPECT_EQ(hpcd_world_lookup(w, nullptr), a); // no default_backend: the first section
	EXPECT_EQ(hpcd_world_lookup(w, ""), a);
	EXPECT_EQ(hpcd_world_default(w), a);
	EXPECT_STREQ(hpcd_backend_name(hpcd_world_lookup(w, "b")), "b");
	EXPECT_EQ(hpcd_world_lookup(w, "c"), nullptr);
	char unterminated[HPC_BACKEND_NAME_MAX + 1];
	memset(unterminated, 'a', sizeof(unterminated));
	EXPECT_EQ(hpcd_world_lookup(w, unterminated), nullptr);
	EXPECT_EQ(hpcd_world_backend(w, 1), hpcd_world_lookup(w, "b"));
	EXPECT_EQ(hpcd_world_backend(w, 2), nullptr);
	hpcd_world_put(w);
	EXPECT_FALSE(is_loaded(plugin("echo")));
}

TEST_F(WorldTest, Describe)
{
	hpcd_world *w;
	ASSERT_EQ(build(config(kTwo), nullptr, 5, &w), 0) << msg;
	EXPECT_STREQ(hpcd_backend_name(hpcd_world_lookup(w, nullptr)), "b");
	char buf[2048];
	int n = hpcd_world_describe(w, buf, sizeof(buf));
	std::string file = plugin("echo") + build_stamp(plugin("echo"));
	std::string want =
	    "a\tplugin=echo 1.0.0 file=" + file +
	    "\tops=dot,sum (f64,f32)\ttag=A\tinfo=tag=A version=1.0.0\tgen=5\n"
	    "b\tplugin=echo 1.0.0 file=" +
	    file + "\tops=dot,sum (f64,f32)\ttag=B\tinfo=tag=B version=1.0.0\tgen=5 [default]\n";
	EXPECT_EQ(std::string(buf), want);
	EXPECT_EQ(n, (int)want.size());
	char small[10];
	EXPECT_EQ(hpcd_world_describe(w, small, sizeof(small)), n);
	EXPECT_EQ(strlen(small), 9u);
	hpcd_world_put(w);
}

TEST_F(WorldTest, RebuildSharesUnchangedInstances)
{
	hpcd_world *w1, *w2;
	ASSERT_EQ(build(config(kTwo), nullptr, 1, &w1), 0) << msg;
	hpcd_backend *a1 = hpcd_world_lookup(w1, "a"), *b1 = hpcd_world_lookup(w1, "b");
	EXPECT_EQ(echo_live(plugin("echo")), 2);

	// b changes a setting, c is new, a is as it was (keys reordered and moved lines do not
	// count).
	ASSERT_EQ(build(config("\n\n[backend c]\nplugin = echo\n"
			       "[backend a]\n\nplugin = echo\ntag = A\n"
			       "[backend b]\nplugin = echo\ntag = B2\n"),
			w1, 2, &w2),
		  0)
	    << msg;
	hpcd_backend *a2 = hpcd_world_lookup(w2, "a"), *b2 = hpcd_world_lookup(w2, "b");
	EXPECT_EQ(a2, a1);
	EXPECT_EQ(hpcd_backend_generation(a2), 1u);
	EXPECT_EQ(hpcd_backend_refs(a1), 2u);
	EXPECT_NE(b2, b1);
	EXPECT_EQ(hpcd_backend_generation(b2), 2u);
	EXPECT_STREQ(hpcd_backend_info(b2), "tag=B2 version=1.0.0");
	EXPECT_STREQ(hpcd_backend_name(hpcd_world_default(w2)), "c"); // the new first section
	EXPECT_EQ(echo_live(plugin("echo")), 4);                      // a, b, b2, c

	// A job still holds old b: dropping the old world must not close it under the job.
	hpcd_backend_get(b1);
	hpcd_world_put(w1);
	EXPECT_EQ(echo_live(plugin("echo")), 4);
	EXPECT_EQ(hpcd_backend_refs(a1), 1u); // shared a survives with w2's reference
	hpcd_backend_put(b1);                 // the job is done: old b closes
	EXPECT_EQ(echo_live(plugin("echo")), 3);
	hpcd_world_put(w2);
	EXPECT_FALSE(is_loaded(plugin("echo")));
}

TEST_F(WorldTest, RebuiltPluginFileIsReopened)
{
	pdir = dir + "/plug";
	ASSERT_EQ(mkdir(pdir.c_str(), 0755), 0);
	replace_file(plugin("echo"), pdir + "/libhpc_echo.so");
	hpcd_world *w1, *w2;
	ASSERT_EQ(build(config(kTwo), nullptr, 1, &w1), 0) << msg;
	replace_file(plugin("echo2"), pdir + "/libhpc_echo.so");
	ASSERT_EQ(build(config(kTwo), w1, 2, &w2), 0) << msg;
	for (const char *name : {"a", "b"}) {
		EXPECT_STREQ(hpcd_backend_ops(hpcd_world_lookup(w1, name))->version, "1.0.0");
		EXPECT_STREQ(hpcd_backend_ops(hpcd_world_lookup(w2, name))->version, "2.0.0");
		EXPECT_EQ(hpcd_backend_generation(hpcd_world_lookup(w2, name)), 2u);
	}
	EXPECT_EQ(hpcd_plugin_count(), 2u);
	hpcd_world_put(w1);
	EXPECT_EQ(hpcd_plugin_count(), 1u);
	hpcd_world_put(w2);
}

TEST_F(WorldTest, FailureLeavesOldWorldUntouched)
{
	hpcd_world *w1, *w2 = nullptr;
	ASSERT_EQ(build(config(kTwo), nullptr, 1, &w1), 0) << msg;
	hpcd_backend *a1 = hpcd_world_lookup(w1, "a"), *b1 = hpcd_world_lookup(w1, "b");
	char before[2048], after[2048];
	hpcd_world_describe(w1, before, sizeof(before));

	// a shared, b changed, c new, then d fails: everything of this build goes.
	EXPECT_EQ(build(config("[backend a]\nplugin = echo\ntag = A\n"
			       "[backend b]\nplugin = echo\ntag = changed\n"
			       "[backend c]\nplugin = echo\n"
			       "[backend d]\nplugin = failopen\ndevice = gpu9\n"),
			w1, 2, &w2),
		  -ENODEV);
	EXPECT_EQ(w2, nullptr);
	EXPECT_EQ(msg, "w.ini:13: backend 'd': device 'gpu9' does not exist");
	EXPECT_EQ(echo_live(plugin("echo")), 2); // the new b and c were closed
	EXPECT_FALSE(is_loaded(plugin("failopen")));
	EXPECT_EQ(hpcd_backend_refs(a1), 1u);
	EXPECT_EQ(hpcd_backend_refs(b1), 1u);
	EXPECT_EQ(hpcd_world_lookup(w1, "a"), a1);
	hpcd_world_describe(w1, after, sizeof(after));
	EXPECT_STREQ(before, after);

	// A refused plugin or an unknown setting: the same.
	EXPECT_EQ(
	    build(config("[backend a]\nplugin = echo\ntag = A\n[backend z]\nplugin = badsig\n"), w1,
		  3, &w2),
	    -EPROTO);
	EXPECT_TRUE(contains(msg, "w.ini:7: backend 'z': ")) << msg;
	EXPECT_TRUE(contains(msg, "not binary compatible")) << msg;
	EXPECT_EQ(build(config("[backend n]\nplugin = echo\ntagg = A\n"), w1, 3, &w2), -EINVAL);
	EXPECT_EQ(msg, "w.ini:5: unknown setting 'tagg' for plugin echo in [backend n]; it accepts "
		       "tag, delay_ms");
	EXPECT_EQ(hpcd_plugin_count(), 1u);
	EXPECT_EQ(echo_live(plugin("echo")), 2);
	hpcd_world_put(w1);
}

// Workers take the current world, look up, hold the instance across a job and
// drop everything, while the main thread keeps rebuilding and swapping worlds
// whose instances alternate between shared and replaced. Stamps in the job
// results catch an instance used after close (its state would be freed).
TEST_F(WorldTest, ConcurrentGetPutAcrossSwaps)
{
	const int kThreads = 8;
	const int kSwaps = 60;
	pthread_mutex_t cur_lock = PTHREAD_MUTEX_INITIALIZER;
	hpcd_world *cur = nullptr;
	ASSERT_EQ(build(config(kTwo), nullptr, 1, &cur), 0) << msg;

	std::atomic<bool> stop{false};
	std::atomic<long> jobs{0}, bad{0};
	std::vector<std::thread> threads;
	for (int t = 0; t < kThreads; t++) {
		threads.emplace_back([&, t] {
			double x[3] = {1.0 * t, 2, 3};
			const char *names[] = {"a", "b", nullptr, "nope"};
			for (long i = 0; !stop.load(std::memory_order_relaxed) || i < 100; i++) {
				// Taking the world's reference under the publisher's lock: the
				// lead's daemon decides how it publishes; here a mutex does.
				pthread_mutex_lock(&cur_lock);
				hpcd_world *w = hpcd_world_get(cur);
				pthread_mutex_unlock(&cur_lock);
				hpcd_backend *b = hpcd_world_lookup(w, names[i % 4]);
				if (b)
					hpcd_backend_get(b);
				hpcd_world_put(w); // the job keeps the instance, not the world
				if (!b) {
					if (i % 4 != 3)
						bad++;
					continue;
				}
				hpc_job job = {};
				job.op = HPC_OP_SUM;
				job.dtype = HPC_F64;
				job.n = 3;
				job.a = x;
				if (hpcd_backend_run(b, &job) != 0 || job.result != 5.0 + t)
					bad++;
				if (strlen(hpcd_backend_info(b)) < 5)
					bad++;
				hpcd_backend_put(b);
				jobs++;
			}
		});
	}
	for (int s = 0; s < kSwaps; s++) {
		// Every third swap changes b; a stays shared throughout.
		std::string text = std::string(kTwo) + (s % 3 == 0 ? "delay_ms = 0\n" : "");
		hpcd_world *next;
		ASSERT_EQ(build(config(text), cur, (uint64_t)s + 2, &next), 0) << msg;
		pthread_mutex_lock(&cur_lock);
		hpcd_world *old = cur;
		cur = next;
		pthread_mutex_unlock(&cur_lock);
		hpcd_world_put(old);
		std::this_thread::yield();
	}
	stop = true;
	for (auto &th : threads)
		th.join();
	EXPECT_EQ(bad.load(), 0);
	EXPECT_GT(jobs.load(), 0);
	EXPECT_EQ(echo_live(plugin("echo")), 2); // only the current world's instances remain
	EXPECT_EQ(hpcd_backend_refs(hpcd_world_lookup(cur, "a")), 1u);
	EXPECT_EQ(hpcd_backend_generation(hpcd_world_lookup(cur, "a")), 1u);
	hpcd_world_put(cur);
}

// Many threads loading and dropping the same and different plugins at once.
TEST_F(WorldTest, ConcurrentPluginLoads)
{
	std::vector<std::thread> threads;
	std::atomic<int> bad{0};
	for (int t = 0; t < 8; t++) {
		threads.emplace_back([&, t] {
			std::string path = plugin(t % 2 ? "echo" : "valid");
			for (int i = 0; i < 200; i++) {
				hpcd_plugin *p;
				char err[256];
				if (hpcd_plugin_load(path.c_str(), &p, err, sizeof(err))) {
					bad++;
					continue;
				}
				if (strcmp(hpcd_plugin_ops(p)->name, t % 2 ? "echo" : "valid"))
					bad++;
				hpcd_plugin_put(p);
			}
		});
	}
	for (auto &th : threads)
		th.join();
	EXPECT_EQ(bad.load(), 0);
}

} // namespace

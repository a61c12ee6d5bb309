// Unit tests of daemon/loader.c against the real test plugins of
// tests/plugins: every refusal, settings checks, open failure rollback,
// refcounts and unloading, and a plugin rebuilt at the same path.
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/config.h"
#include "daemon/loader.h"
#include "tests/daemon/test_util.h"

using namespace hpcd_test;

namespace
{

struct Refusal {
	const char *plugin;
	int rc;
	std::string want; // after "PATH: "
};

class Refused : public ::testing::TestWithParam<Refusal>
{
};

TEST_P(Refused, NamedAndUnloaded)
{
	const Refusal &r = GetParam();
	std::string path = plugin(r.plugin);
	char err[512] = "";
	hpcd_plugin *p = reinterpret_cast<hpcd_plugin *>(0x1);
	EXPECT_EQ(hpcd_plugin_load(path.c_str(), &p, err, sizeof(err)), r.rc);
	EXPECT_EQ(p, nullptr);
	EXPECT_EQ(std::string(err), path + ": " + r.want);
	EXPECT_EQ(hpcd_plugin_count(), 0u);
	EXPECT_FALSE(is_loaded(path)) << "a refused plugin must be unloaded at once";
}

INSTANTIATE_TEST_SUITE_P(
    Loader, Refused,
    ::testing::Values(
	Refusal{"noentry", -ENOEXEC, "not an hpcd plugin: no entry point 'hpc_plugin_entry'"},
	Refusal{"nulltable", -ENOEXEC, "the entry point returned no ops table"},
	Refusal{"badabi", -EPROTO, "built for plugin ABI 7, this hpcd loads ABI 1 to 2"},
	Refusal{"badsig", -EPROTO,
		"not binary compatible (build signature 0x10634444, this hpcd has "
		"0x10638888)"},
	Refusal{"misnamed", -EINVAL,
		"the plugin calls itself 'other' but the file is named for 'misnamed'"},
	Refusal{"nullops", -EINVAL, "plugin 'nullops' has no run() function"},
	Refusal{"nomask", -EINVAL,
		"plugin 'nomask' supports no operation (both ops masks are empty)"},
	Refusal{"badmask", -EINVAL,
		"plugin 'badmask' declares unknown operations (ops_f64 0x100010, ops_f32 "
		"0x0)"}),
    [](const ::testing::TestParamInfo<Refusal> &i) { return std::string(i.param.plugin); });

TEST(Loader, MissingAndNonLibraryFiles)
{
	char err[512];
	hpcd_plugin *p;
	std::string dir = fresh_dir();
	EXPECT_EQ(hpcd_plugin_load((dir + "/libhpc_none.so").c_str(), &p, err, sizeof(err)),
		  -ENOENT);
	EXPECT_EQ(std::string(err),
		  dir + "/libhpc_none.so: cannot open plugin: No such file or directory");
	write_file(dir + "/libhpc_text.so", "not an ELF file\n");
	EXPECT_EQ(hpcd_plugin_load((dir + "/libhpc_text.so").c_str(), &p, err, sizeof(err)),
		  -ENOEXEC);
	EXPECT_TRUE(contains(err, dir + "/libhpc_text.so: cannot load: ")) << err;
	EXPECT_EQ(hpcd_plugin_load(dir.c_str(), &p, err, sizeof(err)), -ENOEXEC);
	EXPECT_EQ(std::string(err), dir + ": not a regular file");
	EXPECT_EQ(hpcd_plugin_count(), 0u);
}

TEST(Loader, LoadIsCachedAndRefcounted)
{
	std::string path = plugin("valid");
	char err[512];
	hpcd_plugin *a, *b;
	ASSERT_EQ(hpcd_plugin_load(path.c_str(), &a, err, sizeof(err)), 0) << err;
	ASSERT_EQ(hpcd_plugin_load(path.c_str(), &b, err, sizeof(err)), 0) << err;
	EXPECT_EQ(a, b);
	EXPECT_EQ(hpcd_plugin_count(), 1u);
	EXPECT_STREQ(hpcd_plugin_ops(a)->name, "valid");
	EXPECT_EQ(std::string(hpcd_plugin_path(a)), path);
	EXPECT_FALSE(hpcd_plugin_is_private_copy(a));
	EXPECT_FALSE(hpcd_plugin_file_changed(a, path.c_str()));
	EXPECT_TRUE(hpcd_plugin_file_changed(a, plugin("echo").c_str()));
	EXPECT_TRUE(hpcd_plugin_file_changed(a, "/nonexistent"));
	hpcd_plugin_put(a);
	EXPECT_TRUE(is_loaded(path));
	hpcd_plugin_put(b);
	EXPECT_FALSE(is_loaded(path));
	EXPECT_EQ(hpcd_plugin_count(), 0u);
}

TEST(Loader, FileNamedOtherwiseNeedsOnlyAName)
{
	std::string dir = fresh_dir();
	replace_file(plugin("echo"), dir + "/echo-copy.so");
	char err[512];
	hpcd_plugin *p;
	ASSERT_EQ(hpcd_plugin_load((dir + "/echo-copy.so").c_str(), &p, err, sizeof(err)), 0)
	    << err;
	EXPECT_STREQ(hpcd_plugin_ops(p)->name, "echo");
	hpcd_plugin_put(p);
	// But libhpc_NAME.so must hold NAME.
	replace_file(plugin("echo"), dir + "/libhpc_ohce.so");
	EXPECT_EQ(hpcd_plugin_load((dir + "/libhpc_ohce.so").c_str(), &p, err, sizeof(err)),
		  -EINVAL);
	EXPECT_EQ(std::string(err), dir + "/libhpc_ohce.so: the plugin calls itself 'echo' but the "
					  "file is named for 'ohce'");
	EXPECT_EQ(hpcd_plugin_count(), 0u);
}

// Backends are opened from real configs written at run time.
class BackendTest : public InFreshDir
{
      protected:
	void TearDown() override
	{
		hpcd_config_free(cfg);
		EXPECT_EQ(hpcd_plugin_count(), 0u) << "a plugin was left loaded";
	}
	void load(const std::string &sections, const std::string &pdir = "")
	{
		hpcd_config_free(cfg);
		cfg = nullptr;
		write_file("b.ini", "[daemon]\nplugin_dir = " +
					(pdir.empty() ? plugin_dir() : pdir) + "\n" + sections);
		char err[512];
		ASSERT_EQ(hpcd_config_load("b.ini", &cfg, err, sizeof(err)), 0) << err;
	}
	int open(unsigned i, hpcd_backend **b, uint64_t gen = 1)
	{
		char err[512] = "";
		int rc = hpcd_backend_open(cfg, &cfg->backends[i], gen, b, err, sizeof(err));
		msg = err;
		return rc;
	}

	std::string msg;
	hpcd_config *cfg = nullptr;
};

TEST_F(BackendTest, RefusedPluginNamesConfigLineAndFile)
{
	load("[backend old]\n\nplugin = badabi\n");
	hpcd_backend *b;
	EXPECT_EQ(open(0, &b), -EPROTO);
	EXPECT_EQ(msg, "b.ini:5: backend 'old': " + plugin("badabi") +
			   ": built for plugin ABI 7, this hpcd loads ABI 1 to 2");
	load("[backend x]\nplugin = nothere\n");
	EXPECT_EQ(open(0, &b), -ENOENT);
	EXPECT_EQ(msg, "b.ini:4: backend 'x': " + plugin("nothere") +
			   ": cannot open plugin: No such file or directory");
}

TEST_F(BackendTest, UnknownSettingNamesItsLine)
{
	load("[backend omp]\nplugin = echo\ntag = a\n\nthread = 2\n");
	hpcd_backend *b = nullptr;
	EXPECT_EQ(open(0, &b), -EINVAL);
	EXPECT_EQ(b, nullptr);
	EXPECT_EQ(msg, "b.ini:7: unknown setting 'thread' for plugin echo in [backend omp]; it "
		       "accepts tag, delay_ms");
	EXPECT_FALSE(is_loaded(plugin("echo")));
	load("[backend v]\nplugin = valid\nx = 1\n");
	EXPECT_EQ(open(0, &b), -EINVAL);
	EXPECT_EQ(msg, "b.ini:5: unknown setting 'x' for plugin valid in [backend v]; it accepts "
		       "none");
}

TEST_F(BackendTest, OpenFailureRollsBack)
{
	load("[backend f]\nplugin = failopen\nmode = x\ndevice = /dev/nope\n"
	     "[backend g]\nplugin = failopen\nmode = y\n");
	hpcd_backend *b = nullptr;
	// The plugin blames a setting: its line.
	EXPECT_EQ(open(0, &b), -ENODEV);
	EXPECT_EQ(msg, "b.ini:6: backend 'f': device '/dev/nope' does not exist");
	EXPECT_EQ(b, nullptr);
	EXPECT_FALSE(is_loaded(plugin("failopen")));
	// It blames none: the section's line.
	EXPECT_EQ(open(1, &b), -EIO);
	EXPECT_EQ(msg, "b.ini:7: backend 'g': this plugin never opens");
	EXPECT_FALSE(is_loaded(plugin("failopen")));
	// Rollback leaves a plugin another instance holds loaded.
	load("[backend e]\nplugin = echo\n[backend bad]\nplugin = echo\ndelay_ms = forever\n");
	hpcd_backend *e;
	ASSERT_EQ(open(0, &e), 0) << msg;
	EXPECT_EQ(open(1, &b), -EINVAL);
	EXPECT_EQ(msg, "b.ini:7: backend 'bad': delay_ms must be an integer from 0 to 60000, not "
		       "'forever'");
	EXPECT_EQ(echo_live(plugin("echo")), 1);
	hpcd_backend_put(e);
}

TEST_F(BackendTest, RefcountsCloseAndUnload)
{
	load("[backend one]\nplugin = echo\ntag = first\n[backend two]\nplugin = echo\n");
	std::string path = plugin("echo");
	hpcd_backend *a, *b;
	ASSERT_EQ(open(0, &a, 7), 0) << msg;
	ASSERT_EQ(open(1, &b, 7), 0) << msg;
	EXPECT_EQ(hpcd_plugin_count(), 1u); // one library, two instances
	EXPECT_EQ(hpcd_backend_plugin(a), hpcd_backend_plugin(b));
	EXPECT_EQ(echo_live(path), 2);
	EXPECT_STREQ(hpcd_backend_name(a), "one");
	EXPECT_EQ(hpcd_backend_generation(a), 7u);
	EXPECT_STREQ(hpcd_backend_info(a), "tag=first version=1.0.0");
	EXPECT_STREQ(hpcd_backend_info(b), "tag=none version=1.0.0");
	EXPECT_EQ(hpcd_backend_refs(a), 1u);

	EXPECT_EQ(hpcd_backend_get(a), a);
	EXPECT_EQ(hpcd_backend_refs(a), 2u);
	hpcd_backend_put(a);
	EXPECT_EQ(echo_live(path), 2);
	hpcd_backend_put(a); // the last: close()
	EXPECT_EQ(echo_live(path), 1);
	EXPECT_TRUE(is_loaded(path));
	hpcd_backend_put(b); // the last instance: dlclose
	EXPECT_FALSE(is_loaded(path));
	hpcd_backend_put(nullptr);
}

TEST_F(BackendTest, RunChecksOpsMasks)
{
	load("[backend e]\nplugin = echo\n");
	hpcd_backend *b;
	ASSERT_EQ(open(0, &b), 0) << msg;
	double x[4] = {1, 2, 3, 4.5};
	float y[3] = {1, 2, 3};
	hpc_job job = {};
	job.op = HPC_OP_SUM;
	job.dtype = HPC_F64;
	job.n = 4;
	job.a = x;
	EXPECT_EQ(hpcd_backend_run(b, &job), 0);
	EXPECT_EQ(job.result, 10.5);
	job.dtype = HPC_F32;
	job.a = y;
	job.n = 3;
	EXPECT_EQ(hpcd_backend_run(b, &job), 0);
	EXPECT_EQ(job.result, 6.0);
	job.op = HPC_OP_MATMUL;
	EXPECT_EQ(hpcd_backend_run(b, &job), -EOPNOTSUPP);
	job.op = HPC_OP_SUM;
	job.dtype = 2;
	EXPECT_EQ(hpcd_backend_run(b, &job), -EOPNOTSUPP);
	job.dtype = HPC_F64;
	job.op = 99;
	EXPECT_EQ(hpcd_backend_run(b, &job), -EOPNOTSUPP);
	EXPECT_TRUE(hpcd_backend_supports(b, HPC_OP_DOT, HPC_F32));
	EXPECT_FALSE(hpcd_backend_supports(b, HPC_OP_NONE, HPC_F64));
	hpcd_backend_put(b);
}

TEST_F(BackendTest, FormatIsOneGreppableLine)
{
	load("[backend e]\nplugin = echo\ntag = hello world\ndelay_ms = 0\n"
	     "[backend v]\nplugin = valid\n");
	hpcd_backend *b, *v;
	ASSERT_EQ(open(0, &b, 3), 0) << msg;
	ASSERT_EQ(open(1, &v, 4), 0) << msg;
	char line[1024];
	int n = hpcd_backend_format(b, line, sizeof(line));
	std::string want = "e\tplugin=echo 1.0.0 file=" + plugin("echo") +
			   build_stamp(plugin("echo")) +
			   "\tops=dot,sum (f64,f32)\ttag=hello world\tdelay_ms=0\t"
			   "info=tag=hello world version=1.0.0\tgen=3";
	EXPECT_EQ(std::string(line), want);
	EXPECT_EQ(n, (int)want.size());
	// Cut short, it still says how much it needed, and terminates.
	char small[8];
	EXPECT_EQ(hpcd_backend_format(b, small, sizeof(small)), n);
	EXPECT_STREQ(small, "e\tplugi");
	hpcd_backend_format(v, line, sizeof(line));
	EXPECT_EQ(std::string(line), "v\tplugin=valid 0.0.1 file=" + plugin("valid") +
					 build_stamp(plugin("valid")) + "\tops=sum (f64)\tgen=4");
	hpcd_backend_put(b);
	hpcd_backend_put(v);
}

TEST_F(BackendTest, UnchangedNeedsSameSettingsAndSameFile)
{
	std::string pdir = dir + "/plug";
	ASSERT_EQ(mkdir(pdir.c_str(), 0755), 0);
	replace_file(plugin("echo"), pdir + "/libhpc_echo.so");
	load("[backend e]\nplugin = echo\ntag = a\n", pdir);
	hpcd_backend *b;
	ASSERT_EQ(open(0, &b), 0) << msg;
	EXPECT_TRUE(hpcd_backend_unchanged(b, cfg, &cfg->backends[0]));
	load("[backend e]\nplugin = echo\ntag = b\n", pdir);
	EXPECT_FALSE(hpcd_backend_unchanged(b, cfg, &cfg->backends[0]));
	load("[backend e]\nplugin = echo\ntag = a\n", pdir);
	EXPECT_TRUE(hpcd_backend_unchanged(b, cfg, &cfg->backends[0]));
	replace_file(plugin("echo"), pdir + "/libhpc_echo.so"); // same bytes, new file
	EXPECT_FALSE(hpcd_backend_unchanged(b, cfg, &cfg->backends[0]));
	hpcd_backend_put(b);
}

// A plugin rebuilt at the same path while the old build still has an
// instance: dlopen() alone would hand back the old code.
TEST_F(BackendTest, RebuiltFileLoadsBesideTheOld)
{
	std::string pdir = dir + "/plug";
	std::string so = pdir + "/libhpc_echo.so";
	ASSERT_EQ(mkdir(pdir.c_str(), 0755), 0);
	replace_file(plugin("echo"), so);
	load("[backend e]\nplugin = echo\ntag = t\n", pdir);

	hpcd_backend *v1, *v2, *v3;
	ASSERT_EQ(open(0, &v1, 1), 0) << msg;
	EXPECT_FALSE(hpcd_plugin_is_private_copy(hpcd_backend_plugin(v1)));
	EXPECT_STREQ(hpcd_backend_ops(v1)->version, "1.0.0");

	replace_file(plugin("echo2"), so); // "rebuild" it as 2.0.0
	EXPECT_TRUE(hpcd_plugin_file_changed(hpcd_backend_plugin(v1), so.c_str()));
	ASSERT_EQ(open(0, &v2, 2), 0) << msg;
	EXPECT_NE(hpcd_backend_plugin(v1), hpcd_backend_plugin(v2));
	EXPECT_TRUE(hpcd_plugin_is_private_copy(hpcd_backend_plugin(v2)));
	EXPECT_EQ(std::string(hpcd_plugin_path(hpcd_backend_plugin(v2))), so);
	EXPECT_STREQ(hpcd_backend_ops(v2)->version, "2.0.0");
	EXPECT_STREQ(hpcd_backend_info(v2), "tag=t version=2.0.0"); // the new code runs
	EXPECT_STREQ(hpcd_backend_ops(v1)->version, "1.0.0");       // and the old still does
	EXPECT_STREQ(hpcd_backend_info(v1), "tag=t version=1.0.0");
	EXPECT_EQ(hpcd_plugin_count(), 2u);

	// Once more, back to 1.0.0 bytes in yet another file: a third copy.
	replace_file(plugin("echo"), so);
	ASSERT_EQ(open(0, &v3, 3), 0) << msg;
	EXPECT_TRUE(hpcd_plugin_is_private_copy(hpcd_backend_plugin(v3)));
	EXPECT_NE(hpcd_backend_plugin(v3), hpcd_backend_plugin(v1));
	EXPECT_EQ(hpcd_plugin_count(), 3u);

	double x[2] = {2, 3};
	for (hpcd_backend *b : {v1, v2, v3}) {
		hpc_job job = {};
		job.op = HPC_OP_SUM;
		job.n = 2;
		job.a = x;
		EXPECT_EQ(hpcd_backend_run(b, &job), 0);
		EXPECT_EQ(job.result, 5.0);
	}
	// Same file again: shares the third copy rather than making a fourth.
	hpcd_backend *v3b;
	ASSERT_EQ(open(0, &v3b, 4), 0) << msg;
	EXPECT_EQ(hpcd_backend_plugin(v3b), hpcd_backend_plugin(v3));
	hpcd_backend_put(v3b);

	hpcd_backend_put(v1);
	EXPECT_FALSE(is_loaded(so)) << "the first build is unloaded with its last instance";
	hpcd_backend_put(v2);
	hpcd_backend_put(v3);
	EXPECT_EQ(hpcd_plugin_count(), 0u);

	// With nothing old loaded, the path is loaded directly again.
	ASSERT_EQ(open(0, &v1, 5), 0) << msg;
	EXPECT_FALSE(hpcd_plugin_is_private_copy(hpcd_backend_plugin(v1)));
	hpcd_backend_put(v1);
}

} // namespace

namespace
{

// The plugins kept for the daemon's own tests load cleanly (their defects are at run time).
TEST(Loader, DaemonTestPluginsLoad)
{
	for (const char *name : {"crash", "echo", "failopen", "valid"}) {
		hpcd_plugin *p;
		char err[512];
		ASSERT_EQ(hpcd_plugin_load(hpcd_test::plugin(name).c_str(), &p, err, sizeof(err)),
			  0)
		    << err;
		EXPECT_STREQ(hpcd_plugin_ops(p)->name, name);
		hpcd_plugin_put(p);
	}
	EXPECT_EQ(hpcd_plugin_count(), 0u);
}

// A plugin built against the ABI 1 header (no size in its table) still
// loads and runs; its table is read up to describe(), so entries that came
// later read as NULL in the daemon's copy.
TEST(Loader, AnAbi1PluginStillLoadsAndRuns)
{
	hpcd_plugin *p;
	char err[512];
	ASSERT_EQ(hpcd_plugin_load(hpcd_test::plugin("abi1").c_str(), &p, err, sizeof(err)), 0)
	    << err;
	const hpc_plugin_ops *ops = hpcd_plugin_ops(p);
	EXPECT_EQ(ops->abi_version, 1u);
	EXPECT_EQ(ops->size, sizeof(hpc_plugin_ops));
	EXPECT_STREQ(ops->name, "abi1");
	EXPECT_EQ(ops->forget_region, nullptr);
	ASSERT_NE(ops->describe, nullptr);
	char buf[64];
	ASSERT_EQ(ops->describe(nullptr, buf, sizeof(buf)), 0);
	EXPECT_STREQ(buf, "built for ABI 1");
	double x[3] = {1, 2, 3.5};
	hpc_job job{};
	job.op = HPC_OP_SUM;
	job.dtype = HPC_F64;
	job.n = 3;
	job.a = x;
	job.size = sizeof(job);
	ASSERT_EQ(ops->run(nullptr, &job), 0);
	EXPECT_EQ(job.result, 6.5);
	hpcd_plugin_put(p);
	EXPECT_EQ(hpcd_plugin_count(), 0u);
}

} // namespace

// Unit tests of daemon/config.c: the INI file, its defaults and every error
// message ("FILE:LINE: problem", FILE as given).
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "daemon/config.h"
#include "hpc/wire.h"
#include "tests/daemon/test_util.h"

using namespace hpcd_test;

namespace
{

// Relative names, so that messages show the file as a user typed it.
class ConfigTest : public InFreshDir
{
      protected:
	void TearDown() override
	{
		hpcd_config_free(cfg);
	}

	// Load text as NAME; returns the status, message in msg.
	int load(const std::string &text, const std::string &name = "x.ini")
	{
		write_file(dir + "/" + name, text);
		hpcd_config_free(cfg);
		cfg = nullptr;
		char err[512] = "unset";
		int rc = hpcd_config_load(name.c_str(), &cfg, err, sizeof(err));
		msg = err;
		return rc;
	}

	// Expect a refusal with exactly this message.
	void refused(const std::string &text, const std::string &want)
	{
		EXPECT_EQ(load(text), -EINVAL) << text;
		EXPECT_EQ(msg, want) << text;
		EXPECT_EQ(cfg, nullptr);
	}

	std::string msg;
	struct hpcd_config *cfg = nullptr;
};

const char *const kValid = "; hpcd test config\n"
			   "[daemon]\n"
			   "socket = run/hpcd.sock        ; relative: next to this file\n"
			   "plugin_dir = ../plugins\n"
			   "default_backend = omp2        ; used when a job names none\n"
			   "allow_uids = root, 4242, 0\n"
			   "max_arena_mb = 64\n"
			   "max_total_arena_mb = 96\n"
			   "max_clients = 3\n"
			   "spin_us = 0\n"
			   "ring_entries = 1024\n"
			   "log_level = debug\n"
			   "\n"
			   "# two instances of one plugin\n"
			   "[backend omp1]\n"
			   "plugin = openmp\n"
			   "threads = 1\n"
			   "\n"
			   "[backend omp2]   ; inline comment after a header\n"
			   "  plugin = openmp\n"
			   "  threads = 2\n"
			   "  schedule = dynamic;not a comment\n"
			   "[backend local]\n"
			   "plugin = ./custom/libmine.so\n"
			   "[backend abs]\n"
			   "plugin = /opt/hpc/libhpc_x.so\n";

TEST_F(ConfigTest, ValidRoundTrip)
{
	ASSERT_EQ(load(kValid), 0) << msg;
	const std::string parent = dir.substr(0, dir.rfind('/'));
	EXPECT_EQ(std::string(cfg->name), "x.ini");
	EXPECT_EQ(std::string(cfg->path), dir + "/x.ini");
	EXPECT_EQ(std::string(cfg->dir), dir);
	EXPECT_EQ(std::string(cfg->socket), dir + "/run/hpcd.sock");
	EXPECT_EQ(cfg->socket_line, 3u);
	EXPECT_EQ(std::string(cfg->plugin_dir), parent + "/plugins"); // leading ".." folded
	EXPECT_EQ(std::string(cfg->default_backend), "omp2");
	EXPECT_EQ(cfg->default_backend_line, 5u);
	ASSERT_EQ(cfg->nallow_uids, 2u); // root and 0 are one uid
	EXPECT_EQ(cfg->allow_uids[0], 0u);
	EXPECT_EQ(cfg->allow_uids[1], 4242u);
	EXPECT_EQ(cfg->max_arena_bytes, 64ull << 20);
	EXPECT_EQ(cfg->max_total_arena_bytes, 96ull << 20);
	EXPECT_EQ(cfg->max_clients, 3u);
	EXPECT_EQ(cfg->spin_us, 0u);
	EXPECT_EQ(cfg->ring_entries, 1024u);
	EXPECT_EQ(cfg->log_level, HPC_LOG_DEBUG);

	ASSERT_EQ(cfg->nbackends, 4u);
	const hpcd_backend_conf *b = &cfg->backends[0];
	EXPECT_STREQ(b->name, "omp1");
	EXPECT_EQ(b->line, 15u);
	EXPECT_STREQ(b->plugin, "openmp");
	EXPECT_EQ(b->plugin_line, 16u);
	EXPECT_EQ(std::string(b->plugin_path), parent + "/plugins/libhpc_openmp.so");
	ASSERT_EQ(b->nsettings, 1u);
	EXPECT_STREQ(b->settings[0].key, "threads");
	EXPECT_STREQ(b->settings[0].value, "1");
	EXPECT_EQ(b->settings[0].line, 17u);

	// Same plugin, other settings: a second instance.
	b = &cfg->backends[1];
	EXPECT_STREQ(b->name, "omp2");
	EXPECT_EQ(b->line, 19u);
	EXPECT_EQ(std::string(b->plugin_path), parent + "/plugins/libhpc_openmp.so");
	ASSERT_EQ(b->nsettings, 2u);
	EXPECT_STREQ(b->settings[0].value, "2");
	EXPECT_STREQ(b->settings[1].key, "schedule");
	// ';' without a space before it does not start a comment (inih's rule).
	EXPECT_STREQ(b->settings[1].value, "dynamic;not a comment");
	EXPECT_EQ(b->settings[1].line, 22u);

	EXPECT_EQ(std::string(cfg->backends[2].plugin_path), dir + "/custom/libmine.so");
	EXPECT_EQ(std::string(cfg->backends[3].plugin_path), "/opt/hpc/libhpc_x.so");

	EXPECT_EQ(hpcd_config_backend(cfg, "omp2"), &cfg->backends[1]);
	EXPECT_EQ(hpcd_config_backend(cfg, "nope"), nullptr);
}

TEST_F(ConfigTest, Defaults)
{
	ASSERT_EQ(load("[backend a]\nplugin = serial\n[backend b]\nplugin = serial\n"), 0) << msg;
	EXPECT_EQ(std::string(cfg->socket), HPC_DEFAULT_SOCKET);
	EXPECT_EQ(cfg->socket_line, 0u);
	EXPECT_EQ(std::string(cfg->plugin_dir), dir);
	EXPECT_EQ(std::string(cfg->backends[0].plugin_path), dir + "/libhpc_serial.so");
	EXPECT_EQ(std::string(cfg->default_backend), "a"); // the first section
	EXPECT_EQ(cfg->default_backend_line, 0u);
	EXPECT_EQ(cfg->nallow_uids, 0u);
	// Memory limits default to shares of the machine's memory (SPEC, Limits).
	const uint64_t mem = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	EXPECT_EQ(cfg->max_arena_bytes, ((mem / 4) >> 20) << 20);
	EXPECT_EQ(cfg->max_total_arena_bytes, ((mem / 2) >> 20) << 20);
	EXPECT_EQ(cfg->max_clients, 256u);
	EXPECT_EQ(cfg->spin_us, 50u);
	EXPECT_EQ(cfg->ring_entries, 256u);
	EXPECT_EQ(cfg->log_level, HPC_LOG_INFO);
}

TEST_F(ConfigTest, PathsRelativeToTheConfigFolderNotTheCwd)
{
	ASSERT_EQ(mkdir((dir + "/sub").c_str(), 0755), 0);
	ASSERT_EQ(load("[daemon]\nsocket = s.sock\n[backend a]\nplugin = serial\n", "sub/c.ini"), 0)
	    << msg;
	EXPECT_EQ(std::string(cfg->dir), dir + "/sub");
	EXPECT_EQ(std::string(cfg->path), dir + "/sub/c.ini");
	EXPECT_EQ(std::string(cfg->socket), dir + "/sub/s.sock");
	EXPECT_EQ(std::string(cfg->backends[0].plugin_path), dir + "/sub/libhpc_serial.so");
	// And the message names the file as given.
	EXPECT_EQ(load("[daemon]\nsock = 1\n", "sub/c.ini"), -EINVAL);
	EXPECT_EQ(msg, "sub/c.ini:2: unknown key 'sock' in [daemon]");
}

TEST_F(ConfigTest, PathFolding)
{
	const std::string parent = dir.substr(0, dir.rfind('/'));
	std::string ups; // more ".." than the folder is deep: stops at "/"
	for (int i = 0; i < 40; i++)
		ups += "../";
	ASSERT_EQ(load("[daemon]\nplugin_dir = ./../x/../y/.\nsocket = ././s\n"
		       "[backend a]\nplugin = " +
		       ups +
		       "p/libq.so\n"
		       "[backend b]\nplugin = .//sub//libr.so\n"),
		  0)
	    << msg;
	// Only the leading "." and ".." fold: after "x" a ".." may follow a symlink.
	EXPECT_EQ(std::string(cfg->plugin_dir), parent + "/x/../y/.");
	EXPECT_EQ(std::string(cfg->socket), dir + "/s");
	EXPECT_EQ(std::string(cfg->backends[0].plugin_path), "/p/libq.so");
	EXPECT_EQ(std::string(cfg->backends[1].plugin_path), dir + "/sub//libr.so");
	ASSERT_EQ(load("[daemon]\nplugin_dir = .\n[backend a]\nplugin = p\n"), 0) << msg;
	EXPECT_EQ(std::string(cfg->plugin_dir), dir);
}

TEST_F(ConfigTest, CrlfAndBomAndHashComments)
{
	ASSERT_EQ(load("\xEF\xBB\xBF[backend a]\r\n# comment\r\n; comment\r\nplugin = serial\r\n"
		       "k = v\r\n"),
		  0)
	    << msg;
	EXPECT_STREQ(cfg->backends[0].plugin, "serial");
	EXPECT_STREQ(cfg->backends[0].settings[0].value, "v");
	EXPECT_EQ(cfg->backends[0].settings[0].line, 5u);
}

TEST_F(ConfigTest, UnknownKeyInDaemon)
{
	refused("[daemon]\nsocket = /tmp/s\n\n; c\n\n\nthread = 2\n[backend a]\nplugin = p\n",
		"x.ini:7: unknown key 'thread' in [daemon]");
}

TEST_F(ConfigTest, UnknownSection)
{
	refused("[backend a]\nplugin = p\n[foo]\nx = 1\n",
		"x.ini:3: unknown section [foo]; expected [daemon] or [backend NAME]");
	refused("[backend]\nplugin = p\n",
		"x.ini:1: section [backend] needs a name: [backend NAME]");
	refused("[backend a]\nplugin = p\n[backend a b]\n",
		"x.ini:3: backend name 'a b' is not valid: use 1 to 23 of A-Z a-z 0-9 _ . -");
	refused("[backend abcdefghijklmnopqrstuvwx]\nplugin = p\n",
		"x.ini:1: backend name 'abcdefghijklmnopqrstuvwx' is not valid: use 1 to 23 of "
		"A-Z a-z 0-9 _ . -");
	refused("[backend a\nplugin = p\n", "x.ini:1: section header without a closing ']'");
	// 23 characters is fine.
	ASSERT_EQ(load("[backend abcdefghijklmnopqrstuvw]\nplugin = p\n"), 0) << msg;
}

TEST_F(ConfigTest, EmptySectionsAreSeen)
{
	// An empty section still counts for duplicates and for the 'plugin' check.
	refused("[backend omp]\n\n\n[backend omp]\nplugin = p\n",
		"x.ini:4: duplicate section [backend omp] (first at line 1)");
	refused("[daemon]\n[backend a]\nplugin = p\n[daemon]\n",
		"x.ini:4: duplicate section [daemon] (first at line 1)");
	refused("[backend a]\nplugin = p\n\n[backend gpu]\n; nothing\n",
		"x.ini:4: backend 'gpu' has no 'plugin' key");
	ASSERT_EQ(load("[daemon]\n[backend a]\nplugin = p\n"), 0) << msg;
}

TEST_F(ConfigTest, DuplicateSection)
{
	refused("[daemon]\n\n[backend a]\nplugin = p\n[backend omp]\nplugin = p\n\n\n"
		"[backend omp]\nplugin = q\n",
		"x.ini:9: duplicate section [backend omp] (first at line 5)");
}

TEST_F(ConfigTest, DuplicateKey)
{
	refused("[backend a]\nplugin = p\nthreads = 1\n\nthreads = 2\n",
		"x.ini:5: duplicate key 'threads' in [backend a] (first at line 3)");
	refused("[backend a]\nplugin = p\nplugin = q\n",
		"x.ini:3: duplicate key 'plugin' in [backend a] (first at line 2)");
	refused("[daemon]\nspin_us = 1\nspin_us = 2\n[backend a]\nplugin = p\n",
		"x.ini:3: duplicate key 'spin_us' in [daemon] (first at line 2)");
}

TEST_F(ConfigTest, MissingPlugin)
{
	refused("[backend a]\nplugin = p\n\n\n\n\n\n\n\n\n\n[backend gpu]\ndevice = 0\n",
		"x.ini:12: backend 'gpu' has no 'plugin' key");
	refused("[backend a]\nplugin =\n", "x.ini:2: plugin: empty value in [backend a]");
	refused("[backend a]\nplugin = open mp\n",
		"x.ini:2: plugin name 'open mp' is not valid: use A-Z a-z 0-9 _ . - (or give a "
		"path with a '/')");
}

TEST_F(ConfigTest, DefaultBackendMustExist)
{
	refused("[daemon]\ndefault_backend = zz\n[backend a]\nplugin = p\n",
		"x.ini:2: default_backend 'zz' names no [backend] section");
}

TEST_F(ConfigTest, SyntaxErrors)
{
	refused("[backend a]\nplugin = p\njust words\n", "x.ini:3: syntax error: expected 'key = "
							 "value', '[section]' or a comment");
	// The first error in the file is the one reported, whoever finds it.
	refused("[daemon]\nno equals sign\nthread = 1\n[backend a]\nplugin = p\n",
		"x.ini:2: syntax error: expected 'key = value', '[section]' or a comment");
	refused("[daemon]\nthread = 1\nno equals sign\n",
		"x.ini:2: unknown key 'thread' in [daemon]");
	// The last line, without a newline at the end.
	refused("[backend a]\nplugin = p\nbad", "x.ini:3: syntax error: expected 'key = value', "
						"'[section]' or a comment");
	refused(
	    "socket = /tmp/x\n[backend a]\nplugin = p\n",
	    "x.ini:1: key 'socket' outside any section; put it under [daemon] or [backend NAME]");
	refused("[backend a]\nplugin = p\n= 3\n", "x.ini:3: missing key before '='");
	refused("[backend a] trailing\nplugin = p\n",
		"x.ini:1: unexpected text after the section header: 'trailing'");
}

TEST_F(ConfigTest, BadValues)
{
	const std::string tail = "\n[backend a]\nplugin = p\n";
	refused("[daemon]\nspin_us = 100001" + tail,
		"x.ini:2: spin_us must be an integer from 0 to 100000, not '100001'");
	refused("[daemon]\nspin_us = -1" + tail,
		"x.ini:2: spin_us must be an integer from 0 to 100000, not '-1'");
	refused("[daemon]\nring_entries = 3" + tail,
		"x.ini:2: ring_entries must be a power of two from 2 to 65536, not '3'");
	refused("[daemon]\nring_entries = 131072" + tail,
		"x.ini:2: ring_entries must be a power of two from 2 to 65536, not '131072'");
	refused("[daemon]\nmax_arena_mb = 0" + tail,
		"x.ini:2: max_arena_mb must be an integer from 1 to 16777216, not '0'");
	refused(
	    "[daemon]\nmax_total_arena_mb = 16777217" + tail,
	    "x.ini:2: max_total_arena_mb must be an integer from 1 to 16777216, not '16777217'");
	refused("[daemon]\nmax_clients = 0" + tail,
		"x.ini:2: max_clients must be an integer from 1 to 65536, not '0'");
	refused("[daemon]\nlog_level = loud" + tail,
		"x.ini:2: log_level must be one of error, warn, info, debug, not 'loud'");
	refused("[daemon]\nallow_uids = root, no_such_user_hpcd" + tail,
		"x.ini:2: allow_uids: unknown user 'no_such_user_hpcd'");
	refused("[daemon]\nallow_uids = 1,,2" + tail, "x.ini:2: empty entry in allow_uids");
	refused("[daemon]\nallow_uids = 4294967295" + tail,
		"x.ini:2: allow_uids: '4294967295' is not a valid uid");
}

TEST_F(ConfigTest, AllowUidsByNameAndNumber)
{
	ASSERT_EQ(load("[daemon]\nallow_uids = 1001,root , 65534\n[backend a]\nplugin = p\n"), 0)
	    << msg;
	ASSERT_EQ(cfg->nallow_uids, 3u);
	EXPECT_EQ(cfg->allow_uids[0], 1001u);
	EXPECT_EQ(cfg->allow_uids[1], 0u);
	EXPECT_EQ(cfg->allow_uids[2], 65534u);
	ASSERT_EQ(load("[daemon]\nallow_uids =\n[backend a]\nplugin = p\n"), 0) << msg;
	EXPECT_EQ(cfg->nallow_uids, 0u);
}

TEST_F(ConfigTest, LongLines)
{
	// 197 characters is the longest line inih holds whole; 198 must not be cut silently.
	std::string ok = "tag = " + std::string(197 - 6, 'v');
	ASSERT_EQ(ok.size(), 197u);
	ASSERT_EQ(load("[backend a]\nplugin = p\n" + ok + "\n"), 0) << msg;
	EXPECT_EQ(strlen(cfg->backends[0].settings[0].value), 191u);

	refused("[backend a]\nplugin = p\n" + ok + "v\n",
		"x.ini:3: line too long (198 characters; at most 197)");
	refused("[backend a]\nplugin = p\n; " + std::string(400, 'c') + "\n",
		"x.ini:3: line too long (402 characters; at most 197)");
	// Trailing \r\n does not count.
	ASSERT_EQ(load("[backend a]\r\nplugin = p\r\n" + ok + "\r\n"), 0) << msg;
}

TEST_F(ConfigTest, EmptyAndBackendlessFiles)
{
	refused("", "x.ini:1: no [backend NAME] section; at least one backend is required");
	refused("[daemon]\nsocket = /tmp/s\n; end\n",
		"x.ini:3: no [backend NAME] section; at least one backend is required");
}

TEST_F(ConfigTest, MissingFile)
{
	char err[256];
	EXPECT_EQ(hpcd_config_load("nope.ini", &cfg, err, sizeof(err)), -ENOENT);
	EXPECT_STREQ(err, "nope.ini: cannot open: No such file or directory");
	EXPECT_EQ(hpcd_config_load("nodir/nope.ini", &cfg, err, sizeof(err)), -ENOENT);
	EXPECT_STREQ(err, "nodir/nope.ini: cannot open: No such file or directory");
	EXPECT_EQ(cfg, nullptr);
	// A folder is not a config file.
	EXPECT_EQ(hpcd_config_load(".", &cfg, err, sizeof(err)), -EISDIR);
	EXPECT_STREQ(err, ".: cannot read: Is a directory");
	// err may be NULL.
	EXPECT_EQ(hpcd_config_load("nope.ini", &cfg, nullptr, 0), -ENOENT);
}

TEST_F(ConfigTest, BackendCopyAndCompare)
{
	ASSERT_EQ(load("[backend a]\nplugin = p\nx = 1\ny = 2\n"
		       "[backend b]\nplugin = p\ny = 2\nx = 1\n"
		       "[backend c]\nplugin = p\nx = 1\ny = 3\n"),
		  0)
	    << msg;
	hpcd_backend_conf copy;
	ASSERT_EQ(hpcd_config_backend_copy(&copy, &cfg->backends[0]), 0);
	EXPECT_TRUE(hpcd_config_backend_same(&copy, &cfg->backends[0]));
	EXPECT_NE(copy.settings[0].key, cfg->backends[0].settings[0].key); // deep
	// Same settings in another order, but another name: not the same instance.
	EXPECT_FALSE(hpcd_config_backend_same(&cfg->backends[0], &cfg->backends[1]));
	snprintf(copy.name, sizeof(copy.name), "b");
	EXPECT_TRUE(hpcd_config_backend_same(&copy, &cfg->backends[1])); // order does not matter
	snprintf(copy.name, sizeof(copy.name), "c");
	EXPECT_FALSE(hpcd_config_backend_same(&copy, &cfg->backends[2]));
	hpcd_config_backend_release(&copy);
	hpcd_config_backend_release(&copy); // released twice: harmless
}

TEST(ConfigLogLevel, Names)
{
	EXPECT_EQ(hpcd_config_parse_log_level("error"), HPC_LOG_ERROR);
	EXPECT_EQ(hpcd_config_parse_log_level("debug"), HPC_LOG_DEBUG);
	EXPECT_EQ(hpcd_config_parse_log_level("DEBUG"), -EINVAL);
}

} // namespace

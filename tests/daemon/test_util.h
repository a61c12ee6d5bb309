// tests/daemon/test_util.h - helpers shared by the daemon unit tests: a fresh
// folder under $TEST_TMPDIR per test, writing files, finding the test plugins.
#ifndef HPCD_TESTS_DAEMON_TEST_UTIL_H
#define HPCD_TESTS_DAEMON_TEST_UTIL_H

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace hpcd_test
{

// A new empty folder for this test; realpath'd, as the config code reports folders.
inline std::string fresh_dir()
{
	const char *base = getenv("TEST_TMPDIR");
	std::string tmpl = std::string(base ? base : "/tmp") + "/t.XXXXXX";
	char *d = mkdtemp(&tmpl[0]);
	EXPECT_NE(d, nullptr);
	char *real = realpath(tmpl.c_str(), nullptr);
	std::string out = real ? real : tmpl;
	free(real);
	return out;
}

inline void write_file(const std::string &path, const std::string &text)
{
	std::ofstream f(path, std::ios::binary | std::ios::trunc);
	ASSERT_TRUE(f.good()) << path;
	f << text;
}

// The folder holding the libhpc_*.so test plugins, absolute.
inline std::string plugin_dir()
{
	const char *srcdir = getenv("TEST_SRCDIR");
	// The runfiles path as is (its files are symlinks to the build outputs), made absolute.
	std::string out = std::string(srcdir ? srcdir : ".") + "/hpcd/tests/plugins";
	if (out[0] != '/') {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)))
			out = std::string(cwd) + "/" + out;
	}
	return out;
}

inline std::string plugin(const std::string &name)
{
	return plugin_dir() + "/libhpc_" + name + ".so";
}

// Copy a file to dst through a temporary name and rename(2): a new inode at
// dst, as a linker or `install` leaves it.
inline void replace_file(const std::string &src, const std::string &dst)
{
	std::ifstream in(src, std::ios::binary);
	ASSERT_TRUE(in.good()) << src;
	std::stringstream ss;
	ss << in.rdbuf();
	std::string tmp = dst + ".tmp";
	write_file(tmp, ss.str());
	ASSERT_EQ(chmod(tmp.c_str(), 0755), 0);
	ASSERT_EQ(rename(tmp.c_str(), dst.c_str()), 0);
}

// Whether the library at path is loaded in this process (without loading it).
inline bool is_loaded(const std::string &path)
{
	void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		return false;
	dlclose(h);
	return true;
}

// Open instances of the echo plugin loaded from path, or -1 if it is not loaded.
inline int echo_live(const std::string &path)
{
	void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		return -1;
	auto fn = reinterpret_cast<int (*)(void)>(dlsym(h, "echo_live_instances"));
	int v = fn ? fn() : -2;
	dlclose(h);
	return v;
}

/* What hpcd_backend_format() prints after a plugin's path to tell builds apart. */
inline std::string build_stamp(const std::string &path)
{
	struct stat st;
	if (stat(path.c_str(), &st) != 0)
		return " (missing)";
	struct tm tm;
	localtime_r(&st.st_mtim.tv_sec, &tm);
	char buf[96];
	snprintf(buf, sizeof(buf), " built=%04d-%02d-%02dT%02d:%02d:%02d.%03ld ino=%llu",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 st.st_mtim.tv_nsec / 1000000, (unsigned long long)st.st_ino);
	return buf;
}

inline bool contains(const std::string &hay, const std::string &needle)
{
	return hay.find(needle) != std::string::npos;
}

// A test that runs in a fresh folder of its own, its working directory, so
// that files are named relative to it as a user types them.
class InFreshDir : public ::testing::Test
{
      protected:
	void SetUp() override
	{
		dir = fresh_dir();
		ASSERT_EQ(chdir(dir.c_str()), 0);
	}

	std::string dir;
};

} // namespace hpcd_test

#endif

/*
 * tests/cli/test_util.h - helpers shared by the cli tests: a fresh folder per
 * test, whole-file I/O, and running a program with its output captured.
 */
#ifndef HPC_TESTS_CLI_TEST_UTIL_H
#define HPC_TESTS_CLI_TEST_UTIL_H

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hpctest
{

/* A new empty folder under $TEST_TMPDIR (or /tmp) for the current test. */
inline std::string fresh_dir()
{
	const char *base = getenv("TEST_TMPDIR");
	std::string tmpl = std::string(base && *base ? base : "/tmp") + "/cli.XXXXXX";
	std::vector<char> buf(tmpl.begin(), tmpl.end());
	buf.push_back('\0');
	if (!mkdtemp(buf.data()))
		ADD_FAILURE() << "mkdtemp failed";
	return std::string(buf.data());
}

inline void write_file(const std::string &path, const std::string &bytes)
{
	std::ofstream f(path, std::ios::binary | std::ios::trunc);
	f.write(bytes.data(), (std::streamsize)bytes.size());
	ASSERT_TRUE(f.good()) << path;
}

inline std::string read_file(const std::string &path)
{
	std::ifstream f(path, std::ios::binary);
	std::stringstream ss;
	ss << f.rdbuf();
	return ss.str();
}

inline bool exists(const std::string &path)
{
	struct stat st;
	return stat(path.c_str(), &st) == 0;
}

/* Names in a folder, without . and .. */
inline std::set<std::string> list_dir(const std::string &dir)
{
	std::set<std::string> names;
	DIR *d = opendir(dir.c_str());
	if (!d)
		return names;
	while (struct dirent *e = readdir(d)) {
		std::string n = e->d_name;
		if (n != "." && n != "..")
			names.insert(n);
	}
	closedir(d);
	return names;
}

inline std::string shell_quote(const std::string &s)
{
	std::string q = "'";
	for (char c : s) {
		if (c == '\'')
			q += "'\\''";
		else
			q += c;
	}
	return q + "'";
}

/* Path of a built program in the runfiles, e.g. "cli/hpcgen". */
inline std::string runfile(const std::string &rel)
{
	const char *srcdir = getenv("TEST_SRCDIR");
	return std::string(srcdir ? srcdir : ".") + "/hpcd/" + rel;
}

struct result {
	int code; /* exit status, or 128 + signal */
	std::string out, err;
};

/*
 * Run prog with args; env holds "NAME=VALUE" settings for the child (and
 * "-NAME" to unset one).
 */
inline result run(const std::string &prog, const std::vector<std::string> &args,
		  const std::vector<std::string> &env = {})
{
	static int seq;
	std::string dir = fresh_dir();
	std::string out = dir + "/stdout." + std::to_string(seq),
		    err = dir + "/stderr." + std::to_string(seq);
	seq++;
	std::string cmd;
	for (const auto &e : env) {
		if (!e.empty() && e[0] == '-')
			cmd += "unset " + e.substr(1) + "; ";
		else
			cmd += "export " + shell_quote(e) + "; ";
	}
	cmd += shell_quote(prog);
	for (const auto &a : args)
		cmd += " " + shell_quote(a);
	cmd += " >" + shell_quote(out) + " 2>" + shell_quote(err) + " </dev/null";
	int st = system(("(" + cmd + ")").c_str());
	result r;
	r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.out = read_file(out);
	r.err = read_file(err);
	return r;
}

} // namespace hpctest

#endif /* HPC_TESTS_CLI_TEST_UTIL_H */

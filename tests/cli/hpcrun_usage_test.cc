/*
 * tests/cli/hpcrun_usage_test.cc - hpcrun's command line: usage errors exit 2
 * before any file or daemon is touched, and a missing daemon gives exit 1 and
 * one clear sentence. HPCRUN_BIN names the hpcrun binary in the runfiles.
 * hpcrun_test.cc covers everything that needs a running daemon.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>
#include <vector>

#include "tests/cli/test_util.h"

#ifndef HPCRUN_BIN
#error "HPCRUN_BIN must name the hpcrun binary in the runfiles"
#endif

using hpctest::fresh_dir;
using hpctest::result;
using hpctest::write_file;

namespace
{

/* HPCD_SOCKET unset, so that a daemon of the environment cannot answer. */
result hpcrun(const std::vector<std::string> &args, std::vector<std::string> env = {})
{
	env.insert(env.begin(), "-HPCD_SOCKET");
	return hpctest::run(hpctest::runfile(HPCRUN_BIN), args, env);
}

void expect_usage_error(const std::vector<std::string> &args, const std::string &problem)
{
	std::string joined;
	for (const auto &a : args)
		joined += " " + a;
	SCOPED_TRACE("hpcrun" + joined);
	result r = hpcrun(args);
	EXPECT_EQ(r.code, 2) << r.err;
	EXPECT_EQ(r.err.rfind("hpcrun: " + problem + "\n", 0), 0u) << r.err;
	EXPECT_NE(r.err.find("usage: hpcrun"), std::string::npos) << r.err;
	EXPECT_EQ(r.out, "");
}

TEST(HpcrunUsage, Help)
{
	for (const char *h : {"--help", "-h"}) {
		result r = hpcrun({h});
		EXPECT_EQ(r.code, 0);
		EXPECT_EQ(r.out.rfind("usage: hpcrun", 0), 0u) << r.out;
		for (const char *word : {"matvec", "matmul", "dot", "sum", "axpy", "status",
					 "backends", "reload", "--dtype", "HPCD_SOCKET"})
			EXPECT_NE(r.out.find(word), std::string::npos) << word;
		EXPECT_EQ(r.err, "");
	}
	/* --help wins wherever it is. */
	EXPECT_EQ(hpcrun({"sum", "--help"}).code, 0);
}

TEST(HpcrunUsage, Errors)
{
	expect_usage_error({}, "no command given");
	expect_usage_error({"-s", "/tmp/x.sock"}, "no command given");
	expect_usage_error({"frobnicate", "a"}, "unknown command 'frobnicate'");
	expect_usage_error({"matvec", "A.bin"}, "matvec needs 2 operands");
	expect_usage_error({"matmul"}, "matmul needs 2 operands");
	expect_usage_error({"dot", "x.bin"}, "dot needs 2 operands");
	expect_usage_error({"sum"}, "sum needs 1 operand");
	expect_usage_error({"axpy", "2", "x.bin"}, "axpy needs 3 operands");
	expect_usage_error({"sum", "x.bin", "y.bin"}, "too many arguments for sum: 'y.bin'");
	expect_usage_error({"status", "now"}, "too many arguments for status: 'now'");
	expect_usage_error({"--dtype", "f16", "sum", "x.bin"},
			   "--dtype must be f32 or f64, not 'f16'");
	expect_usage_error({"sum", "x.bin", "--dtype=int"},
			   "--dtype must be f32 or f64, not 'int'");
	expect_usage_error({"sum", "x.bin", "--dtype"}, "option --dtype needs a value");
	expect_usage_error({"matmul", "A", "B", "-m", "0"},
			   "-m needs a positive whole number, not '0'");
	expect_usage_error({"matmul", "A", "B", "-m", "abc"},
			   "-m needs a positive whole number, not 'abc'");
	expect_usage_error({"matmul", "A", "B", "-k", "-3"},
			   "-k needs a positive whole number, not '-3'");
	expect_usage_error({"matmul", "A", "B", "-n", "3x"},
			   "-n needs a positive whole number, not '3x'");
	expect_usage_error({"matmul", "A", "B", "-n", " 3"},
			   "-n needs a positive whole number, not ' 3'");
	expect_usage_error({"matmul", "A", "B", "-n", "99999999999999999999999"},
			   "-n needs a positive whole number, not '99999999999999999999999'");
	expect_usage_error({"matmul", "A", "B", "-n", ""},
			   "-n needs a positive whole number, not ''");
	expect_usage_error({"sum", "x.bin", "-o", "out.npy"}, "sum does not take -o");
	expect_usage_error({"-o", "out.npy", "dot", "x.bin", "y.bin"}, "dot does not take -o");
	expect_usage_error({"status", "-o", "s.txt"}, "status does not take -o");
	expect_usage_error({"matvec", "A", "x", "-k", "3"}, "matvec does not take -k");
	expect_usage_error({"dot", "x", "y", "-n", "3"}, "dot does not take -n");
	expect_usage_error({"sum", "x.bin", "-o"}, "option -o needs a value");
	expect_usage_error({"sum", "x.bin", "--frob"}, "unknown option '--frob'");
	expect_usage_error({"-x", "sum", "x.bin"}, "unknown option '-x'");
	expect_usage_error({"sum", "x.bin", "-b", "a-backend-name-longer-than-23"},
			   "backend name 'a-backend-name-longer-than-23' is longer than 23 "
			   "characters");
	expect_usage_error({"sum", "x.bin", "-b", ""}, "option -b needs a backend name");
	expect_usage_error({"axpy", "two", "x.bin", "y.bin"}, "ALPHA must be a number, not 'two'");
	expect_usage_error({"axpy", "2x", "x.bin", "y.bin"}, "ALPHA must be a number, not '2x'");
	expect_usage_error({"axpy", "", "x.bin", "y.bin"}, "ALPHA must be a number, not ''");
	expect_usage_error({"axpy", "1e999", "x.bin", "y.bin"},
			   "ALPHA must be a number, not '1e999'");
	expect_usage_error({"axpy", " 2", "x.bin", "y.bin"}, "ALPHA must be a number, not ' 2'");
}

TEST(HpcrunUsage, NegativeAlphaIsNotAnOption)
{
	std::string dir = fresh_dir();
	/* Gets past the command line and fails on the missing file: exit 1, not 2. */
	for (const char *alpha : {"-2.5", "-.5", "-1e-3", "-inf"}) {
		result r = hpcrun({"axpy", alpha, dir + "/x.bin", dir + "/y.bin"});
		EXPECT_EQ(r.code, 1) << alpha << ": " << r.err;
		EXPECT_EQ(r.err,
			  "hpcrun: " + dir + "/x.bin: cannot open: No such file or directory\n");
	}
	/* After --, anything is an operand. */
	result r = hpcrun({"sum", "--", "-o"});
	EXPECT_EQ(r.code, 1);
	EXPECT_EQ(r.err, "hpcrun: -o: cannot open: No such file or directory\n");
}

/*
 * A socket file nobody listens on: connect() gets ECONNREFUSED. Under /tmp,
 * because $TEST_TMPDIR can be longer than a socket path may be.
 */
std::string stale_socket()
{
	char dir[] = "/tmp/hpcrun-test.XXXXXX";
	EXPECT_NE(mkdtemp(dir), nullptr);
	std::string path = std::string(dir) + "/stale.sock";
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path.c_str());
	EXPECT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	return path;
}

TEST(HpcrunUsage, NoDaemon)
{
	std::string dir = fresh_dir();
	std::string x = dir + "/x.bin";
	write_file(x, std::string(16, '\0'));
	/* Under /tmp: $TEST_TMPDIR can be longer than a socket path may be. */
	char sockdir[] = "/tmp/hpcrun-test.XXXXXX";
	ASSERT_NE(mkdtemp(sockdir), nullptr);
	std::string none = std::string(sockdir) + "/none.sock";

	result r = hpcrun({"sum", x, "-s", none});
	EXPECT_EQ(r.code, 1);
	EXPECT_EQ(r.err.rfind("hpcrun: cannot connect to hpcd at " + none + ": ", 0), 0u) << r.err;
	EXPECT_NE(r.err.find("(is the daemon running?)\n"), std::string::npos) << r.err;
	EXPECT_EQ(r.out, "");

	{
		std::string stale = stale_socket();
		r = hpcrun({"-s", stale, "sum", x});
		EXPECT_EQ(r.code, 1);
		EXPECT_EQ(r.err, "hpcrun: cannot connect to hpcd at " + stale +
				     ": Connection refused (is the daemon running?)\n");
		for (const char *ctl : {"status", "backends", "reload"}) {
			r = hpcrun({ctl, "-s", stale});
			EXPECT_EQ(r.code, 1) << ctl;
			EXPECT_EQ(r.err, "hpcrun: cannot connect to hpcd at " + stale +
					     ": Connection refused (is the daemon running?)\n")
			    << ctl;
			EXPECT_EQ(r.out, "");
		}
		unlink(stale.c_str());
		rmdir(stale.substr(0, stale.rfind('/')).c_str());
	}

	/* HPCD_SOCKET stands in for -s. */
	r = hpcrun({"status"}, {"HPCD_SOCKET=" + none});
	EXPECT_EQ(r.code, 1);
	EXPECT_EQ(r.err.rfind("hpcrun: cannot connect to hpcd at " + none + ": ", 0), 0u) << r.err;
	/* and -s wins over it. */
	r = hpcrun({"status", "-s", none + "2"}, {"HPCD_SOCKET=" + none});
	EXPECT_EQ(r.code, 1);
	EXPECT_EQ(r.err.rfind("hpcrun: cannot connect to hpcd at " + none + "2: ", 0), 0u) << r.err;
	rmdir(sockdir);

	/* A path too long for a socket is a connection failure too, named as such. */
	std::string longpath = dir + "/" + std::string(120, 's') + ".sock";
	r = hpcrun({"status", "-s", longpath});
	EXPECT_EQ(r.code, 1);
	EXPECT_EQ(r.err.rfind("hpcrun: cannot connect to hpcd at " + longpath + ": ", 0), 0u)
	    << r.err;
}

} // namespace

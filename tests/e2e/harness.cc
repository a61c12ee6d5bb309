#include "tests/e2e/harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

extern "C" {
#include "hpc/client.h"
}

namespace hpce
{

std::string runfile(const std::string &rel)
{
	const char *srcdir = getenv("TEST_SRCDIR");
	std::string base = srcdir ? std::string(srcdir) + "/hpcd/" : std::string("./");
	return base + rel;
}

namespace
{
// A folder and what is in it (links not followed); gone already is fine.
void remove_tree(const std::string &dir)
{
	nftw(
	    dir.c_str(),
	    [](const char *path, const struct stat *, int, struct FTW *) {
		    remove(path);
		    return 0;
	    },
	    16, FTW_DEPTH | FTW_PHYS);
}

// Every folder temp_dir() made, removed when the test process exits (tests
// that keep a folder to the end, or fail half-way, left them in /tmp). Only
// by the process that made them: a forked child that exits must not take
// its parent's files with it.
struct TempDirs {
	pid_t owner = getpid();
	std::vector<std::string> dirs;
	~TempDirs()
	{
		if (getpid() == owner)
			for (const auto &d : dirs)
				remove_tree(d);
	}
};

// Constructed on first use, so that a temp_dir() from any static initialiser finds it.
TempDirs &temp_dirs()
{
	static TempDirs t;
	return t;
}
} // namespace

std::string temp_dir()
{
	char tmpl[] = "/tmp/hpcd-e2e-XXXXXX";
	if (!mkdtemp(tmpl))
		throw std::runtime_error("mkdtemp failed");
	temp_dirs().dirs.push_back(tmpl);
	return tmpl;
}

void write_file(const std::string &path, const std::string &text)
{
	std::ofstream f(path, std::ios::binary);
	f << text;
}

std::string read_file(const std::string &path)
{
	std::ifstream f(path, std::ios::binary);
	std::stringstream ss;
	ss << f.rdbuf();
	return ss.str();
}

Result run(const std::vector<std::string> &argv, const std::vector<std::string> &env)
{
	Result r;
	std::string dir = temp_dir();
	std::string outp = dir + "/out", errp = dir + "/err";
	pid_t pid = fork();
	if (pid == 0) {
		int o = open(outp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(o, 1);
		dup2(e, 2);
		for (const auto &kv : env)
			putenv(strdup(kv.c_str()));
		std::vector<char *> args;
		for (const auto &a : argv)
			args.push_back(const_cast<char *>(a.c_str()));
		args.push_back(nullptr);
		execv(args[0], args.data());
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.out = read_file(outp);
	r.err = read_file(errp);
	unlink(outp.c_str());
	unlink(errp.c_str());
	rmdir(dir.c_str());
	return r;
}

hpc_request request(uint32_t op, uint64_t m, uint64_t n, uint64_t k, const void *a, const void *b,
		    void *out, const char *backend)
{
	hpc_request r{};
	r.op = op;
	r.m = m;
	r.n = n;
	r.k = k;
	r.a = a;
	r.b = b;
	r.out = out;
	r.backend = backend;
	return r;
}

int sum_job(const std::string &socket, const char *backend, int n, uint32_t *detail)
{
	hpc_client *c;
	int rc = hpc_connect(socket.c_str(), (size_t)n * sizeof(double) + 4096, &c);
	if (rc < 0)
		return rc;
	double *x = static_cast<double *>(hpc_alloc(c, (size_t)n * sizeof(double)));
	for (int i = 0; i < n; i++)
		x[i] = i + 1;
	hpc_request r = request(HPC_OP_SUM, 0, (uint64_t)n, 0, x, nullptr, nullptr, backend);
	hpc_completion done{};
	rc = hpc_run(c, &r, &done);
	hpc_close(c);
	if (detail)
		*detail = done.detail;
	if (rc == 0 && done.result != (double)n * (n + 1) / 2)
		rc = -EDOM;
	return rc;
}

Result hpcrun_status(const std::string &socket, double *ms)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	Result r = run({runfile("cli/hpcrun"), "-s", socket, "status"});
	clock_gettime(CLOCK_MONOTONIC, &b);
	*ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	return r;
}

Daemon::Daemon(const std::string &ini_backends, const std::string &daemon_extra)
{
	dir_ = temp_dir();
	socket_ = dir_ + "/hpcd.sock";
	config_ = dir_ + "/hpcd.ini";
	log_ = dir_ + "/hpcd.log";
	std::string plugins = runfile("plugins");
	std::string testplugins = runfile("tests/plugins");
	std::string ini = "[daemon]\nsocket = " + socket_ + "\nplugin_dir = " + plugins + "\n" +
			  daemon_extra + "\n" + ini_backends;
	// Test plugins are named by path: ${TESTPLUGINS} in the text, a short
	// link to them (the runfiles path can pass the config's line limit).
	if (symlink(testplugins.c_str(), (dir_ + "/tp").c_str()) < 0)
		throw std::runtime_error("symlink failed");
	write_file(config_, expand(ini));
}

std::string Daemon::expand(std::string text) const
{
	size_t p;
	while ((p = text.find("${TESTPLUGINS}")) != std::string::npos)
		text.replace(p, 14, dir_ + "/tp");
	return text;
}

Daemon::~Daemon()
{
	if (pid_ > 0) {
		kill(pid_, SIGKILL);
		waitpid(pid_, nullptr, 0);
	}
	remove_tree(dir_);
}

bool Daemon::start()
{
	pid_ = fork();
	if (pid_ == 0) {
		int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 2);
		std::vector<std::string> argv = wrapper_;
		argv.insert(argv.end(), {runfile("daemon/hpcd"), "-c", config_});
		std::vector<char *> args;
		for (auto &a : argv)
			args.push_back(const_cast<char *>(a.c_str()));
		args.push_back(nullptr);
		execvp(args[0], args.data());
		_exit(127);
	}
	char buf[4096];
	for (int i = 0; i < 1000; i++) { // 10 s: sanitizer builds start slowly
		if (hpc_control(socket_.c_str(), HPC_CTL_STATUS, buf, sizeof(buf)) == 0)
			return true;
		int st;
		if (waitpid(pid_, &st, WNOHANG) == pid_) {
			pid_ = -1;
			return false;
		}
		usleep(10000);
	}
	return false;
}

bool Daemon::running()
{
	if (pid_ <= 0)
		return false;
	int st;
	if (waitpid(pid_, &st, WNOHANG) == pid_) {
		pid_ = -1;
		return false;
	}
	return true;
}

int Daemon::stop()
{
	if (pid_ <= 0)
		return -1;
	kill(pid_, SIGTERM);
	int st = 0;
	for (int i = 0; i < 3000; i++) { // 30 s
		if (waitpid(pid_, &st, WNOHANG) == pid_) {
			pid_ = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(10000);
	}
	kill(pid_, SIGKILL);
	waitpid(pid_, &st, 0);
	pid_ = -1;
	return 128 + SIGKILL;
}

std::string Daemon::log() const
{
	return read_file(log_);
}

int Daemon::open_fds() const
{
	std::string path = "/proc/" + std::to_string(pid_) + "/fd";
	DIR *d = opendir(path.c_str());
	if (!d)
		return -1;
	int n = 0;
	while (struct dirent *e = readdir(d))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int Daemon::region_mappings() const
{
	std::ifstream f("/proc/" + std::to_string(pid_) + "/maps");
	std::string line;
	int n = 0;
	while (std::getline(f, line))
		if (line.find("hpcd-client-") != std::string::npos)
			n++;
	return n;
}

} // namespace hpce

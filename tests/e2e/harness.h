// End-to-end test harness: runs the real hpcd binary with a generated
// config, the real plugins and real clients (libhpc in-process, hpcrun as a
// child process).
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <string>

extern "C" {
#include "hpc/client.h"
}
#include <vector>

namespace hpce
{

// Path of a file in this test's runfiles, e.g. runfile("daemon/hpcd").
std::string runfile(const std::string &rel);

// A fresh temporary folder (short path: Unix socket paths are limited), removed
// with its contents when the test process exits.
std::string temp_dir();

void write_file(const std::string &path, const std::string &text);
std::string read_file(const std::string &path);

struct Result {
	int status = -1; // exit status, or 128 + signal
	std::string out, err;
};

// Run argv to completion, with extra environment entries "K=V".
Result run(const std::vector<std::string> &argv, const std::vector<std::string> &env = {});

// A request of op over the operands a, b, out (NULL: unused) with shapes m,
// n, k as hpc/ops.h gives them, on backend (NULL: the default). The other
// fields are zero: set them after.
hpc_request request(uint32_t op, uint64_t m, uint64_t n, uint64_t k, const void *a, const void *b,
		    void *out, const char *backend = nullptr);

// Sum 1..n (n >= 1) on backend (NULL: the default) from a fresh client:
// the quickest proof that a daemon serves. Returns the job's status (or the
// connect's error); *detail (may be NULL) gets the completion's detail code.
// A wrong sum with status 0 returns -EDOM.
int sum_job(const std::string &socket, const char *backend, int n = 100,
	    uint32_t *detail = nullptr);

// `hpcrun -s socket status`, timed: its result and its wall time in ms.
Result hpcrun_status(const std::string &socket, double *ms);

// A daemon on a config of the test's making.
class Daemon
{
      public:
	// ini_backends: the [backend ...] sections (and anything after [daemon]).
	// daemon_extra: extra lines for the [daemon] section.
	explicit Daemon(const std::string &ini_backends, const std::string &daemon_extra = "");
	~Daemon();

	// Run the daemon under a wrapper command, e.g. {"prlimit", "--nofile=64", "--"}.
	void set_wrapper(const std::vector<std::string> &w)
	{
		wrapper_ = w;
	}
	// Start and wait until it answers. Returns false (with the log) if it
	// exits or stays silent.
	bool start();
	// SIGTERM, wait; returns the exit status (128 + signal if killed).
	int stop();
	bool running();

	// text with ${TESTPLUGINS} replaced by the folder of the test plugins.
	std::string expand(std::string text) const;

	const std::string &socket() const
	{
		return socket_;
	}
	const std::string &config() const
	{
		return config_;
	}
	const std::string &dir() const
	{
		return dir_;
	}
	std::string log() const;
	pid_t pid() const
	{
		return pid_;
	}

	// What the daemon process holds now: open fds and memfd mappings.
	int open_fds() const;
	int region_mappings() const;

      private:
	std::string dir_, socket_, config_, log_;
	std::vector<std::string> wrapper_;
	pid_t pid_ = -1;
};

} // namespace hpce

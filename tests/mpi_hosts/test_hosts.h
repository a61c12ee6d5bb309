// tests/mpi_hosts/test_hosts.h - simulated hosts for the multi-host tests of
// the mpi backend, as a GoogleTest environment: test_hosts.sh makes network
// namespaces hpcdh1..N (own loopback, own host name, a veth into a bridge on
// 10.213.57.0/24) before the first test and removes them after the last; a
// watcher process of its own session removes them if the test program is
// killed, and the next run removes any leftovers first. A lock file makes
// two runs on one machine take turns.
//
// Where namespaces cannot be made (not root, no `ip`), every test of the
// program is skipped with the reason (GTEST_SKIP), never passed.
#ifndef HPC_TESTS_MPI_HOSTS_TEST_HOSTS_H
#define HPC_TESTS_MPI_HOSTS_TEST_HOSTS_H

#include <string>
#include <vector>

#include <sys/types.h>

namespace mhtest
{

constexpr int kHosts = 2; // hpcdh1, hpcdh2
constexpr const char *kSubnet = "10.213.57.0/24";

// The environment, set up once per test program.
class TestHosts
{
      public:
	static TestHosts &Get();

	bool ok() const
	{
		return ok_;
	}
	// Not ok because something that should work failed (a failure, not a skip).
	bool broken() const
	{
		return broken_;
	}
	const std::string &why_not() const
	{
		return why_not_;
	}

	// "hpcdh1" ... ; this machine's own host name (rank 0's host).
	static std::string Name(int i)
	{
		return "hpcdh" + std::to_string(i);
	}
	const std::string &self() const
	{
		return self_;
	}
	// A short folder of this run (Unix socket paths and config lines are limited).
	const std::string &dir() const
	{
		return dir_;
	}
	// The rsh agent, at a short path.
	const std::string &agent() const
	{
		return agent_;
	}

	// A hostfile: this host first with one slot, then each test host with one.
	std::string Hostfile(int hosts = kHosts) const;
	// The mpirun_args and mca settings the tests use (fit a config line each).
	static std::string MpirunArgs();
	std::string Mca() const;

	// Processes running in host i's namespace now.
	std::vector<pid_t> Pids(int i) const;
	// Take host i off the network / put it back.
	bool Cut(int i) const;
	bool Mend(int i) const;

	void SetUp();
	void TearDown();

      private:
	int Script(const std::vector<std::string> &args, std::string *out = nullptr) const;
	bool ok_ = false, broken_ = false;
	std::string why_not_ = "the test hosts were not set up";
	std::string self_, dir_, agent_, script_;
	int lock_fd_ = -1;
};

// Skips the calling test when test hosts cannot be made here (with the
// reason), and fails it when they could not be made although they should.
#define REQUIRE_TEST_HOSTS()                                                                       \
	do {                                                                                       \
		const ::mhtest::TestHosts &th_ = ::mhtest::TestHosts::Get();                       \
		if (th_.broken())                                                                  \
			FAIL() << "the test hosts could not be made: " << th_.why_not();           \
		if (!th_.ok())                                                                     \
			GTEST_SKIP() << "SKIPPED: no test hosts here: " << th_.why_not();          \
	} while (0)

} // namespace mhtest

#endif // HPC_TESTS_MPI_HOSTS_TEST_HOSTS_H

// tests/mpi_hosts/test_hosts.cc - see test_hosts.h.
#include "tests/mpi_hosts/test_hosts.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/e2e/harness.h"

namespace mhtest
{

TestHosts &TestHosts::Get()
{
	static TestHosts hosts;
	return hosts;
}

int TestHosts::Script(const std::vector<std::string> &args, std::string *out) const
{
	std::vector<std::string> argv = {"/bin/bash", script_};
	argv.insert(argv.end(), args.begin(), args.end());
	hpce::Result r = hpce::run(argv);
	if (out)
		*out = r.out + r.err;
	return r.status;
}

void TestHosts::SetUp()
{
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	self_ = host;
	script_ = hpce::runfile("tests/mpi_hosts/test_hosts.sh");
	if (geteuid() != 0) {
		why_not_ = "not root (network namespaces and a bridge need root)";
		return;
	}
	if (access("/usr/sbin/ip", X_OK) != 0 && access("/sbin/ip", X_OK) != 0) {
		why_not_ = "no ip command (Debian: iproute2)";
		return;
	}
	// One run at a time on this machine (the names and the subnet are fixed).
	lock_fd_ = open("/run/hpcd-test-hosts.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd_ < 0) {
		why_not_ = std::string("cannot open /run/hpcd-test-hosts.lock: ") + strerror(errno);
		broken_ = true;
		return;
	}
	int waited = 0;
	while (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
		if (waited++ == 0)
			fprintf(stderr, "test hosts: waiting for another run to finish\n");
		if (waited > 2400) {
			why_not_ = "another run held /run/hpcd-test-hosts.lock for 4 minutes";
			broken_ = true;
			return;
		}
		usleep(100000);
	}

	// If this program is killed, a watcher of its own session removes the hosts; it
	// holds the lock until then.
	pid_t self = getpid();
	pid_t w = fork();
	if (w == 0) {
		setsid();
		dup2(lock_fd_, 9); /* without FD_CLOEXEC: the lock lives as long as the watcher */
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execl("/bin/bash", "bash", script_.c_str(), "watch", std::to_string(self).c_str(),
		      (char *)nullptr);
		_exit(127);
	}

	std::string out;
	int st = Script({"up", std::to_string(kHosts)}, &out);
	if (st == 77) {
		why_not_ = out.empty() ? "namespaces cannot be made here" : out;
		while (!why_not_.empty() && why_not_.back() == '\n')
			why_not_.pop_back();
		return;
	}
	if (st != 0) {
		why_not_ = "test_hosts.sh up failed (" + std::to_string(st) + "): " + out;
		broken_ = true;
		return;
	}
	dir_ = hpce::temp_dir();
	agent_ = dir_ + "/rsh";
	if (symlink(hpce::runfile("tests/mpi_hosts/rsh_agent.sh").c_str(), agent_.c_str()) != 0) {
		why_not_ = "cannot link the agent: " + std::string(strerror(errno));
		broken_ = true;
		return;
	}
	ok_ = true;
	fprintf(stderr, "test hosts up: %s (this host), %s, %s on %s\n", self_.c_str(),
		Name(1).c_str(), Name(2).c_str(), kSubnet);
}

void TestHosts::TearDown()
{
	if (lock_fd_ < 0)
		return;
	std::string out;
	if (Script({"down"}, &out) != 0)
		ADD_FAILURE() << "test_hosts.sh down: " << out;
	if (!dir_.empty()) {
		unlink(agent_.c_str());
		hpce::run({"/bin/rm", "-rf", dir_});
	}
	close(lock_fd_);
	lock_fd_ = -1;
}

std::string TestHosts::Hostfile(int hosts) const
{
	std::string path = dir_ + "/hosts" + std::to_string(hosts);
	std::string text = "# this host first: rank 0 bridges to hpcd\n" + self_ + " slots=1\n";
	for (int i = 1; i <= hosts; i++)
		text += Name(i) + " slots=1\n";
	hpce::write_file(path, text);
	return path;
}

std::string TestHosts::MpirunArgs()
{
	// A test host cut off is given up by its orted after ~5 s without mpirun. --bind-to
	// none: each "host" thinks it has all the cores and would pin its first rank to core 0,
	// the same core as this host's rank 0.
	return "--allow-run-as-root --bind-to none --mca oob_tcp_keepalive_time 1 --mca "
	       "oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3";
}

std::string TestHosts::Mca() const
{
	// mpi_yield_when_idle: the "hosts" share this machine's cores, and ranks spinning in
	// user space starve the softirqs that carry veth packets (an MPI round trip between
	// two namespaces takes ~10 ms on 2 cores without it, ~60 us with it).
	return "plm_rsh_agent=" + agent_ +
	       " mpi_yield_when_idle=1 btl=tcp,self btl_tcp_if_include=" + kSubnet +
	       " oob_tcp_if_include=" + kSubnet;
}

std::vector<pid_t> TestHosts::Pids(int i) const
{
	std::string out;
	std::vector<pid_t> pids;
	if (Script({"pids", Name(i)}, &out) != 0)
		return pids;
	std::istringstream in(out);
	long p;
	while (in >> p)
		pids.push_back((pid_t)p);
	return pids;
}

bool TestHosts::Cut(int i) const
{
	return Script({"cut", Name(i)}) == 0;
}

bool TestHosts::Mend(int i) const
{
	return Script({"mend", Name(i)}) == 0;
}

namespace
{

class Environment : public ::testing::Environment
{
      public:
	void SetUp() override
	{
		TestHosts::Get().SetUp();
	}
	void TearDown() override
	{
		TestHosts::Get().TearDown();
	}
};

::testing::Environment *const kEnvironment = ::testing::AddGlobalTestEnvironment(new Environment);

} // namespace

} // namespace mhtest

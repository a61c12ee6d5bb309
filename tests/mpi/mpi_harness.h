// tests/mpi/mpi_harness.h - what only the mpi tests need on top of
// //tests/common:plugin_harness (the real plugin file, a real client region,
// struct hpc_job as daemon/session.c builds it, the bound against serial):
// instances whose log every test can read, a private copy of the rank
// program to find the ranks by, and the flags mpirun needs here.
#ifndef HPC_TESTS_MPI_HARNESS_H
#define HPC_TESTS_MPI_HARNESS_H

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "tests/common/plugin_harness.h"

namespace mpitest
{

using namespace hpctest;

// Log lines of every instance, for assertions on what the plugin says (and
// echoed to stderr).
inline HostLog &Logged()
{
	static HostLog log(/*echo=*/true);
	return log;
}

// One opened instance of libhpc_PLUGIN.so; closed on destruction (or Close()).
class Instance : public hpctest::Instance
{
      public:
	Instance(const std::string &plugin, const Settings &settings)
	    : hpctest::Instance(Ops(plugin), settings, &Logged(), "/")
	{
	}
};

// A private link to the worker under a unique name in dir: its path is on the
// command line of every rank (and of mpirun), so the test can find them.
inline std::string UniqueWorker(const std::string &tag, const std::string &dir = TempDir("mpi"))
{
	std::string path = dir + "/hpc_mpi_worker-" + tag + "-" + std::to_string(getpid());
	std::string src = Runfile("plugins/hpc_mpi_worker");
	char real[PATH_MAX];
	if (!realpath(src.c_str(), real))
		ADD_FAILURE() << "no worker at " << src;
	else if (symlink(real, path.c_str()) != 0)
		ADD_FAILURE() << "symlink " << path << ": " << std::strerror(errno);
	return path;
}

// The flags mpirun needs here: root must say so, and 3 ranks on 2 cores oversubscribe.
inline std::string MpirunArgs()
{
	return geteuid() == 0 ? "--allow-run-as-root --oversubscribe" : "--oversubscribe";
}

} // namespace mpitest

#endif // HPC_TESTS_MPI_HARNESS_H

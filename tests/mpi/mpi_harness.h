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
#include <fstream>
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

// The MPI rank of a process (OMPI_COMM_WORLD_RANK in its environment), or -1.
inline int RankOf(pid_t pid)
{
	std::ifstream f("/proc/" + std::to_string(pid) + "/environ");
	std::string var;
	while (std::getline(f, var, '\0'))
		if (var.rfind("OMPI_COMM_WORLD_RANK=", 0) == 0)
			return std::atoi(var.c_str() + 21);
	return -1;
}

// The process running rank r of the MPI job whose ranks run worker (0 if none).
inline pid_t RankPid(const std::string &worker, int r)
{
	for (pid_t p : hpctest::ProcessesWith(worker))
		if (hpctest::Argv0(p) == worker && RankOf(p) == r)
			return p;
	return 0;
}

// The system call pid is blocked in (/proc/PID/syscall's first field), or -1.
inline long SyscallOf(pid_t pid)
{
	std::ifstream f("/proc/" + std::to_string(pid) + "/syscall");
	long nr = -1;
	f >> nr;
	return nr;
}

// A small f64 matvec through an instance on a region of its own (region_id),
// checked against a long double loop; the instance forgets the region after.
inline void SmallMatvec(const Instance &mpi, uint64_t region_id)
{
	hpctest::Region reg(1 << 16, "mpi-test", region_id);
	ASSERT_TRUE(reg.ok());
	const uint64_t m = 11, n = 7;
	uint64_t a = reg.Alloc(m * n * 8), x = reg.Alloc(n * 8), y = reg.Alloc(m * 8);
	hpctest::FillRandom(reg.arena() + a, HPC_F64, m * n, 1);
	hpctest::FillRandom(reg.arena() + x, HPC_F64, n, 2);
	hpc_job j = reg.Job(HPC_OP_MATVEC, HPC_F64, m, n, 0, a, x, y, 0, true, true);
	ASSERT_EQ(mpi.Run(&j), 0) << mpi.Describe();
	const double *A = reinterpret_cast<const double *>(reg.arena() + a);
	const double *X = reinterpret_cast<const double *>(reg.arena() + x);
	const double *Y = reinterpret_cast<const double *>(reg.arena() + y);
	for (uint64_t i = 0; i < m; i++) {
		long double s = 0;
		for (uint64_t k = 0; k < n; k++)
			s += (long double)A[i * n + k] * X[k];
		EXPECT_NEAR(Y[i], (double)s, 1e-13);
	}
	mpi.Forget(region_id);
}

} // namespace mpitest

#endif // HPC_TESTS_MPI_HARNESS_H

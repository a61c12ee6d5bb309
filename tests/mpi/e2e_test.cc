// The mpi backend served by the real daemon: jobs from a real client (libhpc)
// against the serial backend, repeated matvecs with a generation, `hpcd
// --check` reporting a missing launcher and a working one, and no MPI process
// left once the daemon has stopped.
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/common/plugin_harness.h"
#include "tests/e2e/harness.h"
#include "tests/mpi/mpi_harness.h"

extern "C" {
#include "hpc/client.h"
}

namespace
{

using mpitest::MpirunArgs;

bool ProcessWith(const std::string &token)
{
	return !hpctest::ProcessesWith(token).empty();
}

TEST(MpiE2E, ServesJobsAndLeavesNothingBehind)
{
	std::string tmp = hpce::temp_dir();
	std::string worker = mpitest::UniqueWorker("e2e", tmp);
	std::string token = "hpc_mpi_worker-e2e-" + std::to_string(getpid());
	{
		hpce::Daemon d("[backend serial]\nplugin = serial\n"
			       "[backend mpi]\nplugin = mpi\nnp = 2\nmpirun_args = " +
			       MpirunArgs() + "\nworker = " + worker + "\n");
		ASSERT_TRUE(d.start()) << d.log();
		EXPECT_TRUE(ProcessWith(token));

		hpc_client *c = nullptr;
		const uint64_t m = 301, n = 203;
		ASSERT_EQ(hpc_connect(d.socket().c_str(), (m * n + n + 2 * m) * 8 + 4096, &c), 0);
		double *A = static_cast<double *>(hpc_alloc(c, m * n * 8));
		double *x = static_cast<double *>(hpc_alloc(c, n * 8));
		double *y = static_cast<double *>(hpc_alloc(c, m * 8));
		double *ref = static_cast<double *>(hpc_alloc(c, m * 8));
		ASSERT_TRUE(A && x && y && ref);
		std::mt19937_64 rng(5);
		hpctest::FillRandom(A, m * n, rng);
		hpctest::FillRandom(x, n, rng);

		hpc_request r = hpce::request(HPC_OP_MATVEC, m, n, 0, A, x, ref, "serial");
		hpc_completion done{};
		ASSERT_EQ(hpc_run(c, &r, &done), 0);
		// An iterative solver's pattern: the same A (generation 1), a new x each time.
		for (int it = 0; it < 5; it++) {
			r.out = y;
			r.backend = "mpi";
			r.a_gen = 1;
			ASSERT_EQ(hpc_run(c, &r, &done), 0) << d.log();
			const hpctest::JobOperands ops{
			    {HPC_OP_MATVEC, m, n, 0}, HPC_F64, A, x, nullptr, 0.0};
			hpctest::ExpectMatchesSerial("matvec on mpi", ops,
						     hpctest::Results(ops.shape, HPC_F64, 0, y),
						     hpctest::Results(ops.shape, HPC_F64, 0, ref));
		}
		// A scalar through the reduction.
		hpc_request s = hpce::request(HPC_OP_DOT, 0, n, 0, x, x, nullptr, "mpi");
		ASSERT_EQ(hpc_run(c, &s, &done), 0);
		double want = 0;
		for (uint64_t i = 0; i < n; i++)
			want += x[i] * x[i];
		EXPECT_NEAR(done.result, want, 1e-12);

		char text[4096];
		ASSERT_EQ(hpc_control(d.socket().c_str(), HPC_CTL_BACKENDS, text, sizeof(text)), 0);
		EXPECT_NE(std::string(text).find("np=2"), std::string::npos) << text;
		hpc_close(c);
		EXPECT_EQ(d.stop(), 0) << d.log();
	}
	for (int i = 0; i < 300 && ProcessWith(token); i++)
		usleep(10000);
	EXPECT_FALSE(ProcessWith(token)) << "an MPI process outlived the daemon";
}

TEST(MpiE2E, CheckReportsTheLauncher)
{
	std::string dir = hpce::temp_dir();
	std::string bad = dir + "/bad.ini", good = dir + "/good.ini";
	std::string plugins = hpce::runfile("plugins");
	hpce::write_file(bad, "[daemon]\nsocket = " + dir + "/s\nplugin_dir = " + plugins +
				  "\n[backend mpi]\nplugin = mpi\nmpirun = /nonexistent/mpirun\n");
	hpce::Result r = hpce::run({hpce::runfile("daemon/hpcd"), "-c", bad, "--check"});
	EXPECT_NE(r.status, 0);
	EXPECT_NE(r.err.find("mpirun not found: /nonexistent/mpirun"), std::string::npos) << r.err;

	hpce::write_file(good, "[daemon]\nsocket = " + dir + "/s\nplugin_dir = " + plugins +
				   "\n[backend mpi]\nplugin = mpi\nnp = 2\nmpirun_args = " +
				   MpirunArgs() + "\n");
	r = hpce::run({hpce::runfile("daemon/hpcd"), "-c", good, "--check"});
	EXPECT_EQ(r.status, 0) << r.err;
	EXPECT_NE(r.out.find("np=2 on "), std::string::npos) << r.out;
}

} // namespace

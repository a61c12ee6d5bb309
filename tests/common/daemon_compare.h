// tests/common/daemon_compare.h - one job through the real daemon on a
// backend and on "serial", over the same operands in the client's arena,
// checked against the bound of numerics.h (//tests/common:daemon_compare).
// The end-to-end suites of the backends (e2e/, opencl/, forkpool/) start the
// daemon with tests/e2e/harness.h and call this for each of their shapes.
#ifndef HPC_TESTS_COMMON_DAEMON_COMPARE_H
#define HPC_TESTS_COMMON_DAEMON_COMPARE_H

#include <cstdint>
#include <random>
#include <string>

#include "hpc/client.h"
#include "tests/common/numerics.h"

namespace hpctest
{

struct DaemonCompare {
	double alpha = -0.75; // axpy's
	// Runs on the backend; the first without generations, the later ones
	// with a_gen = gen and (where there is a b) b_gen = gen + 1. axpy starts
	// from the same out each time.
	int passes = 1;
	uint64_t gen = 0;
	// Vectors (matvec, matmul, axpy) must equal serial's bit for bit, as for
	// a backend that runs the serial kernels on its share.
	bool same_bits = false;
};

// Runs shape s as dtype on "serial" and on backend through client c, over
// operands drawn from rng (a, then b, then out's starting values) in c's
// arena, and checks every result with ExpectMatchesSerial. Failures carry the
// shape and the backend; a failed job is a fatal failure of this call.
void CompareWithSerial(hpc_client *c, const std::string &backend, const Shape &s, uint32_t dtype,
		       std::mt19937_64 &rng, const DaemonCompare &opt = DaemonCompare());

} // namespace hpctest

#endif // HPC_TESTS_COMMON_DAEMON_COMPARE_H

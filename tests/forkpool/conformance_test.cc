// Conformance of the forkpool backend: every op x {f64, f32} x awkward shapes
// against the serial reference kernels, for schedule static and dynamic with
// 1, 2 and 5 workers (and tiny dynamic chunks), through the real plugin file
// and a real memfd region.
//
// Bound: tests/common/numerics.h (forkpool and serial differ by at most
// 2 gamma(n) sum|terms| per result). matvec, matmul and axpy run the serial
// kernels on each worker's rows, so there they agree bit for bit; the test
// checks the bound, and the exact equality for those ops.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <random>
#include <thread>

#include "kernels/serial.h"
#include "tests/forkpool/fp_harness.h"

namespace fpt
{
namespace
{

std::vector<Shape> Shapes()
{
	std::vector<Shape> v;
	for (uint32_t op : {HPC_OP_DOT, HPC_OP_SUM, HPC_OP_AXPY})
		for (uint64_t n : {0, 1, 2, 5, 7, 17, 1000, 32771, 100003, 1000003})
			v.push_back({op, 0, n, 0});
	const uint64_t mv[][2] = {{0, 0},     {0, 5},      {5, 0},     {1, 1},      {1, 7},
				  {7, 1},     {4, 3},      {5, 33},    {33, 7},     {100, 100},
				  {17, 2049}, {1, 100003}, {3, 50000}, {1000, 999}, {4001, 33}};
	for (const auto &s : mv)
		v.push_back({HPC_OP_MATVEC, s[0], s[1], 0});
	const uint64_t mm[][3] = {{0, 0, 0},    {0, 3, 4},     {3, 0, 4},    {3, 4, 0},
				  {1, 1, 1},    {2, 7, 33},    {5, 7, 33},   {7, 5, 33},
				  {33, 33, 33}, {2, 129, 150}, {64, 65, 66}, {150, 70, 300}};
	for (const auto &s : mm)
		v.push_back({HPC_OP_MATMUL, s[0], s[1], s[2]});
	return v;
}

const double kAlpha = -0.7071067811865476;

// Runs one shape on inst and on serial; checks the bound (and bits where they must match).
template <typename T> void Check(const Instance &inst, Region &reg, const Shape &s)
{
	const bool f64 = std::is_same<T, double>::value;
	const uint32_t dtype = DtypeOf<T>();
	const std::string what = Describe(s, dtype) + " [" + inst.Describe() + "]";
	SCOPED_TRACE(what);
	size_t na, nb, nout;
	Sizes(s, &na, &nb, &nout);
	reg.Reset();
	uint64_t a_off = reg.Alloc(na * sizeof(T) + 1), b_off = reg.Alloc(nb * sizeof(T) + 1),
		 out_off = reg.Alloc(nout * sizeof(T) + 1);
	T *a = reg.At<T>(a_off), *b = reg.At<T>(b_off), *out = reg.At<T>(out_off);
	std::mt19937_64 rng(s.op * 1000003 + s.m * 10007 + s.n * 101 + s.k);
	FillRandom(a, na, rng);
	FillRandom(b, nb, rng);
	std::vector<T> want(nout), out0(nout);
	if (s.op == HPC_OP_AXPY)
		FillRandom(out0.data(), nout, rng);
	else
		out0.assign(nout,
			    std::numeric_limits<T>::quiet_NaN()); // every element must be written
	std::copy(out0.begin(), out0.end(), want.begin());
	if (nout)
		std::memcpy(out, out0.data(), nout * sizeof(T));

	double want_scalar = 0;
	switch (s.op) {
	case HPC_OP_MATVEC:
		f64 ? hpc_serial_matvec_f64((const double *)a, (const double *)b,
					    (double *)want.data(), s.m, s.n)
		    : hpc_serial_matvec_f32((const float *)a, (const float *)b,
					    (float *)want.data(), s.m, s.n);
		break;
	case HPC_OP_MATMUL:
		f64 ? hpc_serial_matmul_f64((const double *)a, (const double *)b,
					    (double *)want.data(), s.m, s.n, s.k)
		    : hpc_serial_matmul_f32((const float *)a, (const float *)b,
					    (float *)want.data(), s.m, s.n, s.k);
		break;
	case HPC_OP_DOT:
		want_scalar = f64 ? hpc_serial_dot_f64((const double *)a, (const double *)b, s.n)
				  : hpc_serial_dot_f32((const float *)a, (const float *)b, s.n);
		break;
	case HPC_OP_SUM:
		want_scalar = f64 ? hpc_serial_sum_f64((const double *)a, s.n)
				  : hpc_serial_sum_f32((const float *)a, s.n);
		break;
	case HPC_OP_AXPY:
		f64 ? hpc_serial_axpy_f64(kAlpha, (const double *)a, (double *)want.data(), s.n)
		    : hpc_serial_axpy_f32(kAlpha, (const float *)a, (float *)want.data(), s.n);
		break;
	}

	Job job(reg, s.op, dtype, s.m, s.n, s.k, a_off, b_off, out_off, nb > 0, nout > 0,
		s.op == HPC_OP_AXPY ? kAlpha : 0.0);
	ASSERT_EQ(inst.Run(job.get()), 0) << FpLog().All();

	ExpectMatchesSerial(what, JobOperands{s, dtype, a, b, out0.data(), kAlpha},
			    Results(s, dtype, job.get()->result, out),
			    Results(s, dtype, want_scalar, want.data()));
	if (IsScalar(s.op))
		return;
	// matvec, matmul, axpy: each worker ran the serial kernel on its rows.
	int bad = 0;
	for (size_t i = 0; i < nout; i++)
		if (std::memcmp(&out[i], &want[i], sizeof(T)) != 0 && bad++ < 5)
			ADD_FAILURE()
			    << "element " << i << ": " << out[i] << " vs serial " << want[i];
	EXPECT_EQ(bad, 0);
}

struct Config {
	const char *schedule;
	int workers;
	const char *chunk; // nullptr: the default
};

class Conformance : public ::testing::TestWithParam<Config>
{
};

TEST_P(Conformance, EveryOpAndTypeMatchesSerial)
{
	const Config c = GetParam();
	Instance::Settings s = {{"workers", std::to_string(c.workers)}, {"schedule", c.schedule}};
	if (c.chunk)
		s.push_back({"chunk", c.chunk});
	Instance inst(s);
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	Region reg(40u << 20);
	for (const Shape &sh : Shapes()) {
		// Tiny chunks: a message round trip each; keep the unit counts moderate.
		uint64_t units = sh.op == HPC_OP_MATVEC || sh.op == HPC_OP_MATMUL ? sh.m : sh.n;
		if (c.chunk && std::atoi(c.chunk) < 100 && units > 40000)
			continue;
		Check<double>(inst, reg, sh);
		Check<float>(inst, reg, sh);
	}
	EXPECT_EQ(inst.Counter("respawns"), 0u) << FpLog().All();
	EXPECT_EQ(inst.Counter("failed"), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Schedules, Conformance,
    ::testing::Values(Config{"static", 1, nullptr}, Config{"static", 2, nullptr},
		      Config{"static", 5, nullptr}, Config{"dynamic", 1, nullptr},
		      Config{"dynamic", 2, nullptr}, Config{"dynamic", 5, nullptr},
		      Config{"dynamic", 2, "3"}, Config{"dynamic", 5, "1000"}),
    [](const ::testing::TestParamInfo<Config> &p) {
	    return std::string(p.param.schedule) + "_workers" + std::to_string(p.param.workers) +
		   (p.param.chunk ? std::string("_chunk") + p.param.chunk : "");
    });

// The partials are added in chunk order: the same chunking gives the same bits
// whichever worker ran which chunk, however many workers there are.
TEST(Determinism, SameChunksSameBitsWhateverTheWorkers)
{
	Region reg(16u << 20);
	const size_t n = 1000003;
	uint64_t a_off = reg.Alloc(n * 8), b_off = reg.Alloc(n * 8);
	std::mt19937_64 rng(7);
	FillRandom(reg.At<double>(a_off), n, rng);
	FillRandom(reg.At<double>(b_off), n, rng);
	std::vector<double> results;
	for (int workers : {1, 2, 5}) {
		Instance inst({{"workers", std::to_string(workers)},
			       {"schedule", "dynamic"},
			       {"chunk", "4099"}});
		ASSERT_EQ(inst.rc(), 0) << inst.err();
		for (int rep = 0; rep < 3; rep++) {
			Job job(reg, HPC_OP_DOT, HPC_F64, 0, n, 0, a_off, b_off, 0, true, false);
			ASSERT_EQ(inst.Run(job.get()), 0);
			results.push_back(job.get()->result);
			// Several workers really took part.
			std::vector<pid_t> pids;
			for (const auto &r : job.Records())
				if (std::find(pids.begin(), pids.end(), (pid_t)r.pid) == pids.end())
					pids.push_back((pid_t)r.pid);
			EXPECT_LE(pids.size(), (size_t)workers);
		}
	}
	for (double r : results)
		EXPECT_EQ(std::memcmp(&r, &results[0], sizeof(r)), 0) << r << " vs " << results[0];
}

// Jobs that are not right for any backend are refused before a worker sees them.
TEST(Run, RefusesBadJobsAndStaysUsable)
{
	Instance inst({{"workers", "2"}});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	Region reg(1 << 20);
	uint64_t x_off = reg.Alloc(3 * 8);
	double *x = reg.At<double>(x_off);
	x[0] = 1, x[1] = 2, x[2] = 3;
	Job bad_op(reg, 99, HPC_F64, 0, 3, 0, x_off, 0, 0, false, false);
	EXPECT_EQ(inst.Run(bad_op.get()), -EOPNOTSUPP);
	Job bad_type(reg, HPC_OP_SUM, 7, 0, 3, 0, x_off, 0, 0, false, false);
	EXPECT_EQ(inst.Run(bad_type.get()), -EOPNOTSUPP);
	Job no_b(reg, HPC_OP_DOT, HPC_F64, 0, 3, 0, x_off, 0, 0, false, false);
	EXPECT_EQ(inst.Run(no_b.get()), -EINVAL);
	Job big(reg, HPC_OP_MATVEC, HPC_F64, 1ull << 62, 1ull << 62, 0, x_off, x_off, x_off, true,
		true);
	EXPECT_EQ(inst.Run(big.get()), -EOVERFLOW);
	// Without a region the workers cannot see the operands.
	Job noregion(reg, HPC_OP_SUM, HPC_F64, 0, 3, 0, x_off, 0, 0, false, false);
	noregion.get()->region_fd = -1;
	EXPECT_EQ(inst.Run(noregion.get()), -EINVAL);
	// Offsets past the region (a host that did not validate): the worker refuses, no crash.
	Job past(reg, HPC_OP_SUM, HPC_F64, 0, 3, 0, x_off, 0, 0, false, false);
	past.get()->a_off = 1ull << 40;
	EXPECT_EQ(inst.Run(past.get()), -ERANGE);
	// Empty jobs need no region.
	Job empty(reg, HPC_OP_DOT, HPC_F32, 0, 0, 0, 0, 0, 0, false, false);
	empty.get()->a = empty.get()->b = nullptr;
	empty.get()->region_fd = -1;
	ASSERT_EQ(inst.Run(empty.get()), 0);
	EXPECT_EQ(empty.get()->result, 0.0);
	Job sum(reg, HPC_OP_SUM, HPC_F64, 0, 3, 0, x_off, 0, 0, false, false);
	ASSERT_EQ(inst.Run(sum.get()), 0);
	EXPECT_EQ(sum.get()->result, 6.0);
	EXPECT_EQ(inst.Counter("respawns"), 0u);
}

// Eight daemon-like threads share one instance, each with its own region.
TEST(Concurrency, EightCallersOnOneInstance)
{
	Instance inst({{"workers", "2"}, {"schedule", "dynamic"}, {"chunk", "5000"}});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	std::atomic<int> wrong{0}, failed{0};
	std::vector<std::thread> t;
	for (int c = 0; c < 8; c++) {
		t.emplace_back([&, c] {
			Region reg(4 << 20);
			const size_t n = 100003 + c;
			uint64_t x_off = reg.Alloc(n * 8);
			double *x = reg.At<double>(x_off);
			for (size_t i = 0; i < n; i++)
				x[i] = (double)(i % 7);
			double want = hpc_serial_sum_f64(x, n);
			for (int r = 0; r < 10; r++) {
				Job job(reg, HPC_OP_SUM, HPC_F64, 0, n, 0, x_off, 0, 0, false,
					false);
				if (inst.Run(job.get()) != 0)
					failed++;
				else if (job.get()->result != want)
					wrong++;
			}
			inst.Forget(reg.id());
		});
	}
	for (auto &th : t)
		th.join();
	EXPECT_EQ(failed.load(), 0);
	EXPECT_EQ(wrong.load(), 0);
}

} // namespace
} // namespace fpt

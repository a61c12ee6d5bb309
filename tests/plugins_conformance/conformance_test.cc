// Conformance of the in-process backends, through the real plugin files:
// the ops tables, settings validation, the serial reference against an
// exact-ish long double computation, openmp against serial for every op,
// type and a spread of shapes, and concurrent run() calls on one instance.
// The bounds are stated in tests/common/numerics.h and testutil.h.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hpc/plugin.h"
#include "tests/common/plugin_harness.h"
#include "tests/plugins_conformance/testutil.h"

namespace hpctest
{
namespace
{

// ---- the ops tables ---------------------------------------------------------

TEST(OpsTable, Serial)
{
	ExpectOpsTable(Ops("serial"), "serial", {});
}

TEST(OpsTable, OpenMP)
{
	ExpectOpsTable(Ops("openmp"), "openmp", {"threads"});
}

// The version script must leave hpc_plugin_entry as the only export.
TEST(OpsTable, ExportsOnlyTheEntryPoint)
{
	for (const char *name : {"serial", "openmp"}) {
		SCOPED_TRACE(name);
		ExpectExportsOnlyTheEntryPoint(
		    Plugin(name).handle, {"hpc_serial_dot_f64", "hpc_omp_dot_f64", "hpcb_check_job",
					  "hpcb_err", "serial_ops", "omp_ops"});
	}
}

// ---- settings -----------------------------------------------------------------

TEST(Settings, SerialTakesNone)
{
	Instance ok(Ops("serial"), {});
	ASSERT_EQ(ok.rc(), 0) << ok.err();
	EXPECT_EQ(ok.Describe(), "reference, single-threaded");

	Instance bad(Ops("serial"), {{"threads", "2"}});
	EXPECT_EQ(bad.rc(), -EINVAL);
	EXPECT_EQ(bad.err_setting(), 0);
	EXPECT_NE(bad.err().find("threads"), std::string::npos) << bad.err();
}

TEST(Settings, OpenMPThreadsValid)
{
	for (const char *v : {"1", "2", "3", "1024"}) {
		Instance inst(Ops("openmp"), {{"threads", v}});
		ASSERT_EQ(inst.rc(), 0) << v << ": " << inst.err();
		EXPECT_EQ(inst.Describe(), std::string("threads=") + v);
	}
}

TEST(Settings, OpenMPThreadsDefaultsToOnlineCPUs)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu > 1024)
		ncpu = 1024;
	Instance inst(Ops("openmp"), {});
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	EXPECT_EQ(inst.Describe(), "threads=" + std::to_string(ncpu));
}

TEST(Settings, OpenMPThreadsInvalid)
{
	for (const char *v : {"0", "-1", "abc", "2x", "", " 2", "2 ", "+2", "1025", "1.5",
			      "99999999999999999999999"}) {
		Instance inst(Ops("openmp"), {{"threads", v}});
		EXPECT_EQ(inst.rc(), -EINVAL) << "threads=\"" << v << "\" accepted";
		EXPECT_EQ(inst.err_setting(), 0) << v;
		// One sentence that names the setting and quotes the bad value.
		std::string err = inst.err();
		EXPECT_NE(err.find("threads"), std::string::npos) << err;
		EXPECT_NE(err.find(std::string("\"") + v + "\""), std::string::npos) << err;
		EXPECT_EQ(err.back(), '.') << err;
	}
}

TEST(Settings, OpenMPBlamesTheRightSetting)
{
	Instance unknown(Ops("openmp"), {{"threads", "2"}, {"affinity", "close"}});
	EXPECT_EQ(unknown.rc(), -EINVAL);
	EXPECT_EQ(unknown.err_setting(), 1);
	EXPECT_NE(unknown.err().find("affinity"), std::string::npos) << unknown.err();

	Instance twice(Ops("openmp"), {{"threads", "2"}, {"threads", "3"}});
	EXPECT_EQ(twice.rc(), -EINVAL);
	EXPECT_EQ(twice.err_setting(), 1);

	Instance later(Ops("openmp"), {{"threads", "2"}, {"threads", "abc"}});
	EXPECT_EQ(later.rc(), -EINVAL);
	EXPECT_EQ(later.err_setting(), 1);
}

TEST(Settings, ErrorBufferMayBeAbsent)
{
	hpc_setting s{"threads", "abc", 1, 0};
	hpc_open_args args{};
	args.abi_version = HPC_PLUGIN_ABI_VERSION;
	args.size = sizeof(args);
	args.settings = &s;
	args.nsettings = 1;
	args.err = nullptr;
	args.err_len = 0;
	args.err_setting = -1;
	void *state = nullptr;
	EXPECT_EQ(Ops("openmp")->open(&args, &state), -EINVAL);
	EXPECT_EQ(args.err_setting, 0);
}

TEST(Describe, ReportsTruncation)
{
	Instance inst(Ops("openmp"), {{"threads", "2"}});
	ASSERT_EQ(inst.rc(), 0);
	char small[4];
	EXPECT_EQ(inst.ops()->describe(inst.state(), small, sizeof(small)), -ENOSPC);
	EXPECT_STREQ(small, "thr");
}

// ---- the kernels' instruction-set path -------------------------------------------

// The path the plugin should pick: the widest the CPU has, or the narrower one
// HPC_OMP_ISA names (the BUILD file runs this program once per path).
std::string ExpectedIsa()
{
	__builtin_cpu_init();
	int best = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
			   __builtin_cpu_supports("fma")
		       ? 2
		   : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1
										     : 0;
	const char *names[] = {"scalar", "avx2", "avx512"};
	int want = best;
	if (const char *e = std::getenv("HPC_OMP_ISA"))
		for (int i = 0; i < 3; i++)
			if (std::string(e) == names[i] && i < best)
				want = i;
	return names[want];
}

TEST(OpenMPIsa, LogsThePathItUses)
{
	HostLog log;
	{
		Instance inst(Ops("openmp"), {{"threads", "2"}}, &log);
		ASSERT_EQ(inst.rc(), 0) << inst.err();
	}
	const std::vector<std::string> lines = log.Lines();
	bool found = false;
	for (const std::string &line : lines)
		if (line.rfind("kernels: " + ExpectedIsa() + " ", 0) == 0)
			found = true;
	EXPECT_TRUE(found) << "no \"kernels: " << ExpectedIsa() << "\" line; got "
			   << (lines.empty() ? "nothing" : lines.front());
}

// ---- bad jobs -----------------------------------------------------------------

TEST(Run, RefusesBadJobsAndStaysUsable)
{
	for (const char *name : {"serial", "openmp"}) {
		SCOPED_TRACE(name);
		Instance inst(Ops(name), {});
		ASSERT_EQ(inst.rc(), 0);
		std::vector<double> x = {1, 2, 3};
		hpc_job j = MakeJob(HPC_OP_NONE, HPC_F64, 0, 3, 0, x.data(), x.data(), nullptr, 0);
		EXPECT_EQ(inst.Run(&j), -EOPNOTSUPP);
		j = MakeJob(99, HPC_F64, 0, 3, 0, x.data(), x.data(), nullptr, 0);
		EXPECT_EQ(inst.Run(&j), -EOPNOTSUPP);
		j = MakeJob(HPC_OP_SUM, 7, 0, 3, 0, x.data(), nullptr, nullptr, 0);
		EXPECT_EQ(inst.Run(&j), -EOPNOTSUPP);
		j = MakeJob(HPC_OP_DOT, HPC_F64, 0, 3, 0, x.data(), nullptr, nullptr, 0);
		EXPECT_EQ(inst.Run(&j), -EINVAL);
		j = MakeJob(HPC_OP_MATVEC, HPC_F64, 1ull << 62, 1ull << 62, 0, x.data(), x.data(),
			    x.data(), 0);
		EXPECT_EQ(inst.Run(&j), -EOVERFLOW);
		j = MakeJob(HPC_OP_SUM, HPC_F64, 0, 3, 0, x.data(), nullptr, nullptr, 0);
		ASSERT_EQ(inst.Run(&j), 0);
		EXPECT_EQ(j.result, 6.0);
		// Empty operands need no pointers at all.
		j = MakeJob(HPC_OP_DOT, HPC_F32, 0, 0, 0, nullptr, nullptr, nullptr, 0);
		ASSERT_EQ(inst.Run(&j), 0);
		EXPECT_EQ(j.result, 0.0);
	}
}

// ---- numerics -----------------------------------------------------------------

std::vector<Shape> AllShapes()
{
	std::vector<Shape> v;
	const uint64_t lengths[] = {0, 1, 2, 7, 15, 17, 33, 100, 1000, 32771, 100003, 1000000};
	for (uint32_t op : {HPC_OP_DOT, HPC_OP_SUM, HPC_OP_AXPY})
		for (uint64_t n : lengths)
			v.push_back({op, 0, n, 0});
	const uint64_t mv[][2] = {{0, 0},     {0, 5},      {5, 0},     {1, 1},     {1, 7},
				  {7, 1},     {7, 7},      {7, 33},    {33, 7},    {100, 100},
				  {17, 2049}, {1, 100003}, {2, 40001}, {3, 50000}, {1000, 999},
				  {333, 401}, {4001, 33}};
	for (const auto &s : mv)
		v.push_back({HPC_OP_MATVEC, s[0], s[1], 0});
	// {m, n, k}
	const uint64_t mm[][3] = {{0, 0, 0},     {0, 3, 4},     {3, 0, 4},      {3, 4, 0},
				  {1, 1, 1},     {5, 7, 33},    {7, 5, 33},     {33, 33, 33},
				  {1, 300, 200}, {2, 129, 150}, {64, 65, 66},   {100, 100, 100},
				  {3, 1000, 17}, {9, 25, 257},  {150, 70, 300}, {250, 250, 250}};
	for (const auto &s : mm)
		v.push_back({HPC_OP_MATMUL, s[0], s[1], s[2]});
	return v;
}

// Seeds fixed per shape so that a failure reproduces.
uint64_t Seed(const Shape &s, uint32_t which)
{
	return 0x9e3779b97f4a7c15ull * (s.op + 1) ^ (s.m * 1000003 + s.n * 10007 + s.k * 101) ^
	       (uint64_t)which << 56;
}

const double kAlpha = -0.7071067811865476;

template <typename T> struct Operands {
	std::vector<T> a, b, out0;
	explicit Operands(const Shape &s)
	{
		size_t na, nb, nout;
		Sizes(s, &na, &nb, &nout);
		a = RandomVec<T>(na, Seed(s, 1));
		b = RandomVec<T>(nb, Seed(s, 2));
		if (s.op == HPC_OP_AXPY)
			out0 = RandomVec<T>(nout, Seed(s, 3));
		else
			out0.assign(nout, std::numeric_limits<T>::quiet_NaN());
	}
	JobOperands View(const Shape &s) const
	{
		return {s, DtypeOf<T>(), a.data(), b.data(), out0.data(), kAlpha};
	}
};

// Runs one job; returns its results as doubles (the scalar, or every element of out).
template <typename T>
std::vector<double> RunShape(const Instance &inst, const Shape &s, const Operands<T> &o, int *rc)
{
	std::vector<T> out = o.out0;
	hpc_job job =
	    MakeJob(s.op, std::is_same<T, double>::value ? HPC_F64 : HPC_F32, s.m, s.n, s.k,
		    o.a.empty() ? nullptr : o.a.data(), o.b.empty() ? nullptr : o.b.data(),
		    out.empty() ? nullptr : out.data(), kAlpha);
	*rc = inst.Run(&job);
	if (s.op == HPC_OP_DOT || s.op == HPC_OP_SUM)
		return {job.result};
	return std::vector<double>(out.begin(), out.end());
}

template <typename T> void SerialAgainstExact(const Shape &s)
{
	const uint32_t dtype = DtypeOf<T>();
	const std::string what = "serial " + Describe(s, dtype);
	Instance serial(Ops("serial"), {});
	ASSERT_EQ(serial.rc(), 0);
	Operands<T> o(s);
	Reference ref = ComputeReference<T>(s, o.a, o.b, o.out0, kAlpha);
	int rc;
	std::vector<double> got = RunShape<T>(serial, s, o, &rc);
	ASSERT_EQ(rc, 0) << what;
	std::vector<double> exact(ref.exact.begin(), ref.exact.end());
	ExpectWithin(what, got, exact, [&](size_t i) { return SerialTol<T>(ref, i); });
}

TEST(SerialAccuracy, AgainstLongDoubleReference)
{
	for (const Shape &s : AllShapes()) {
		SerialAgainstExact<double>(s);
		SerialAgainstExact<float>(s);
	}
}

// {1e16, 1, -1e16} repeated: every 1 is lost by naive summation (the spacing
// of doubles near 1e16 is 2), but compensated summation keeps them all.
TEST(SerialAccuracy, IllConditionedSumIsExact)
{
	const int reps = 1000;
	std::vector<double> x, ones;
	for (int r = 0; r < reps; r++)
		x.insert(x.end(), {1e16, 1.0, -1e16});
	ones.assign(x.size(), 1.0);
	double naive = 0;
	for (double v : x)
		naive += v;
	ASSERT_NE(naive, (double)reps) << "the data no longer defeats naive summation";

	Instance serial(Ops("serial"), {});
	ASSERT_EQ(serial.rc(), 0);
	hpc_job j = MakeJob(HPC_OP_SUM, HPC_F64, 0, x.size(), 0, x.data(), nullptr, nullptr, 0);
	ASSERT_EQ(serial.Run(&j), 0);
	EXPECT_EQ(j.result, (double)reps);

	j = MakeJob(HPC_OP_DOT, HPC_F64, 0, x.size(), 0, x.data(), ones.data(), nullptr, 0);
	ASSERT_EQ(serial.Run(&j), 0);
	EXPECT_EQ(j.result, (double)reps);

	// The same data as a 2-row matrix times ones, and as a 1 x k by k x 1 product.
	std::vector<double> y(2, std::nan(""));
	std::vector<double> a2(x);
	a2.insert(a2.end(), x.begin(), x.end());
	j = MakeJob(HPC_OP_MATVEC, HPC_F64, 2, x.size(), 0, a2.data(), ones.data(), y.data(), 0);
	ASSERT_EQ(serial.Run(&j), 0);
	EXPECT_EQ(y[0], (double)reps);
	EXPECT_EQ(y[1], (double)reps);

	double c = std::nan("");
	j = MakeJob(HPC_OP_MATMUL, HPC_F64, 1, 1, x.size(), x.data(), ones.data(), &c, 0);
	ASSERT_EQ(serial.Run(&j), 0);
	EXPECT_EQ(c, (double)reps);
}

// f32: {1e8, 1, -1e8}; floats near 1e8 are 8 apart.
TEST(SerialAccuracy, IllConditionedSumIsExactF32)
{
	const int reps = 1000;
	std::vector<float> x, ones;
	for (int r = 0; r < reps; r++)
		x.insert(x.end(), {1e8f, 1.0f, -1e8f});
	ones.assign(x.size(), 1.0f);
	float naive = 0;
	for (float v : x)
		naive += v;
	ASSERT_NE(naive, (float)reps) << "the data no longer defeats naive summation";

	Instance serial(Ops("serial"), {});
	ASSERT_EQ(serial.rc(), 0);
	hpc_job j = MakeJob(HPC_OP_SUM, HPC_F32, 0, x.size(), 0, x.data(), nullptr, nullptr, 0);
	ASSERT_EQ(serial.Run(&j), 0);
	EXPECT_EQ(j.result, (double)reps);

	j = MakeJob(HPC_OP_DOT, HPC_F32, 0, x.size(), 0, x.data(), ones.data(), nullptr, 0);
	ASSERT_EQ(serial.Run(&j), 0);
	EXPECT_EQ(j.result, (double)reps);

	float y = NAN;
	j = MakeJob(HPC_OP_MATVEC, HPC_F32, 1, x.size(), 0, x.data(), ones.data(), &y, 0);
	ASSERT_EQ(serial.Run(&j), 0);
	EXPECT_EQ(y, (float)reps);

	float c = NAN;
	j = MakeJob(HPC_OP_MATMUL, HPC_F32, 1, 1, x.size(), x.data(), ones.data(), &c, 0);
	ASSERT_EQ(serial.Run(&j), 0);
	EXPECT_EQ(c, (float)reps);
}

// An f32 scalar result is the float value widened: it converts to float and back unchanged.
TEST(SerialAccuracy, F32ResultIsAFloat)
{
	for (const char *name : {"serial", "openmp"}) {
		std::vector<float> x = RandomVec<float>(100003, 42);
		Instance use(Ops(name), {});
		ASSERT_EQ(use.rc(), 0);
		hpc_job j =
		    MakeJob(HPC_OP_SUM, HPC_F32, 0, x.size(), 0, x.data(), nullptr, nullptr, 0);
		ASSERT_EQ(use.Run(&j), 0);
		EXPECT_EQ(j.result, (double)(float)j.result) << name;
		j = MakeJob(HPC_OP_DOT, HPC_F32, 0, x.size(), 0, x.data(), x.data(), nullptr, 0);
		ASSERT_EQ(use.Run(&j), 0);
		EXPECT_EQ(j.result, (double)(float)j.result) << name;
	}
}

class OpenMPConformance : public ::testing::TestWithParam<int>
{
};

template <typename T> void OpenMPAgainstSerial(const Instance &omp, const Shape &s)
{
	const uint32_t dtype = DtypeOf<T>();
	const std::string what = "openmp " + omp.Describe() + " " + Describe(s, dtype);
	Instance serial(Ops("serial"), {});
	ASSERT_EQ(serial.rc(), 0);
	Operands<T> o(s);
	int rc;
	std::vector<double> want = RunShape<T>(serial, s, o, &rc);
	ASSERT_EQ(rc, 0) << what;
	std::vector<double> got = RunShape<T>(omp, s, o, &rc);
	ASSERT_EQ(rc, 0) << what;
	ExpectMatchesSerial(what, o.View(s), got, want);
}

TEST_P(OpenMPConformance, MatchesSerial)
{
	Instance omp(Ops("openmp"), {{"threads", std::to_string(GetParam())}});
	ASSERT_EQ(omp.rc(), 0) << omp.err();
	for (const Shape &s : AllShapes()) {
		OpenMPAgainstSerial<double>(omp, s);
		OpenMPAgainstSerial<float>(omp, s);
	}
}

INSTANTIATE_TEST_SUITE_P(Threads, OpenMPConformance, ::testing::Values(1, 2, 3),
			 [](const ::testing::TestParamInfo<int> &p) {
				 return "threads" + std::to_string(p.param);
			 });

// ---- concurrency ----------------------------------------------------------------

// Eight daemon-like threads share one openmp instance. Results for a fixed
// team size are deterministic, so every concurrent result must equal,
// bit for bit, the one computed alone; a torn or interleaved run would not.
TEST(Concurrency, EightCallersOnOneInstance)
{
	Instance omp(Ops("openmp"), {{"threads", "2"}});
	ASSERT_EQ(omp.rc(), 0) << omp.err();

	const std::vector<Shape> shapes = {
	    {HPC_OP_DOT, 0, 200003, 0},   {HPC_OP_SUM, 0, 100001, 0},
	    {HPC_OP_MATVEC, 301, 299, 0}, {HPC_OP_MATMUL, 41, 50, 61},
	    {HPC_OP_AXPY, 0, 100003, 0},  {HPC_OP_DOT, 0, 100, 0}, // small: no lock
	    {HPC_OP_MATVEC, 7, 33, 0},
	};
	std::vector<Operands<double>> ops;
	std::vector<std::vector<double>> alone;
	for (const Shape &s : shapes) {
		ops.emplace_back(s);
		int rc;
		alone.push_back(RunShape<double>(omp, s, ops.back(), &rc));
		ASSERT_EQ(rc, 0);
		// ... and those results are right in the first place.
		Instance serial(Ops("serial"), {});
		ExpectMatchesSerial(Describe(s, HPC_F64), ops.back().View(s), alone.back(),
				    RunShape<double>(serial, s, ops.back(), &rc));
	}

	const int kThreads = 8, kRounds = 20;
	std::atomic<int> mismatches{0}, failures{0};
	std::vector<std::thread> callers;
	for (int t = 0; t < kThreads; t++) {
		callers.emplace_back([&, t] {
			for (int r = 0; r < kRounds; r++) {
				size_t i = (size_t)(t + r) % shapes.size();
				int rc;
				std::vector<double> got =
				    RunShape<double>(omp, shapes[i], ops[i], &rc);
				if (rc != 0)
					failures++;
				else if (got.size() != alone[i].size() ||
					 std::memcmp(got.data(), alone[i].data(),
						     got.size() * sizeof(double)) != 0)
					mismatches++;
			}
		});
	}
	for (auto &c : callers)
		c.join();
	EXPECT_EQ(failures.load(), 0);
	EXPECT_EQ(mismatches.load(), 0);
}

} // namespace
} // namespace hpctest

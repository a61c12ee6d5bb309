// The opencl backend through its real plugin file, on whatever device the ICD
// loader offers (PoCL's CPU device here and in CI):
//  - its ops table and exports;
//  - settings: device selection by index and by name, clear errors for a
//    device or platform that does not exist, a build failure's log;
//  - conformance of every op and type against serial, for both kernel
//    families and both buffer modes, on awkward sizes and misaligned operands
//    (bound: tests/common/numerics.h);
//  - the operand cache: reuse by generation, no reuse for gen 0, regions kept
//    apart, eviction, and no uploads at all with zero copy;
//  - f64 refusal where the device has no fp64 (forced with fp64 = off);
//  - concurrent run() calls on one instance.
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hpc/plugin.h"
#include "tests/opencl/cl_harness.h"

namespace cltest
{
namespace
{

const int kPoclCache = (UsePrivatePoclCache(), 0);

const hpc_plugin_ops *CL()
{
	return Ops("opencl");
}

// ---- the ops table --------------------------------------------------------------

TEST(OpsTable, Opencl)
{
	ExpectOpsTable(
	    CL(), "opencl",
	    {"platform", "device", "zero_copy", "kernels", "fp64", "cache_mb", "build_options"});
}

TEST(OpsTable, ExportsOnlyTheEntryPoint)
{
	ExpectExportsOnlyTheEntryPoint(
	    Plugin("opencl").handle,
	    {"hpc_cl_errname", "hpc_cl_match", "hpc_cl_source", "hpcb_err", "cl_ops"});
}

// ---- settings and device selection ----------------------------------------------

TEST(Settings, DefaultDeviceIsDescribed)
{
	HostLog log;
	Instance inst(CL(), {}, &log);
	ASSERT_EQ(inst.rc(), 0) << inst.err();
	std::string d = inst.Describe();
	EXPECT_NE(d.find("device=\""), std::string::npos) << d;
	EXPECT_NE(d.find("created=0 reused=0 uploads=0"), std::string::npos) << d;
	// The open is logged with the device and how long it took.
	EXPECT_NE(log.All().find("ready in"), std::string::npos) << log.All();
}

// The device's name as describe() reports it.
std::string DeviceName(const Instance &inst)
{
	std::string d = inst.Describe();
	size_t a = d.find("device=\"") + 8;
	return d.substr(a, d.find('"', a) - a);
}

TEST(Settings, DeviceByIndexAndByNameAnyCase)
{
	Instance def(CL(), {});
	ASSERT_EQ(def.rc(), 0) << def.err();
	std::string name = DeviceName(def);
	ASSERT_GE(name.size(), 3u);
	std::string upper = name.substr(0, 3);
	for (auto &c : upper)
		c = (char)toupper((unsigned char)c);

	for (const Instance::Settings &s :
	     {Instance::Settings{{"platform", "0"}, {"device", "0"}},
	      Instance::Settings{{"device", upper}}, Instance::Settings{{"device", name}}}) {
		Instance inst(CL(), s);
		ASSERT_EQ(inst.rc(), 0) << s.back().second << ": " << inst.err();
		EXPECT_EQ(DeviceName(inst), name);
	}
}

TEST(Settings, NoSuchDeviceIsAClearError)
{
	Instance inst(CL(), {{"zero_copy", "auto"}, {"device", "nosuchdevice"}});
	EXPECT_EQ(inst.rc(), -EINVAL);
	EXPECT_EQ(inst.err_setting(), 1);
	std::string err = inst.err();
	EXPECT_NE(err.find("device \"nosuchdevice\" matches no device name"), std::string::npos)
	    << err;
	EXPECT_NE(err.find("0: "), std::string::npos) << "lists the devices: " << err;

	Instance idx(CL(), {{"device", "999"}});
	EXPECT_EQ(idx.rc(), -EINVAL);
	EXPECT_EQ(idx.err_setting(), 0);
	EXPECT_NE(idx.err().find("\"999\" is not a device index"), std::string::npos) << idx.err();
}

TEST(Settings, NoSuchPlatformIsAClearError)
{
	Instance inst(CL(), {{"platform", "9"}});
	EXPECT_EQ(inst.rc(), -EINVAL);
	EXPECT_EQ(inst.err_setting(), 0);
	std::string err = inst.err();
	EXPECT_NE(err.find("platform \"9\" is not a platform index"), std::string::npos) << err;
	EXPECT_NE(err.find("0: "), std::string::npos) << "lists the platforms: " << err;

	Instance name(CL(), {{"device", "0"}, {"platform", "no such vendor"}});
	EXPECT_EQ(name.rc(), -EINVAL);
	EXPECT_EQ(name.err_setting(), 1);
	EXPECT_NE(name.err().find("matches no platform name"), std::string::npos) << name.err();
}

TEST(Settings, BadValuesBlameTheirSetting)
{
	const Instance::Settings bad[] = {
	    {{"zero_copy", "yes"}}, {{"kernels", "fpga"}},
	    {{"fp64", "on"}},       {{"cache_mb", "-1"}},
	    {{"cache_mb", "2x"}},   {{"device", ""}},
	    {{"threads", "2"}},     {{"device", "0"}, {"device", "0"}},
	};
	for (const auto &s : bad) {
		Instance inst(CL(), s);
		EXPECT_EQ(inst.rc(), -EINVAL) << s.back().first << "=" << s.back().second;
		EXPECT_EQ(inst.err_setting(), (int32_t)s.size() - 1) << s.back().first;
		EXPECT_NE(inst.err().find(s.back().first), std::string::npos) << inst.err();
	}
}

// A program that does not compile: the error carries the compiler's message.
TEST(Settings, BuildFailureShowsTheLog)
{
	HostLog log;
	Instance inst(CL(), {{"build_options", "-DREAL=no_such_type"}}, &log);
	EXPECT_EQ(inst.rc(), -EINVAL);
	EXPECT_EQ(inst.err_setting(), 0);
	std::string err = inst.err();
	EXPECT_NE(err.find("CL_BUILD_PROGRAM_FAILURE"), std::string::npos) << err;
	EXPECT_NE(err.find("no_such_type"), std::string::npos) << err;
	EXPECT_NE(log.All().find("build log"), std::string::npos) << log.All();
}

// ---- conformance against serial ----------------------------------------------------

std::vector<Shape> AllShapes()
{
	std::vector<Shape> v;
	for (uint32_t op : {HPC_OP_DOT, HPC_OP_SUM, HPC_OP_AXPY})
		for (uint64_t n :
		     {0, 1, 2, 7, 8, 9, 15, 17, 33, 100, 1000, 4095, 32771, 100003, 1000000})
			v.push_back({op, 0, n, 0});
	const uint64_t mv[][2] = {{0, 0},     {0, 5},     {5, 0},      {1, 1},     {1, 7},
				  {7, 1},     {3, 8},     {4, 8},      {5, 9},     {7, 7},
				  {7, 33},    {33, 7},    {100, 100},  {17, 2049}, {1, 100003},
				  {2, 40001}, {3, 50000}, {1000, 999}, {301, 257}};
	for (const auto &s : mv)
		v.push_back({HPC_OP_MATVEC, s[0], s[1], 0});
	const uint64_t mm[][3] = {{0, 0, 0},     {0, 3, 4},     {3, 0, 4},    {3, 4, 0},
				  {1, 1, 1},     {5, 7, 33},    {7, 5, 33},   {33, 33, 33},
				  {1, 300, 200}, {2, 129, 150}, {64, 65, 66}, {100, 100, 100},
				  {3, 1000, 17}, {9, 8, 16}};
	for (const auto &s : mm)
		v.push_back({HPC_OP_MATMUL, s[0], s[1], s[2]});
	return v;
}

// Operands placed `shift` elements into over-allocated storage, so that
// they start at every alignment a client's arena can give them.
template <typename T> struct Operands {
	std::vector<T> sa, sb, sout0;
	T *a = nullptr, *b = nullptr, *out0 = nullptr;
	size_t na = 0, nb = 0, nout = 0;

	Operands(const Shape &s, size_t shift)
	{
		Sizes(s, &na, &nb, &nout);
		uint64_t seed = s.op * 1000003 + s.m * 10007 + s.n * 101 + s.k;
		sa.resize(na + 32);
		sb.resize(nb + 32);
		sout0.resize(nout + 32);
		a = na ? sa.data() + shift : nullptr;
		b = nb ? sb.data() + (shift * 3) % 17 : nullptr;
		out0 = nout ? sout0.data() + (shift * 5) % 19 : nullptr;
		if (a)
			FillRandom(a, na, seed);
		if (b)
			FillRandom(b, nb, seed + 1);
		if (out0)
			FillRandom(out0, nout, seed + 2);
	}

	JobOperands View(const Shape &s, double alpha) const
	{
		return {s, DtypeOf<T>(), a, b, out0, alpha};
	}
};

const double kAlpha = -0.7071067811865476;

template <typename T>
std::vector<double> RunShape(const Instance &inst, const Shape &s, const Operands<T> &o, int *rc)
{
	std::vector<T> store(o.nout + 32, std::numeric_limits<T>::quiet_NaN());
	T *out = o.nout ? store.data() + (o.out0 - o.sout0.data()) : nullptr;
	if (s.op == HPC_OP_AXPY)
		std::copy(o.out0, o.out0 + o.nout, out);
	hpc_job job = MakeJob(s.op, DtypeOf<T>(), s.m, s.n, s.k, o.a, o.b, out, kAlpha);
	*rc = inst.Run(&job);
	if (s.op == HPC_OP_DOT || s.op == HPC_OP_SUM)
		return {job.result};
	// Nothing outside the output may change.
	for (size_t i = 0; i < store.size(); i++)
		if ((T *)&store[i] < out || (T *)&store[i] >= out + o.nout) {
			EXPECT_TRUE(std::isnan(store[i])) << "wrote outside the output at " << i;
		}
	return std::vector<double>(out, out + o.nout);
}

template <typename T> void AgainstSerial(const Instance &cl, const Shape &s, size_t shift)
{
	const uint32_t dtype = DtypeOf<T>();
	const std::string what = Describe(s, dtype) + " shift " + std::to_string(shift);
	Instance serial(Ops("serial"), {});
	ASSERT_EQ(serial.rc(), 0);
	Operands<T> o(s, shift);
	int rc;
	std::vector<double> want = RunShape<T>(serial, s, o, &rc);
	ASSERT_EQ(rc, 0) << what;
	std::vector<double> got = RunShape<T>(cl, s, o, &rc);
	ASSERT_EQ(rc, 0) << what;
	ExpectMatchesSerial(what, o.View(s, kAlpha), got, want);
}

class Conformance : public ::testing::TestWithParam<Instance::Settings>
{
};

TEST_P(Conformance, EveryOpAndTypeAgreesWithSerial)
{
	Instance cl(CL(), GetParam());
	ASSERT_EQ(cl.rc(), 0) << cl.err();
	SCOPED_TRACE(cl.Describe());
	size_t shift = 0;
	for (const Shape &s : AllShapes()) {
		shift = (shift + 5) % 16; // 0..15 elements: every offset within 128 bytes
		AgainstSerial<double>(cl, s, shift);
		AgainstSerial<float>(cl, s, shift);
	}
}

INSTANTIATE_TEST_SUITE_P(
    Modes, Conformance,
    ::testing::Values(Instance::Settings{},
		      Instance::Settings{{"kernels", "gpu"}, {"zero_copy", "off"}},
		      Instance::Settings{{"kernels", "cpu"}, {"zero_copy", "off"}},
		      Instance::Settings{{"kernels", "gpu"}, {"zero_copy", "on"}}),
    [](const ::testing::TestParamInfo<Instance::Settings> &p) {
	    std::string n;
	    for (const auto &kv : p.param)
		    n += kv.first + "_" + kv.second + "_";
	    return n.empty() ? std::string("defaults") : n.substr(0, n.size() - 1);
    });

// {1e4, 1, -1e4} in f32: the device's tree of partial sums is no worse than the bound.
TEST(Accuracy, F32SumStaysWithinTheBound)
{
	Instance cl(CL(), {});
	ASSERT_EQ(cl.rc(), 0) << cl.err();
	std::vector<float> x;
	for (int r = 0; r < 100000; r++)
		x.insert(x.end(), {1e4f, 1.0f, -1e4f});
	double abs = 0;
	for (float v : x)
		abs += std::fabs(v);
	hpc_job j = MakeJob(HPC_OP_SUM, HPC_F32, 0, x.size(), 0, x.data(), nullptr, nullptr, 0);
	ASSERT_EQ(cl.Run(&j), 0);
	EXPECT_NEAR(j.result, 100000.0, 2 * Gamma((double)x.size(), 0x1p-24) * abs);
}

// ---- the operand cache ---------------------------------------------------------------

struct Matvec {
	std::vector<float> a, x, y;
	uint64_t m, n;
	Matvec(uint64_t rows, uint64_t cols) : a(rows * cols), x(cols), y(rows), m(rows), n(cols)
	{
		FillRandom(a.data(), a.size(), 1);
		FillRandom(x.data(), x.size(), 2);
	}
	int Run(const Instance &inst, uint64_t region, uint64_t a_gen, uint64_t b_gen)
	{
		hpc_job j =
		    MakeJob(HPC_OP_MATVEC, HPC_F32, m, n, 0, a.data(), x.data(), y.data(), 0);
		j.region_id = region;
		j.a_off = 4096;
		j.b_off = 4096 + a.size() * sizeof(float);
		j.out_off = j.b_off + x.size() * sizeof(float);
		j.a_gen = a_gen;
		j.b_gen = b_gen;
		return inst.Run(&j);
	}
	double Row0() const
	{
		double s = 0;
		for (uint64_t j = 0; j < n; j++)
			s += (double)a[j] * x[j];
		return s;
	}
};

// Without zero copy: an operand is uploaded once per generation, and really
// reused, which shows as a stale result when the client breaks the contract.
TEST(Cache, SameGenerationIsUploadedOnce)
{
	Instance cl(CL(), {{"zero_copy", "off"}});
	ASSERT_EQ(cl.rc(), 0) << cl.err();
	Matvec mv(300, 1000);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(mv.Run(cl, 1, 7, 7), 0);
	EXPECT_EQ(cl.Counter("created"), 2) << cl.Describe();
	EXPECT_EQ(cl.Counter("reused"), 4) << cl.Describe();
	EXPECT_EQ(cl.Counter("uploads"), 2) << cl.Describe();
	double before = mv.y[0];
	EXPECT_NEAR(before, mv.Row0(), 1e-3);

	// Changed contents under the same generation: the device still has the old A.
	for (auto &v : mv.a)
		v = -v;
	ASSERT_EQ(mv.Run(cl, 1, 7, 7), 0);
	EXPECT_EQ(mv.y[0], before);
	EXPECT_EQ(cl.Counter("uploads"), 2);

	// A new generation of A: one upload, the new result; x is still reused.
	ASSERT_EQ(mv.Run(cl, 1, 8, 7), 0);
	EXPECT_EQ(cl.Counter("uploads"), 3) << cl.Describe();
	EXPECT_EQ(cl.Counter("reused"), 7) << cl.Describe();
	EXPECT_NEAR(mv.y[0], -before, 1e-3);

	// Another region with the same offsets and generations is another operand.
	ASSERT_EQ(mv.Run(cl, 2, 8, 7), 0);
	EXPECT_EQ(cl.Counter("uploads"), 5) << cl.Describe();
}

TEST(Cache, GenerationZeroIsNeverReused)
{
	Instance cl(CL(), {{"zero_copy", "off"}});
	ASSERT_EQ(cl.rc(), 0) << cl.err();
	Matvec mv(50, 64);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(mv.Run(cl, 1, 0, 0), 0);
	EXPECT_EQ(cl.Counter("created"), 6) << cl.Describe();
	EXPECT_EQ(cl.Counter("reused"), 0) << cl.Describe();
	EXPECT_EQ(cl.Counter("uploads"), 6) << cl.Describe();
	// And a changed operand is seen at once.
	mv.x.assign(mv.x.size(), 0.0f);
	ASSERT_EQ(mv.Run(cl, 1, 0, 0), 0);
	EXPECT_EQ(mv.y[0], 0.0f);
}

// Zero copy (CL_MEM_USE_HOST_PTR, the default on a CPU device): nothing is
// ever uploaded, and cached buffers are reused by generation as well.
TEST(Cache, ZeroCopyUploadsNothing)
{
	Instance cl(CL(), {{"zero_copy", "on"}});
	ASSERT_EQ(cl.rc(), 0) << cl.err();
	Matvec mv(300, 1000);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(mv.Run(cl, 1, 7, 7), 0);
	EXPECT_EQ(cl.Counter("created"), 2) << cl.Describe();
	EXPECT_EQ(cl.Counter("reused"), 4) << cl.Describe();
	EXPECT_EQ(cl.Counter("uploads"), 0) << cl.Describe();
	EXPECT_NEAR(mv.y[0], mv.Row0(), 1e-3);
	// The buffer is the client's memory: a change shows even under the same generation.
	for (auto &v : mv.a)
		v = -v;
	ASSERT_EQ(mv.Run(cl, 1, 7, 7), 0);
	EXPECT_NEAR(mv.y[0], mv.Row0(), 1e-3);
	EXPECT_EQ(cl.Counter("uploads"), 0) << cl.Describe();
}

// A cache of 1 MiB holds one 800 kB matrix: the least recently used goes.
TEST(Cache, EvictsLeastRecentlyUsed)
{
	Instance cl(CL(), {{"zero_copy", "off"}, {"cache_mb", "1"}});
	ASSERT_EQ(cl.rc(), 0) << cl.err();
	Matvec mv(200, 1000);
	ASSERT_EQ(mv.Run(cl, 1, 1, 1), 0);
	ASSERT_EQ(mv.Run(cl, 1, 2, 1), 0); // A gen 2 evicts A gen 1
	EXPECT_EQ(cl.Counter("uploads"), 3) << cl.Describe();
	ASSERT_EQ(mv.Run(cl, 1, 1, 1), 0); // uploaded again
	EXPECT_EQ(cl.Counter("uploads"), 4) << cl.Describe();
	EXPECT_NEAR(mv.y[0], mv.Row0(), 1e-3);

	Instance off(CL(), {{"zero_copy", "off"}, {"cache_mb", "0"}});
	ASSERT_EQ(off.rc(), 0) << off.err();
	ASSERT_EQ(mv.Run(off, 1, 1, 1), 0);
	ASSERT_EQ(mv.Run(off, 1, 1, 1), 0);
	EXPECT_EQ(off.Counter("reused"), 0) << off.Describe();
}

// ---- f64 on a device without it ---------------------------------------------------

TEST(Fp64, OffRefusesF64JobsClearly)
{
	HostLog log;
	Instance cl(CL(), {{"fp64", "off"}}, &log);
	ASSERT_EQ(cl.rc(), 0) << cl.err();
	EXPECT_NE(cl.Describe().find("fp64=no"), std::string::npos) << cl.Describe();
	std::vector<double> x(10, 1.0);
	hpc_job j = MakeJob(HPC_OP_SUM, HPC_F64, 0, x.size(), 0, x.data(), nullptr, nullptr, 0);
	EXPECT_EQ(cl.Run(&j), -EOPNOTSUPP);
	EXPECT_NE(log.All().find("f64 job refused"), std::string::npos) << log.All();
	std::vector<float> xf(10, 1.0f);
	j = MakeJob(HPC_OP_SUM, HPC_F32, 0, xf.size(), 0, xf.data(), nullptr, nullptr, 0);
	ASSERT_EQ(cl.Run(&j), 0);
	EXPECT_EQ(j.result, 10.0);
}

// ---- bad jobs and concurrency --------------------------------------------------------

TEST(Run, RefusesBadJobsAndStaysUsable)
{
	Instance cl(CL(), {});
	ASSERT_EQ(cl.rc(), 0) << cl.err();
	std::vector<double> x = {1, 2, 3};
	hpc_job j = MakeJob(HPC_OP_NONE, HPC_F64, 0, 3, 0, x.data(), x.data(), nullptr, 0);
	EXPECT_EQ(cl.Run(&j), -EOPNOTSUPP);
	j = MakeJob(HPC_OP_SUM, 7, 0, 3, 0, x.data(), nullptr, nullptr, 0);
	EXPECT_EQ(cl.Run(&j), -EOPNOTSUPP);
	j = MakeJob(HPC_OP_DOT, HPC_F64, 0, 3, 0, x.data(), nullptr, nullptr, 0);
	EXPECT_EQ(cl.Run(&j), -EINVAL);
	j = MakeJob(HPC_OP_MATVEC, HPC_F64, 1ull << 62, 1ull << 62, 0, x.data(), x.data(), x.data(),
		    0);
	EXPECT_EQ(cl.Run(&j), -EOVERFLOW);
	// Larger than any buffer the device can hold (the pointer is never read).
	j = MakeJob(HPC_OP_SUM, HPC_F64, 0, 1ull << 40, 0, x.data(), nullptr, nullptr, 0);
	EXPECT_EQ(cl.Run(&j), -EFBIG);
	j = MakeJob(HPC_OP_SUM, HPC_F64, 0, 3, 0, x.data(), nullptr, nullptr, 0);
	ASSERT_EQ(cl.Run(&j), 0);
	EXPECT_EQ(j.result, 6.0);
}

// Eight daemon-like threads share one instance; every result must equal, bit
// for bit, the one computed alone (the launch geometry is fixed per instance).
TEST(Concurrency, EightCallersOnOneInstance)
{
	Instance cl(CL(), {});
	ASSERT_EQ(cl.rc(), 0) << cl.err();
	const std::vector<Shape> shapes = {
	    {HPC_OP_DOT, 0, 200003, 0},  {HPC_OP_SUM, 0, 100001, 0},  {HPC_OP_MATVEC, 301, 299, 0},
	    {HPC_OP_MATMUL, 41, 50, 61}, {HPC_OP_AXPY, 0, 100003, 0}, {HPC_OP_MATVEC, 7, 33, 0},
	};
	std::vector<Operands<double>> ops;
	std::vector<std::vector<double>> alone;
	for (const Shape &s : shapes) {
		ops.emplace_back(s, 3);
		int rc;
		alone.push_back(RunShape<double>(cl, s, ops.back(), &rc));
		ASSERT_EQ(rc, 0);
	}
	std::atomic<int> mismatches{0}, failures{0};
	std::vector<std::thread> callers;
	for (int t = 0; t < 8; t++) {
		callers.emplace_back([&, t] {
			for (int r = 0; r < 10; r++) {
				size_t i = (size_t)(t + r) % shapes.size();
				int rc;
				std::vector<double> got =
				    RunShape<double>(cl, shapes[i], ops[i], &rc);
				if (rc != 0)
					failures++;
				else if (got != alone[i])
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
} // namespace cltest

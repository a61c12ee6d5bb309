// Conformance of the mpi backend against serial: every op and element type on
// awkward shapes (sizes below, equal to and not divisible by the rank count,
// and empty ones), with np = 1, 2 and 3, once with the ranks reading the
// client's region directly (local_mmap, the default) and once with every
// operand travelling over MPI (local_mmap = false: Scatterv / Bcast / Gatherv).
// Then resident operands: what the generation numbers promise, observed.
// Bound: tests/common/numerics.h (2 gamma(n) sum|terms| per result against
// serial).
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/mpi/mpi_harness.h"

namespace mpitest
{
namespace
{

struct Config {
	const char *name;
	int np;
	bool local_mmap;
};

const Config kConfigs[] = {
    {"np1", 1, true},           {"np2", 2, true},           {"np3", 3, true},
    {"np2_over_mpi", 2, false}, {"np3_over_mpi", 3, false},
};

// One MPI job per config for the whole program (mpirun takes ~0.5 s to start).
Instance &Mpi(const Config &c)
{
	static std::map<std::string, std::unique_ptr<Instance>> cache;
	auto &p = cache[c.name];
	if (!p)
		p.reset(new Instance("mpi", {{"np", std::to_string(c.np)},
					     {"mpirun_args", MpirunArgs()},
					     {"local_mmap", c.local_mmap ? "true" : "false"}}));
	return *p;
}

Instance &Serial()
{
	static Instance serial("serial", {});
	return serial;
}

const Shape kShapes[] = {
    {HPC_OP_MATVEC, 1, 1, 0},   {HPC_OP_MATVEC, 2, 3, 0},    {HPC_OP_MATVEC, 7, 5, 0},
    {HPC_OP_MATVEC, 33, 17, 0}, {HPC_OP_MATVEC, 100, 64, 0}, {HPC_OP_MATVEC, 3, 0, 0},
    {HPC_OP_MATVEC, 0, 4, 0},   {HPC_OP_MATMUL, 1, 1, 1},    {HPC_OP_MATMUL, 2, 3, 4},
    {HPC_OP_MATMUL, 7, 5, 3},   {HPC_OP_MATMUL, 13, 9, 11},  {HPC_OP_MATMUL, 40, 33, 70},
    {HPC_OP_MATMUL, 4, 3, 0},   {HPC_OP_DOT, 0, 1, 0},       {HPC_OP_DOT, 0, 2, 0},
    {HPC_OP_DOT, 0, 5, 0},      {HPC_OP_DOT, 0, 1001, 0},    {HPC_OP_DOT, 0, 0, 0},
    {HPC_OP_SUM, 0, 1, 0},      {HPC_OP_SUM, 0, 7, 0},       {HPC_OP_SUM, 0, 4099, 0},
    {HPC_OP_SUM, 0, 0, 0},      {HPC_OP_AXPY, 0, 1, 0},      {HPC_OP_AXPY, 0, 3, 0},
    {HPC_OP_AXPY, 0, 10, 0},    {HPC_OP_AXPY, 0, 999, 0},    {HPC_OP_AXPY, 0, 0, 0},
};

// Runs one shape on mpi and serial over the same inputs and compares.
void CheckShape(const Instance &mpi, Region &reg, const Shape &s, uint32_t dtype, uint64_t seed,
		uint64_t a_gen = 0, uint64_t b_gen = 0)
{
	const std::string what = Describe(s, dtype);
	SCOPED_TRACE(what);
	const size_t es = hpc_dtype_size(dtype);
	size_t na, nb, nout;
	Sizes(s, &na, &nb, &nout);
	reg.Reset();
	uint64_t a = reg.Alloc(na * es + 1), b = reg.Alloc(nb * es + 1);
	uint64_t out = reg.Alloc(nout * es + 1), ref = reg.Alloc(nout * es + 1);
	unsigned char *ar = reg.arena();
	FillRandom(ar + a, dtype, na, seed);
	FillRandom(ar + b, dtype, nb, seed + 1);
	FillRandom(ar + out, dtype, nout, seed + 2);
	std::memcpy(ar + ref, ar + out, nout * es);
	const std::vector<unsigned char> out0(ar + out, ar + out + nout * es); // axpy reads it
	const bool has_b =
	    nb > 0 || s.op == HPC_OP_DOT || s.op == HPC_OP_MATVEC || s.op == HPC_OP_MATMUL;
	const bool has_out = s.op != HPC_OP_DOT && s.op != HPC_OP_SUM;
	const double alpha = 0.75;

	hpc_job rj = reg.Job(s.op, dtype, s.m, s.n, s.k, a, b, ref, alpha, has_b, has_out);
	ASSERT_EQ(Serial().Run(&rj), 0);
	hpc_job mj =
	    reg.Job(s.op, dtype, s.m, s.n, s.k, a, b, out, alpha, has_b, has_out, a_gen, b_gen);
	ASSERT_EQ(mpi.Run(&mj), 0) << mpi.Describe();
	if (IsScalar(s.op)) {
		ASSERT_FALSE(std::isnan(mj.result)) << "result not written";
	}
	ExpectMatchesSerial(what, JobOperands{s, dtype, ar + a, ar + b, out0.data(), alpha},
			    Results(s, dtype, mj.result, ar + out),
			    Results(s, dtype, rj.result, ar + ref));
}

class MpiConformance : public ::testing::TestWithParam<Config>
{
};

TEST_P(MpiConformance, EveryOpAndTypeAgainstSerial)
{
	const Config &c = GetParam();
	Instance &mpi = Mpi(c);
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();
	EXPECT_NE(mpi.Describe().find("np=" + std::to_string(c.np)), std::string::npos)
	    << mpi.Describe();
	Region reg(1 << 20, "mpi-test", 1000 + c.np * 10 + c.local_mmap);
	ASSERT_TRUE(reg.ok());
	uint64_t seed = 1, gen = 100;
	for (uint32_t dtype : {HPC_F64, HPC_F32})
		for (const Shape &s : kShapes) {
			CheckShape(mpi, reg, s, dtype, seed += 7);
			// Again with generations: the first sends and keeps, the second reuses.
			// Every new content gets new generations (the client's side of the
			// contract).
			gen += 2;
			CheckShape(mpi, reg, s, dtype, seed += 7, gen, gen + 1);
			CheckShape(mpi, reg, s, dtype, seed, gen, gen + 1);
			if (HasFatalFailure())
				return;
		}
	mpi.Forget(reg.id());
}

// The ranks report how they are placed: with local_mmap every rank here maps
// the region; without it only rank 0 does.
TEST_P(MpiConformance, DescribesThePlacement)
{
	const Config &c = GetParam();
	Instance &mpi = Mpi(c);
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();
	int mapped = c.local_mmap ? c.np : 1;
	EXPECT_NE(mpi.Describe().find("mapped=" + std::to_string(mapped) + " "), std::string::npos)
	    << mpi.Describe();
}

INSTANTIATE_TEST_SUITE_P(Mpi, MpiConformance, ::testing::ValuesIn(kConfigs),
			 [](const ::testing::TestParamInfo<Config> &i) { return i.param.name; });

// ---- resident operands ---------------------------------------------------------------

double Hits(const Instance &mpi)
{
	std::string d = mpi.Describe();
	size_t p = d.find(" hits=");
	return p == std::string::npos ? -1 : std::atof(d.c_str() + p + 6);
}

// y = A x through mpi with the given generation; returns y[0..m).
std::vector<double> Matvec(const Instance &mpi, Region &reg, uint64_t a, uint64_t x, uint64_t y,
			   uint64_t m, uint64_t n, uint64_t a_gen)
{
	hpc_job j = reg.Job(HPC_OP_MATVEC, HPC_F64, m, n, 0, a, x, y, 0, true, true, a_gen, 0);
	EXPECT_EQ(mpi.Run(&j), 0);
	const double *p = reinterpret_cast<const double *>(reg.arena() + y);
	return std::vector<double>(p, p + m);
}

std::vector<double> Expected(const Region &reg, uint64_t a, uint64_t x, uint64_t m, uint64_t n)
{
	const double *A = reinterpret_cast<const double *>(reg.arena() + a);
	const double *X = reinterpret_cast<const double *>(reg.arena() + x);
	std::vector<double> y(m);
	for (uint64_t i = 0; i < m; i++) {
		long double s = 0;
		for (uint64_t j = 0; j < n; j++)
			s += (long double)A[i * n + j] * X[j];
		y[i] = (double)s;
	}
	return y;
}

void ExpectClose(const std::vector<double> &got, const std::vector<double> &want)
{
	ASSERT_EQ(got.size(), want.size());
	for (size_t i = 0; i < got.size(); i++)
		ASSERT_NEAR(got[i], want[i], 1e-12) << "row " << i;
}

// With the operands travelling over MPI: the same (offset, shape, gen != 0)
// is sent once and then kept on the ranks; a new generation, gen 0, a job
// that writes over the operand, and forget_region() each make it go again.
// (Changing A in place under the same generation breaks the client's side of
// the contract; the test does it only to observe that A was not sent again.)
TEST(MpiResident, GenerationsDecideWhatIsSent)
{
	for (int np : {2, 3}) {
		SCOPED_TRACE("np=" + std::to_string(np));
		Instance &mpi = Mpi(kConfigs[np == 2 ? 3 : 4]);
		ASSERT_EQ(mpi.rc(), 0) << mpi.err();
		Region reg(1 << 20, "mpi-test", 2000 + np);
		ASSERT_TRUE(reg.ok());
		const uint64_t m = 37, n = 23;
		uint64_t a = reg.Alloc(m * n * 8), x = reg.Alloc(n * 8), y = reg.Alloc(m * 8);
		FillRandom(reg.arena() + a, HPC_F64, m * n, 11);
		FillRandom(reg.arena() + x, HPC_F64, n, 12);
		std::vector<double> before = Expected(reg, a, x, m, n);

		double h0 = Hits(mpi);
		ExpectClose(Matvec(mpi, reg, a, x, y, m, n, 7), before);
		EXPECT_EQ(Hits(mpi), h0) << "the first job cannot find A on the ranks";
		ExpectClose(Matvec(mpi, reg, a, x, y, m, n, 7), before);
		EXPECT_EQ(Hits(mpi), h0 + 1) << mpi.Describe();

		// Same generation, changed contents: the ranks still compute with the old A.
		FillRandom(reg.arena() + a, HPC_F64, m * n, 13);
		std::vector<double> after = Expected(reg, a, x, m, n);
		std::vector<double> stale = Matvec(mpi, reg, a, x, y, m, n, 7);
		// Rank 0's rows come from the region itself; the other ranks' rows are resident.
		uint64_t rows0 = m / np + (m % np ? 1 : 0);
		ExpectClose(std::vector<double>(stale.begin() + rows0, stale.end()),
			    std::vector<double>(before.begin() + rows0, before.end()));
		// A new generation sends it again.
		ExpectClose(Matvec(mpi, reg, a, x, y, m, n, 8), after);
		ExpectClose(Matvec(mpi, reg, a, x, y, m, n, 8), after);
		// Generation 0 always sends.
		FillRandom(reg.arena() + a, HPC_F64, m * n, 14);
		after = Expected(reg, a, x, m, n);
		ExpectClose(Matvec(mpi, reg, a, x, y, m, n, 0), after);
		FillRandom(reg.arena() + a, HPC_F64, m * n, 15);
		after = Expected(reg, a, x, m, n);
		ExpectClose(Matvec(mpi, reg, a, x, y, m, n, 0), after);

		// A job whose output overlaps the resident A drops it.
		ExpectClose(Matvec(mpi, reg, a, x, y, m, n, 9), after);
		hpc_job ax =
		    reg.Job(HPC_OP_AXPY, HPC_F64, 0, n, 0, x, 0, a, 2.0, false, true, 0, 0);
		ASSERT_EQ(mpi.Run(&ax), 0);
		after = Expected(reg, a, x, m, n);
		ExpectClose(Matvec(mpi, reg, a, x, y, m, n, 9), after);

		// forget_region drops everything of the region; the next job sends it all again.
		mpi.Forget(reg.id());
		FillRandom(reg.arena() + a, HPC_F64, m * n, 16);
		after = Expected(reg, a, x, m, n);
		ExpectClose(Matvec(mpi, reg, a, x, y, m, n, 9), after);
		mpi.Forget(reg.id());
	}
}

// matmul's B is broadcast once per generation too.
TEST(MpiResident, MatmulKeepsBothOperands)
{
	Instance &mpi = Mpi(kConfigs[3]);
	ASSERT_EQ(mpi.rc(), 0) << mpi.err();
	Region reg(1 << 20, "mpi-test", 3000);
	ASSERT_TRUE(reg.ok());
	const uint64_t m = 9, n = 5, k = 6;
	uint64_t a = reg.Alloc(m * k * 8), b = reg.Alloc(k * n * 8), c = reg.Alloc(m * n * 8);
	FillRandom(reg.arena() + a, HPC_F64, m * k, 21);
	FillRandom(reg.arena() + b, HPC_F64, k * n, 22);
	std::vector<double> first;
	for (int rep = 0; rep < 2; rep++) {
		double h0 = Hits(mpi);
		hpc_job j = reg.Job(HPC_OP_MATMUL, HPC_F64, m, n, k, a, b, c, 0, true, true, 3, 4);
		ASSERT_EQ(mpi.Run(&j), 0);
		const double *C = reinterpret_cast<const double *>(reg.arena() + c);
		if (rep == 0)
			first.assign(C, C + m * n);
		else
			ExpectClose(std::vector<double>(C, C + m * n), first);
		EXPECT_EQ(Hits(mpi), h0 + rep);
	}
	mpi.Forget(reg.id());
}

} // namespace
} // namespace mpitest

/*
 * tests/cli/hpcrun_fake_test.cc - hpcrun from command line to output, linked
 * with the fake libhpc (tests/cli/fake_libhpc.c) that computes jobs in
 * process: shape inference, element types, text and file output, the
 * sentences of failed jobs and control requests; and hpcgen.
 *
 * Operand values are small multiples of 1/4 so that every sum in these tests
 * is exact in both f32 and f64 whatever the order of summation, and the
 * expected text can be written down.
 */
#include <math.h>
#include <string.h>

#include <string>
#include <vector>

#include "cli/datafile.h"
#include "tests/cli/test_util.h"

using hpctest::fresh_dir;
using hpctest::read_file;
using hpctest::result;
using hpctest::write_file;

namespace
{

class HpcrunFake : public ::testing::Test
{
      protected:
	void SetUp() override
	{
		dir = fresh_dir();
	}
	std::string path(const std::string &name)
	{
		return dir + "/" + name;
	}
	result hpcrun(const std::vector<std::string> &args, std::vector<std::string> env = {})
	{
		env.push_back("HPC_FAKE=1");
		return hpctest::run(hpctest::runfile("tests/cli/hpcrun_fake"), args, env);
	}
	result hpcgen(const std::vector<std::string> &args)
	{
		return hpctest::run(hpctest::runfile("cli/hpcgen"), args);
	}
	/* Write an array with the library under test (its own tests check it against numpy). */
	std::string put(const std::string &name, uint32_t dtype, std::vector<uint64_t> shape,
			const std::vector<double> &v)
	{
		std::string p = path(name);
		std::vector<float> f(v.begin(), v.end());
		char err[256];
		EXPECT_EQ(hpc_df_write(p.c_str(), hpc_df_format_of(p.c_str()), dtype,
				       (unsigned)shape.size(), shape.data(),
				       dtype == HPC_F64 ? (const void *)v.data() : f.data(), err,
				       sizeof(err)),
			  0)
		    << err;
		return p;
	}
	void expect_ok(const result &r, const std::string &out)
	{
		EXPECT_EQ(r.code, 0) << r.err;
		EXPECT_EQ(r.err, "");
		EXPECT_EQ(r.out, out);
	}
	void expect_fail(const result &r, const std::string &err)
	{
		EXPECT_EQ(r.code, 1);
		EXPECT_EQ(r.err, "hpcrun: " + err + "\n") << "got: " << r.err;
		EXPECT_EQ(r.out, "");
	}
	std::string dir;
};

/* A is 2 x 3, x has 3 elements: A.x = (1*1 + 2*0.5 + 3*0.25, 4*1 + 5*0.5 + 6*0.25) */
const std::vector<double> A23 = {1, 2, 3, 4, 5, 6};
const std::vector<double> X3 = {1, 0.5, 0.25};

TEST_F(HpcrunFake, MatvecNpy)
{
	std::string a = put("A.npy", HPC_F64, {2, 3}, A23), x = put("x.npy", HPC_F64, {3}, X3);
	expect_ok(hpcrun({"matvec", a, x}), "2.75\n8\n");
	/* Options after the command, -b passed through. */
	expect_ok(hpcrun({"matvec", a, x, "-b", "omp"}), "2.75\n8\n");
	expect_ok(hpcrun({"matvec", a, x, "-m", "2", "-n", "3"}), "2.75\n8\n");
	expect_fail(hpcrun({"matvec", a, x, "-m", "3"}),
		    "-m 3 does not fit: " + a + " and " + x + " give m = 2");
}

TEST_F(HpcrunFake, MatvecRaw)
{
	std::string a = put("A.bin", HPC_F64, {6}, A23), x = put("x.bin", HPC_F64, {3}, X3);
	expect_ok(hpcrun({"matvec", a, x}), "2.75\n8\n");
	/* m = 6 / 2 = 3 with a 2-element x. */
	std::string x2 = put("x2.bin", HPC_F64, {2}, {1, 1});
	expect_ok(hpcrun({"matvec", a, x2}), "3\n7\n11\n");
	std::string x4 = put("x4.bin", HPC_F64, {4}, {1, 1, 1, 1});
	expect_fail(hpcrun({"matvec", a, x4}),
		    a +
			" holds 6 f64 values, which is not a whole number of rows of n = 4 "
			"(the length of " +
			x4 + ")");
	/* f32 raw files with --dtype, printed with 9 digits. */
	std::string a32 = put("A32.bin", HPC_F32, {6}, A23), x32 = put("x32.bin", HPC_F32, {3}, X3);
	expect_ok(hpcrun({"--dtype", "f32", "matvec", a32, x32}), "2.75\n8\n");
	/* Without --dtype they are read as f64: 24 bytes are 3 values, which 3 do not divide ... */
	result r = hpcrun({"matvec", a32, x32});
	EXPECT_EQ(r.code, 1);
}

TEST_F(HpcrunFake, MatvecShapeErrors)
{
	std::string a = put("A.npy", HPC_F64, {2, 3}, A23);
	std::string x4 = put("x4.npy", HPC_F64, {4}, {1, 2, 3, 4});
	expect_fail(hpcrun({"matvec", a, x4}),
		    a + " is a 2 x 3 matrix but " + x4 +
			" has 4 elements; matvec needs as many columns as elements");
	std::string v = put("v.npy", HPC_F64, {6}, A23);
	std::string x = put("x.npy", HPC_F64, {3}, X3);
	expect_fail(hpcrun({"matvec", v, x}),
		    v + ": matvec needs a matrix (2-D) for A, but the file holds a vector of 6");
	expect_fail(hpcrun({"matvec", a, a}),
		    a + ": matvec needs a vector (1-D) for x, but the file holds a 2 x 3 matrix");
	std::string e = put("e.npy", HPC_F64, {0}, {});
	expect_fail(hpcrun({"matvec", a, e}), e + " holds no values");
}

TEST_F(HpcrunFake, MatvecOutputFiles)
{
	std::string a = put("A.npy", HPC_F64, {2, 3}, A23), x = put("x.npy", HPC_F64, {3}, X3);
	expect_ok(hpcrun({"matvec", a, x, "-o", path("y.npy")}), "");
	hpc_df_info info;
	char err[256];
	ASSERT_EQ(hpc_df_inspect(path("y.npy").c_str(), HPC_F64, &info, err, sizeof(err)), 0)
	    << err;
	EXPECT_EQ(info.ndim, 1u);
	EXPECT_EQ(info.shape[0], 2u);
	std::string y = read_file(path("y.npy"));
	double want[2] = {2.75, 8};
	EXPECT_EQ(y.substr(info.data_offset), std::string((const char *)want, 16));

	expect_ok(hpcrun({"-o", path("y.bin"), "matvec", a, x}), "");
	EXPECT_EQ(read_file(path("y.bin")), std::string((const char *)want, 16));
	expect_fail(hpcrun({"matvec", a, x, "-o", path("no/dir/y.npy")}),
		    path("no/dir/y.npy") + ": cannot create: No such file or directory");
}

TEST_F(HpcrunFake, Matmul)
{
	/* B is 3 x 2. */
	std::vector<double> b = {1, 0, 0, 1, 0.5, 0.25};
	std::string want = "2.5 2.75\n7 6.5\n";
	std::string an = put("A.npy", HPC_F64, {2, 3}, A23), bn = put("B.npy", HPC_F64, {3, 2}, b);
	expect_ok(hpcrun({"matmul", an, bn}), want);
	std::string ar = put("A.bin", HPC_F64, {6}, A23), br = put("B.bin", HPC_F64, {6}, b);
	expect_ok(hpcrun({"matmul", ar, br, "-k", "3"}), want);
	expect_ok(hpcrun({"matmul", ar, br, "-m", "2"}), want);
	expect_ok(hpcrun({"matmul", "-n", "2", ar, br}), want);
	expect_ok(hpcrun({"matmul", ar, br, "-m", "2", "-k", "3", "-n", "2"}), want);
	/* One npy operand decides the shapes of the raw one. */
	expect_ok(hpcrun({"matmul", an, br}), want);
	expect_ok(hpcrun({"matmul", ar, bn}), want);
	/* Other shapes of the same raw data: A 3 x 2 . B 2 x 3. */
	expect_ok(hpcrun({"matmul", ar, br, "-k", "2"}), "3 1 0.5\n7 2 1\n11 3 1.5\n");

	result r = hpcrun({"matmul", ar, br});
	EXPECT_EQ(r.code, 2);
	EXPECT_EQ(r.err.rfind("hpcrun: matmul of raw files needs a shape: give -m, -k or -n\n", 0),
		  0u)
	    << r.err;
	expect_fail(hpcrun({"matmul", ar, br, "-k", "4"}),
		    ar + " holds 6 f64 values, which is not a multiple of k = 4 (from -k)");
	expect_fail(hpcrun({"matmul", ar, br, "-m", "2", "-k", "2"}),
		    ar + " holds 6 values but its shape 2 x 2 needs 4");
	expect_fail(hpcrun({"matmul", an, bn, "-k", "2"}),
		    "the shapes do not fit: -k gives k = 2 but " + an + " gives k = 3");
	expect_fail(hpcrun({"matmul", an, an}),
		    "the shapes do not fit: " + an + " gives k = 3 but " + an + " gives k = 2");
	std::string v = put("v.npy", HPC_F64, {6}, A23);
	expect_fail(hpcrun({"matmul", an, v}),
		    v + ": matmul needs a matrix (2-D) for B, but the file holds a vector of 6");

	expect_ok(hpcrun({"matmul", an, bn, "-o", path("C.npy")}), "");
	hpc_df_info info;
	char err[256];
	ASSERT_EQ(hpc_df_inspect(path("C.npy").c_str(), HPC_F64, &info, err, sizeof(err)), 0)
	    << err;
	EXPECT_EQ(info.ndim, 2u);
	EXPECT_EQ(info.shape[0], 2u);
	EXPECT_EQ(info.shape[1], 2u);
}

TEST_F(HpcrunFake, MatmulF32)
{
	std::vector<double> b = {1, 0, 0, 1, 0.5, 0.25};
	std::string an = put("A.npy", HPC_F32, {2, 3}, A23), bn = put("B.npy", HPC_F32, {3, 2}, b);
	expect_ok(hpcrun({"matmul", an, bn}), "2.5 2.75\n7 6.5\n");
	expect_ok(hpcrun({"matmul", an, bn, "--dtype", "f32"}), "2.5 2.75\n7 6.5\n");
}

TEST_F(HpcrunFake, DotSumAxpy)
{
	std::string x = put("x.npy", HPC_F64, {3}, X3), y = put("y.npy", HPC_F64, {3}, {4, 8, 16});
	expect_ok(hpcrun({"dot", x, y}), "12\n");
	expect_ok(hpcrun({"sum", x}), "1.75\n");
	expect_ok(hpcrun({"axpy", "-2", x, y}), "2\n7\n15.5\n");
	expect_ok(hpcrun({"axpy", "0.5", x, y, "-o", path("out.npy")}), "");
	hpc_df_info info;
	char err[256];
	ASSERT_EQ(hpc_df_inspect(path("out.npy").c_str(), HPC_F64, &info, err, sizeof(err)), 0)
	    << err;
	EXPECT_EQ(info.ndim, 1u);
	EXPECT_EQ(info.shape[0], 3u);
	/* The input y is left as it was: the result went to out.npy only. */
	expect_ok(hpcrun({"sum", y}), "28\n");
	/* Writing over an input works: every operand is read before the result is written. */
	expect_ok(hpcrun({"axpy", "1", x, y, "-o", y}), "");
	expect_ok(hpcrun({"sum", y}), "29.75\n");

	std::string x4 = put("x4.npy", HPC_F64, {4}, {1, 2, 3, 4});
	expect_fail(hpcrun({"dot", x, x4}),
		    x + " has 3 elements but " + x4 + " has 4; dot needs vectors of equal length");
	expect_fail(hpcrun({"axpy", "1", x, x4}),
		    x + " has 3 elements but " + x4 + " has 4; axpy needs vectors of equal length");
	std::string m = put("m.npy", HPC_F64, {1, 3}, X3);
	expect_fail(hpcrun({"sum", m}),
		    m + ": sum needs a vector (1-D) for x, but the file holds a 1 x 3 matrix");
	std::string s = put("s.npy", HPC_F64, {}, {5});
	expect_fail(hpcrun({"sum", s}),
		    s + ": sum needs a vector (1-D) for x, but the file holds a 0-D array");
}

TEST_F(HpcrunFake, PrintsRoundTrippableText)
{
	std::string x = put("third.npy", HPC_F64, {1}, {1.0 / 3});
	expect_ok(hpcrun({"sum", x}), "0.33333333333333331\n");
	std::string f = put("third32.npy", HPC_F32, {1}, {1.0 / 3});
	expect_ok(hpcrun({"sum", f}), "0.333333343\n");
	expect_ok(hpcrun({"axpy", "0", f, f}), "0.333333343\n");
	std::string big = put("big.npy", HPC_F64, {2}, {1e300, -2.5e-310});
	expect_ok(hpcrun({"axpy", "0", big, big}),
		  "1.0000000000000001e+300\n-2.5000000000000171e-310\n");
}

TEST_F(HpcrunFake, ElementTypesMustAgree)
{
	std::string a64 = put("A.npy", HPC_F64, {2, 3}, A23);
	std::string x32 = put("x32.npy", HPC_F32, {3}, X3);
	expect_fail(hpcrun({"matvec", a64, x32}),
		    a64 + " holds f64 values but " + x32 +
			" holds f32; both operands must have the same element type");
	expect_fail(hpcrun({"--dtype", "f32", "matvec", a64, x32}),
		    a64 + " holds f64 values but --dtype f32 was given");
	std::string xraw = put("x.bin", HPC_F64, {3}, X3);
	std::string a32 = put("A32.npy", HPC_F32, {2, 3}, A23);
	expect_fail(hpcrun({"matvec", a32, xraw}),
		    xraw + " is read as f64 (raw files are f64 unless --dtype f32 is given) but " +
			a32 +
			" holds f32 values; both operands must have the same element "
			"type");
	/* --dtype f32 makes the raw file f32, and then they agree. */
	std::string xraw32 = put("x32.bin", HPC_F32, {3}, X3);
	expect_ok(hpcrun({"matvec", a32, xraw32, "--dtype=f32"}), "2.75\n8\n");
}

TEST_F(HpcrunFake, FileErrorsNameTheFile)
{
	std::string p = path("A.npy");
	std::string h = "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 1), }\n";
	write_file(p, std::string("\x93NUMPY\x01\x00", 8) + (char)h.size() + '\0' + h +
			  std::string(8, '\0'));
	std::string x = put("x.npy", HPC_F64, {1}, {1});
	expect_fail(hpcrun({"matvec", p, x}),
		    p + ": Fortran-order arrays are not supported; save with "
			"numpy.ascontiguousarray");
	std::string odd = path("odd.bin");
	write_file(odd, std::string(12, '\0'));
	expect_fail(hpcrun({"sum", odd}),
		    odd + ": raw file of 12 bytes is not a whole number of f64 values (8 bytes "
			  "each); use --dtype f32 for float32 data");
	expect_ok(hpcrun({"sum", odd, "--dtype", "f32"}), "0\n");
}

TEST_F(HpcrunFake, JobFailures)
{
	std::string x = put("x.npy", HPC_F64, {3}, X3);
	std::string a = put("A.npy", HPC_F64, {2, 3}, A23);
	expect_fail(hpcrun({"sum", x, "-b", "gpu"}, {"HPC_FAKE_STATUS=2,9"}),
		    "no backend named 'gpu' on the daemon");
	expect_fail(hpcrun({"sum", x}, {"HPC_FAKE_STATUS=2,9"}),
		    "the daemon has no default backend; name one with -b");
	expect_fail(hpcrun({"matvec", a, x, "-b", "mpi"}, {"HPC_FAKE_STATUS=95,10"}),
		    "backend 'mpi' does not support matvec on f64 values");
	expect_fail(hpcrun({"sum", x, "-b", "omp"}, {"HPC_FAKE_STATUS=5,11"}),
		    "backend 'omp' failed to run sum: the backend reported an error");
	expect_fail(hpcrun({"dot", x, x}, {"HPC_FAKE_STATUS=108,12"}),
		    "dot failed: the daemon is shutting down");
}

TEST_F(HpcrunFake, Control)
{
	expect_ok(hpcrun({"status", "-s", "/x.sock"}), "fake status at /x.sock\n");
	expect_ok(hpcrun({"backends"}, {"HPCD_SOCKET=/y.sock"}), "fake backends at /y.sock\n");
	expect_ok(hpcrun({"reload", "-b", "ignored"}, {"-HPCD_SOCKET"}),
		  "fake reload at /tmp/hpcd.sock\n");
	expect_fail(hpcrun({"reload"}, {"HPC_FAKE_REFUSE=1"}),
		    "reload refused by hpcd: bad.ini:3: unknown key 'thread'");
}

TEST_F(HpcrunFake, LargeOutput)
{
	/* Every line of a long vector arrives (the stdout buffer is flushed at exit). */
	const uint64_t n = 200000;
	std::vector<double> x(n, 0.5), y(n);
	for (uint64_t i = 0; i < n; i++)
		y[i] = (double)i;
	std::string xp = put("x.npy", HPC_F64, {n}, x), yp = put("y.npy", HPC_F64, {n}, y);
	result r = hpcrun({"axpy", "2", xp, yp});
	ASSERT_EQ(r.code, 0) << r.err;
	std::string want;
	for (uint64_t i = 0; i < n; i++)
		want += std::to_string(i + 1) + "\n";
	EXPECT_EQ(r.out, want);
}

/* ---- hpcgen -------------------------------------------------------------------- */

std::vector<double> load(const std::string &p, hpc_df_info *info)
{
	hpc_df_file f;
	char err[256];
	EXPECT_EQ(hpc_df_open(p.c_str(), HPC_F64, &f, err, sizeof(err)), 0) << err;
	std::vector<double> v(f.info.count);
	if (f.info.dtype == HPC_F64) {
		EXPECT_EQ(hpc_df_read(&f, v.data(), v.size() * 8, err, sizeof(err)), 0) << err;
	} else {
		std::vector<float> t(f.info.count);
		EXPECT_EQ(hpc_df_read(&f, t.data(), t.size() * 4, err, sizeof(err)), 0) << err;
		v.assign(t.begin(), t.end());
	}
	*info = f.info;
	hpc_df_close(&f);
	return v;
}

TEST_F(HpcrunFake, Hpcgen)
{
	ASSERT_EQ(hpcgen({"40", "30", path("A.npy")}).code, 0);
	hpc_df_info info;
	std::vector<double> a = load(path("A.npy"), &info);
	EXPECT_EQ(info.dtype, (uint32_t)HPC_F64);
	EXPECT_EQ(info.ndim, 2u);
	EXPECT_EQ(info.shape[0], 40u);
	EXPECT_EQ(info.shape[1], 30u);
	double lo = 1, hi = -1, mean = 0;
	for (double v : a) {
		lo = fmin(lo, v);
		hi = fmax(hi, v);
		mean += v / (double)a.size();
	}
	EXPECT_GE(lo, -1.0);
	EXPECT_LT(hi, 1.0);
	EXPECT_LT(lo, -0.9);
	EXPECT_GT(hi, 0.9);
	EXPECT_LT(fabs(mean), 0.1);

	/* Deterministic for a seed; a different seed gives different values. */
	ASSERT_EQ(hpcgen({"40", "30", path("A2.npy")}).code, 0);
	EXPECT_EQ(read_file(path("A.npy")), read_file(path("A2.npy")));
	ASSERT_EQ(hpcgen({"--seed", "7", "40", "30", path("A3.npy")}).code, 0);
	EXPECT_NE(read_file(path("A.npy")), read_file(path("A3.npy")));

	/* Raw by suffix; the same values as the .npy. */
	ASSERT_EQ(hpcgen({"40", "30", path("A.bin")}).code, 0);
	std::string npy = read_file(path("A.npy"));
	EXPECT_EQ(npy.substr(npy.size() - 40 * 30 * 8), read_file(path("A.bin")));

	ASSERT_EQ(hpcgen({"--dtype", "f32", "--range", "-3", "-2", "1000", path("v.npy")}).code, 0);
	std::vector<double> v = load(path("v.npy"), &info);
	EXPECT_EQ(info.dtype, (uint32_t)HPC_F32);
	EXPECT_EQ(info.ndim, 1u);
	EXPECT_EQ(info.count, 1000u);
	for (double e : v) {
		EXPECT_GE(e, -3.0);
		EXPECT_LT(e, -2.0);
	}

	for (auto args : std::vector<std::vector<std::string>>{
		 {},
		 {"10"},
		 {"0", path("z.npy")},
		 {"-3", path("z.npy")},
		 {"3x", path("z.npy")},
		 {"3", "4", "5", path("z.npy")},
		 {"--dtype", "f16", "3", path("z.npy")},
		 {"--seed", "-1", "3", path("z.npy")},
		 {"--range", "1", "1", "3", path("z.npy")},
		 {"--range", "1", "x", "3", path("z.npy")},
		 {"--frob", "3", path("z.npy")},
	     }) {
		result r = hpcgen(args);
		EXPECT_EQ(r.code, 2) << r.err;
		EXPECT_EQ(r.err.rfind("hpcgen: ", 0), 0u) << r.err;
	}
	EXPECT_FALSE(hpctest::exists(path("z.npy")));
	result r = hpcgen({"--help"});
	EXPECT_EQ(r.code, 0);
	EXPECT_EQ(r.out.rfind("usage: hpcgen", 0), 0u);
	r = hpcgen({"3", path("no/dir/z.npy")});
	EXPECT_EQ(r.code, 1);
	EXPECT_EQ(r.err, "hpcgen: " + path("no/dir/z.npy") +
			     ": cannot create: No such file or directory\n");
}

TEST_F(HpcrunFake, HpcgenFeedsHpcrun)
{
	ASSERT_EQ(hpcgen({"--seed", "3", "50", "20", path("A.npy")}).code, 0);
	ASSERT_EQ(hpcgen({"--seed", "4", "20", path("x.npy")}).code, 0);
	hpc_df_info info;
	std::vector<double> a = load(path("A.npy"), &info), x = load(path("x.npy"), &info);
	result r = hpcrun({"matvec", path("A.npy"), path("x.npy")});
	ASSERT_EQ(r.code, 0) << r.err;
	std::istringstream in(r.out);
	for (int i = 0; i < 50; i++) {
		double want = 0, got;
		for (int j = 0; j < 20; j++)
			want += a[i * 20 + j] * x[j];
		ASSERT_TRUE(in >> got);
		EXPECT_EQ(got, want) << "row " << i; /* same order of summation: bit-exact */
	}
	double extra;
	EXPECT_FALSE(in >> extra);
}

} // namespace

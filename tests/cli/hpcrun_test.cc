/*
 * tests/cli/hpcrun_test.cc - the real hpcrun against a real hpcd (started by
 * //tests/e2e:harness with the serial and openmp plugins): shape inference,
 * element types, .npy and raw operands, text and file output, the sentences
 * of failed jobs and of control requests, a daemon that is not there, reload
 * refused and accepted; and hpcgen.
 *
 * Operand values of the exact cases are small multiples of 1/4 so that every
 * sum is exact in both f32 and f64 whatever the order of summation: each such
 * case runs on the default backend, on -b serial and on -b omp, and must
 * print exactly the same text. The larger random cases are checked against a
 * bound instead (see AgreesWithSerialWithinTheBound).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli/datafile.h"
#include "tests/cli/test_util.h"
#include "tests/e2e/harness.h"

using hpctest::fresh_dir;
using hpctest::read_file;
using hpctest::result;
using hpctest::write_file;

namespace
{

const char kBackends[] = "[backend serial]\nplugin = serial\n"
			 "[backend omp]\nplugin = openmp\nthreads = 2\n";

/* The ways a job picks its backend: the daemon's default (serial, the first section), and each by
 * name. */
const std::vector<std::vector<std::string>> kPicks = {{}, {"-b", "serial"}, {"-b", "omp"}};

std::string joined(const std::vector<std::string> &args)
{
	std::string s = "hpcrun";
	for (const auto &a : args)
		s += " " + a;
	return s;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string> &b)
{
	a.insert(a.end(), b.begin(), b.end());
	return a;
}

result run_hpcrun(const std::vector<std::string> &args, const std::vector<std::string> &env)
{
	return hpctest::run(hpctest::runfile("cli/hpcrun"), args, env);
}

class Hpcrun : public ::testing::Test
{
      protected:
	static void SetUpTestSuite()
	{
		daemon_ = new hpce::Daemon(kBackends);
		started_ = daemon_->start();
	}
	static void TearDownTestSuite()
	{
		if (started_) {
			EXPECT_EQ(daemon_->stop(), 0) << daemon_->log();
		}
		delete daemon_;
		daemon_ = nullptr;
	}
	void SetUp() override
	{
		ASSERT_TRUE(started_) << "hpcd did not start:\n" << daemon_->log();
		ASSERT_TRUE(daemon_->running()) << "hpcd is gone:\n" << daemon_->log();
		dir = fresh_dir();
	}
	static const std::string &sock()
	{
		return daemon_->socket();
	}
	/* hpcrun finds the daemon through HPCD_SOCKET (-s is tested on its own). */
	result hpcrun(const std::vector<std::string> &args, std::vector<std::string> env = {})
	{
		env.push_back("HPCD_SOCKET=" + sock());
		return run_hpcrun(args, env);
	}
	result hpcgen(const std::vector<std::string> &args)
	{
		return hpctest::run(hpctest::runfile("cli/hpcgen"), args);
	}
	std::string path(const std::string &name)
	{
		return dir + "/" + name;
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
	void expect_ok(const std::vector<std::string> &args, const std::string &out)
	{
		SCOPED_TRACE(joined(args));
		result r = hpcrun(args);
		EXPECT_EQ(r.code, 0) << r.err;
		EXPECT_EQ(r.err, "");
		EXPECT_EQ(r.out, out);
	}
	/* The same exact answer from the default backend, from serial and from omp. */
	void expect_ok_everywhere(const std::vector<std::string> &args, const std::string &out)
	{
		for (const auto &pick : kPicks)
			expect_ok(args + pick, out);
	}
	void expect_fail(const std::vector<std::string> &args, const std::string &err)
	{
		SCOPED_TRACE(joined(args));
		result r = hpcrun(args);
		EXPECT_EQ(r.code, 1);
		EXPECT_EQ(r.err, "hpcrun: " + err + "\n") << "got: " << r.err;
		EXPECT_EQ(r.out, "");
	}
	/* Bytes of the data part of a .npy file written by hpcrun, after checking its header. */
	std::string npy_data(const std::string &p, uint32_t dtype, std::vector<uint64_t> shape)
	{
		hpc_df_info info;
		char err[256];
		EXPECT_EQ(hpc_df_inspect(p.c_str(), HPC_F64, &info, err, sizeof(err)), 0) << err;
		EXPECT_EQ(info.format, HPC_DF_NPY);
		EXPECT_EQ(info.dtype, dtype);
		EXPECT_EQ(info.ndim, shape.size());
		for (size_t i = 0; i < shape.size() && i < info.ndim; i++)
			EXPECT_EQ(info.shape[i], shape[i]) << "dimension " << i;
		std::string bytes = read_file(p);
		EXPECT_EQ(bytes.size(), info.data_offset + info.data_bytes);
		return bytes.substr(info.data_offset);
	}

	static hpce::Daemon *daemon_;
	static bool started_;
	std::string dir;
};
hpce::Daemon *Hpcrun::daemon_;
bool Hpcrun::started_;

template <typename T> std::string bytes_of(const std::vector<T> &v)
{
	return std::string((const char *)v.data(), v.size() * sizeof(T));
}

/* A is 2 x 3, x has 3 elements: A.x = (1*1 + 2*0.5 + 3*0.25, 4*1 + 5*0.5 + 6*0.25) */
const std::vector<double> A23 = {1, 2, 3, 4, 5, 6};
const std::vector<double> X3 = {1, 0.5, 0.25};

TEST_F(Hpcrun, MatvecNpy)
{
	std::string a = put("A.npy", HPC_F64, {2, 3}, A23), x = put("x.npy", HPC_F64, {3}, X3);
	expect_ok_everywhere({"matvec", a, x}, "2.75\n8\n");
	/* Options before the command, and shape flags that agree with the files. */
	expect_ok({"-b", "omp", "matvec", a, x}, "2.75\n8\n");
	expect_ok_everywhere({"matvec", a, x, "-m", "2", "-n", "3"}, "2.75\n8\n");
	expect_fail({"matvec", a, x, "-m", "3"},
		    "-m 3 does not fit: " + a + " and " + x + " give m = 2");
	expect_fail({"matvec", a, x, "-n", "4"}, "-n 4 does not fit: " + x + " has n = 3 elements");
}

TEST_F(Hpcrun, MatvecRaw)
{
	std::string a = put("A.bin", HPC_F64, {6}, A23), x = put("x.bin", HPC_F64, {3}, X3);
	expect_ok_everywhere({"matvec", a, x}, "2.75\n8\n");
	/* m = 6 / 2 = 3 with a 2-element x. */
	std::string x2 = put("x2.bin", HPC_F64, {2}, {1, 1});
	expect_ok_everywhere({"matvec", a, x2}, "3\n7\n11\n");
	std::string x4 = put("x4.bin", HPC_F64, {4}, {1, 1, 1, 1});
	expect_fail({"matvec", a, x4},
		    a +
			" holds 6 f64 values, which is not a whole number of rows of n = 4 "
			"(the length of " +
			x4 + ")");
	/* f32 raw files with --dtype, printed with 9 digits. */
	std::string a32 = put("A32.bin", HPC_F32, {6}, A23), x32 = put("x32.bin", HPC_F32, {3}, X3);
	expect_ok_everywhere({"--dtype", "f32", "matvec", a32, x32}, "2.75\n8\n");
	/* Without --dtype the 12-byte x32 is read as f64 and refused before any job. */
	expect_fail({"matvec", a32, x32},
		    x32 + ": raw file of 12 bytes is not a whole number of f64 values (8 bytes "
			  "each); use --dtype f32 for float32 data");
}

TEST_F(Hpcrun, MatvecShapeErrors)
{
	std::string a = put("A.npy", HPC_F64, {2, 3}, A23);
	std::string x4 = put("x4.npy", HPC_F64, {4}, {1, 2, 3, 4});
	expect_fail({"matvec", a, x4},
		    a + " is a 2 x 3 matrix but " + x4 +
			" has 4 elements; matvec needs as many columns as elements");
	std::string v = put("v.npy", HPC_F64, {6}, A23);
	std::string x = put("x.npy", HPC_F64, {3}, X3);
	expect_fail({"matvec", v, x},
		    v + ": matvec needs a matrix (2-D) for A, but the file holds a vector of 6");
	expect_fail({"matvec", a, a},
		    a + ": matvec needs a vector (1-D) for x, but the file holds a 2 x 3 matrix");
	std::string e = put("e.npy", HPC_F64, {0}, {});
	expect_fail({"matvec", a, e}, e + " holds no values");
}

TEST_F(Hpcrun, MatvecOutputFiles)
{
	std::string a = put("A.npy", HPC_F64, {2, 3}, A23), x = put("x.npy", HPC_F64, {3}, X3);
	const std::vector<double> want = {2.75, 8};
	for (const auto &pick : kPicks) {
		SCOPED_TRACE(joined(pick));
		expect_ok(std::vector<std::string>{"matvec", a, x, "-o", path("y.npy")} + pick, "");
		EXPECT_EQ(npy_data(path("y.npy"), HPC_F64, {2}), bytes_of(want));
		expect_ok(std::vector<std::string>{"-o", path("y.bin"), "matvec", a, x} + pick, "");
		EXPECT_EQ(read_file(path("y.bin")), bytes_of(want));
		unlink(path("y.npy").c_str());
		unlink(path("y.bin").c_str());
	}
	/* f32 in, f32 out, in both formats. */
	std::string a32 = put("A32.npy", HPC_F32, {2, 3}, A23);
	std::string x32 = put("x32.npy", HPC_F32, {3}, X3);
	expect_ok({"matvec", a32, x32, "-o", path("y32.npy")}, "");
	EXPECT_EQ(npy_data(path("y32.npy"), HPC_F32, {2}), bytes_of(std::vector<float>{2.75f, 8}));
	expect_ok({"matvec", a32, x32, "--output=" + path("y32.raw")}, "");
	EXPECT_EQ(read_file(path("y32.raw")), bytes_of(std::vector<float>{2.75f, 8}));

	expect_fail({"matvec", a, x, "-o", path("no/dir/y.npy")},
		    path("no/dir/y.npy") + ": cannot create: No such file or directory");
}

TEST_F(Hpcrun, Matmul)
{
	/* B is 3 x 2. */
	std::vector<double> b = {1, 0, 0, 1, 0.5, 0.25};
	std::string want = "2.5 2.75\n7 6.5\n";
	std::string an = put("A.npy", HPC_F64, {2, 3}, A23), bn = put("B.npy", HPC_F64, {3, 2}, b);
	expect_ok_everywhere({"matmul", an, bn}, want);
	std::string ar = put("A.bin", HPC_F64, {6}, A23), br = put("B.bin", HPC_F64, {6}, b);
	expect_ok_everywhere({"matmul", ar, br, "-k", "3"}, want);
	expect_ok({"matmul", ar, br, "-m", "2"}, want);
	expect_ok({"matmul", "-n", "2", ar, br}, want);
	expect_ok({"matmul", ar, br, "-m", "2", "-k", "3", "-n", "2"}, want);
	/* One npy operand decides the shapes of the raw one. */
	expect_ok({"matmul", an, br}, want);
	expect_ok({"matmul", ar, bn}, want);
	/* Other shapes of the same raw data: A 3 x 2 . B 2 x 3. */
	expect_ok_everywhere({"matmul", ar, br, "-k", "2"}, "3 1 0.5\n7 2 1\n11 3 1.5\n");
	/* A 6 x 1 . B 1 x 6: an outer product, and a 1 x 1 result of A 1 x 6 . B 6 x 1. */
	expect_ok({"matmul", ar, br, "-k", "1"},
		  "1 0 0 1 0.5 0.25\n2 0 0 2 1 0.5\n3 0 0 3 1.5 0.75\n"
		  "4 0 0 4 2 1\n5 0 0 5 2.5 1.25\n6 0 0 6 3 1.5\n");
	expect_ok_everywhere({"matmul", ar, br, "-k", "6"}, "9\n");

	result r = hpcrun({"matmul", ar, br});
	EXPECT_EQ(r.code, 2);
	EXPECT_EQ(r.err.rfind("hpcrun: matmul of raw files needs a shape: give -m, -k or -n\n", 0),
		  0u)
	    << r.err;
	expect_fail({"matmul", ar, br, "-k", "4"},
		    ar + " holds 6 f64 values, which is not a multiple of k = 4 (from -k)");
	expect_fail({"matmul", ar, br, "-m", "2", "-k", "2"},
		    ar + " holds 6 values but its shape 2 x 2 needs 4");
	expect_fail({"matmul", an, bn, "-k", "2"},
		    "the shapes do not fit: -k gives k = 2 but " + an + " gives k = 3");
	expect_fail({"matmul", an, an},
		    "the shapes do not fit: " + an + " gives k = 3 but " + an + " gives k = 2");
	std::string v = put("v.npy", HPC_F64, {6}, A23);
	expect_fail({"matmul", an, v},
		    v + ": matmul needs a matrix (2-D) for B, but the file holds a vector of 6");

	const std::vector<double> c = {2.5, 2.75, 7, 6.5};
	expect_ok({"matmul", an, bn, "-o", path("C.npy")}, "");
	EXPECT_EQ(npy_data(path("C.npy"), HPC_F64, {2, 2}), bytes_of(c));
	expect_ok({"matmul", ar, br, "-k", "3", "-b", "omp", "-o", path("C.bin")}, "");
	EXPECT_EQ(read_file(path("C.bin")), bytes_of(c));
}

TEST_F(Hpcrun, MatmulF32)
{
	std::vector<double> b = {1, 0, 0, 1, 0.5, 0.25};
	std::string an = put("A.npy", HPC_F32, {2, 3}, A23), bn = put("B.npy", HPC_F32, {3, 2}, b);
	expect_ok_everywhere({"matmul", an, bn}, "2.5 2.75\n7 6.5\n");
	expect_ok({"matmul", an, bn, "--dtype", "f32"}, "2.5 2.75\n7 6.5\n");
	std::string ar = put("A.bin", HPC_F32, {6}, A23), br = put("B.bin", HPC_F32, {6}, b);
	expect_ok_everywhere({"--dtype", "f32", "matmul", ar, br, "-n", "2"}, "2.5 2.75\n7 6.5\n");
	expect_ok({"matmul", an, bn, "-o", path("C.npy"), "-b", "omp"}, "");
	EXPECT_EQ(npy_data(path("C.npy"), HPC_F32, {2, 2}),
		  bytes_of(std::vector<float>{2.5f, 2.75f, 7, 6.5f}));
}

TEST_F(Hpcrun, DotSumAxpy)
{
	std::string x = put("x.npy", HPC_F64, {3}, X3), y = put("y.npy", HPC_F64, {3}, {4, 8, 16});
	expect_ok_everywhere({"dot", x, y}, "12\n");
	expect_ok_everywhere({"sum", x}, "1.75\n");
	expect_ok_everywhere({"axpy", "-2", x, y}, "2\n7\n15.5\n");
	expect_ok_everywhere({"axpy", "-.5", x, y}, "3.5\n7.75\n15.875\n");
	std::string x32 = put("x32.npy", HPC_F32, {3}, X3),
		    y32 = put("y32.bin", HPC_F32, {3}, {4, 8, 16});
	expect_ok_everywhere({"dot", x32, y32, "--dtype", "f32"}, "12\n");
	expect_ok_everywhere({"sum", x32}, "1.75\n");
	expect_ok_everywhere({"axpy", "-2", x32, y32, "--dtype", "f32"}, "2\n7\n15.5\n");

	for (const auto &pick : kPicks) {
		SCOPED_TRACE(joined(pick));
		expect_ok(std::vector<std::string>{"axpy", "0.5", x, y, "-o", path("out.npy")} +
			      pick,
			  "");
		EXPECT_EQ(npy_data(path("out.npy"), HPC_F64, {3}),
			  bytes_of(std::vector<double>{4.5, 8.25, 16.125}));
		expect_ok(std::vector<std::string>{"axpy", "0.5", x32, y32, "--dtype", "f32", "-o",
						   path("out32.bin")} +
			      pick,
			  "");
		EXPECT_EQ(read_file(path("out32.bin")),
			  bytes_of(std::vector<float>{4.5f, 8.25f, 16.125f}));
	}
	/* The input y is left as it was: the result went to out.npy only. */
	expect_ok({"sum", y}, "28\n");
	/* Writing over an input works: every operand is read before the result is written. */
	expect_ok({"axpy", "1", x, y, "-o", y}, "");
	expect_ok({"sum", y}, "29.75\n");

	std::string x4 = put("x4.npy", HPC_F64, {4}, {1, 2, 3, 4});
	expect_fail({"dot", x, x4},
		    x + " has 3 elements but " + x4 + " has 4; dot needs vectors of equal length");
	expect_fail({"axpy", "1", x, x4},
		    x + " has 3 elements but " + x4 + " has 4; axpy needs vectors of equal length");
	std::string m = put("m.npy", HPC_F64, {1, 3}, X3);
	expect_fail({"sum", m},
		    m + ": sum needs a vector (1-D) for x, but the file holds a 1 x 3 matrix");
	std::string s = put("s.npy", HPC_F64, {}, {5});
	expect_fail({"sum", s},
		    s + ": sum needs a vector (1-D) for x, but the file holds a 0-D array");
}

TEST_F(Hpcrun, PrintsRoundTrippableText)
{
	std::string x = put("third.npy", HPC_F64, {1}, {1.0 / 3});
	expect_ok_everywhere({"sum", x}, "0.33333333333333331\n");
	std::string f = put("third32.npy", HPC_F32, {1}, {1.0 / 3});
	expect_ok_everywhere({"sum", f}, "0.333333343\n");
	expect_ok_everywhere({"axpy", "0", f, f}, "0.333333343\n");
	std::string big = put("big.npy", HPC_F64, {2}, {1e300, -2.5e-310});
	expect_ok_everywhere({"axpy", "0", big, big},
			     "1.0000000000000001e+300\n-2.5000000000000171e-310\n");
}

TEST_F(Hpcrun, ElementTypesMustAgree)
{
	std::string a64 = put("A.npy", HPC_F64, {2, 3}, A23);
	std::string x32 = put("x32.npy", HPC_F32, {3}, X3);
	expect_fail({"matvec", a64, x32},
		    a64 + " holds f64 values but " + x32 +
			" holds f32; both operands must have the same element type");
	expect_fail({"--dtype", "f32", "matvec", a64, x32},
		    a64 + " holds f64 values but --dtype f32 was given");
	std::string xraw = put("x.bin", HPC_F64, {3}, X3);
	std::string a32 = put("A32.npy", HPC_F32, {2, 3}, A23);
	expect_fail({"matvec", a32, xraw},
		    xraw + " is read as f64 (raw files are f64 unless --dtype f32 is given) but " +
			a32 +
			" holds f32 values; both operands must have the same element "
			"type");
	/* --dtype f32 makes the raw file f32, and then they agree. */
	std::string xraw32 = put("x32.bin", HPC_F32, {3}, X3);
	expect_ok_everywhere({"matvec", a32, xraw32, "--dtype=f32"}, "2.75\n8\n");
}

TEST_F(Hpcrun, FileErrorsNameTheFile)
{
	std::string p = path("A.npy");
	std::string h = "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 1), }\n";
	write_file(p, std::string("\x93NUMPY\x01\x00", 8) + (char)h.size() + '\0' + h +
			  std::string(8, '\0'));
	std::string x = put("x.npy", HPC_F64, {1}, {1});
	expect_fail({"matvec", p, x}, p + ": Fortran-order arrays are not supported; save with "
					  "numpy.ascontiguousarray");
	std::string odd = path("odd.bin");
	write_file(odd, std::string(12, '\0'));
	expect_fail({"sum", odd},
		    odd + ": raw file of 12 bytes is not a whole number of f64 values (8 bytes "
			  "each); use --dtype f32 for float32 data");
	expect_ok_everywhere({"sum", odd, "--dtype", "f32"}, "0\n");
	expect_fail({"sum", path("missing.npy")},
		    path("missing.npy") + ": cannot open: No such file or directory");
}

/* ---- Jobs the daemon refuses, and a daemon that is not there ------------------------ */

TEST_F(Hpcrun, UnknownBackend)
{
	std::string x = put("x.npy", HPC_F64, {3}, X3);
	std::string a = put("A.npy", HPC_F64, {2, 3}, A23);
	/* hpcrun passes the name on; the daemon answers HPC_E_NO_BACKEND. */
	expect_fail({"sum", x, "-b", "nope"}, "no backend named 'nope' on the daemon");
	expect_fail({"matvec", a, x, "--backend", "gpu"}, "no backend named 'gpu' on the daemon");
	expect_fail({"--backend=a-name-of-23-characters", "dot", x, x},
		    "no backend named 'a-name-of-23-characters' on the daemon");
	/* A refused job writes no output file. */
	expect_fail({"axpy", "1", x, x, "-b", "nope", "-o", path("out.npy")},
		    "no backend named 'nope' on the daemon");
	EXPECT_FALSE(hpctest::exists(path("out.npy")));
	/* and leaves the daemon serving. */
	expect_ok({"sum", x}, "1.75\n");
}

/* One daemon of its own: this suite stops and kills it. */
TEST(HpcrunNoDaemon, StoppedOrKilledDaemon)
{
	hpce::Daemon d(kBackends);
	ASSERT_TRUE(d.start()) << d.log();
	std::string dir = fresh_dir(), x = dir + "/x.bin";
	const std::vector<double> xv = {1, 2.5};
	write_file(x, bytes_of(xv));
	/* -s alone (HPCD_SOCKET unset), and HPCD_SOCKET alone. */
	result r = run_hpcrun({"-s", d.socket(), "sum", x}, {"-HPCD_SOCKET"});
	EXPECT_EQ(r.code, 0) << r.err;
	EXPECT_EQ(r.out, "3.5\n");
	r = run_hpcrun({"sum", x}, {"HPCD_SOCKET=" + d.socket()});
	EXPECT_EQ(r.code, 0) << r.err;
	EXPECT_EQ(r.out, "3.5\n");

	/* Stopped: the daemon removed its socket file. */
	ASSERT_EQ(d.stop(), 0) << d.log();
	ASSERT_FALSE(hpctest::exists(d.socket()));
	std::string gone = "hpcrun: cannot connect to hpcd at " + d.socket() +
			   ": No such file or directory (is the daemon running?)\n";
	for (auto args : std::vector<std::vector<std::string>>{
		 {"sum", x}, {"axpy", "2", x, x}, {"status"}, {"backends"}, {"reload"}}) {
		SCOPED_TRACE(joined(args));
		r = run_hpcrun(args, {"HPCD_SOCKET=" + d.socket()});
		EXPECT_EQ(r.code, 1);
		EXPECT_EQ(r.err, gone);
		EXPECT_EQ(r.out, "");
	}

	/* Killed outright: the socket file stays behind and nobody listens on it. */
	ASSERT_TRUE(d.start()) << d.log();
	r = run_hpcrun({"status", "-s", d.socket()}, {});
	EXPECT_EQ(r.code, 0) << r.err;
	ASSERT_EQ(kill(d.pid(), SIGKILL), 0);
	EXPECT_EQ(d.stop(), 128 + SIGKILL);
	ASSERT_TRUE(hpctest::exists(d.socket()));
	std::string refused = "hpcrun: cannot connect to hpcd at " + d.socket() +
			      ": Connection refused (is the daemon running?)\n";
	for (auto args : std::vector<std::vector<std::string>>{
		 {"sum", x}, {"status"}, {"backends"}, {"reload"}}) {
		SCOPED_TRACE(joined(args));
		r = run_hpcrun(args + std::vector<std::string>{"-s", d.socket()}, {"-HPCD_SOCKET"});
		EXPECT_EQ(r.code, 1);
		EXPECT_EQ(r.err, refused);
		EXPECT_EQ(r.out, "");
	}
}

/* ---- Control requests ---------------------------------------------------------------- */

std::vector<std::string> lines_of(const std::string &text)
{
	std::vector<std::string> lines;
	std::istringstream in(text);
	for (std::string l; std::getline(in, l);)
		lines.push_back(l);
	return lines;
}

bool has(const std::string &text, const std::string &part)
{
	return text.find(part) != std::string::npos;
}

/* The numbers of "reloads N ok, M refused" in the status text; -1 if absent. */
std::pair<long, long> reload_counts(const std::string &status)
{
	long ok = -1, refused = -1;
	for (const auto &l : lines_of(status))
		if (sscanf(l.c_str(), "reloads %ld ok, %ld refused", &ok, &refused) == 2)
			break;
	return {ok, refused};
}

TEST_F(Hpcrun, Status)
{
	result r = hpcrun({"status"});
	ASSERT_EQ(r.code, 0) << r.err;
	EXPECT_EQ(r.err, "");
	EXPECT_EQ(r.out.rfind("hpcd ", 0), 0u) << r.out;
	EXPECT_TRUE(has(r.out, "socket " + sock() + "\n")) << r.out;
	EXPECT_TRUE(has(r.out, "config " + daemon_->config())) << r.out;
	EXPECT_TRUE(has(r.out, "backends 2, default serial\n")) << r.out;
	EXPECT_NE(reload_counts(r.out).first, -1) << r.out;
	/* The daemon's text, ending in exactly one newline. */
	ASSERT_FALSE(r.out.empty());
	EXPECT_EQ(r.out.back(), '\n');
	EXPECT_NE(r.out.substr(r.out.size() - 2), "\n\n");

	/* -s wins over HPCD_SOCKET, in either spelling. */
	for (auto args : std::vector<std::vector<std::string>>{{"-s", sock(), "status"},
							       {"status", "--socket", sock()},
							       {"status", "--socket=" + sock()}}) {
		SCOPED_TRACE(joined(args));
		r = run_hpcrun(args, {"HPCD_SOCKET=/nonexistent/hpcd.sock"});
		EXPECT_EQ(r.code, 0) << r.err;
		EXPECT_EQ(r.out.rfind("hpcd ", 0), 0u) << r.out;
	}
	r = run_hpcrun({"status", "-s", "/nonexistent/hpcd.sock"}, {"HPCD_SOCKET=" + sock()});
	EXPECT_EQ(r.code, 1);
	EXPECT_EQ(r.err,
		  "hpcrun: cannot connect to hpcd at /nonexistent/hpcd.sock: No such file or "
		  "directory (is the daemon running?)\n");
}

TEST_F(Hpcrun, Backends)
{
	result r = hpcrun({"backends"});
	ASSERT_EQ(r.code, 0) << r.err;
	EXPECT_EQ(r.err, "");
	std::vector<std::string> lines = lines_of(r.out);
	ASSERT_EQ(lines.size(), 2u) << r.out;
	std::string serial, omp;
	for (const auto &l : lines) {
		if (l.rfind("serial\t", 0) == 0)
			serial = l;
		if (l.rfind("omp\t", 0) == 0)
			omp = l;
	}
	ASSERT_NE(serial, "") << r.out;
	ASSERT_NE(omp, "") << r.out;
	EXPECT_TRUE(has(serial, "/libhpc_serial.so")) << serial;
	EXPECT_TRUE(has(serial, "[default]")) << serial;
	EXPECT_TRUE(has(omp, "/libhpc_openmp.so")) << omp;
	EXPECT_TRUE(has(omp, "threads=2")) << omp;
	EXPECT_FALSE(has(omp, "[default]")) << omp;
	for (const auto &l : lines)
		EXPECT_TRUE(has(l, "matvec,matmul,dot,sum,axpy")) << l;
}

/* Puts the suite's config back and reloads it, whatever happened in the test. */
struct ConfigRestorer {
	std::string path, text, sock;
	~ConfigRestorer()
	{
		write_file(path, text);
		result r = run_hpcrun({"reload", "-s", sock}, {});
		EXPECT_EQ(r.code, 0) << r.err;
	}
};

TEST_F(Hpcrun, Reload)
{
	const std::string cfg = daemon_->config(), good = read_file(cfg);
	ConfigRestorer restore{cfg, good, sock()};
	ASSERT_EQ(good.rfind("[daemon]\n", 0), 0u) << good;
	ASSERT_TRUE(has(good, "threads = 2\n")) << good;
	const std::string backends_before = hpcrun({"backends"}).out;
	const auto counts_before = reload_counts(hpcrun({"status"}).out);
	std::string x = put("x.npy", HPC_F64, {3}, X3);

	/* An unknown key: refused with the daemon's reason, naming the file and the line. */
	write_file(cfg, "[daemon]\nsokcet = /tmp/elsewhere.sock\n" + good.substr(9));
	result r = hpcrun({"reload"});
	EXPECT_EQ(r.code, 1);
	EXPECT_EQ(r.out, "");
	EXPECT_EQ(r.err.rfind("hpcrun: reload refused by hpcd: " + cfg + ":2: ", 0), 0u) << r.err;
	EXPECT_TRUE(has(r.err, "'sokcet'")) << r.err;
	EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
	/* and the running set is exactly as it was. */
	EXPECT_EQ(hpcrun({"backends"}).out, backends_before);
	expect_ok({"sum", x, "-b", "omp"}, "1.75\n");

	/* A backend that cannot be opened: refused too, naming the plugin file. */
	write_file(cfg, good + "[backend broken]\nplugin = nosuchplugin\n");
	r = hpcrun({"reload"});
	EXPECT_EQ(r.code, 1);
	EXPECT_EQ(r.out, "");
	EXPECT_EQ(r.err.rfind("hpcrun: reload refused by hpcd: ", 0), 0u) << r.err;
	EXPECT_TRUE(has(r.err, "libhpc_nosuchplugin.so")) << r.err;
	EXPECT_EQ(hpcrun({"backends"}).out, backends_before);
	expect_fail({"sum", x, "-b", "broken"}, "no backend named 'broken' on the daemon");

	/* A changed setting is taken: omp now runs 3 threads. */
	std::string three = good;
	three.replace(three.find("threads = 2\n"), 12, "threads = 3\n");
	write_file(cfg, three);
	r = hpcrun({"reload"});
	EXPECT_EQ(r.code, 0) << r.err;
	EXPECT_EQ(r.err, "");
	EXPECT_EQ(r.out.rfind("reloaded " + cfg + ": generation ", 0), 0u) << r.out;
	r = hpcrun({"backends"});
	EXPECT_TRUE(has(r.out, "threads=3")) << r.out;
	EXPECT_FALSE(has(r.out, "threads=2")) << r.out;
	expect_ok_everywhere({"sum", x}, "1.75\n");

	/* And back. */
	write_file(cfg, good);
	r = hpcrun({"reload"});
	EXPECT_EQ(r.code, 0) << r.err;
	EXPECT_EQ(r.out.rfind("reloaded " + cfg + ": generation ", 0), 0u) << r.out;
	r = hpcrun({"backends"});
	EXPECT_TRUE(has(r.out, "threads=2")) << r.out;
	auto counts = reload_counts(hpcrun({"status"}).out);
	EXPECT_EQ(counts.first, counts_before.first + 2);
	EXPECT_EQ(counts.second, counts_before.second + 2);
}

/* ---- Sizes ---------------------------------------------------------------------------- */

TEST_F(Hpcrun, LargeOutput)
{
	/* Every line of a long vector arrives (the stdout buffer is flushed at exit). */
	const uint64_t n = 200000;
	std::vector<double> x(n, 0.5), y(n);
	for (uint64_t i = 0; i < n; i++)
		y[i] = (double)i;
	std::string xp = put("x.npy", HPC_F64, {n}, x), yp = put("y.npy", HPC_F64, {n}, y);
	std::string want;
	for (uint64_t i = 0; i < n; i++)
		want += std::to_string(i + 1) + "\n";
	for (const auto &pick : kPicks) {
		SCOPED_TRACE(joined(pick));
		result r = hpcrun(std::vector<std::string>{"axpy", "2", xp, yp} + pick);
		ASSERT_EQ(r.code, 0) << r.err;
		EXPECT_TRUE(r.out == want) << "output of " << r.out.size() << " bytes differs";
	}
	/* A 1000 x 1000 result through a file: C = A.B with A all 0.5 and B all 0.25. */
	const uint64_t m = 1000;
	std::vector<double> a(m * 8, 0.5), b(8 * m, 0.25);
	std::string ap = put("A.bin", HPC_F64, {m * 8}, a), bp = put("B.npy", HPC_F64, {8, m}, b);
	expect_ok({"matmul", ap, bp, "-b", "omp", "-o", path("C.npy")}, "");
	EXPECT_TRUE(npy_data(path("C.npy"), HPC_F64, {m, m}) ==
		    bytes_of(std::vector<double>(m * m, 1.0)));
}

/*
 * Random operands from hpcgen, through every backend. The bound: a sum of n
 * products computed in any order satisfies
 *	|computed - exact| <= gamma_n * sum |a_i x_i|,  gamma_n = n u / (1 - n u)
 * (Higham, Accuracy and Stability of Numerical Algorithms, section 3.1), with
 * u = 2^-53 for f64 and 2^-24 for f32 (an f32 result rounded from a wider
 * accumulator stays inside it as well). serial is checked against a long
 * double reference with that bound (plus the reference's own, with u = 2^-64);
 * every backend is checked against serial with twice that bound,
 * 2 gamma_n sum |a_i x_i|, since both sit within gamma_n of the exact value.
 * The printed text is read back and must equal, bit for bit, what -o writes.
 */
double gamma_n(uint64_t n, double u)
{
	double nu = (double)n * u;
	return nu / (1 - nu);
}

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

/*
 * Every number of hpcrun's text output, checking rows x cols of them; f32 text
 * is read back as a float (9 digits tell a float, not a double).
 */
std::vector<double> parse(const std::string &text, uint64_t rows, uint64_t cols,
			  uint32_t dtype = HPC_F64)
{
	std::vector<double> v;
	std::vector<std::string> lines = lines_of(text);
	EXPECT_EQ(lines.size(), rows);
	for (const auto &l : lines) {
		std::istringstream in(l);
		uint64_t c = 0;
		for (std::string w; in >> w; c++) {
			char *end;
			double d = strtod(w.c_str(), &end);
			v.push_back(dtype == HPC_F32 ? (double)strtof(w.c_str(), &end) : d);
			EXPECT_EQ(*end, '\0') << w;
		}
		EXPECT_EQ(c, cols) << l;
	}
	return v;
}

struct Reference {
	std::vector<double> exact, mag; /* sum a_i x_i in long double, and sum |a_i x_i| */
	uint64_t n;                     /* terms per sum */
};

/* rows x inner times inner x cols, row-major; cols = 1 for a vector. */
Reference reference(const std::vector<double> &a, const std::vector<double> &b, uint64_t rows,
		    uint64_t inner, uint64_t cols)
{
	Reference r;
	r.n = inner;
	for (uint64_t i = 0; i < rows; i++)
		for (uint64_t j = 0; j < cols; j++) {
			long double s = 0, m = 0;
			for (uint64_t p = 0; p < inner; p++) {
				long double t = (long double)a[i * inner + p] * b[p * cols + j];
				s += t;
				m += fabsl(t);
			}
			r.exact.push_back((double)s);
			r.mag.push_back((double)m);
		}
	return r;
}

void check_bounds(const Reference &ref, const std::vector<double> &serial,
		  const std::vector<double> &other, const std::string &name, double u)
{
	ASSERT_EQ(serial.size(), ref.exact.size());
	ASSERT_EQ(other.size(), ref.exact.size());
	const double g = gamma_n(ref.n, u), gref = gamma_n(ref.n, ldexp(1.0, -64));
	for (size_t i = 0; i < ref.exact.size(); i++) {
		EXPECT_LE(fabs(serial[i] - ref.exact[i]), (g + gref) * ref.mag[i] + 1e-300)
		    << "serial, element " << i;
		EXPECT_LE(fabs(other[i] - serial[i]), 2 * g * ref.mag[i] + 1e-300)
		    << name << ", element " << i;
	}
}

TEST_F(Hpcrun, AgreesWithSerialWithinTheBound)
{
	const double u64 = ldexp(1.0, -53), u32 = ldexp(1.0, -24);
	hpc_df_info info;
	struct Gen {
		std::string name;
		std::vector<std::string> args;
	} gens[] = {
	    {"A.npy", {"--seed", "3", "300", "200"}},
	    {"x.npy", {"--seed", "4", "200"}},
	    {"A32.npy", {"--dtype", "f32", "--seed", "5", "300", "200"}},
	    {"x32.npy", {"--dtype", "f32", "--seed", "6", "200"}},
	    {"u.bin", {"--seed", "7", "100000"}},
	    {"v.bin", {"--seed", "8", "100000"}},
	    {"B.npy", {"--seed", "9", "60", "50"}},
	    {"C.npy", {"--seed", "10", "50", "40"}},
	};
	for (const auto &g : gens)
		ASSERT_EQ(hpcgen(g.args + std::vector<std::string>{path(g.name)}).code, 0)
		    << g.name;

	/* matvec, f64 and f32: 300 sums of 200 products. */
	for (std::string suffix : {"", "32"}) {
		SCOPED_TRACE("matvec" + suffix);
		std::string ap = path("A" + suffix + ".npy"), xp = path("x" + suffix + ".npy");
		std::vector<double> a = load(ap, &info), x = load(xp, &info);
		Reference ref = reference(a, x, 300, 200, 1);
		std::vector<std::vector<double>> got;
		for (const auto &pick : kPicks) {
			result r = hpcrun(std::vector<std::string>{"matvec", ap, xp} + pick);
			ASSERT_EQ(r.code, 0) << r.err;
			got.push_back(parse(r.out, 300, 1, suffix.empty() ? HPC_F64 : HPC_F32));
			/* The text reads back to the bits -o writes. */
			ASSERT_EQ(
			    hpcrun(std::vector<std::string>{"matvec", ap, xp, "-o", path("y.npy")} +
				   pick)
				.code,
			    0);
			std::vector<double> y = load(path("y.npy"), &info);
			EXPECT_TRUE(y == got.back()) << joined(pick);
		}
		double u = suffix.empty() ? u64 : u32;
		check_bounds(ref, got[1], got[0], "default", u);
		check_bounds(ref, got[1], got[2], "omp", u);
	}

	/* matmul 60 x 50 . 50 x 40 through files. */
	{
		SCOPED_TRACE("matmul");
		std::vector<double> a = load(path("B.npy"), &info), b = load(path("C.npy"), &info);
		Reference ref = reference(a, b, 60, 50, 40);
		std::vector<std::vector<double>> got;
		for (const auto &pick : kPicks) {
			result r =
			    hpcrun(std::vector<std::string>{"matmul", path("B.npy"), path("C.npy"),
							    "-o", path("P.npy")} +
				   pick);
			ASSERT_EQ(r.code, 0) << r.err;
			got.push_back(load(path("P.npy"), &info));
			EXPECT_EQ(info.ndim, 2u);
			EXPECT_EQ(info.shape[0], 60u);
			EXPECT_EQ(info.shape[1], 40u);
		}
		check_bounds(ref, got[1], got[0], "default", u64);
		check_bounds(ref, got[1], got[2], "omp", u64);
	}

	/* dot and sum of 100000 elements, raw. */
	{
		std::vector<double> x = load(path("u.bin"), &info), y = load(path("v.bin"), &info);
		std::vector<double> ones(x.size(), 1.0);
		Reference dref = reference(x, y, 1, x.size(), 1),
			  sref = reference(x, ones, 1, x.size(), 1);
		for (auto op : std::vector<std::pair<std::string, const Reference *>>{
			 {"dot", &dref}, {"sum", &sref}}) {
			SCOPED_TRACE(op.first);
			std::vector<std::vector<double>> got;
			for (const auto &pick : kPicks) {
				std::vector<std::string> args = {op.first, path("u.bin")};
				if (op.first == "dot")
					args.push_back(path("v.bin"));
				result r = hpcrun(args + pick);
				ASSERT_EQ(r.code, 0) << r.err;
				got.push_back(parse(r.out, 1, 1));
			}
			check_bounds(*op.second, got[1], got[0], "default", u64);
			check_bounds(*op.second, got[1], got[2], "omp", u64);
		}
	}
}

/* ---- hpcgen ------------------------------------------------------------------------- */

TEST_F(Hpcrun, Hpcgen)
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

} // namespace

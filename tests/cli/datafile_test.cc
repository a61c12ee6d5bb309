/*
 * tests/cli/datafile_test.cc - the .npy and raw reader and writer of
 * cli/datafile.h: valid files of every version and shape, each refusal with a
 * message that names the file and the problem, bit-exact round trips, header
 * padding, and the temporary-file-then-rename behaviour of the writer.
 */
#include "cli/datafile.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tests/cli/test_util.h"

using hpctest::exists;
using hpctest::fresh_dir;
using hpctest::list_dir;
using hpctest::read_file;
using hpctest::write_file;

namespace
{

/* An .npy file of the given version with header text dict, padded as numpy pads it. */
std::string npy(int major, const std::string &dict, const std::string &data, int minor = 0)
{
	size_t prefix = major == 1 ? 10 : 12;
	std::string h = dict;
	size_t total = prefix + h.size() + 1;
	h.append((64 - total % 64) % 64, ' ');
	h += '\n';
	std::string out("\x93NUMPY", 6);
	out += (char)major;
	out += (char)minor;
	size_t len = h.size();
	out += (char)(len & 0xff);
	out += (char)((len >> 8) & 0xff);
	if (major != 1) {
		out += (char)((len >> 16) & 0xff);
		out += (char)((len >> 24) & 0xff);
	}
	return out + h + data;
}

std::string f64s(std::vector<double> v)
{
	return std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(double));
}

std::string f32s(std::vector<float> v)
{
	return std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(float));
}

const char *kDict23 = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";

struct opened {
	int rc;
	hpc_df_info info;
	std::string err;
};

opened inspect(const std::string &path, uint32_t raw_dtype = HPC_F64)
{
	opened o;
	char err[512];
	memset(&o.info, 0, sizeof(o.info));
	o.rc = hpc_df_inspect(path.c_str(), raw_dtype, &o.info, err, sizeof(err));
	o.err = err;
	return o;
}

class DatafileTest : public ::testing::Test
{
      protected:
	void SetUp() override
	{
		dir = fresh_dir();
	}
	void TearDown() override
	{
		hpc_df_set_write_fn(nullptr);
	}
	std::string path(const std::string &name)
	{
		return dir + "/" + name;
	}
	/* Write bytes to name and expect the reader to refuse them with a message naming the file.
	 */
	void expect_refused(const std::string &name, const std::string &bytes,
			    const std::string &problem, int rc = -EINVAL)
	{
		std::string p = path(name);
		write_file(p, bytes);
		opened o = inspect(p);
		EXPECT_EQ(o.rc, rc) << name << ": " << o.err;
		EXPECT_EQ(o.err.rfind(p + ": ", 0), 0u)
		    << "message must start with the file: " << o.err;
		EXPECT_NE(o.err.find(problem), std::string::npos)
		    << "expected '" << problem << "' in: " << o.err;
	}
	std::string dir;
};

/* ---- valid .npy files --------------------------------------------------------- */

TEST_F(DatafileTest, ReadsEveryVersionAndShape)
{
	struct {
		const char *shape;
		unsigned ndim;
		uint64_t d0, d1, count;
	} shapes[] = {
	    {"()", 0, 0, 0, 1},     {"(3,)", 1, 3, 0, 3},     {"(2, 3)", 2, 2, 3, 6},
	    {"(2,3,)", 2, 2, 3, 6}, {"( 4 , )", 1, 4, 0, 4},  {"(0,)", 1, 0, 0, 0},
	    {"(0, 5)", 2, 0, 5, 0}, {"(3L, 2L)", 2, 3, 2, 6},
	};
	for (int major = 1; major <= 3; major++) {
		for (const auto &s : shapes) {
			std::vector<double> v(s.count);
			for (size_t i = 0; i < v.size(); i++)
				v[i] = 0.25 * (double)i - 1;
			std::string dict = std::string("{'descr': '<f8', 'fortran_order': False, "
						       "'shape': ") +
					   s.shape + ", }";
			std::string p = path("v" + std::to_string(major) + ".npy");
			write_file(p, npy(major, dict, f64s(v)));

			hpc_df_file f;
			char err[256];
			ASSERT_EQ(hpc_df_open(p.c_str(), HPC_F32, &f, err, sizeof(err)), 0)
			    << s.shape << " v" << major << ": " << err;
			EXPECT_EQ(f.info.format, HPC_DF_NPY);
			EXPECT_EQ(f.info.dtype, (uint32_t)HPC_F64)
			    << "npy dtype wins over raw_dtype";
			EXPECT_EQ(f.info.ndim, s.ndim) << s.shape;
			EXPECT_EQ(f.info.shape[0], s.d0) << s.shape;
			EXPECT_EQ(f.info.shape[1], s.d1) << s.shape;
			EXPECT_EQ(f.info.count, s.count) << s.shape;
			EXPECT_EQ(f.info.data_bytes, s.count * 8);
			EXPECT_EQ(f.info.data_offset % 64, 0u);
			EXPECT_EQ(f.info.npy_major, (unsigned)major);
			std::vector<double> back(s.count + 1, 99.0);
			ASSERT_EQ(hpc_df_read(&f, back.data(), back.size() * 8, err, sizeof(err)),
				  0)
			    << err;
			for (size_t i = 0; i < v.size(); i++)
				EXPECT_EQ(back[i], v[i]);
			EXPECT_EQ(back[s.count], 99.0) << "read past the data";
			hpc_df_close(&f);
			EXPECT_EQ(f.fd, -1);
			hpc_df_close(&f); /* harmless twice */
		}
	}
}

TEST_F(DatafileTest, HeaderDictVariations)
{
	const char *dicts[] = {
	    "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}",
	    "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2, 3)}",
	    "{'descr':'<f8','fortran_order':False,'shape':(2,3)}",
	    "  {  'descr' : '<f8' ,\t'fortran_order' : False ,\n 'shape' : ( 2 , 3 , ) , }  ",
	    "{'fortran_order': False, 'descr': '<f8', 'shape': (2, 3), }",
	};
	for (const char *d : dicts) {
		std::string p = path("d.npy");
		write_file(p, npy(1, d, f64s({1, 2, 3, 4, 5, 6})));
		opened o = inspect(p);
		ASSERT_EQ(o.rc, 0) << d << ": " << o.err;
		EXPECT_EQ(o.info.ndim, 2u);
		EXPECT_EQ(o.info.shape[0], 2u);
		EXPECT_EQ(o.info.shape[1], 3u);
	}
}

TEST_F(DatafileTest, ReadsFloat32)
{
	std::string p = path("f.npy");
	write_file(p, npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
			  f32s({1.5f, -2.25f, 3e-38f})));
	hpc_df_file f;
	char err[256];
	ASSERT_EQ(hpc_df_open(p.c_str(), HPC_F64, &f, err, sizeof(err)), 0) << err;
	EXPECT_EQ(f.info.dtype, (uint32_t)HPC_F32);
	EXPECT_EQ(f.info.data_bytes, 12u);
	float back[3];
	ASSERT_EQ(hpc_df_read(&f, back, sizeof(back), err, sizeof(err)), 0) << err;
	EXPECT_EQ(back[0], 1.5f);
	EXPECT_EQ(back[1], -2.25f);
	EXPECT_EQ(back[2], 3e-38f);
	hpc_df_close(&f);
}

TEST_F(DatafileTest, ReadRefusesSmallBuffer)
{
	std::string p = path("s.npy");
	write_file(p, npy(1, kDict23, f64s({1, 2, 3, 4, 5, 6})));
	hpc_df_file f;
	char err[256];
	ASSERT_EQ(hpc_df_open(p.c_str(), HPC_F64, &f, err, sizeof(err)), 0) << err;
	double back[6];
	EXPECT_EQ(hpc_df_read(&f, back, sizeof(back) - 1, err, sizeof(err)), -EINVAL);
	EXPECT_NE(std::string(err).find("too small"), std::string::npos) << err;
	hpc_df_close(&f);
}

TEST_F(DatafileTest, ReadNoticesAFileThatShrank)
{
	std::string p = path("shrink.bin");
	write_file(p, f64s({1, 2, 3, 4}));
	hpc_df_file f;
	char err[256];
	ASSERT_EQ(hpc_df_open(p.c_str(), HPC_F64, &f, err, sizeof(err)), 0) << err;
	ASSERT_EQ(truncate(p.c_str(), 16), 0);
	double back[4];
	EXPECT_EQ(hpc_df_read(&f, back, sizeof(back), err, sizeof(err)), -EIO);
	EXPECT_NE(std::string(err).find("ended after 16 of 32 bytes"), std::string::npos) << err;
	hpc_df_close(&f);
}

/* ---- refused .npy files -------------------------------------------------------------- */

TEST_F(DatafileTest, RefusesFortranOrder)
{
	expect_refused("A.npy",
		       npy(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
			   f64s({1, 2, 3, 4, 5, 6})),
		       "Fortran-order arrays are not supported; save with numpy.ascontiguousarray");
}

TEST_F(DatafileTest, RefusesOtherDtypes)
{
	const char *other[] = {"<i4",  "<i8", "<c16", "<f2", "|u1", "=f8",
			       "<f16", "|b1", "O",    "<U4", "f8",  "<f8 "};
	for (const char *d : other) {
		std::string dict =
		    std::string("{'descr': '") + d + "', 'fortran_order': False, 'shape': (2,), }";
		expect_refused("t.npy", npy(1, dict, f64s({1, 2})),
			       std::string("dtype '") + d + "' is not supported");
	}
	expect_refused("long.npy",
		       npy(1,
			   "{'descr': '<f8-and-a-very-long-descr-that-goes-on-and-on', "
			   "'fortran_order': False, 'shape': (2,), }",
			   f64s({1, 2})),
		       "is not supported");
}

TEST_F(DatafileTest, RefusesBigEndian)
{
	expect_refused(
	    "be.npy",
	    npy(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", f64s({1, 2})),
	    "big-endian arrays are not supported (dtype '>f8'); convert with "
	    "a.astype('<f8')");
	expect_refused(
	    "be4.npy",
	    npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f32s({1, 2})),
	    "big-endian arrays are not supported");
	expect_refused(
	    "bei.npy",
	    npy(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", f32s({1, 2})),
	    "big-endian arrays are not supported");
}

TEST_F(DatafileTest, RefusesStructuredDtype)
{
	expect_refused("st.npy",
		       npy(1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,), }",
			   f64s({1, 2})),
		       "structured dtypes are not supported");
}

TEST_F(DatafileTest, RefusesTruncatedData)
{
	expect_refused("tr.npy", npy(1, kDict23, f64s({1, 2, 3, 4, 5})),
		       "truncated: shape (2, 3) of f64 needs 48 bytes of data but the file holds "
		       "40");
	expect_refused("tr0.npy", npy(2, kDict23, ""), "truncated");
}

TEST_F(DatafileTest, RefusesTrailingBytes)
{
	expect_refused("tail.npy", npy(1, kDict23, f64s({1, 2, 3, 4, 5, 6}) + "x"),
		       "1 unexpected bytes after the data of shape (2, 3)");
}

TEST_F(DatafileTest, RefusesBadMagicAndVersion)
{
	std::string good = npy(1, kDict23, f64s({1, 2, 3, 4, 5, 6}));
	std::string bad = good;
	bad[1] = 'X';
	expect_refused("m.npy", bad, "not an .npy file (bad magic)");
	expect_refused("empty.npy", "", "not an .npy file (bad magic)");
	expect_refused("short.npy", std::string("\x93NUM", 4), "bad magic");
	expect_refused("short2.npy", std::string("\x93NUMPY\x01", 7), "truncated .npy header");
	expect_refused("short3.npy", std::string("\x93NUMPY\x01\x00\x10", 9),
		       "truncated .npy header");
	expect_refused("short4.npy", std::string("\x93NUMPY\x02\x00\x10\x00\x00", 11),
		       "truncated .npy header");
	bad = good;
	bad[6] = 4;
	expect_refused("v4.npy", bad, "unsupported .npy format version 4.0");
	bad = good;
	bad[7] = 1;
	expect_refused("v11.npy", bad, "unsupported .npy format version 1.1");
	bad = good;
	bad[6] = 0;
	expect_refused("v0.npy", bad, "unsupported .npy format version 0.0");
}

TEST_F(DatafileTest, RefusesHeaderLengthPastTheFile)
{
	std::string f = npy(1, kDict23, "");
	f[8] = (char)0xff;
	f[9] = (char)0x7f;
	expect_refused("hl.npy", f, "header length 32767 runs past the end of the file");
	std::string g = npy(2, kDict23, "");
	g[11] = (char)0x80; /* 2 GiB */
	expect_refused("hl2.npy", g, "runs past the end of the file");
}

TEST_F(DatafileTest, RefusesMalformedDicts)
{
	struct {
		const char *dict;
		const char *problem;
	} cases[] = {
	    {"{'descr': '<f8', 'fortran_order': False}", "the 'shape' key is missing"},
	    {"{'descr': '<f8', 'shape': (2,)}", "the 'fortran_order' key is missing"},
	    {"{'fortran_order': False, 'shape': (2,)}", "the 'descr' key is missing"},
	    {"{}", "the 'descr' key is missing"},
	    {"", "expected '{' but found the end of the header"},
	    {"'descr': '<f8'", "expected '{'"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), ", "malformed .npy header"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,) ", "expected ',' or '}'"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}}", "after the closing '}'"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} x", "after the closing '}'"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2)}", "'shape' is not a tuple"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': [2]}", "expected '(' to start"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,,)}", "expected a dimension"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (,)}", "expected a dimension"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (a,)}", "expected a dimension"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2 3)}", "expected ',' or ')'"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2.5,)}", "expected ',' or ')'"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3}", "expected ',' or ')'"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (-2,)}", "negative dimension"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, -1)}", "negative dimension"},
	    {"{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}",
	     "'fortran_order' must be True or False, not '0'"},
	    {"{'descr': '<f8', 'fortran_order': false, 'shape': (2,)}", "must be True or False"},
	    {"{'descr': '<f8', 'fortran_order': Falsey, 'shape': (2,)}", "must be True or False"},
	    {"{'descr': <f8, 'fortran_order': False, 'shape': (2,)}", "expected a quoted string"},
	    {"{'descr': '<f8, 'fortran_order': False, 'shape': (2,)}",
	     "expected ',' or '}' after the value of 'descr' but found 'f'"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
	     "unexpected key 'extra'"},
	    {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,)}",
	     "key 'descr' appears twice"},
	    {"{'descr' '<f8', 'fortran_order': False, 'shape': (2,)}", "expected ':' after a key"},
	    {"{descr: '<f8', 'fortran_order': False, 'shape': (2,)}", "expected a quoted string"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4)}",
	     "3-D arrays are not supported"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}",
	     "a dimension in 'shape' is too large"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (9223372036854775808,)}",
	     "too large"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
	     "the array size overflows"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,)}",
	     "the array size overflows"},
	    {"{'descr': '<f8', 'fortran_order': False, 'shape': "
	     "(1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)}",
	     "more than 2 dimensions"},
	};
	for (const auto &c : cases) {
		SCOPED_TRACE(c.dict);
		int rc = strstr(c.problem, "too large") || strstr(c.problem, "overflows")
			     ? -EOVERFLOW
			     : -EINVAL;
		expect_refused("bad.npy", npy(1, c.dict, f64s({1, 2})), c.problem, rc);
	}
}

TEST_F(DatafileTest, RefusesHugeHeader)
{
	std::string dict = std::string("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)") +
			   std::string(HPC_DF_NPY_HEADER_MAX, ' ') + "}";
	expect_refused("big.npy", npy(2, dict, f64s({1, 2})), "too long");
}

TEST_F(DatafileTest, RefusesNonRegularAndMissingFiles)
{
	opened o = inspect(dir);
	EXPECT_EQ(o.rc, -EISDIR);
	EXPECT_EQ(o.err, dir + ": not a regular file");
	o = inspect(path("missing.npy"));
	EXPECT_EQ(o.rc, -ENOENT);
	EXPECT_EQ(o.err, path("missing.npy") + ": cannot open: No such file or directory");
	o = inspect("/dev/null");
	EXPECT_EQ(o.rc, -EINVAL);
}

TEST_F(DatafileTest, ErrorBufferIsOptionalAndTruncates)
{
	std::string p = path("A.npy");
	write_file(p, "nonsense");
	hpc_df_info info;
	EXPECT_EQ(hpc_df_inspect(p.c_str(), HPC_F64, &info, nullptr, 0), -EINVAL);
	char small[8];
	EXPECT_EQ(hpc_df_inspect(p.c_str(), HPC_F64, &info, small, sizeof(small)), -EINVAL);
	EXPECT_EQ(strlen(small), 7u);
}

/* ---- raw files ---------------------------------------------------------------- */

TEST_F(DatafileTest, RawSizes)
{
	std::string p = path("A.bin");
	write_file(p, std::string(24, '\0'));
	opened o = inspect(p, HPC_F64);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.info.format, HPC_DF_RAW);
	EXPECT_EQ(o.info.dtype, (uint32_t)HPC_F64);
	EXPECT_EQ(o.info.ndim, 1u);
	EXPECT_EQ(o.info.count, 3u);
	EXPECT_EQ(o.info.shape[0], 3u);
	EXPECT_EQ(o.info.data_offset, 0u);
	EXPECT_EQ(o.info.data_bytes, 24u);
	o = inspect(p, HPC_F32);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.info.count, 6u);

	write_file(p, std::string(13, '\0'));
	o = inspect(p, HPC_F64);
	EXPECT_EQ(o.rc, -EINVAL);
	EXPECT_EQ(o.err, p + ": raw file of 13 bytes is not a whole number of f64 values (8 "
			     "bytes each)");
	write_file(p, std::string(12, '\0'));
	o = inspect(p, HPC_F64);
	EXPECT_EQ(o.rc, -EINVAL);
	EXPECT_NE(o.err.find("use --dtype f32 for float32 data"), std::string::npos) << o.err;
	write_file(p, std::string(6, '\0'));
	o = inspect(p, HPC_F32);
	EXPECT_EQ(o.rc, -EINVAL);
	EXPECT_NE(o.err.find("not a whole number of f32 values (4 bytes each)"), std::string::npos)
	    << o.err;

	write_file(p, "");
	o = inspect(p, HPC_F64);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.info.count, 0u);

	EXPECT_EQ(inspect(p, 7).rc, -EINVAL);
}

TEST_F(DatafileTest, RawNameOnAnNpyFileIsRefused)
{
	std::string p = path("A.NPY");
	write_file(p, npy(1, kDict23, f64s({1, 2, 3, 4, 5, 6})));
	opened o = inspect(p);
	EXPECT_EQ(o.rc, -EINVAL);
	EXPECT_NE(o.err.find("this is an .npy file but its name does not end in .npy"),
		  std::string::npos)
	    << o.err;
}

TEST_F(DatafileTest, FormatOfName)
{
	EXPECT_EQ(hpc_df_format_of("a.npy"), HPC_DF_NPY);
	EXPECT_EQ(hpc_df_format_of("dir.npy/a"), HPC_DF_RAW);
	EXPECT_EQ(hpc_df_format_of(".npy"), HPC_DF_NPY);
	EXPECT_EQ(hpc_df_format_of("npy"), HPC_DF_RAW);
	EXPECT_EQ(hpc_df_format_of("a.NPY"), HPC_DF_RAW);
	EXPECT_EQ(hpc_df_format_of("a.bin"), HPC_DF_RAW);
	EXPECT_EQ(hpc_df_format_of(nullptr), HPC_DF_RAW);
}

/* ---- writers ------------------------------------------------------------------- */

TEST_F(DatafileTest, NpyHeaderIsPaddedTo64)
{
	uint64_t shapes[][2] = {
	    {0, 0}, {1, 1}, {7, 3}, {123456789, 987654321}, {UINT64_MAX / 16, 3}};
	for (unsigned ndim = 0; ndim <= 2; ndim++) {
		for (auto &s : shapes) {
			for (uint32_t dt : {HPC_F64, HPC_F32}) {
				char buf[256];
				ssize_t n = hpc_df_npy_header(buf, sizeof(buf), dt, ndim, s);
				ASSERT_GT(n, 0);
				EXPECT_EQ(n % 64, 0);
				EXPECT_EQ(buf[n - 1], '\n');
				EXPECT_EQ(memcmp(buf, "\x93NUMPY\x01\x00", 8), 0);
				EXPECT_EQ((size_t)(unsigned char)buf[8] |
					      (size_t)(unsigned char)buf[9] << 8,
					  (size_t)n - 10);
				std::string h(buf + 10, (size_t)n - 10);
				EXPECT_EQ(
				    h.find(dt == HPC_F64 ? "'descr': '<f8'" : "'descr': '<f4'"), 1u)
				    << h;
				EXPECT_NE(h.find("'fortran_order': False"), std::string::npos);
				/* Only spaces between the dict and the final newline. */
				size_t close = h.rfind('}');
				EXPECT_EQ(h.find_first_not_of(' ', close + 1), h.size() - 1) << h;
			}
		}
	}
	char small[64];
	EXPECT_EQ(hpc_df_npy_header(small, sizeof(small), HPC_F64, 2, shapes[3]), -ENOSPC);
	EXPECT_EQ(hpc_df_npy_header(small, sizeof(small), 9, 1, shapes[1]), -EINVAL);
	EXPECT_EQ(hpc_df_npy_header(small, sizeof(small), HPC_F64, 3, shapes[1]), -EINVAL);
}

TEST_F(DatafileTest, RoundTripsBitExact)
{
	std::vector<double> d = {0.0,
				 -0.0,
				 1.0 / 3,
				 std::numeric_limits<double>::infinity(),
				 -std::numeric_limits<double>::infinity(),
				 std::numeric_limits<double>::denorm_min(),
				 std::numeric_limits<double>::max(),
				 -1e-300};
	uint64_t nan_bits = 0x7ff8dead0000beefull; /* a NaN with a payload */
	double nan;
	memcpy(&nan, &nan_bits, 8);
	d.push_back(nan);
	d.push_back(42);
	std::vector<float> f = {0.0f,
				-0.0f,
				1.0f / 3,
				std::numeric_limits<float>::denorm_min(),
				std::numeric_limits<float>::max(),
				-7.5f};

	struct {
		const char *name;
		uint32_t dtype;
		unsigned ndim;
		uint64_t shape[2];
		const void *data;
		size_t bytes;
	} cases[] = {
	    {"m.npy", HPC_F64, 2, {2, 5}, d.data(), d.size() * 8},
	    {"v.npy", HPC_F64, 1, {10, 0}, d.data(), d.size() * 8},
	    {"s.npy", HPC_F64, 0, {0, 0}, d.data(), 8},
	    {"e.npy", HPC_F64, 1, {0, 0}, nullptr, 0},
	    {"m32.npy", HPC_F32, 2, {3, 2}, f.data(), f.size() * 4},
	    {"v32.npy", HPC_F32, 1, {6, 0}, f.data(), f.size() * 4},
	    {"m.bin", HPC_F64, 2, {2, 5}, d.data(), d.size() * 8},
	    {"v32.raw", HPC_F32, 1, {6, 0}, f.data(), f.size() * 4},
	};
	for (const auto &c : cases) {
		SCOPED_TRACE(c.name);
		std::string p = path(c.name);
		char err[256];
		ASSERT_EQ(hpc_df_write(p.c_str(), hpc_df_format_of(c.name), c.dtype, c.ndim,
				       c.shape, c.data, err, sizeof(err)),
			  0)
		    << err;
		hpc_df_file file;
		ASSERT_EQ(hpc_df_open(p.c_str(), c.dtype, &file, err, sizeof(err)), 0) << err;
		EXPECT_EQ(file.info.dtype, c.dtype);
		EXPECT_EQ(file.info.data_bytes, c.bytes);
		if (file.info.format == HPC_DF_NPY) {
			EXPECT_EQ(file.info.ndim, c.ndim);
			for (unsigned i = 0; i < c.ndim; i++)
				EXPECT_EQ(file.info.shape[i], c.shape[i]);
			EXPECT_EQ(file.info.data_offset % 64, 0u);
			EXPECT_EQ(file.info.npy_major, 1u);
		} else {
			EXPECT_EQ(file.info.data_offset, 0u);
			EXPECT_EQ(read_file(p).size(), c.bytes);
		}
		std::vector<char> back(c.bytes + 1);
		ASSERT_EQ(hpc_df_read(&file, back.data(), back.size(), err, sizeof(err)), 0) << err;
		EXPECT_EQ(c.bytes == 0 || memcmp(back.data(), c.data, c.bytes) == 0, true);
		hpc_df_close(&file);
	}
	EXPECT_EQ(list_dir(dir).size(), sizeof(cases) / sizeof(cases[0])) << "no temporary files";
}

TEST_F(DatafileTest, WriteReplacesAnExistingFile)
{
	std::string p = path("out.npy");
	write_file(p, "old contents");
	double v[2] = {1, 2};
	uint64_t shape[1] = {2};
	char err[256];
	ASSERT_EQ(hpc_df_write(p.c_str(), HPC_DF_NPY, HPC_F64, 1, shape, v, err, sizeof(err)), 0)
	    << err;
	opened o = inspect(p);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.info.count, 2u);
	EXPECT_EQ(list_dir(dir), std::set<std::string>{"out.npy"});
}

TEST_F(DatafileTest, WriteHonoursUmask)
{
	std::string p = path("mode.bin");
	double v = 1;
	uint64_t shape[1] = {1};
	char err[256];
	mode_t old = umask(027);
	int rc = hpc_df_write(p.c_str(), HPC_DF_RAW, HPC_F64, 1, shape, &v, err, sizeof(err));
	umask(old);
	ASSERT_EQ(rc, 0) << err;
	struct stat st;
	ASSERT_EQ(stat(p.c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 0777, 0640u);
}

static size_t fault_after;
static size_t fault_written;

/* write(2) that accepts fault_after bytes in small pieces, then fails with ENOSPC. */
static ssize_t faulty_write(int fd, const void *buf, size_t len)
{
	if (fault_written >= fault_after) {
		errno = ENOSPC;
		return -1;
	}
	size_t n = len;
	if (n > 7)
		n = 7; /* short writes must be continued */
	if (n > fault_after - fault_written)
		n = fault_after - fault_written;
	ssize_t w = write(fd, buf, n);
	if (w > 0)
		fault_written += (size_t)w;
	return w;
}

static ssize_t interrupted_write(int fd, const void *buf, size_t len)
{
	static int calls;
	if (calls++ % 2 == 0) {
		errno = EINTR;
		return -1;
	}
	return write(fd, buf, len > 5 ? 5 : len);
}

TEST_F(DatafileTest, FailedWriteLeavesNoFile)
{
	std::vector<double> v(1000, 1.5);
	uint64_t shape[2] = {10, 100};
	for (size_t after : {(size_t)0, (size_t)5, (size_t)64, (size_t)4000}) {
		SCOPED_TRACE(after);
		fault_after = after;
		fault_written = 0;
		hpc_df_set_write_fn(faulty_write);
		std::string p = path("new.npy");
		char err[256];
		EXPECT_EQ(hpc_df_write(p.c_str(), HPC_DF_NPY, HPC_F64, 2, shape, v.data(), err,
				       sizeof(err)),
			  -ENOSPC);
		EXPECT_EQ(std::string(err), p + ": cannot write: No space left on device");
		EXPECT_FALSE(exists(p));
		EXPECT_TRUE(list_dir(dir).empty()) << "the temporary file must be removed";

		/* An existing file keeps its old contents. */
		std::string q = path("old.bin");
		hpc_df_set_write_fn(nullptr);
		write_file(q, "previous");
		fault_written = 0;
		hpc_df_set_write_fn(faulty_write);
		EXPECT_EQ(hpc_df_write(q.c_str(), HPC_DF_RAW, HPC_F64, 2, shape, v.data(), err,
				       sizeof(err)),
			  -ENOSPC);
		EXPECT_EQ(read_file(q), "previous");
		EXPECT_EQ(list_dir(dir), std::set<std::string>{"old.bin"});
		unlink(q.c_str());
	}
}

TEST_F(DatafileTest, WriteRetriesShortAndInterruptedWrites)
{
	std::vector<float> v(33);
	for (size_t i = 0; i < v.size(); i++)
		v[i] = (float)i / 8;
	uint64_t shape[2] = {3, 11};
	hpc_df_set_write_fn(interrupted_write);
	std::string p = path("slow.npy");
	char err[256];
	ASSERT_EQ(
	    hpc_df_write(p.c_str(), HPC_DF_NPY, HPC_F32, 2, shape, v.data(), err, sizeof(err)), 0)
	    << err;
	hpc_df_set_write_fn(nullptr);
	hpc_df_file f;
	ASSERT_EQ(hpc_df_open(p.c_str(), HPC_F64, &f, err, sizeof(err)), 0) << err;
	std::vector<float> back(33);
	ASSERT_EQ(hpc_df_read(&f, back.data(), back.size() * 4, err, sizeof(err)), 0) << err;
	EXPECT_EQ(back, v);
	hpc_df_close(&f);
}

TEST_F(DatafileTest, WriteErrors)
{
	double v = 1;
	uint64_t shape[1] = {1};
	char err[256];
	std::string p = path("no/such/dir/out.npy");
	EXPECT_EQ(hpc_df_write(p.c_str(), HPC_DF_NPY, HPC_F64, 1, shape, &v, err, sizeof(err)),
		  -ENOENT);
	EXPECT_EQ(std::string(err), p + ": cannot create: No such file or directory");

	/* Renaming over a folder fails; the temporary file goes. */
	ASSERT_EQ(mkdir(path("sub.npy").c_str(), 0755), 0);
	ASSERT_EQ(mkdir(path("sub.npy/x").c_str(), 0755), 0);
	EXPECT_LT(hpc_df_write(path("sub.npy").c_str(), HPC_DF_NPY, HPC_F64, 1, shape, &v, err,
			       sizeof(err)),
		  0);
	EXPECT_NE(std::string(err).find("cannot replace"), std::string::npos) << err;
	EXPECT_EQ(list_dir(dir), std::set<std::string>{"sub.npy"});

	uint64_t huge[2] = {UINT64_MAX / 2, 4};
	EXPECT_EQ(
	    hpc_df_write(path("h.npy").c_str(), HPC_DF_NPY, HPC_F64, 2, huge, &v, err, sizeof(err)),
	    -EOVERFLOW);
	EXPECT_EQ(
	    hpc_df_write(path("h.npy").c_str(), HPC_DF_NPY, HPC_F64, 3, huge, &v, err, sizeof(err)),
	    -EINVAL);
	EXPECT_EQ(
	    hpc_df_write(path("h.npy").c_str(), HPC_DF_NPY, 5, 1, shape, &v, err, sizeof(err)),
	    -EINVAL);
	EXPECT_EQ(hpc_df_write(path("h.npy").c_str(), HPC_DF_NPY, HPC_F64, 1, shape, nullptr, err,
			       sizeof(err)),
		  -EINVAL);
	EXPECT_EQ(hpc_df_write("", HPC_DF_NPY, HPC_F64, 1, shape, &v, err, sizeof(err)), -EINVAL);
}

/* ---- against numpy itself -------------------------------------------------------- */

bool have_numpy()
{
	return access("/usr/bin/python3", X_OK) == 0 &&
	       system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

int python(const std::string &dir, const std::string &script)
{
	std::string p = dir + "/script.py";
	write_file(p, script);
	return system(
	    ("cd " + hpctest::shell_quote(dir) + " && /usr/bin/python3 " + hpctest::shell_quote(p))
		.c_str());
}

TEST_F(DatafileTest, ReadsWhatNumpyWrites)
{
	if (!have_numpy())
		GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
	ASSERT_EQ(python(dir, R"(
import numpy as np
from numpy.lib import format as fmt
m = (np.arange(12, dtype=np.float64).reshape(3, 4) - 5.5) / 3
np.save('m64.npy', m)
np.save('m32.npy', m.astype(np.float32))
np.save('v64.npy', m[1])
np.save('s64.npy', np.float64(2.5))
np.save('e64.npy', np.zeros((0,)))
np.save('e2.npy', np.zeros((0, 3)))
np.save('col.npy', m[:, 1:2].copy())
np.save('slice.npy', m[:, ::2])   # not contiguous: numpy writes it in C order
for v in [(1, 0), (2, 0), (3, 0)]:
    with open('ver%d.npy' % v[0], 'wb') as f:
        fmt.write_array(f, m, version=v)
np.save('fortran.npy', np.asfortranarray(m))
np.save('be.npy', m.astype('>f8'))
np.save('be32.npy', m.astype('>f4'))
np.save('i32.npy', np.arange(4, dtype=np.int32))
np.save('c128.npy', np.arange(4, dtype=np.complex128))
np.save('f16.npy', np.arange(4, dtype=np.float16))
np.save('b.npy', np.array([True, False]))
np.save('obj.npy', np.array([1, 'a'], dtype=object), allow_pickle=True)
np.save('rec.npy', np.zeros(3, dtype=[('a', '<f8'), ('b', '<i4')]))
np.save('d3.npy', np.zeros((2, 2, 2)))
with open('trunc.npy', 'wb') as f:
    np.save(f, m)
with open('trunc.npy', 'r+b') as f:
    f.truncate(f.seek(0, 2) - 8)
with open('two.npy', 'wb') as f:
    np.save(f, m)
    np.save(f, m)
m.tofile('m64.bin')
m.astype(np.float32).tofile('m32.bin')
)"),
		  0);

	struct {
		const char *name;
		uint32_t dtype;
		unsigned ndim;
		uint64_t d0, d1;
	} good[] = {
	    {"m64.npy", HPC_F64, 2, 3, 4},  {"m32.npy", HPC_F32, 2, 3, 4},
	    {"v64.npy", HPC_F64, 1, 4, 0},  {"s64.npy", HPC_F64, 0, 0, 0},
	    {"e64.npy", HPC_F64, 1, 0, 0},  {"e2.npy", HPC_F64, 2, 0, 3},
	    {"col.npy", HPC_F64, 2, 3, 1},  {"slice.npy", HPC_F64, 2, 3, 2},
	    {"ver1.npy", HPC_F64, 2, 3, 4}, {"ver2.npy", HPC_F64, 2, 3, 4},
	    {"ver3.npy", HPC_F64, 2, 3, 4},
	};
	std::vector<double> m(12);
	for (int i = 0; i < 12; i++)
		m[i] = ((double)i - 5.5) / 3;
	for (const auto &g : good) {
		SCOPED_TRACE(g.name);
		hpc_df_file f;
		char err[256];
		ASSERT_EQ(hpc_df_open(path(g.name).c_str(), HPC_F64, &f, err, sizeof(err)), 0)
		    << err;
		EXPECT_EQ(f.info.dtype, g.dtype);
		EXPECT_EQ(f.info.ndim, g.ndim);
		EXPECT_EQ(f.info.shape[0], g.d0);
		EXPECT_EQ(f.info.shape[1], g.d1);
		std::vector<char> buf(f.info.data_bytes + 1);
		ASSERT_EQ(hpc_df_read(&f, buf.data(), buf.size(), err, sizeof(err)), 0) << err;
		if (strcmp(g.name, "m64.npy") == 0 || strncmp(g.name, "ver", 3) == 0) {
			EXPECT_EQ(memcmp(buf.data(), m.data(), 96), 0);
		}
		if (strcmp(g.name, "m32.npy") == 0) {
			for (int i = 0; i < 12; i++)
				EXPECT_EQ(((float *)buf.data())[i], (float)m[i]);
		}
		if (strcmp(g.name, "slice.npy") == 0) {
			EXPECT_EQ(((double *)buf.data())[1], m[2]);
		}
		EXPECT_EQ(f.info.npy_major,
			  g.name[0] == 'v' && g.name[1] == 'e' ? (unsigned)(g.name[3] - '0') : 1u);
		hpc_df_close(&f);
	}

	struct {
		const char *name;
		const char *problem;
	} bad[] = {
	    {"fortran.npy", "Fortran-order arrays are not supported"},
	    {"be.npy", "big-endian arrays are not supported (dtype '>f8')"},
	    {"be32.npy", "big-endian arrays are not supported (dtype '>f4')"},
	    {"i32.npy", "dtype '<i4' is not supported"},
	    {"c128.npy", "dtype '<c16' is not supported"},
	    {"f16.npy", "dtype '<f2' is not supported"},
	    {"b.npy", "dtype '|b1' is not supported"},
	    {"obj.npy", "dtype '|O' is not supported"},
	    {"rec.npy", "structured dtypes are not supported"},
	    {"d3.npy", "3-D arrays are not supported"},
	    {"trunc.npy", "truncated"},
	    {"two.npy", "unexpected bytes after the data"},
	};
	for (const auto &b : bad) {
		opened o = inspect(path(b.name));
		EXPECT_EQ(o.rc, -EINVAL) << b.name;
		EXPECT_EQ(o.err.rfind(path(b.name) + ": ", 0), 0u) << o.err;
		EXPECT_NE(o.err.find(b.problem), std::string::npos) << b.name << ": " << o.err;
	}

	/* tofile() output is raw. */
	opened o = inspect(path("m64.bin"), HPC_F64);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.info.count, 12u);
	o = inspect(path("m32.bin"), HPC_F32);
	ASSERT_EQ(o.rc, 0) << o.err;
	EXPECT_EQ(o.info.count, 12u);
}

TEST_F(DatafileTest, NumpyReadsWhatWeWrite)
{
	if (!have_numpy())
		GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
	std::vector<double> d(12);
	std::vector<float> f(12);
	for (int i = 0; i < 12; i++) {
		d[i] = ((double)i - 5.5) / 3;
		f[i] = (float)d[i];
	}
	uint64_t s2[2] = {3, 4}, s1[1] = {12};
	char err[256];
	ASSERT_EQ(hpc_df_write(path("m64.npy").c_str(), HPC_DF_NPY, HPC_F64, 2, s2, d.data(), err,
			       sizeof(err)),
		  0);
	ASSERT_EQ(hpc_df_write(path("v32.npy").c_str(), HPC_DF_NPY, HPC_F32, 1, s1, f.data(), err,
			       sizeof(err)),
		  0);
	ASSERT_EQ(hpc_df_write(path("s64.npy").c_str(), HPC_DF_NPY, HPC_F64, 0, nullptr, d.data(),
			       err, sizeof(err)),
		  0);
	ASSERT_EQ(hpc_df_write(path("m64.bin").c_str(), HPC_DF_RAW, HPC_F64, 2, s2, d.data(), err,
			       sizeof(err)),
		  0);
	EXPECT_EQ(python(dir, R"(
import numpy as np
m = (np.arange(12, dtype=np.float64).reshape(3, 4) - 5.5) / 3
a = np.load('m64.npy')
assert a.dtype == np.float64 and a.shape == (3, 4) and a.flags.c_contiguous, a
assert np.array_equal(a, m)
v = np.load('v32.npy')
assert v.dtype == np.float32 and v.shape == (12,)
assert np.array_equal(v, m.reshape(-1).astype(np.float32))
s = np.load('s64.npy')
assert s.shape == () and s == m[0, 0]
r = np.fromfile('m64.bin', dtype='<f8')
assert np.array_equal(r, m.reshape(-1))
)"),
		  0);
}

} // namespace

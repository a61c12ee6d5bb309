// tests/common/daemon_compare.cc - see daemon_compare.h.
#include "tests/common/daemon_compare.h"

#include <cstring>

#include <gtest/gtest.h>

namespace hpctest
{

namespace
{

// Room for count elements in the arena (one spare byte: never a zero-size
// allocation), filled from rng when fill is set.
void *Alloc(hpc_client *c, uint32_t dtype, uint64_t count, std::mt19937_64 *fill)
{
	void *p = hpc_alloc(c, count * hpc_dtype_size(dtype) + 1);
	if (p && fill)
		FillRandom(p, dtype, count, *fill);
	return p;
}

} // namespace

void CompareWithSerial(hpc_client *c, const std::string &backend, const Shape &s, uint32_t dtype,
		       std::mt19937_64 &rng, const DaemonCompare &opt)
{
	const std::string what = Describe(s, dtype) + " on " + backend;
	SCOPED_TRACE(what);
	const size_t es = hpc_dtype_size(dtype);
	size_t na, nb, nout;
	Sizes(s, &na, &nb, &nout);
	void *a = Alloc(c, dtype, na, &rng);
	void *b = nb ? Alloc(c, dtype, nb, &rng) : nullptr;
	void *out0 = nout ? Alloc(c, dtype, nout, &rng) : nullptr;
	void *out_ref = nout ? Alloc(c, dtype, nout, nullptr) : nullptr;
	void *out = nout ? Alloc(c, dtype, nout, nullptr) : nullptr;
	auto release = [&] {
		hpc_free(c, a);
		hpc_free(c, b);
		hpc_free(c, out0);
		hpc_free(c, out_ref);
		hpc_free(c, out);
	};
	if (!a || (nb && !b) || (nout && !(out0 && out_ref && out))) {
		release();
		FAIL() << what << ": the arena is full";
	}

	hpc_request r{};
	r.op = s.op;
	r.dtype = dtype;
	r.m = s.m;
	r.n = s.n;
	r.k = s.k;
	r.a = a;
	r.b = b;
	r.alpha = s.op == HPC_OP_AXPY ? opt.alpha : 0.0;
	const JobOperands ops{s, dtype, a, b, out0, r.alpha};

	hpc_completion ref{}, got{};
	r.backend = "serial";
	r.out = out_ref;
	if (nout)
		std::memcpy(out_ref, out0, nout * es); // axpy reads its output
	if (hpc_run(c, &r, &ref) != 0) {
		release();
		FAIL() << "serial: " << hpc_strerror(ref.status, ref.detail);
	}
	const std::vector<double> want = Results(s, dtype, ref.result, out_ref);

	r.backend = backend.c_str();
	r.out = out;
	for (int pass = 0; pass < opt.passes; pass++) {
		SCOPED_TRACE("pass " + std::to_string(pass));
		r.a_gen = pass ? opt.gen : 0;
		r.b_gen = pass && b ? opt.gen + 1 : 0;
		if (nout)
			std::memcpy(out, out0, nout * es);
		if (hpc_run(c, &r, &got) != 0) {
			release();
			FAIL() << backend << ": " << hpc_strerror(got.status, got.detail);
		}
		ExpectMatchesSerial(what, ops, Results(s, dtype, got.result, out), want);
		if (opt.same_bits && nout) {
			EXPECT_EQ(std::memcmp(out, out_ref, nout * es), 0)
			    << what << ": not the same bits as serial";
		}
	}
	release();
}

} // namespace hpctest

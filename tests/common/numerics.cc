// tests/common/numerics.cc - see numerics.h.
#include "tests/common/numerics.h"

#include <cstdio>

namespace hpctest
{

std::string Describe(const Shape &s, uint32_t dtype)
{
	char buf[128];
	std::snprintf(buf, sizeof(buf), "%s %s m=%llu n=%llu k=%llu", hpc_op_name(s.op),
		      hpc_dtype_name(dtype), (unsigned long long)s.m, (unsigned long long)s.n,
		      (unsigned long long)s.k);
	return buf;
}

void Sizes(const Shape &s, size_t *na, size_t *nb, size_t *nout)
{
	switch (s.op) {
	case HPC_OP_MATVEC:
		*na = s.m * s.n;
		*nb = s.n;
		*nout = s.m;
		break;
	case HPC_OP_MATMUL:
		*na = s.m * s.k;
		*nb = s.k * s.n;
		*nout = s.m * s.n;
		break;
	case HPC_OP_DOT:
		*na = s.n;
		*nb = s.n;
		*nout = 0;
		break;
	case HPC_OP_SUM:
		*na = s.n;
		*nb = 0;
		*nout = 0;
		break;
	case HPC_OP_AXPY:
		*na = s.n;
		*nb = 0;
		*nout = s.n;
		break;
	default:
		*na = *nb = *nout = 0;
		break;
	}
}

size_t NumResults(const Shape &s)
{
	size_t na, nb, nout;
	Sizes(s, &na, &nb, &nout);
	return IsScalar(s.op) ? 1 : nout;
}

size_t Terms(const Shape &s)
{
	switch (s.op) {
	case HPC_OP_MATMUL:
		return s.k;
	case HPC_OP_AXPY:
		return 2;
	default:
		return s.n;
	}
}

void FillRandom(void *p, uint32_t dtype, size_t n, std::mt19937_64 &rng)
{
	if (dtype == HPC_F64)
		FillRandom(static_cast<double *>(p), n, rng);
	else
		FillRandom(static_cast<float *>(p), n, rng);
}

void FillRandom(void *p, uint32_t dtype, size_t n, uint64_t seed)
{
	std::mt19937_64 rng(seed);
	FillRandom(p, dtype, n, rng);
}

double AbsSum(const JobOperands &o, size_t i)
{
	const Shape &s = o.shape;
	const uint32_t t = o.dtype;
	double abs = 0;
	switch (s.op) {
	case HPC_OP_MATVEC:
		for (uint64_t j = 0; j < s.n; j++)
			abs += std::fabs(Get(o.a, t, i * s.n + j) * Get(o.b, t, j));
		break;
	case HPC_OP_MATMUL: {
		const uint64_t r = i / s.n, c = i % s.n;
		for (uint64_t p = 0; p < s.k; p++)
			abs += std::fabs(Get(o.a, t, r * s.k + p) * Get(o.b, t, p * s.n + c));
		break;
	}
	case HPC_OP_DOT:
		for (uint64_t j = 0; j < s.n; j++)
			abs += std::fabs(Get(o.a, t, j) * Get(o.b, t, j));
		break;
	case HPC_OP_SUM:
		for (uint64_t j = 0; j < s.n; j++)
			abs += std::fabs(Get(o.a, t, j));
		break;
	case HPC_OP_AXPY:
		abs = std::fabs(o.alpha * Get(o.a, t, i)) + std::fabs(Get(o.out0, t, i));
		break;
	}
	return abs;
}

std::vector<double> Results(const Shape &s, uint32_t dtype, double scalar, const void *out)
{
	if (IsScalar(s.op))
		return {scalar};
	std::vector<double> v(NumResults(s));
	for (size_t i = 0; i < v.size(); i++)
		v[i] = Get(out, dtype, i);
	return v;
}

void ExpectMatchesSerial(const std::string &what, const JobOperands &o,
			 const std::vector<double> &got, const std::vector<double> &want)
{
	ASSERT_EQ(got.size(), NumResults(o.shape)) << what;
	const double nterms = static_cast<double>(Terms(o.shape));
	ExpectWithin(what, got, want,
		     [&](size_t i) { return BackendTol(o.dtype, nterms, AbsSum(o, i)); });
	if (IsScalar(o.shape.op)) {
		if (o.dtype == HPC_F32) {
			EXPECT_EQ(got[0], (double)(float)got[0])
			    << what << ": f32 result not a float";
		}
		if (o.shape.n == 0) {
			EXPECT_EQ(got[0], 0.0) << what;
		}
	}
}

} // namespace hpctest

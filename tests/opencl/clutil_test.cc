// The opencl backend's runtime-free helpers (plugins/opencl/clutil.h): error
// names, the device-selection rules and the f64 decision, which a machine
// with PoCL (which has fp64) cannot reach through a real device.
#include <cerrno>
#include <cstdint>
#include <cstring>

#include <gtest/gtest.h>

#include "hpc/types.h"
#include "plugins/opencl/clutil.h"

namespace
{

TEST(ErrName, KnownCodesByName)
{
	EXPECT_STREQ(hpc_cl_errname(0), "CL_SUCCESS");
	EXPECT_STREQ(hpc_cl_errname(-5), "CL_OUT_OF_RESOURCES");
	EXPECT_STREQ(hpc_cl_errname(-11), "CL_BUILD_PROGRAM_FAILURE");
	EXPECT_STREQ(hpc_cl_errname(-54), "CL_INVALID_WORK_GROUP_SIZE");
	EXPECT_STREQ(hpc_cl_errname(-61), "CL_INVALID_BUFFER_SIZE");
	EXPECT_STREQ(hpc_cl_errname(-72), "CL_MAX_SIZE_RESTRICTION_EXCEEDED");
	EXPECT_STREQ(hpc_cl_errname(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
	EXPECT_STREQ(hpc_cl_errname(-9999), "CL_UNKNOWN_ERROR");
	EXPECT_STREQ(hpc_cl_errname(-25), "CL_UNKNOWN_ERROR"); // a gap in the numbering
	// Every code from -1 to -19 and -30 to -72 has its own name.
	for (int32_t e = -72; e <= -1; e++) {
		if (e > -30 && e < -19)
			continue;
		EXPECT_STRNE(hpc_cl_errname(e), "CL_UNKNOWN_ERROR") << e;
		EXPECT_EQ(std::strncmp(hpc_cl_errname(e), "CL_", 3), 0) << e;
	}
}

TEST(ErrName, Errno)
{
	EXPECT_EQ(hpc_cl_errno(-4), -ENOMEM);
	EXPECT_EQ(hpc_cl_errno(-5), -ENOMEM);
	EXPECT_EQ(hpc_cl_errno(-6), -ENOMEM);
	EXPECT_EQ(hpc_cl_errno(-61), -EFBIG);
	EXPECT_EQ(hpc_cl_errno(-36), -EIO);
}

TEST(Match, IndexOrCaseInsensitiveSubstring)
{
	const char *names[] = {"Intel(R) UHD Graphics 630", "NVIDIA GeForce RTX 3080",
			       "pthread-skylake-avx512-AMD EPYC 7B13"};
	unsigned idx = 99;
	EXPECT_EQ(hpc_cl_match("0", names, 3, &idx), 0);
	EXPECT_EQ(idx, 0u);
	EXPECT_EQ(hpc_cl_match("2", names, 3, &idx), 0);
	EXPECT_EQ(idx, 2u);
	EXPECT_EQ(hpc_cl_match("3", names, 3, &idx), -ERANGE);
	EXPECT_EQ(hpc_cl_match("99999999999999999999999", names, 3, &idx), -ERANGE);
	EXPECT_EQ(hpc_cl_match("nvidia", names, 3, &idx), 0);
	EXPECT_EQ(idx, 1u);
	EXPECT_EQ(hpc_cl_match("EPYC", names, 3, &idx), 0);
	EXPECT_EQ(idx, 2u);
	EXPECT_EQ(hpc_cl_match("geforce rtx", names, 3, &idx), 0);
	EXPECT_EQ(idx, 1u);
	// "3080" is digits only: an index, not a name.
	EXPECT_EQ(hpc_cl_match("3080", names, 3, &idx), -ERANGE);
	// The first of several matches.
	EXPECT_EQ(hpc_cl_match("r", names, 3, &idx), 0);
	EXPECT_EQ(idx, 0u);
	EXPECT_EQ(hpc_cl_match("nosuchdevice", names, 3, &idx), -ENOENT);
	EXPECT_EQ(hpc_cl_match("", names, 3, &idx), -EINVAL);
	EXPECT_EQ(hpc_cl_match("0", names, 0, &idx), -ERANGE);
}

TEST(DefaultDevice, FirstGpuElseFirst)
{
	const hpc_cl_kind cpu_gpu_gpu[] = {HPC_CL_KIND_OTHER, HPC_CL_KIND_GPU, HPC_CL_KIND_GPU};
	EXPECT_EQ(hpc_cl_default_device(cpu_gpu_gpu, 3), 1u);
	const hpc_cl_kind cpus[] = {HPC_CL_KIND_OTHER, HPC_CL_KIND_OTHER};
	EXPECT_EQ(hpc_cl_default_device(cpus, 2), 0u);
	const hpc_cl_kind gpu[] = {HPC_CL_KIND_GPU};
	EXPECT_EQ(hpc_cl_default_device(gpu, 1), 0u);
}

TEST(Dtype, F64OnlyWithFp64)
{
	EXPECT_EQ(hpc_cl_dtype_check(HPC_F32, false), 0);
	EXPECT_EQ(hpc_cl_dtype_check(HPC_F32, true), 0);
	EXPECT_EQ(hpc_cl_dtype_check(HPC_F64, true), 0);
	EXPECT_EQ(hpc_cl_dtype_check(HPC_F64, false), -EOPNOTSUPP);
	EXPECT_EQ(hpc_cl_dtype_check(7, true), -EOPNOTSUPP);
}

TEST(HostSpan, AlignsTheBaseDownAndCountsTheOffset)
{
	alignas(4096) static double buf[1024];
	const void *base;
	size_t span;
	uint64_t off;
	hpc_cl_host_span(buf, 80, 128, 8, &base, &span, &off);
	EXPECT_EQ(base, (const void *)buf);
	EXPECT_EQ(span, 80u);
	EXPECT_EQ(off, 0u);
	hpc_cl_host_span(buf + 17, 80, 128, 8, &base, &span, &off);
	EXPECT_EQ(base, (const void *)(buf + 16)); // 128 bytes = 16 doubles
	EXPECT_EQ(span, 88u);
	EXPECT_EQ(off, 1u);
	float *f = reinterpret_cast<float *>(buf);
	hpc_cl_host_span(f + 31, 4, 128, 4, &base, &span, &off);
	EXPECT_EQ(base, (const void *)f);
	EXPECT_EQ(span, 128u);
	EXPECT_EQ(off, 31u);
}

TEST(Geometry, Pow2AndRoundUp)
{
	EXPECT_EQ(hpc_cl_pow2_floor(0), 1u);
	EXPECT_EQ(hpc_cl_pow2_floor(1), 1u);
	EXPECT_EQ(hpc_cl_pow2_floor(4096), 4096u);
	EXPECT_EQ(hpc_cl_pow2_floor(1000), 512u);
	EXPECT_EQ(hpc_cl_pow2_floor(SIZE_MAX), (SIZE_MAX >> 1) + 1);
	EXPECT_EQ(hpc_cl_round_up(0, 8), 0u);
	EXPECT_EQ(hpc_cl_round_up(9, 8), 16u);
	EXPECT_EQ(hpc_cl_round_up(16, 8), 16u);
}

} // namespace

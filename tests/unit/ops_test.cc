// The op table (hpc/ops.h): each op's operands and extents, the empty-job
// rule, and arithmetic that cannot wrap.
#include <gtest/gtest.h>

#include <cstdint>

extern "C" {
#include "hpc/ops.h"
}

namespace
{

TEST(Ops, ExtentsFollowTheTable)
{
	uint64_t el[HPC_ARG__COUNT], by[HPC_ARG__COUNT];
	ASSERT_EQ(hpc_op_extents(HPC_OP_MATVEC, 3, 5, 0, 8, el, by), 0);
	EXPECT_EQ(el[HPC_ARG_A], 15u);
	EXPECT_EQ(el[HPC_ARG_B], 5u);
	EXPECT_EQ(el[HPC_ARG_OUT], 3u);
	EXPECT_EQ(by[HPC_ARG_A], 120u);
	ASSERT_EQ(hpc_op_extents(HPC_OP_MATMUL, 2, 3, 4, 4, el, by), 0);
	EXPECT_EQ(el[HPC_ARG_A], 8u);  // m x k
	EXPECT_EQ(el[HPC_ARG_B], 12u); // k x n
	EXPECT_EQ(el[HPC_ARG_OUT], 6u);
	ASSERT_EQ(hpc_op_extents(HPC_OP_SUM, 0, 9, 0, 8, el, nullptr), 0);
	EXPECT_EQ(el[HPC_ARG_A], 9u);
	EXPECT_EQ(el[HPC_ARG_B], 0u);
	EXPECT_EQ(el[HPC_ARG_OUT], 0u);
	EXPECT_EQ(hpc_op_extents(HPC_OP_NONE, 1, 1, 1, 8, el, by), -EINVAL);
	EXPECT_EQ(hpc_op_extents(HPC_OP__COUNT, 1, 1, 1, 8, el, by), -EINVAL);
	EXPECT_STREQ(hpc_op_name(HPC_OP_AXPY), "axpy");
	EXPECT_EQ(hpc_op_name(99), nullptr);
	EXPECT_TRUE(hpc_op_desc(HPC_OP_AXPY)->out_read);
	EXPECT_TRUE(hpc_op_desc(HPC_OP_DOT)->scalar);
}

TEST(Ops, NoProductWraps)
{
	uint64_t by[HPC_ARG__COUNT];
	EXPECT_EQ(hpc_op_extents(HPC_OP_MATVEC, 1ull << 32, 1ull << 32, 0, 8, nullptr, by),
		  -EOVERFLOW);
	EXPECT_EQ(hpc_op_extents(HPC_OP_DOT, 0, 1ull << 62, 0, 8, nullptr, by), -EOVERFLOW);
	EXPECT_EQ(hpc_op_work(HPC_OP_MATMUL, 1ull << 40, 1ull << 40, 1ull << 40), UINT64_MAX);
	EXPECT_EQ(hpc_div_ceil(UINT64_MAX, 1000), UINT64_MAX / 1000 + 1);
	EXPECT_EQ(hpc_div_ceil(UINT64_MAX - (1ull << 20) + 1, 1000),
		  (UINT64_MAX - (1ull << 20) + 1) / 1000 + 1);
	EXPECT_EQ(hpc_div_ceil(10, 5), 2u);
}

TEST(Ops, WorkIsZeroExactlyForEmptyJobs)
{
	// matmul with n = k = 0 and a huge m: nothing to touch, whatever m is.
	EXPECT_EQ(hpc_op_work(HPC_OP_MATMUL, 1ull << 63, 0, 0), 0u);
	EXPECT_EQ(hpc_op_work(HPC_OP_MATVEC, 5, 0, 0), 0u);
	EXPECT_EQ(hpc_op_work(HPC_OP_MATVEC, 5, 3, 0), 15u); // k is not matvec's
	EXPECT_EQ(hpc_op_work(HPC_OP_SUM, 0, 0, 0), 0u);
	EXPECT_EQ(hpc_op_work(HPC_OP_AXPY, 0, 7, 0), 7u);
	EXPECT_EQ(hpc_op_work_per_unit(HPC_OP_MATMUL, 9, 3, 4), 12u);
	EXPECT_EQ(hpc_op_split_len(HPC_OP_MATMUL, 9, 3, 4), 9u);
	EXPECT_EQ(hpc_op_split_len(HPC_OP_DOT, 0, 11, 0), 11u);
}

} // namespace

// Every public header compiles as C++ too (the C side is headers_c.c, built
// once per header), and their contents link from C++.
#include "hpc/client.h"
#include "hpc/ops.h"
#include "hpc/plugin.h"
#include "hpc/types.h"
#include "hpc/wire.h"

#include <gtest/gtest.h>

TEST(Headers, CompileAsCxxAndAgreeWithTheirStaticChecks)
{
	EXPECT_EQ(sizeof(hpc_sqe), 128u);
	EXPECT_EQ(sizeof(hpc_chunk_rec), 48u);
	EXPECT_STREQ(hpc_op_name(HPC_OP_MATMUL), "matmul");
	EXPECT_EQ(hpc_dtype_size(HPC_F32), 4u);
	hpc_plugin_ops ops = {HPC_PLUGIN_HEAD};
	EXPECT_EQ(ops.size, sizeof(hpc_plugin_ops));
	EXPECT_EQ(ops.abi_version, (uint32_t)HPC_PLUGIN_ABI_VERSION);
}

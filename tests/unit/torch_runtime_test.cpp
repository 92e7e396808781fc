// LibTorch is linked through core and computes what a scalar loop computes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "darkroom/runtime.h"
#include "test_util.h"

TEST(TorchRuntime, MatmulMatchesScalarLoop) {
  std::uniform_int_distribution<int> dim(1, 67);
  int m = dim(darkroom::test::rng()), k = dim(darkroom::test::rng()), n = dim(darkroom::test::rng());
  auto a = at::randn({m, k}, at::kDouble);
  auto b = at::randn({k, n}, at::kDouble);
  auto c = a.matmul(b);
  auto pa = a.accessor<double, 2>(), pb = b.accessor<double, 2>(), pc = c.accessor<double, 2>();
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double ref = 0;
      for (int t = 0; t < k; ++t) ref += pa[i][t] * pb[t][j];
      ASSERT_NEAR(pc[i][j], ref, 1e-9 * (1 + std::abs(ref)));
    }
}

TEST(TorchRuntime, ReportsVersionAndCudaStatus) {
  auto info = darkroom::runtimeInfo();
  EXPECT_FALSE(info.torch_version.empty());
  EXPECT_GE(info.intra_op_threads, 1);
  EXPECT_FALSE(info.kernels_cuda_status.empty());
  if (!info.kernels_cuda_built || info.torch_cuda_devices == 0)
    GTEST_LOG_(INFO) << "CUDA: " << info.kernels_cuda_status;
}

// The back ends of the block-sparse MLP products, behind the dispatcher in block_sparse_mlp.cpp,
// which has already checked every argument (and, for host back ends, the block list) and computed
// the compact width.
#pragma once

#include <cstdint>

#include "darkroom/kernels/block_sparse_mlp.h"

namespace darkroom::kernels::detail {

// One product's shapes, resolved. For host back ends `width` is compactWidth(n, blocks, count,
// block). For Cuda the list is in device memory, so `width` is the bound count * block, exact
// unless the short last weight block (n % block != 0) is listed; the kernels find the exact width
// from the last listed block themselves.
struct MlpArgs {
  std::int64_t rows;
  std::int64_t k;
  std::int64_t n;
  const BlockLayout& layout;
  std::int64_t width;
};

void gatherNTRef(const MlpArgs& m, const float* a, const float* w, const float* bias, float* out);
void scatterNNRef(const MlpArgs& m, const float* a, const float* w, const float* bias,
                  float* out);

void gatherNTAvx2(const MlpArgs& m, const float* a, const float* w, const float* bias,
                  float* out);
void scatterNNAvx2(const MlpArgs& m, const float* a, const float* w, const float* bias,
                   float* out);

void gatherNTNeon(const MlpArgs& m, const float* a, const float* w, const float* bias,
                  float* out);
void scatterNNNeon(const MlpArgs& m, const float* a, const float* w, const float* bias,
                   float* out);

#ifdef DARKROOM_HAVE_CUDA
// Asynchronous on the legacy default stream; launch errors throw std::runtime_error.
void gatherNTCuda(const MlpArgs& m, const float* a, const float* w, const float* bias,
                  float* out);
void scatterNNCuda(const MlpArgs& m, const float* a, const float* w, const float* bias,
                   float* out);
#endif

}  // namespace darkroom::kernels::detail

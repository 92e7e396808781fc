// The back ends of block-sparse attention, behind the dispatcher in block_sparse_attention.cpp,
// which has already checked every argument (and, for host back ends, the layout).
#pragma once

#include <algorithm>
#include <cstdint>

#include "darkroom/kernels/block_sparse_attention.h"

namespace darkroom::kernels::detail {

struct AttentionArgs {
  std::int64_t batch;
  std::int64_t dim;
  float scale;
  const AttentionLayout& layout;

  std::int64_t heads() const { return layout.heads; }
  std::int64_t length() const { return layout.length; }
  std::int64_t block() const { return layout.block; }
  std::int64_t blocks() const { return attentionBlockCount(layout); }
  // Rows (queries) or columns (keys) of block i that lie inside the sequence.
  std::int64_t valid(std::int64_t i) const {
    return std::min(layout.block, layout.length - i * layout.block);
  }
};

void attentionForwardRef(const AttentionArgs& a, const float* q, const float* k, const float* v,
                         float* o, float* probs);
void attentionBackwardRef(const AttentionArgs& a, const float* q, const float* k, const float* v,
                          const float* o, const float* probs, const float* d_o, float* dq,
                          float* dk, float* dv);

void attentionForwardAvx2(const AttentionArgs& a, const float* q, const float* k, const float* v,
                          float* o, float* probs);
void attentionBackwardAvx2(const AttentionArgs& a, const float* q, const float* k,
                           const float* v, const float* o, const float* probs, const float* d_o,
                           float* dq, float* dk, float* dv);

void attentionForwardNeon(const AttentionArgs& a, const float* q, const float* k, const float* v,
                          float* o, float* probs);
void attentionBackwardNeon(const AttentionArgs& a, const float* q, const float* k,
                           const float* v, const float* o, const float* probs, const float* d_o,
                           float* dq, float* dk, float* dv);

#ifdef DARKROOM_HAVE_CUDA
// Every pointer, the layout's included, is device memory. Launched on the legacy default stream.
void attentionForwardCuda(const AttentionArgs& a, const float* q, const float* k, const float* v,
                          float* o, float* probs);
void attentionBackwardCuda(const AttentionArgs& a, const float* q, const float* k,
                           const float* v, const float* o, const float* probs, const float* d_o,
                           float* dq, float* dk, float* dv);
#endif

}  // namespace darkroom::kernels::detail

// Block-sparse causal attention for Long Exposure (PAPERS.md §1): SDD for Q·Kᵀ, a softmax over
// each query row's active blocks with the causal mask, and DSD for P·V; and the backward.
//
// Shapes: q, k, v, o and their gradients are float32 [batch * heads, length, dim], contiguous;
// row bh = b * heads + h. Every batch element of head h uses head h's layout.
//
// Layout: per head a CSR over query blocks of `block` rows (nb = ceil(length / block); the last
// block may be partial). Query block i of head h lists its active key blocks in
//   cols[row_ptr[h * nb + i] .. row_ptr[h * nb + i + 1])
// ascending, each <= i (causal). The caller keeps the diagonal block active so that every query
// sees at least itself; a query row whose blocks are all masked gets zeros.
//
// probs holds the softmax probabilities of the active blocks, [batch, nnz, block, block] with
// nnz = row_ptr[heads * nb] (padding of partial blocks is zero), written by the forward and read
// by the backward, so the backward needs no recomputation.
#pragma once

#include <cstdint>

#include "darkroom/kernels/backend.h"

namespace darkroom::kernels {

struct AttentionLayout {
  std::int64_t heads = 0;
  std::int64_t length = 0;
  std::int64_t block = 16;
  const std::int32_t* row_ptr = nullptr;  // [heads * nb + 1]
  const std::int32_t* cols = nullptr;     // [row_ptr[heads * nb]]
  std::int64_t nnz = 0;                   // row_ptr[heads * nb], known to the caller
};

// o = softmax(scale · q kᵀ, masked to the layout and causally) · v.
void blockSparseAttentionForward(Backend backend, const float* q, const float* k, const float* v,
                                 std::int64_t batch, std::int64_t dim, float scale,
                                 const AttentionLayout& layout, float* o, float* probs);

// Gradients of the forward above, given dO and the forward's o and probs. dq, dk, dv are
// overwritten.
void blockSparseAttentionBackward(Backend backend, const float* q, const float* k,
                                  const float* v, const float* o, const float* probs,
                                  const float* d_o, std::int64_t batch, std::int64_t dim,
                                  float scale, const AttentionLayout& layout, float* dq, float* dk,
                                  float* dv);

}  // namespace darkroom::kernels

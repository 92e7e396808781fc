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

// Query (and key) blocks per head: ceil(length / block).
inline std::int64_t attentionBlockCount(const AttentionLayout& layout) {
  return (layout.length + layout.block - 1) / layout.block;
}

// Floats in probs: batch * nnz * block * block.
inline std::int64_t attentionProbsSize(const AttentionLayout& layout, std::int64_t batch) {
  return batch * layout.nnz * layout.block * layout.block;
}

// Throws std::invalid_argument, saying what and where, unless the host-memory layout is a valid
// causal CSR as described above. The entry points below call it for Reference and Cpu; Cuda
// layouts are in device memory and are not read on the host, so validate them before upload.
void validateAttentionLayout(const AttentionLayout& layout);

// Back ends. Reference and Cpu take host memory, Cuda device memory (the layout's arrays too).
// No pointer needs any alignment. Cpu runs on OpenMP threads (omp_set_num_threads or
// OMP_NUM_THREADS; at::set_num_threads reaches them too where ATen uses the same libgomp, but
// only for the thread that calls it); the forward spreads (batch·head, query block) pairs over
// them, the backward whole batch·heads, and each allocates a transposed copy of K (forward, one
// [batch·heads, dim, nb·block]) or of one head's V per thread (backward). Cuda launches on the
// legacy default stream, asynchronously, and sums dK and dV with atomics (run-to-run bits vary).

// o = softmax(scale · q kᵀ, masked to the layout and causally) · v.
void blockSparseAttentionForward(Backend backend, const float* q, const float* k, const float* v,
                                 std::int64_t batch, std::int64_t dim, float scale,
                                 const AttentionLayout& layout, float* o, float* probs);

// Gradients of the forward above, given dO and the forward's o and probs. dq, dk, dv are
// overwritten. o must be the forward's own output: rowsum(dO ∘ o) stands in for the softmax's
// rowsum(P ∘ dP).
void blockSparseAttentionBackward(Backend backend, const float* q, const float* k,
                                  const float* v, const float* o, const float* probs,
                                  const float* d_o, std::int64_t batch, std::int64_t dim,
                                  float scale, const AttentionLayout& layout, float* dq, float* dk,
                                  float* dv);

}  // namespace darkroom::kernels

// Long Exposure's block-sparse operators (kernels/) as differentiable LibTorch operations. The
// frozen weights get no gradient; inputs do, so PEFT parameters before and after them train.
#pragma once

#include <ATen/ATen.h>

#include "darkroom/kernels/backend.h"

namespace darkroom::training {

// Active MLP neuron blocks of one layer for one step.
struct MlpLayout {
  at::Tensor blocks;   // int32 [count], ascending, on the operator's device
  at::Tensor columns;  // int64 [active neurons]: the neurons of those blocks, for index_select
  std::int64_t block = 128;
  std::int64_t neurons = 0;  // all neurons (n of the weight)
  double density() const { return neurons ? double(columns.numel()) / double(neurons) : 0; }
};
// From a bool mask [ceil(neurons / block)] of active blocks.
MlpLayout mlpLayoutFromMask(const at::Tensor& active, std::int64_t neurons, std::int64_t block,
                            at::Device device);

// Kept attention blocks of one layer for one step, per head, causal.
struct AttentionLayout {
  at::Tensor row_ptr;  // int32 [heads * nb + 1]
  at::Tensor cols;     // int32 [nnz]
  std::int64_t heads = 0, length = 0, block = 16, nnz = 0;
  double density() const;  // kept fraction of the causal blocks
};
// From a bool mask [heads, nb, nb] of kept blocks; the diagonal is always kept (every query sees
// itself) and blocks above it are dropped.
AttentionLayout attentionLayoutFromMask(const at::Tensor& keep, std::int64_t length,
                                        std::int64_t block, at::Device device);

// The back end for tensors on `device`: CUDA for CUDA tensors, the CPU kernels for host ones
// (the reference when this CPU has no AVX2). Throws when the kernels cannot run there.
kernels::Backend backendFor(at::Device device);

// Hc = x · W[active]ᵀ: x [rows, in] (grad), weight [n, in] (frozen) -> [rows, active columns].
at::Tensor gatherColumns(const at::Tensor& x, const at::Tensor& weight, const MlpLayout& layout);
// y = Hc · Wt[active]: hc [rows, active columns] (grad), weight_t [n, out] (frozen, the
// transposed weight) -> [rows, out].
at::Tensor scatterRows(const at::Tensor& hc, const at::Tensor& weight_t, const MlpLayout& layout);

// Causal attention restricted to the layout: q, k, v [batch, heads, length, dim] -> the same.
at::Tensor blockSparseAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const AttentionLayout& layout);

}  // namespace darkroom::training

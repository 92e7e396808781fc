// Block-sparse products for the MLP of Long Exposure (PAPERS.md §1, "dynamic-aware operators").
// A weight W [n, k] is row-major and split into blocks of `block` consecutive rows (the last
// block may be shorter when n is not a multiple). An MLP layout is the ascending list of active
// blocks. "Compact" activations hold only the active blocks' columns, side by side: the i-th
// listed block occupies compact columns [i * block, i * block + width(block)).
//
//   fc1 forward   : Hc  = X  · W1[active]ᵀ (+ b1[active])   -> gatherNT(X, W1)
//   fc2 backward  : dHc = dY · W2ᵀ[active]ᵀ                  -> gatherNT(dY, W2ᵀ)
//   fc2 forward   : Y   = Hc · W2ᵀ[active]   (+ b2)           -> scatterNN(Hc, W2ᵀ)
//   fc1 backward  : dX  = dHc · W1[active]                    -> scatterNN(dHc, W1)
//
// W2 is used transposed ([ffn, hidden], packed once: frozen weights never change), so that every
// active block is a contiguous slab of rows in both products. No kernel computes a gradient for
// W: PEFT freezes the base weights.
//
// All pointers are float32, row-major, contiguous, on the back end's device (host for Reference
// and Cpu, device memory for Cuda). `blocks` lives in host memory for Reference and Cpu, in device
// memory for Cuda.
#pragma once

#include <cstdint>

#include "darkroom/kernels/backend.h"

namespace darkroom::kernels {

struct BlockLayout {
  const std::int32_t* blocks = nullptr;  // ascending, each in [0, ceil(n / block))
  std::int64_t count = 0;
  std::int64_t block = 128;
};

// Columns of the compact activations for this layout over n weight rows.
std::int64_t compactWidth(std::int64_t n, const std::int32_t* host_blocks, std::int64_t count,
                          std::int64_t block);

// out[rows, compactWidth] = a[rows, k] · w[active rows]ᵀ (+ bias[active], when bias != nullptr).
void gatherNT(Backend backend, const float* a, std::int64_t rows, std::int64_t k, const float* w,
              std::int64_t n, const BlockLayout& layout, const float* bias, float* out);

// out[rows, k] = a[rows, compactWidth] · w[active rows] (+ bias[k], when bias != nullptr).
// `out` is overwritten; with no active block it is bias (or zero).
void scatterNN(Backend backend, const float* a, std::int64_t rows, const float* w,
               std::int64_t n, std::int64_t k, const BlockLayout& layout, const float* bias,
               float* out);

}  // namespace darkroom::kernels

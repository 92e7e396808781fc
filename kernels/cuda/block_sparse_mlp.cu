// CUDA back end of the block-sparse MLP products: one tiled shared-memory SGEMM over the compact
// dimension, with the active-block indirection resolved when a tile of the weight is loaded.
//
//   gatherNT : C[rows, width] = A[rows, k] · B,  B(t, j) = w[row(j) * k + t]
//   scatterNN: C[rows, k]     = A[rows, width] · B,  B(t, j) = w[row(t) * k + j]
// where row(c) = blocks[c / block] * block + c % block is the weight row of compact column c.
//
// The block list is in device memory, so the host does not know whether the short last weight
// block is listed, i.e. the exact compact width; every thread derives it from the last listed
// block (one cached load) instead of the host copying it back and waiting.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "block_sparse_mlp_impl.h"

namespace darkroom::kernels::detail {
namespace {

using Index = long long;

constexpr int kTile = 64;     // C tile: 64 x 64
constexpr int kDepth = 16;    // depth of one shared-memory step
constexpr int kThreads = 256; // 16 x 16 threads, each 4 x 4 outputs
constexpr int kPer = kTile / 16;

struct Args {
  const float* a;
  const float* w;
  const float* bias;
  float* out;
  const int* blocks;
  Index rows, k, n, count, block;
};

__device__ Index exactWidth(const Args& g) {
  if (g.count == 0) return 0;
  const Index last = static_cast<Index>(g.blocks[g.count - 1]) * g.block;
  return (g.count - 1) * g.block + min(g.block, g.n - last);
}

// Weight row of compact column c, or -1 when the listed block is out of range (the dispatcher
// cannot check a device list; a bad entry then contributes zeros instead of reading wild memory).
__device__ Index weightRow(const Args& g, Index c) {
  const Index row = static_cast<Index>(g.blocks[c / g.block]) * g.block + c % g.block;
  return row >= 0 && row < g.n ? row : -1;
}

// kTransposed: gatherNT (B columns are weight rows); otherwise scatterNN (B rows are weight rows).
template <bool kTransposed>
__global__ void __launch_bounds__(kThreads) blockSparseGemm(Args g) {
  const Index width = exactWidth(g);
  const Index M = g.rows;
  const Index N = kTransposed ? width : g.k;
  const Index K = kTransposed ? g.k : width;
  const Index lda = K;
  const Index m0 = static_cast<Index>(blockIdx.x) * kTile;
  const Index n0 = static_cast<Index>(blockIdx.y) * kTile;
  if (n0 >= N) return;  // the grid was sized for count * block columns; whole block leaves

  // +1 column: the transposing stores below would otherwise hit one bank 16 times.
  __shared__ float As[kDepth][kTile + 1];
  __shared__ float Bs[kDepth][kTile + 1];

  const int tid = threadIdx.x;
  const int tx = tid % 16;
  const int ty = tid / 16;
  float acc[kPer][kPer] = {};

  for (Index t0 = 0; t0 < K; t0 += kDepth) {
    // A tile: 16 consecutive threads read 16 consecutive floats of one row.
    for (int l = 0; l < kPer; ++l) {
      const int tt = tid % kDepth;
      const int i = tid / kDepth + 16 * l;
      const Index r = m0 + i, t = t0 + tt;
      As[tt][i] = r < M && t < K ? g.a[r * lda + t] : 0.0f;
    }
    if (kTransposed) {
      // B(t, j) = w[row(j) * k + t]: contiguous along t, read like A.
      for (int l = 0; l < kPer; ++l) {
        const int tt = tid % kDepth;
        const int j = tid / kDepth + 16 * l;
        const Index c = n0 + j, t = t0 + tt;
        float v = 0.0f;
        if (c < N && t < K) {
          const Index row = weightRow(g, c);
          if (row >= 0) v = g.w[row * g.k + t];
        }
        Bs[tt][j] = v;
      }
    } else {
      // B(t, j) = w[row(t) * k + j]: contiguous along j, 64 threads per weight row.
      for (int l = 0; l < kPer; ++l) {
        const int j = tid % kTile;
        const int tt = tid / kTile + (kThreads / kTile) * l;
        const Index c = n0 + j, t = t0 + tt;
        float v = 0.0f;
        if (c < N && t < K) {
          const Index row = weightRow(g, t);
          if (row >= 0) v = g.w[row * g.k + c];
        }
        Bs[tt][j] = v;
      }
    }
    __syncthreads();
#pragma unroll
    for (int tt = 0; tt < kDepth; ++tt) {
      float av[kPer], bv[kPer];
#pragma unroll
      for (int i = 0; i < kPer; ++i) av[i] = As[tt][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < kPer; ++j) bv[j] = Bs[tt][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < kPer; ++i)
#pragma unroll
        for (int j = 0; j < kPer; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();  // the next step overwrites the tiles
  }

  for (int j = 0; j < kPer; ++j) {
    const Index c = n0 + tx + 16 * j;
    if (c >= N) continue;
    float b = 0.0f;
    if (g.bias) {
      if (kTransposed) {
        const Index row = weightRow(g, c);
        b = row >= 0 ? g.bias[row] : 0.0f;
      } else {
        b = g.bias[c];
      }
    }
    for (int i = 0; i < kPer; ++i) {
      const Index r = m0 + ty + 16 * i;
      if (r < M) g.out[r * N + c] = acc[i][j] + b;
    }
  }
}

template <bool kTransposed>
void launch(const char* op, const MlpArgs& m, const float* a, const float* w, const float* bias,
            float* out) {
  // m.width is the bound count * block here; tiles past the exact width return at once.
  const Index columns = kTransposed ? m.width : m.k;
  if (m.rows == 0 || columns == 0) return;
  const Index mTiles = (m.rows + kTile - 1) / kTile;
  const Index nTiles = (columns + kTile - 1) / kTile;
  if (mTiles > 0x7fffffffLL || nTiles > 65535)
    throw std::invalid_argument(std::string(op) + ": too large for one CUDA grid (" +
                                std::to_string(m.rows) + " rows, " + std::to_string(columns) +
                                " columns)");
  const Args g{a, w, bias, out, m.layout.blocks, m.rows, m.k, m.n, m.layout.count,
               m.layout.block};
  blockSparseGemm<kTransposed><<<dim3(static_cast<unsigned>(mTiles),
                                      static_cast<unsigned>(nTiles)),
                                 kThreads>>>(g);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(op) + ": CUDA launch failed: " +
                             cudaGetErrorString(err));
}

}  // namespace

void gatherNTCuda(const MlpArgs& m, const float* a, const float* w, const float* bias,
                  float* out) {
  launch<true>("gatherNT", m, a, w, bias, out);
}

void scatterNNCuda(const MlpArgs& m, const float* a, const float* w, const float* bias,
                   float* out) {
  launch<false>("scatterNN", m, a, w, bias, out);
}

}  // namespace darkroom::kernels::detail

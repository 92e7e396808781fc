// CUDA back end of the quantized products (memory-bound GEMV/GEMM with a batch of up to 16).
//
// Tile layout: thread block (nt, part) takes part `part` of tile column nt (32 outputs, the
// column contiguous in memory); its warps take every kWarps-th tile of that part, and lane l owns
// output c = l of the tile. A column is cut into parts only when there are too few columns to
// fill the GPU; the parts then add into y, zeroed first, with atomicAdd. In a
// super-block, output c's values are j = p·64 + 2c + r (p = 0..3, r = 0..1): for 4-bit codes the
// bytes 2c, 2c + 1 (p = 0, 2 in their two nibbles) and 64 + 2c, 65 + 2c (p = 1, 3), for Q8_0 the
// bytes p·64 + 2c, p·64 + 2c + 1. So a lane reads 16-bit words, a warp 64 consecutive bytes, and
// no two lanes ever add into the same output; the warps' partial sums meet in shared memory.
//
// RowGroups layout: one warp per weight row, lanes over the row's blocks, a shuffle reduction.
// Dense: the same with float32 rows.
//
// The 16-entry code table (Lut) sits in shared memory; Unpack computes q - 8 instead. Batches
// above kBatchChunk were already cut into chunks by the host loop below.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "quant_gemm_impl.h"

namespace darkroom::kernels::detail {
namespace {

using Index = long long;

constexpr int kWarps = 8;  // warps per block
constexpr int kThreads = kWarps * 32;
constexpr int kMaxBatch = static_cast<int>(kBatchChunk);

struct Args {
  const unsigned char* data;
  const float* x;
  float* y;
  Index rows, cols, batch;  // batch <= kMaxBatch
  Index ldx, ldy;           // row strides of x and y (the full matrices' cols and rows)
  int type;                 // QuantType
  bool unpack;              // Dequant::Unpack
  float table[16];          // Lut code values (Q4_0 or IQ4_NL)
};

__device__ __forceinline__ float halfAt(const unsigned char* p) {
  const unsigned short bits = static_cast<unsigned short>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(bits));
}

__device__ __forceinline__ float code4(const Args& g, const float* table, int q) {
  return g.unpack ? static_cast<float>(q) - 8.0f : table[q];
}

// acc[b] += v · x[b, k] for every batch row (k past cols reads the zero padding).
__device__ __forceinline__ void addColumn(const Args& g, float (&acc)[kMaxBatch], float v,
                                          Index k) {
  if (k >= g.cols) return;
#pragma unroll
  for (int b = 0; b < kMaxBatch; ++b)
    if (b < g.batch) acc[b] = fmaf(v, __ldg(g.x + b * g.ldx + k), acc[b]);
}

__global__ void __launch_bounds__(kThreads) tileGemm(Args g) {
  __shared__ float table[16];
  __shared__ float partial[kWarps][kMaxBatch][32];
  if (threadIdx.x < 16) table[threadIdx.x] = g.table[threadIdx.x];
  __syncthreads();

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const bool four = g.type != static_cast<int>(QuantType::Q8_0);
  const Index sbBytes = four ? 144 : 272;
  const Index kTiles = (g.cols + 31) / 32;
  const Index nt = blockIdx.x;
  const Index perPart = (kTiles + gridDim.y - 1) / gridDim.y;
  const Index kBegin = blockIdx.y * perPart;
  const Index kEnd = kBegin + perPart < kTiles ? kBegin + perPart : kTiles;
  float acc[kMaxBatch] = {};
  for (Index kt = kBegin + warp; kt < kEnd; kt += kWarps) {
    const unsigned char* tile = g.data + (nt * kTiles + kt) * 4 * sbBytes;
    for (int s = 0; s < 4; ++s) {
      const unsigned char* sb = tile + s * sbBytes;
      const unsigned char* scales = sb + (four ? 128 : 256);
      const Index k0 = kt * 32 + 8 * s;  // input of value p = 0, r = 0
#pragma unroll
      for (int p = 0; p < 4; ++p) {
        const float d = halfAt(scales + 2 * (2 * p + lane / 16));  // group (p·64 + 2c) / 32
        float v0, v1;
        if (four) {
          const unsigned char* bytes = sb + (p % 2) * 64 + 2 * lane;
          const int shift = p < 2 ? 0 : 4;
          v0 = code4(g, table, (bytes[0] >> shift) & 15);
          v1 = code4(g, table, (bytes[1] >> shift) & 15);
        } else {
          const unsigned char* bytes = sb + p * 64 + 2 * lane;
          v0 = static_cast<float>(static_cast<signed char>(bytes[0]));
          v1 = static_cast<float>(static_cast<signed char>(bytes[1]));
        }
        addColumn(g, acc, v0 * d, k0 + 2 * p);
        addColumn(g, acc, v1 * d, k0 + 2 * p + 1);
      }
    }
  }
#pragma unroll
  for (int b = 0; b < kMaxBatch; ++b) partial[warp][b][lane] = acc[b];
  __syncthreads();
  // Thread t sums output (b, c) = (t / 32, t % 32) over the warps.
  for (int t = threadIdx.x; t < kMaxBatch * 32; t += kThreads) {
    const int b = t / 32, c = t % 32;
    const Index n = nt * 32 + c;
    if (b >= g.batch || n >= g.rows) continue;
    float sum = 0.0f;
    for (int w = 0; w < kWarps; ++w) sum += partial[w][b][c];
    if (gridDim.y == 1)
      g.y[b * g.ldy + n] = sum;
    else
      atomicAdd(g.y + b * g.ldy + n, sum);
  }
}

__device__ __forceinline__ float warpSum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__global__ void __launch_bounds__(kThreads) rowGemm(Args g) {
  __shared__ float table[16];
  if (threadIdx.x < 16) table[threadIdx.x] = g.table[threadIdx.x];
  __syncthreads();
  const int lane = threadIdx.x % 32;
  const Index n = static_cast<Index>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (n >= g.rows) return;
  const bool four = g.type != static_cast<int>(QuantType::Q8_0);
  const Index blockBytes = four ? 18 : 34;
  const Index groups = (g.cols + 31) / 32;
  float acc[kMaxBatch] = {};
  for (Index gi = lane; gi < groups; gi += 32) {
    const unsigned char* block = g.data + (n * groups + gi) * blockBytes;
    const float d = halfAt(block);
    const Index k0 = gi * 32;
    for (int i = 0; i < 32; ++i) {
      float v;
      if (four) {
        const int byte = block[2 + (i % 16)];
        v = code4(g, table, i < 16 ? byte & 15 : byte >> 4);
      } else {
        v = static_cast<float>(static_cast<signed char>(block[2 + i]));
      }
      addColumn(g, acc, v * d, k0 + i);
    }
  }
#pragma unroll
  for (int b = 0; b < kMaxBatch; ++b) {
    const float sum = warpSum(acc[b]);
    if (lane == 0 && b < g.batch) g.y[b * g.ldy + n] = sum;
  }
}

struct DenseArgs {
  const float* w;
  const float* x;
  float* y;
  Index rows, cols, batch;
  Index ldy;
};

__global__ void __launch_bounds__(kThreads) denseGemmKernel(DenseArgs g) {
  const int lane = threadIdx.x % 32;
  const Index n = static_cast<Index>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (n >= g.rows) return;
  float acc[kMaxBatch] = {};
  for (Index k = lane; k < g.cols; k += 32) {
    const float v = __ldg(g.w + n * g.cols + k);
#pragma unroll
    for (int b = 0; b < kMaxBatch; ++b)
      if (b < g.batch) acc[b] = fmaf(v, __ldg(g.x + b * g.cols + k), acc[b]);
  }
#pragma unroll
  for (int b = 0; b < kMaxBatch; ++b) {
    const float sum = warpSum(acc[b]);
    if (lane == 0 && b < g.batch) g.y[b * g.ldy + n] = sum;
  }
}

void checkLaunch(const char* op) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(op) + ": CUDA launch failed: " +
                             cudaGetErrorString(err));
}

unsigned gridFor(const char* op, Index blocks) {
  if (blocks > 0x7fffffffLL)
    throw std::invalid_argument(std::string(op) + ": too large for one CUDA grid (" +
                                std::to_string(blocks) + " blocks)");
  return static_cast<unsigned>(blocks);
}

}  // namespace

void quantGemmCuda(const QuantMatrixView& w, const float* x, std::int64_t batch, float* y,
                   Dequant mode) {
  Args g{};
  g.data = w.data;
  g.rows = w.rows;
  g.cols = w.cols;
  g.ldx = w.cols;
  g.ldy = w.rows;
  g.type = static_cast<int>(w.type);
  g.unpack = mode == Dequant::Unpack;
  if (const float* t = codeTable(w.type))
    for (int i = 0; i < 16; ++i) g.table[i] = t[i];
  const bool tile = w.layout == QuantLayout::Tile;
  const Index blocks = tile ? (w.rows + 31) / 32 : (w.rows + kWarps - 1) / kWarps;
  const unsigned grid = gridFor("quantGemm", blocks);
  // Tile columns cut into parts until there are about kTargetBlocks blocks (a few per SM of any
  // current GPU), each part keeping at least one tile per warp.
  constexpr Index kTargetBlocks = 1024;
  const Index kTiles = (w.cols + 31) / 32;
  Index parts = (kTargetBlocks + blocks - 1) / blocks;
  parts = parts < kTiles / kWarps ? parts : kTiles / kWarps;
  parts = parts < 1 ? 1 : parts > 65535 ? 65535 : parts;
  for (Index b0 = 0; b0 < batch; b0 += kBatchChunk) {
    g.x = x + b0 * w.cols;
    g.y = y + b0 * w.rows;
    g.batch = batch - b0 < kBatchChunk ? batch - b0 : kBatchChunk;
    if (tile) {
      if (parts > 1) {
        const cudaError_t err =
            cudaMemsetAsync(g.y, 0, sizeof(float) * static_cast<std::size_t>(g.batch * w.rows));
        if (err != cudaSuccess)
          throw std::runtime_error(std::string("quantGemm: clearing y failed: ") +
                                   cudaGetErrorString(err));
      }
      tileGemm<<<dim3(grid, static_cast<unsigned>(parts)), kThreads>>>(g);
    } else {
      rowGemm<<<grid, kThreads>>>(g);
    }
    checkLaunch("quantGemm");
  }
}

void denseGemmCuda(const float* w, std::int64_t rows, std::int64_t cols, const float* x,
                   std::int64_t batch, float* y) {
  const unsigned grid = gridFor("denseGemm", (rows + kWarps - 1) / kWarps);
  for (Index b0 = 0; b0 < batch; b0 += kBatchChunk) {
    const DenseArgs g{w, x + b0 * cols, y + b0 * rows, rows, cols,
                      batch - b0 < kBatchChunk ? batch - b0 : kBatchChunk, rows};
    denseGemmKernel<<<grid, kThreads>>>(g);
    checkLaunch("denseGemm");
  }
}

}  // namespace darkroom::kernels::detail

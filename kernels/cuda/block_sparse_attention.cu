// CUDA block-sparse causal attention. One thread block per (batch·head, query block), with the
// query block's rows staged in shared memory and the active key blocks visited one at a time.
// Written for clarity first: plain fp32 dot products, no tensor cores.
//
// Forward: scores of the active tiles go straight into probs, a warp per row does the softmax
// across the row's tiles, then O_i = Σ_j P_ij V_j.
// Backward: dS_ij = scale · P_ij ∘ (dO_i V_jᵀ − rowsum(dO_i ∘ O_i)) in shared memory; the block
// owns dQ_i (plain stores), while dK_j and dV_j collect from every query block (atomicAdd, so
// the sums' order, and their last bits, vary from run to run).
//
// Every pointer, the layout's included, is device memory; launches go to the legacy default
// stream and are asynchronous; launch errors throw std::runtime_error.
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "block_sparse_attention_impl.h"

namespace darkroom::kernels::detail {

namespace {

using i64 = long long;
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

struct Shape {
  i64 batch_heads, heads, length, dim, block, blocks, nnz;
  float scale;
};

Shape shapeOf(const AttentionArgs& a) {
  return Shape{a.batch * a.heads(), a.heads(), a.length(), a.dim, a.block(), a.blocks(),
               a.layout.nnz, a.scale};
}

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("block-sparse attention (cuda): ") + what + ": " +
                             cudaGetErrorString(err));
}

__device__ float warpSum(float x) {
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

__device__ float warpMax(float x) {
  for (int off = 16; off > 0; off >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, off));
  return x;
}

// block × dim floats from global to shared, rows `ld` = dim + 1 apart: threads that read one
// column of different rows (the score loops) then hit different banks. Rows valid..block-1 are
// zero.
__device__ void stageRows(float* dst, const float* src, i64 valid, i64 block, i64 dim) {
  for (i64 idx = threadIdx.x; idx < block * dim; idx += blockDim.x) {
    const i64 r = idx / dim, d = idx % dim;
    dst[r * (dim + 1) + d] = r < valid ? src[idx] : 0.f;
  }
}

// Heavier (later) query blocks get the lower block indices, so they start first.
__device__ void taskOf(const Shape& s, i64* bh, i64* i) {
  const i64 task = blockIdx.x;
  *bh = task % s.batch_heads;
  *i = s.blocks - 1 - task / s.batch_heads;
}

__global__ void forwardKernel(Shape s, const int* row_ptr, const int* cols, const float* q,
                              const float* k, const float* v, float* o, float* probs) {
  extern __shared__ float smem[];
  const i64 B = s.block, D = s.dim, L = s.length, ld = D + 1;
  float* sQ = smem;           // [B][ld]
  float* sK = smem + B * ld;  // [B][ld]
  i64 bh, i;
  taskOf(s, &bh, &i);
  const i64 b = bh / s.heads, h = bh % s.heads;
  const i64 M = min(B, L - i * B);
  const i64 begin = row_ptr[h * s.blocks + i], n = row_ptr[h * s.blocks + i + 1] - begin;
  float* tiles = probs + (b * s.nnz + begin) * B * B;
  stageRows(sQ, q + (bh * L + i * B) * D, M, B, D);

  // Scaled scores; -inf marks what the query cannot see (causal, or a padding row or column).
  for (i64 p = 0; p < n; ++p) {
    const i64 j = cols[begin + p];
    __syncthreads();  // sK is free again (and sQ is loaded)
    stageRows(sK, k + (bh * L + j * B) * D, min(B, L - j * B), B, D);
    __syncthreads();
    for (i64 idx = threadIdx.x; idx < B * B; idx += blockDim.x) {
      const i64 r = idx / B, c = idx % B;
      float score = -INFINITY;
      if (r < M && j * B + c <= i * B + r) {
        float acc = 0.f;
        for (i64 d = 0; d < D; ++d) acc += sQ[r * ld + d] * sK[c * ld + d];
        score = s.scale * acc;
      }
      tiles[p * B * B + idx] = score;
    }
  }
  __syncthreads();

  // Softmax: one warp per row, across the row's n tiles.
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (i64 r = warp; r < B; r += kWarps) {
    auto at = [&](i64 e) -> float& { return tiles[(e / B) * B * B + r * B + e % B]; };
    float max = -INFINITY;
    for (i64 e = lane; e < n * B; e += 32) max = fmaxf(max, at(e));
    max = warpMax(max);
    if (max == -INFINITY) {  // a padding row, or a row that sees nothing: zeros
      for (i64 e = lane; e < n * B; e += 32) at(e) = 0.f;
      continue;
    }
    float sum = 0.f;
    for (i64 e = lane; e < n * B; e += 32) {
      const float x = expf(at(e) - max);  // exp(-inf) = 0 for what is masked
      at(e) = x;
      sum += x;
    }
    const float inv = 1.f / warpSum(sum);
    for (i64 e = lane; e < n * B; e += 32) at(e) *= inv;
  }
  __syncthreads();

  // O_i = Σ_j P_ij V_j.
  for (i64 idx = threadIdx.x; idx < M * D; idx += blockDim.x) {
    const i64 r = idx / D, d = idx % D;
    float acc = 0.f;
    for (i64 p = 0; p < n; ++p) {
      const i64 j = cols[begin + p], kv = min(B, L - j * B);
      const float* pr = tiles + p * B * B + r * B;
      const float* vc = v + (bh * L + j * B) * D + d;
      for (i64 c = 0; c < kv; ++c) acc += pr[c] * vc[c * D];
    }
    o[(bh * L + i * B) * D + idx] = acc;
  }
}

__global__ void backwardKernel(Shape s, const int* row_ptr, const int* cols, const float* q,
                               const float* k, const float* v, const float* o, const float* probs,
                               const float* d_o, float* dq, float* dk, float* dv) {
  extern __shared__ float smem[];
  const i64 B = s.block, D = s.dim, L = s.length, ld = D + 1;
  float* sQ = smem;              // [B][ld]
  float* sdO = sQ + B * ld;      // [B][ld]
  float* sX = sdO + B * ld;      // [B][ld]: V_j, then K_j
  float* sdS = sX + B * ld;      // [B][B]
  float* sDelta = sdS + B * B;   // [B]
  i64 bh, i;
  taskOf(s, &bh, &i);
  const i64 b = bh / s.heads, h = bh % s.heads;
  const i64 M = min(B, L - i * B);
  const i64 begin = row_ptr[h * s.blocks + i], n = row_ptr[h * s.blocks + i + 1] - begin;
  const i64 rows = bh * L + i * B;  // first row of this query block in q, o, dq, ...
  stageRows(sQ, q + rows * D, M, B, D);
  stageRows(sdO, d_o + rows * D, M, B, D);
  for (i64 idx = threadIdx.x; idx < M * D; idx += blockDim.x) dq[rows * D + idx] = 0.f;
  __syncthreads();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (i64 r = warp; r < B; r += kWarps) {  // rowsum(dO ∘ O)
    float acc = 0.f;
    if (r < M)
      for (i64 d = lane; d < D; d += 32) acc += sdO[r * ld + d] * o[(rows + r) * D + d];
    acc = warpSum(acc);
    if (lane == 0) sDelta[r] = acc;
  }

  for (i64 p = 0; p < n; ++p) {
    const i64 j = cols[begin + p], kv = min(B, L - j * B);
    const i64 keys = bh * L + j * B;
    const float* P = probs + (b * s.nnz + begin + p) * B * B;
    __syncthreads();  // sX and sdS are free again (and sDelta is written)
    stageRows(sX, v + keys * D, kv, B, D);
    __syncthreads();
    for (i64 idx = threadIdx.x; idx < B * B; idx += blockDim.x) {
      const i64 r = idx / B, c = idx % B;
      float ds = 0.f;
      if (r < M && c < kv) {
        float dp = 0.f;
        for (i64 d = 0; d < D; ++d) dp += sdO[r * ld + d] * sX[c * ld + d];
        ds = s.scale * P[idx] * (dp - sDelta[r]);
      }
      sdS[idx] = ds;
    }
    // dV_j += P_ijᵀ dO_i (P is zero outside what is visible).
    for (i64 idx = threadIdx.x; idx < kv * D; idx += blockDim.x) {
      const i64 c = idx / D, d = idx % D;
      float acc = 0.f;
      for (i64 r = 0; r < M; ++r) acc += P[r * B + c] * sdO[r * ld + d];
      atomicAdd(dv + keys * D + idx, acc);
    }
    __syncthreads();  // sdS complete, sX (V_j) no longer read
    stageRows(sX, k + keys * D, kv, B, D);
    __syncthreads();
    for (i64 idx = threadIdx.x; idx < M * D; idx += blockDim.x) {  // dQ_i += dS K_j
      const i64 r = idx / D, d = idx % D;
      float acc = 0.f;
      for (i64 c = 0; c < kv; ++c) acc += sdS[r * B + c] * sX[c * ld + d];
      dq[rows * D + idx] += acc;
    }
    for (i64 idx = threadIdx.x; idx < kv * D; idx += blockDim.x) {  // dK_j += dSᵀ Q_i
      const i64 c = idx / D, d = idx % D;
      float acc = 0.f;
      for (i64 r = 0; r < M; ++r) acc += sdS[r * B + c] * sQ[r * ld + d];
      atomicAdd(dk + keys * D + idx, acc);
    }
  }
}

// Opts a kernel into more than the default 48 KiB of dynamic shared memory when it needs it.
template <typename Kernel>
void allowSharedMemory(Kernel kernel, std::size_t bytes) {
  int device = 0, optin = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
        "cudaDeviceGetAttribute");
  if (bytes > static_cast<std::size_t>(optin))
    throw std::invalid_argument("block-sparse attention (cuda): block × dim too large: needs " +
                                std::to_string(bytes) + " bytes of shared memory, the GPU has " +
                                std::to_string(optin));
  if (bytes > 48 * 1024)
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(bytes)),
          "cudaFuncSetAttribute");
}

}  // namespace

void attentionForwardCuda(const AttentionArgs& a, const float* q, const float* k, const float* v,
                          float* o, float* probs) {
  const Shape s = shapeOf(a);
  const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(2 * s.block * (s.dim + 1));
  allowSharedMemory(forwardKernel, bytes);
  const i64 tasks = s.batch_heads * s.blocks;
  forwardKernel<<<static_cast<unsigned>(tasks), kThreads, bytes>>>(
      s, a.layout.row_ptr, a.layout.cols, q, k, v, o, probs);
  check(cudaGetLastError(), "forward launch");
}

void attentionBackwardCuda(const AttentionArgs& a, const float* q, const float* k,
                           const float* v, const float* o, const float* probs, const float* d_o,
                           float* dq, float* dk, float* dv) {
  const Shape s = shapeOf(a);
  const std::size_t total = sizeof(float) * static_cast<std::size_t>(s.batch_heads * s.length * s.dim);
  check(cudaMemsetAsync(dk, 0, total), "cudaMemsetAsync dk");
  check(cudaMemsetAsync(dv, 0, total), "cudaMemsetAsync dv");
  const std::size_t bytes =
      sizeof(float) * static_cast<std::size_t>(3 * s.block * (s.dim + 1) + s.block * s.block + s.block);
  allowSharedMemory(backwardKernel, bytes);
  const i64 tasks = s.batch_heads * s.blocks;
  backwardKernel<<<static_cast<unsigned>(tasks), kThreads, bytes>>>(
      s, a.layout.row_ptr, a.layout.cols, q, k, v, o, probs, d_o, dq, dk, dv);
  check(cudaGetLastError(), "backward launch");
}

}  // namespace darkroom::kernels::detail

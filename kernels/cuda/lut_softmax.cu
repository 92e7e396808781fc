// CUDA LUT softmax and cached attention. Written to be plainly correct first: fp32 dot products,
// no tensor cores.
//
// The table: the host's fp16 table (exp2Table) is copied once per GPU into a __device__ array of
// 32,768 halves (64 KiB, read through the read-only cache); the index is __float2half_rn(t)'s bits
// with the sign bit dropped, the same round-to-nearest-even as floatToHalf on the host.
//
// softmaxRows: one block per row (grid-stride over rows): max, exponentials and their sum, scale.
//
// cachedAttention: one block of kThreads threads per (row = batch, head, query; key split). The
// block walks its keys in tiles of kThreads, one key per thread: the key's score (q in shared
// memory; a warp reads each key row together, lanes across the dimensions, and reduces with
// shuffles), the tile's max by a block reduction, α = e(m_old − m_new), p = e(fma(c, score,
// −m_new)) into shared memory, then every thread updates the output
// dimensions it owns (d = tid, tid + kThreads, ...) with Σ p·v, reading V rows coalesced. Each
// thread keeps its share of the running sum l (α is the same for the whole block), summed at the
// end. With few rows (decode) the keys are split so that every SM has blocks; a second kernel
// merges the splits' (m, l, acc).
//
// Every pointer is device memory; launches go to the legacy default stream and are asynchronous;
// CUDA errors throw std::runtime_error.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "lut_softmax_impl.h"

namespace darkroom::kernels::detail {

namespace {

using i64 = std::int64_t;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxDimPerThread = 4;  // head_dim ≤ kThreads · 4 = 512

__device__ unsigned short g_exp2_table[kExp2TableSize];

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("lut softmax (cuda): ") + what + ": " +
                             cudaGetErrorString(err));
}

int currentDevice() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}

// Copies the table to the current GPU the first time that GPU is used.
void ensureTable() {
  static std::mutex mutex;
  static std::vector<bool> done;
  const int device = currentDevice();
  std::lock_guard<std::mutex> lock(mutex);
  if (device >= static_cast<int>(done.size())) done.resize(static_cast<std::size_t>(device) + 1);
  if (done[static_cast<std::size_t>(device)]) return;
  check(cudaMemcpyToSymbol(g_exp2_table, exp2Table(), sizeof(unsigned short) * kExp2TableSize),
        "copying the exp2 table");
  done[static_cast<std::size_t>(device)] = true;
}

int smCount() {
  int count = 0;
  check(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, currentDevice()),
        "cudaDeviceGetAttribute");
  return std::max(count, 1);
}

template <bool kLut>
__device__ __forceinline__ float expOf(float t) {
  if (kLut) {
    const unsigned short index = __half_as_ushort(__float2half_rn(t)) & 0x7fffu;
    return __half2float(__ushort_as_half(__ldg(&g_exp2_table[index])));
  }
  return expf(t);
}

__device__ __forceinline__ float warpMax(float x) {
  for (int off = 16; off > 0; off >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, off));
  return x;
}

__device__ __forceinline__ float warpSum(float x) {
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

// Every thread gets the block's max (or sum); `scratch` holds kWarps floats. Starts and ends with
// a barrier, so scratch can be reused by the next call.
template <bool kMax>
__device__ float blockReduce(float x, float* scratch) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  x = kMax ? warpMax(x) : warpSum(x);
  __syncthreads();
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  float r = scratch[0];
  for (int w = 1; w < kWarps; ++w) r = kMax ? fmaxf(r, scratch[w]) : r + scratch[w];
  return r;
}

// ---------------------------------------------------------------------------------------------

template <bool kLut>
__global__ void softmaxKernel(float* x, i64 rows, i64 cols, float c) {
  __shared__ float scratch[kWarps];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    float* row = x + r * cols;
    float m = -INFINITY;
    for (i64 j = threadIdx.x; j < cols; j += kThreads) m = fmaxf(m, c * row[j]);
    m = blockReduce<true>(m, scratch);
    if (m == -INFINITY) {  // every score is -inf
      for (i64 j = threadIdx.x; j < cols; j += kThreads) row[j] = 0.f;
      continue;
    }
    float sum = 0.f;
    for (i64 j = threadIdx.x; j < cols; j += kThreads) {
      const float e = expOf<kLut>(__fmaf_rn(c, row[j], -m));
      row[j] = e;
      sum += e;
    }
    const float inv = 1.f / blockReduce<false>(sum, scratch);
    for (i64 j = threadIdx.x; j < cols; j += kThreads) row[j] *= inv;
  }
}

// ---------------------------------------------------------------------------------------------

struct Shape {
  i64 heads, kv_heads, queries, keys, dim, rows;  // rows = batch · heads · queries
  i64 split_keys;  // keys per split (a multiple of kThreads)
  int splits;
  float c;
};

// Row `row` (= (b · heads + h) · queries + i) over keys [split · split_keys, …). Writes
// out[row] = acc / l when there is one split, else the partial (m, l, acc) to parts.
template <bool kLut>
__global__ void attentionKernel(Shape s, const float* q, const float* k, const float* v,
                                float* out, float* parts) {
  extern __shared__ float smem[];
  float* sq = smem;              // [dim]
  float* sp = smem + s.dim;      // [kThreads] the tile's p
  float* scratch = sp + kThreads;  // [kWarps]
  const i64 row = blockIdx.x;
  const int split = blockIdx.y;
  const i64 i = row % s.queries, bh = row / s.queries, h = bh % s.heads, b = bh / s.heads;
  const i64 kvh = h / (s.heads / s.kv_heads);
  const i64 D = s.dim;
  const float* K = k + (b * s.kv_heads + kvh) * s.keys * D;
  const float* V = v + (b * s.kv_heads + kvh) * s.keys * D;
  const i64 last = s.keys - s.queries + i;  // the last key this query sees
  const i64 begin = split * s.split_keys;
  const i64 end = min(last + 1, begin + s.split_keys);
  for (i64 d = threadIdx.x; d < D; d += kThreads) sq[d] = q[row * D + d];

  float acc[kMaxDimPerThread];
#pragma unroll
  for (int u = 0; u < kMaxDimPerThread; ++u) acc[u] = 0.f;
  float m = -INFINITY, l = 0.f;  // l: this thread's share of the sum
  __syncthreads();
  for (i64 t0 = begin; t0 < end; t0 += kThreads) {
    const i64 j = t0 + threadIdx.x;
    // Warp w scores keys t0 + 32w … t0 + 32w + 31, one at a time with its lanes across the
    // dimensions (coalesced reads of the key row); lane l keeps key t0 + 32w + l, its own j.
    float score = -INFINITY;
    const i64 warp_keys = t0 + (threadIdx.x / 32) * 32;
    for (int kk = 0; kk < 32 && warp_keys + kk < end; ++kk) {
      const float* kr = K + (warp_keys + kk) * D;
      float partial = 0.f;
      for (i64 d = threadIdx.x % 32; d < D; d += 32) partial = fmaf(sq[d], __ldg(kr + d), partial);
      const float dot = warpSum(partial);
      if (threadIdx.x % 32 == kk) score = dot;
    }
    const float m_new = fmaxf(m, blockReduce<true>(j < end ? s.c * score : -INFINITY, scratch));
    if (m_new == -INFINITY) continue;  // only -inf scores so far (uniform over the block)
    const float p = j < end ? expOf<kLut>(__fmaf_rn(s.c, score, -m_new)) : 0.f;
    const float alpha = m == -INFINITY ? 0.f : expOf<kLut>(m - m_new);
    sp[threadIdx.x] = p;
    l = alpha * l + p;
    m = m_new;
    __syncthreads();
    const i64 n = min(static_cast<i64>(kThreads), end - t0);
#pragma unroll
    for (int u = 0; u < kMaxDimPerThread; ++u) {
      const i64 d = threadIdx.x + u * kThreads;
      if (d < D) {
        float a = alpha * acc[u];
        for (i64 jj = 0; jj < n; ++jj) a = fmaf(sp[jj], __ldg(V + (t0 + jj) * D + d), a);
        acc[u] = a;
      }
    }
    // The next tile's blockReduce starts with a barrier: sp is not overwritten before all read it.
  }
  const float total = blockReduce<false>(l, scratch);
  if (s.splits == 1) {
    const float inv = total > 0.f ? 1.f / total : 0.f;
#pragma unroll
    for (int u = 0; u < kMaxDimPerThread; ++u) {
      const i64 d = threadIdx.x + u * kThreads;
      if (d < D) out[row * D + d] = acc[u] * inv;
    }
    return;
  }
  float* part = parts + (row * s.splits + split) * (D + 2);  // m, l, acc[D]
  if (threadIdx.x == 0) {
    part[0] = m;
    part[1] = total;
  }
#pragma unroll
  for (int u = 0; u < kMaxDimPerThread; ++u) {
    const i64 d = threadIdx.x + u * kThreads;
    if (d < D) part[2 + d] = acc[u];
  }
}

// out[row] = Σ_s e(m_s − M) acc_s / Σ_s e(m_s − M) l_s.
template <bool kLut>
__global__ void mergeKernel(Shape s, const float* parts, float* out) {
  const i64 row = blockIdx.x, D = s.dim;
  const float* base = parts + row * s.splits * (D + 2);
  float M = -INFINITY;
  for (int sp = 0; sp < s.splits; ++sp) M = fmaxf(M, base[sp * (D + 2)]);
  float l = 0.f;
  for (int sp = 0; sp < s.splits; ++sp) {
    const float ms = base[sp * (D + 2)];
    if (ms != -INFINITY) l += expOf<kLut>(ms - M) * base[sp * (D + 2) + 1];
  }
  const float inv = l > 0.f ? 1.f / l : 0.f;
  for (i64 d = threadIdx.x; d < D; d += blockDim.x) {
    float a = 0.f;
    for (int sp = 0; sp < s.splits; ++sp) {
      const float ms = base[sp * (D + 2)];
      if (ms != -INFINITY) a += expOf<kLut>(ms - M) * base[sp * (D + 2) + 2 + d];
    }
    out[row * D + d] = a * inv;
  }
}

template <bool kLut>
void attention(const AttentionShape& a, const float* q, const float* k, const float* v,
               float scale, float* out) {
  Shape s{a.heads, a.kv_heads, a.queries, a.keys, a.head_dim, a.batch * a.heads * a.queries,
          0, 1, scoreScale(kLut ? SoftmaxExp::Lut : SoftmaxExp::Float, scale)};
  if (s.dim > kThreads * kMaxDimPerThread)
    throw std::invalid_argument("cachedAttention (cuda): head_dim " + std::to_string(s.dim) +
                                " is above this kernel's limit of " +
                                std::to_string(kThreads * kMaxDimPerThread));
  if (s.rows > INT_MAX)
    throw std::invalid_argument("cachedAttention (cuda): batch · heads · queries = " +
                                std::to_string(s.rows) + " is above the grid limit " +
                                std::to_string(INT_MAX));
  // Split the keys until there are about two blocks per SM, keeping ≥ 4 tiles per split.
  const i64 tiles = (s.keys + kThreads - 1) / kThreads;
  const i64 want = (2LL * smCount() + s.rows - 1) / s.rows;
  const i64 splits = std::clamp<i64>(want, 1, std::min<i64>(65535, std::max<i64>(1, tiles / 4)));
  const i64 tiles_per_split = (tiles + splits - 1) / splits;
  s.split_keys = tiles_per_split * kThreads;
  s.splits = static_cast<int>((tiles + tiles_per_split - 1) / tiles_per_split);

  float* parts = nullptr;
  const std::size_t part_bytes =
      s.splits > 1 ? sizeof(float) * static_cast<std::size_t>(s.rows * s.splits * (s.dim + 2)) : 0;
  if (part_bytes) check(cudaMallocAsync(&parts, part_bytes, 0), "cudaMallocAsync");
  const std::size_t smem = sizeof(float) * static_cast<std::size_t>(s.dim + kThreads + kWarps);
  const dim3 grid(static_cast<unsigned>(s.rows), static_cast<unsigned>(s.splits));
  attentionKernel<kLut><<<grid, kThreads, smem>>>(s, q, k, v, out, parts);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess && part_bytes) {
    mergeKernel<kLut><<<static_cast<unsigned>(s.rows), kThreads>>>(s, parts, out);
    err = cudaGetLastError();
  }
  if (part_bytes) check(cudaFreeAsync(parts, 0), "cudaFreeAsync");
  check(err, "attention launch");
}

}  // namespace

void softmaxRowsCuda(SoftmaxExp mode, float* x, i64 rows, i64 cols, float scale) {
  ensureTable();
  const float c = scoreScale(mode, scale);
  const unsigned grid = static_cast<unsigned>(std::min<i64>(rows, 65535LL * 16));
  if (mode == SoftmaxExp::Lut) softmaxKernel<true><<<grid, kThreads>>>(x, rows, cols, c);
  else softmaxKernel<false><<<grid, kThreads>>>(x, rows, cols, c);
  check(cudaGetLastError(), "softmax launch");
}

void cachedAttentionCuda(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                         const float* v, float scale, float* out) {
  ensureTable();
  if (mode == SoftmaxExp::Lut) attention<true>(s, q, k, v, scale, out);
  else attention<false>(s, q, k, v, scale, out);
}

}  // namespace darkroom::kernels::detail

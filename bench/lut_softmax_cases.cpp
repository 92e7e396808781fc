// LUT softmax vs float exp on the cpu back end (PAPERS.md §3, "LUT softmax"):
//   softmax/<exp>/cols:N          softmaxRows over 32 rows (one decode step's heads) of N scores,
//                                 <exp> = lut, float (vectorised polynomial expf), or libm (a
//                                 scalar softmax here with std::exp, the same threads);
//   attention/<exp>/batch:B/kv:N  cachedAttention decode: B candidates, 32 heads of 128 dims over
//                                 8 kv heads (grouped, as Llama 3 8B), 1 query, N cached keys.
//   softmax-cuda/…, attention-cuda/…  the same on the cuda back end (lut and float), on device
//                                 copies, synchronised every iteration; without a usable GPU
//                                 they are reported as skipped, with the reason.
// Softmax works in place, so every iteration first copies the pristine scores back (2 MiB at
// N = 16K, the same for every <exp>); the scores are N(0, 2.5²) with scale 1, so t spreads over
// about [-25, 0] as in real attention rows. bench/compare-lut-softmax pairs lut with float.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "darkroom/kernels/lut_softmax.h"

#ifdef DARKROOM_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace {

namespace dk = darkroom::kernels;
using i64 = std::int64_t;

constexpr i64 kRows = 32, kHeads = 32, kKvHeads = 8, kDim = 128;

std::vector<float> normalVector(i64 n, float sigma, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, sigma);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (float& x : out) x = dist(rng);
  return out;
}

// Uniform in [-1, 1) from a cheap generator: the KV caches reach 1 GiB.
std::vector<float> uniformVector(i64 n, std::uint32_t seed) {
  std::vector<float> out(static_cast<std::size_t>(n));
  std::uint32_t s = seed;
  for (float& x : out) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) * (2.f / 16777216.f) - 1.f;
  }
  return out;
}

// softmax(x) per row with libm's expf, threaded as the kernels are.
void libmSoftmax(float* x, i64 rows, i64 cols) {
#pragma omp parallel for schedule(static) if (rows * cols >= 32768)
  for (i64 r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    float max = row[0];
    for (i64 j = 1; j < cols; ++j) max = std::max(max, row[j]);
    float sum = 0.f;
    for (i64 j = 0; j < cols; ++j) sum += row[j] = std::exp(row[j] - max);
    const float inv = 1.f / sum;
    for (i64 j = 0; j < cols; ++j) row[j] *= inv;
  }
}

enum class Exp { Lut, Float, Libm };

void BM_Softmax(benchmark::State& state, Exp exp) {
  const i64 cols = state.range(0);
  const std::vector<float> scores = normalVector(kRows * cols, 2.5f, 7);
  std::vector<float> x(scores.size());
  for (auto _ : state) {
    std::memcpy(x.data(), scores.data(), sizeof(float) * scores.size());
    if (exp == Exp::Libm)
      libmSoftmax(x.data(), kRows, cols);
    else
      dk::softmaxRows(dk::Backend::Cpu, exp == Exp::Lut ? dk::SoftmaxExp::Lut : dk::SoftmaxExp::Float,
                      x.data(), kRows, cols, 1.f);
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRows * cols);
}

void BM_Attention(benchmark::State& state, dk::SoftmaxExp mode) {
  const i64 batch = state.range(0), keys = state.range(1);
  const dk::AttentionShape shape{batch, kHeads, kKvHeads, 1, keys, kDim};
  const std::vector<float> q = uniformVector(batch * kHeads * kDim, 1);
  const std::vector<float> k = uniformVector(batch * kKvHeads * keys * kDim, 2);
  const std::vector<float> v = uniformVector(batch * kKvHeads * keys * kDim, 3);
  std::vector<float> out(q.size());
  // Uniform q, k in [-1, 1) give scores of spread √(128/9) ≈ 3.8; a scale of 1 (not 1/√128)
  // keeps the softmax as peaked as a trained model's.
  for (auto _ : state) {
    dk::cachedAttention(dk::Backend::Cpu, mode, shape, q.data(), k.data(), v.data(), 1.f,
                        out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * batch * kHeads * keys);  // scores
  state.SetBytesProcessed(state.iterations() * 2 * batch * kKvHeads * keys * kDim *
                          static_cast<i64>(sizeof(float)));  // K and V read once
}

// Whether the cuda cases can run; if not, the case is marked skipped with the reason.
bool cudaReady(benchmark::State& state) {
  std::string why;
  if (dk::backendAvailable(dk::Backend::Cuda, &why)) return true;
  state.SkipWithError(("cuda back end unavailable: " + why).c_str());
  return false;
}

#ifdef DARKROOM_HAVE_CUDA
// A device copy of a host array, freed with the case.
struct DeviceArray {
  float* ptr = nullptr;
  explicit DeviceArray(const std::vector<float>& host) {
    if (cudaMalloc(reinterpret_cast<void**>(&ptr), host.size() * sizeof(float)) != cudaSuccess ||
        cudaMemcpy(ptr, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice) !=
            cudaSuccess)
      throw std::runtime_error("cannot copy the benchmark's inputs to the GPU");
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { cudaFree(ptr); }
};
#endif

void BM_SoftmaxCuda(benchmark::State& state, dk::SoftmaxExp mode) {
  if (!cudaReady(state)) return;
#ifdef DARKROOM_HAVE_CUDA
  const i64 cols = state.range(0);
  const std::vector<float> scores = normalVector(kRows * cols, 2.5f, 7);
  DeviceArray pristine(scores), x(scores);
  for (auto _ : state) {
    cudaMemcpyAsync(x.ptr, pristine.ptr, sizeof(float) * scores.size(), cudaMemcpyDeviceToDevice);
    dk::softmaxRows(dk::Backend::Cuda, mode, x.ptr, kRows, cols, 1.f);
    cudaDeviceSynchronize();
  }
  state.SetItemsProcessed(state.iterations() * kRows * cols);
#else
  (void)mode;
#endif
}

void BM_AttentionCuda(benchmark::State& state, dk::SoftmaxExp mode) {
  if (!cudaReady(state)) return;
#ifdef DARKROOM_HAVE_CUDA
  const i64 batch = state.range(0), keys = state.range(1);
  const dk::AttentionShape shape{batch, kHeads, kKvHeads, 1, keys, kDim};
  DeviceArray q(uniformVector(batch * kHeads * kDim, 1));
  DeviceArray k(uniformVector(batch * kKvHeads * keys * kDim, 2));
  DeviceArray v(uniformVector(batch * kKvHeads * keys * kDim, 3));
  DeviceArray out(std::vector<float>(static_cast<std::size_t>(batch * kHeads * kDim)));
  for (auto _ : state) {
    dk::cachedAttention(dk::Backend::Cuda, mode, shape, q.ptr, k.ptr, v.ptr, 1.f, out.ptr);
    cudaDeviceSynchronize();
  }
  state.SetItemsProcessed(state.iterations() * batch * kHeads * keys);
  state.SetBytesProcessed(state.iterations() * 2 * batch * kKvHeads * keys * kDim *
                          static_cast<i64>(sizeof(float)));
#else
  (void)mode;
#endif
}

void softmaxSizes(benchmark::internal::Benchmark* b) {
  for (i64 cols : {1024, 4096, 16384}) b->Arg(cols);
  b->ArgName("cols")->Unit(benchmark::kMicrosecond)->UseRealTime();
}

void attentionSizes(benchmark::internal::Benchmark* b) {
  for (i64 batch : {1, 8})
    for (i64 keys : {1024, 4096, 16384}) b->Args({batch, keys});
  b->ArgNames({"batch", "kv"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_CAPTURE(BM_Softmax, lut, Exp::Lut)->Name("softmax/lut")->Apply(softmaxSizes);
BENCHMARK_CAPTURE(BM_Softmax, float, Exp::Float)->Name("softmax/float")->Apply(softmaxSizes);
BENCHMARK_CAPTURE(BM_Softmax, libm, Exp::Libm)->Name("softmax/libm")->Apply(softmaxSizes);
BENCHMARK_CAPTURE(BM_Attention, lut, dk::SoftmaxExp::Lut)->Name("attention/lut")->Apply(attentionSizes);
BENCHMARK_CAPTURE(BM_Attention, float, dk::SoftmaxExp::Float)
    ->Name("attention/float")
    ->Apply(attentionSizes);
BENCHMARK_CAPTURE(BM_SoftmaxCuda, lut, dk::SoftmaxExp::Lut)
    ->Name("softmax-cuda/lut")
    ->Apply(softmaxSizes);
BENCHMARK_CAPTURE(BM_SoftmaxCuda, float, dk::SoftmaxExp::Float)
    ->Name("softmax-cuda/float")
    ->Apply(softmaxSizes);
BENCHMARK_CAPTURE(BM_AttentionCuda, lut, dk::SoftmaxExp::Lut)
    ->Name("attention-cuda/lut")
    ->Apply(attentionSizes);
BENCHMARK_CAPTURE(BM_AttentionCuda, float, dk::SoftmaxExp::Float)
    ->Name("attention-cuda/float")
    ->Apply(attentionSizes);

}  // namespace

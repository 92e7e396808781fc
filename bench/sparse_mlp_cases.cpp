// Block-sparse MLP (CPU back end) vs the dense ATen ops the dense trainer runs, forward plus the
// input-gradient product of the backward (weights are frozen: no weight gradients on either
// side). OPT-125M shapes: hidden 768, ffn 3072 in blocks of 128 (24 blocks).
//
//   mlp_fc1: dense  H = linear(X, W1, b1);      dX = dH · W1
//            sparse Hc = gatherNT(X, W1, b1);   dX = scatterNN(dHc, W1)
//   mlp_fc2: dense  Y = linear(H, W2, b2);      dH = dY · W2
//            sparse Y = scatterNN(Hc, W2ᵀ, b2); dHc = gatherNT(dY, W2ᵀ)
//
// Names are "<op>/<sparse|dense>/seq:<tokens>/sparsity:<percent>", each sparse case registered
// right before its dense twin so that the pair is measured side by side (bench/compare-sparse-ops
// divides them). Both sides allocate their outputs every iteration, as the trainer does.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "darkroom/kernels/block_sparse_mlp.h"

namespace {

namespace dk = darkroom::kernels;

constexpr std::int64_t kHidden = 768;
constexpr std::int64_t kFfn = 3072;
constexpr std::int64_t kBlock = 128;

// round((1 - sparsity) * 24) blocks, at least one, chosen at random (fixed seed) and sorted.
std::vector<std::int32_t> activeBlocks(int sparsityPercent) {
  const std::int64_t total = kFfn / kBlock;
  const auto count = std::max<std::int64_t>(
      1, std::llround(static_cast<double>(total) * (100 - sparsityPercent) / 100.0));
  std::vector<std::int32_t> all(static_cast<std::size_t>(total));
  for (std::int32_t i = 0; i < total; ++i) all[static_cast<std::size_t>(i)] = i;
  std::mt19937 rng(1234 + sparsityPercent);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<std::size_t>(count));
  std::sort(all.begin(), all.end());
  return all;
}

at::Tensor randn(std::initializer_list<std::int64_t> shape) {
  return at::randn(shape, at::TensorOptions().dtype(at::kFloat));
}

float* f(const at::Tensor& t) { return t.data_ptr<float>(); }

void setCounters(benchmark::State& state, std::int64_t tokens, double activeFraction) {
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["active_fraction"] = activeFraction;
}

void fc1Sparse(benchmark::State& state, std::int64_t tokens, int sparsity) {
  const auto blocks = activeBlocks(sparsity);
  const dk::BlockLayout layout{blocks.data(), static_cast<std::int64_t>(blocks.size()), kBlock};
  const std::int64_t width = dk::compactWidth(kFfn, blocks.data(), layout.count, kBlock);
  const at::Tensor x = randn({tokens, kHidden}), w1 = randn({kFfn, kHidden}), b1 = randn({kFfn});
  const at::Tensor dhc = randn({tokens, width});
  for (auto _ : state) {
    at::Tensor hc = at::empty({tokens, width});
    dk::gatherNT(dk::Backend::Cpu, f(x), tokens, kHidden, f(w1), kFfn, layout, f(b1), f(hc));
    at::Tensor dx = at::empty({tokens, kHidden});
    dk::scatterNN(dk::Backend::Cpu, f(dhc), tokens, f(w1), kFfn, kHidden, layout, nullptr,
                  f(dx));
    benchmark::DoNotOptimize(hc.data_ptr());
    benchmark::DoNotOptimize(dx.data_ptr());
  }
  setCounters(state, tokens, static_cast<double>(width) / kFfn);
}

void fc1Dense(benchmark::State& state, std::int64_t tokens, int /*sparsity*/) {
  const at::Tensor x = randn({tokens, kHidden}), w1 = randn({kFfn, kHidden}), b1 = randn({kFfn});
  const at::Tensor dh = randn({tokens, kFfn});
  for (auto _ : state) {
    at::Tensor h = at::linear(x, w1, b1);
    at::Tensor dx = at::matmul(dh, w1);
    benchmark::DoNotOptimize(h.data_ptr());
    benchmark::DoNotOptimize(dx.data_ptr());
  }
  setCounters(state, tokens, 1.0);
}

void fc2Sparse(benchmark::State& state, std::int64_t tokens, int sparsity) {
  const auto blocks = activeBlocks(sparsity);
  const dk::BlockLayout layout{blocks.data(), static_cast<std::int64_t>(blocks.size()), kBlock};
  const std::int64_t width = dk::compactWidth(kFfn, blocks.data(), layout.count, kBlock);
  // W2 [hidden, ffn] packed once as W2ᵀ [ffn, hidden]: frozen, so not part of the timing.
  const at::Tensor w2t = randn({kHidden, kFfn}).t().contiguous(), b2 = randn({kHidden});
  const at::Tensor hc = randn({tokens, width}), dy = randn({tokens, kHidden});
  for (auto _ : state) {
    at::Tensor y = at::empty({tokens, kHidden});
    dk::scatterNN(dk::Backend::Cpu, f(hc), tokens, f(w2t), kFfn, kHidden, layout, f(b2), f(y));
    at::Tensor dhc = at::empty({tokens, width});
    dk::gatherNT(dk::Backend::Cpu, f(dy), tokens, kHidden, f(w2t), kFfn, layout, nullptr,
                 f(dhc));
    benchmark::DoNotOptimize(y.data_ptr());
    benchmark::DoNotOptimize(dhc.data_ptr());
  }
  setCounters(state, tokens, static_cast<double>(width) / kFfn);
}

void fc2Dense(benchmark::State& state, std::int64_t tokens, int /*sparsity*/) {
  const at::Tensor w2 = randn({kHidden, kFfn}), b2 = randn({kHidden});
  const at::Tensor h = randn({tokens, kFfn}), dy = randn({tokens, kHidden});
  for (auto _ : state) {
    at::Tensor y = at::linear(h, w2, b2);
    at::Tensor dh = at::matmul(dy, w2);
    benchmark::DoNotOptimize(y.data_ptr());
    benchmark::DoNotOptimize(dh.data_ptr());
  }
  setCounters(state, tokens, 1.0);
}

bool registerCases() {
  using Case = void (*)(benchmark::State&, std::int64_t, int);
  struct Op {
    const char* name;
    Case sparse;
    Case dense;
  };
  for (const Op& op : {Op{"mlp_fc1", fc1Sparse, fc1Dense}, Op{"mlp_fc2", fc2Sparse, fc2Dense}})
    for (std::int64_t tokens : {512, 1024, 2048})
      for (int sparsity : {0, 50, 75, 90, 95}) {
        const std::string rest =
            "/seq:" + std::to_string(tokens) + "/sparsity:" + std::to_string(sparsity);
        for (auto [side, fn] : {std::pair<const char*, Case>{"sparse", op.sparse},
                                std::pair<const char*, Case>{"dense", op.dense}})
          benchmark::RegisterBenchmark((std::string(op.name) + "/" + side + rest).c_str(), fn,
                                       tokens, sparsity)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();  // the work runs on OpenMP/OpenBLAS threads, not this one
      }
  return true;
}

const bool registered = registerCases();

}  // namespace

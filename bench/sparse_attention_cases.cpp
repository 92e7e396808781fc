// Causal attention forward + backward at OPT-125M shapes (batch 1, 12 heads, dim 64):
//   attention/dense/seq:N               what the dense trainer runs: ATen matmul, causal
//                                       masked_fill, softmax, matmul, and autograd's backward;
//   attention/sparse/seq:N/sparsity:S   the block-sparse kernels on the CPU back end (block 16),
//                                       with a random causal layout per head keeping the
//                                       diagonal and (100 − S)% of the causal blocks.
// Both sides allocate their outputs in every iteration, as a trainer would; both use ATen's
// OpenMP threads. The names pair up for bench/compare-sparse-ops: <op>/sparse/<rest> with
// <op>/dense/<seq part>.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "darkroom/kernels/block_sparse_attention.h"

namespace {

namespace dk = darkroom::kernels;

constexpr std::int64_t kHeads = 12, kDim = 64, kBlock = 16;

// Per head: the diagonal, plus off-diagonal causal blocks drawn at random until
// (100 − sparsity)% of the causal blocks are kept (never fewer than the diagonal).
struct CausalLayout {
  std::vector<std::int32_t> row_ptr{0}, cols;
  dk::AttentionLayout view(std::int64_t length) const {
    return dk::AttentionLayout{kHeads, length, kBlock, row_ptr.data(), cols.data(),
                               static_cast<std::int64_t>(cols.size())};
  }
};

CausalLayout randomCausalLayout(std::int64_t length, int sparsity, std::mt19937& rng) {
  const std::int64_t nb = (length + kBlock - 1) / kBlock;
  const std::int64_t causal = nb * (nb + 1) / 2;
  const std::int64_t keep = std::max<std::int64_t>(
      nb, static_cast<std::int64_t>(std::llround(causal * (100 - sparsity) / 100.0)));
  CausalLayout l;
  for (std::int64_t h = 0; h < kHeads; ++h) {
    std::vector<std::pair<std::int32_t, std::int32_t>> off;  // (query block, key block), j < i
    for (std::int32_t i = 0; i < nb; ++i)
      for (std::int32_t j = 0; j < i; ++j) off.emplace_back(i, j);
    std::shuffle(off.begin(), off.end(), rng);
    off.resize(static_cast<std::size_t>(keep - nb));
    for (std::int32_t i = 0; i < nb; ++i) off.emplace_back(i, i);
    std::sort(off.begin(), off.end());
    std::size_t at = 0;
    for (std::int32_t i = 0; i < nb; ++i) {
      for (; at < off.size() && off[at].first == i; ++at) l.cols.push_back(off[at].second);
      l.row_ptr.push_back(static_cast<std::int32_t>(l.cols.size()));
    }
  }
  return l;
}

void denseAttention(benchmark::State& state, std::int64_t length) {
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  at::Tensor q = at::randn({1, kHeads, length, kDim}, opts).requires_grad_(true);
  at::Tensor k = at::randn({1, kHeads, length, kDim}, opts).requires_grad_(true);
  at::Tensor v = at::randn({1, kHeads, length, kDim}, opts).requires_grad_(true);
  const at::Tensor d_o = at::randn({1, kHeads, length, kDim}, opts);
  const at::Tensor future = at::ones({length, length}, opts.dtype(at::kBool)).triu(1);
  const double scale = 1.0 / std::sqrt(double(kDim));
  for (auto _ : state) {
    at::Tensor s = at::matmul(q, k.transpose(-2, -1)) * scale;
    at::Tensor p = at::softmax(s.masked_fill(future, -INFINITY), -1);
    at::Tensor o = at::matmul(p, v);
    auto grads = torch::autograd::grad({o}, {q, k, v}, {d_o});
    benchmark::DoNotOptimize(grads[0].data_ptr());
  }
}

void sparseAttention(benchmark::State& state, std::int64_t length, int sparsity) {
  std::string why;
  if (!dk::backendAvailable(dk::Backend::Cpu, &why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  std::mt19937 rng(1234);
  const CausalLayout layout = randomCausalLayout(length, sparsity, rng);
  const dk::AttentionLayout lv = layout.view(length);
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor q = at::randn({kHeads, length, kDim}, opts);
  const at::Tensor k = at::randn({kHeads, length, kDim}, opts);
  const at::Tensor v = at::randn({kHeads, length, kDim}, opts);
  const at::Tensor d_o = at::randn({kHeads, length, kDim}, opts);
  const float scale = 1.f / std::sqrt(float(kDim));
  for (auto _ : state) {
    at::Tensor o = at::empty_like(q), probs = at::empty({dk::attentionProbsSize(lv, 1)}, opts);
    at::Tensor dq = at::empty_like(q), dkt = at::empty_like(k), dv = at::empty_like(v);
    dk::blockSparseAttentionForward(dk::Backend::Cpu, q.data_ptr<float>(), k.data_ptr<float>(),
                                    v.data_ptr<float>(), 1, kDim, scale, lv,
                                    o.data_ptr<float>(), probs.data_ptr<float>());
    dk::blockSparseAttentionBackward(dk::Backend::Cpu, q.data_ptr<float>(), k.data_ptr<float>(),
                                     v.data_ptr<float>(), o.data_ptr<float>(),
                                     probs.data_ptr<float>(), d_o.data_ptr<float>(), 1, kDim,
                                     scale, lv, dq.data_ptr<float>(), dkt.data_ptr<float>(),
                                     dv.data_ptr<float>());
    benchmark::DoNotOptimize(dq.data_ptr());
  }
  const std::int64_t nb = (length + kBlock - 1) / kBlock;
  state.counters["kept_blocks"] =
      double(lv.nnz) / double(kHeads * nb * (nb + 1) / 2);  // above 1 − S only where the diagonal alone is more
}

const bool kRegistered = [] {
  for (std::int64_t seq : {512, 1024, 2048}) {
    const std::string s = "seq:" + std::to_string(seq);
    benchmark::RegisterBenchmark(("attention/dense/" + s).c_str(), denseAttention, seq)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    for (int sparsity : {0, 50, 75, 90, 95})
      benchmark::RegisterBenchmark(
          ("attention/sparse/" + s + "/sparsity:" + std::to_string(sparsity)).c_str(),
          sparseAttention, seq, sparsity)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  }
  return true;
}();

}  // namespace

#include <torch/csrc/autograd/autograd.h>

#include "finetune/cost_model.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <sstream>

#include "finetune/exposer.h"
#include "finetune/sparse_ops.h"

namespace darkroom::training {
namespace {

double fastestMs(const std::function<void()>& work, int repeats = 3) {
  work();  // warm caches and allocators
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    work();
    best = std::min(best, std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

struct Line {
  double intercept, slope;
};

// Least-squares line through (density, ms).
Line fit(const std::vector<double>& density, const std::vector<double>& ms) {
  const double n = double(density.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < density.size(); ++i) {
    sx += density[i], sy += ms[i], sxx += density[i] * density[i], sxy += density[i] * ms[i];
  }
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  return {(sy - slope * sx) / n, slope};
}

// The density where the line reaches `dense_ms`.
double breakEven(const Line& line, double dense_ms) {
  if (line.slope <= 0) return line.intercept < dense_ms ? 1.0 : 0.0;
  return std::clamp((dense_ms - line.intercept) / line.slope, 0.0, 1.0);
}

// The first `count` of `blocks` blocks active, spread evenly.
at::Tensor spreadMask(std::int64_t blocks, std::int64_t count) {
  auto mask = at::zeros({blocks}, at::kBool);
  for (std::int64_t i = 0; i < count; ++i) mask[i * blocks / std::max<std::int64_t>(count, 1)] = true;
  return mask;
}

}  // namespace

double CostModel::mlpMs(double density) const {
  return density >= mlp_break_even ? mlp_dense_ms : mlp_intercept_ms + mlp_slope_ms * density;
}

double CostModel::attentionMs(double density) const {
  return density >= attention_break_even ? attention_dense_ms
                                         : attention_intercept_ms + attention_slope_ms * density;
}

std::string CostModel::describe() const {
  std::ostringstream s;
  s.precision(2);
  s << "sparse MLP below " << mlp_break_even * 100 << "% active blocks (dense " << mlp_dense_ms
    << " ms), sparse attention below " << attention_break_even * 100 << "% kept blocks (dense "
    << attention_dense_ms << " ms)";
  return s.str();
}

CostModel measureCostModel(const ModelConfig& c, std::int64_t batch, std::int64_t sequence,
                           at::Device device) {
  CostModel cost;
  auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  at::NoGradGuard no_grad;
  // MLP, forward and the input gradient (frozen weights get none), on up to 2048 tokens: the
  // ratio, not the absolute time, decides.
  const std::int64_t tokens = std::min<std::int64_t>(batch * sequence, 2048);
  const std::int64_t h = c.hidden_size, f = c.intermediate_size;
  cost.mlp_tokens = tokens;
  auto x = at::randn({tokens, h}, opts), w1 = at::randn({f, h}, opts) * 0.05;
  auto w2 = at::randn({h, f}, opts) * 0.05, w2t = w2.t().contiguous();
  auto dy = at::randn({tokens, h}, opts);
  cost.mlp_dense_ms = fastestMs([&] {
    auto hidden = at::relu(at::linear(x, w1));
    auto y = at::linear(hidden, w2);
    auto dh = at::matmul(dy, w2) * (hidden > 0);
    auto dx = at::matmul(dh, w1);
  });
  const std::int64_t mlp_blocks = (f + kMlpBlock - 1) / kMlpBlock;
  std::vector<double> densities, times;
  for (double target : {0.25, 0.5, 1.0}) {
    auto count = std::max<std::int64_t>(1, std::llround(target * double(mlp_blocks)));
    auto layout = mlpLayoutFromMask(spreadMask(mlp_blocks, count), f, kMlpBlock, device);
    densities.push_back(layout.density());
    times.push_back(fastestMs([&] {
      auto hidden = at::relu(gatherColumns(x, w1, layout));
      auto y = scatterRows(hidden, w2t, layout);
      auto dh = gatherColumns(dy, w2t, layout) * (hidden > 0);
      auto dx = scatterRows(dh, w1, layout);
    }));
  }
  auto mlp = fit(densities, times);
  cost.mlp_intercept_ms = mlp.intercept, cost.mlp_slope_ms = mlp.slope;
  cost.mlp_break_even = breakEven(mlp, cost.mlp_dense_ms);

  // Attention, one sequence of the run's length, forward and backward.
  const std::int64_t heads = c.num_heads, d = c.headDim();
  auto q = at::randn({1, heads, sequence, d}, opts), k = at::randn_like(q), v = at::randn_like(q);
  auto d_o = at::randn_like(q);
  auto grad_of = [&](const std::function<at::Tensor(const at::Tensor&, const at::Tensor&,
                                                    const at::Tensor&)>& attend) {
    at::AutoGradMode enable(true);
    auto qg = q.clone().requires_grad_(true), kg = k.clone().requires_grad_(true),
         vg = v.clone().requires_grad_(true);
    auto o = attend(qg, kg, vg);
    torch::autograd::grad({o}, {qg, kg, vg}, {d_o});
  };
  cost.attention_dense_ms = fastestMs([&] {
    grad_of([&](const at::Tensor& qq, const at::Tensor& kk, const at::Tensor& vv) {
      auto scores = at::matmul(qq, kk.transpose(2, 3)) / std::sqrt(double(d));
      auto future = at::ones({sequence, sequence}, at::kBool).triu(1).to(device);
      return at::matmul(at::softmax(scores.masked_fill(future, -INFINITY), -1), vv);
    });
  });
  const std::int64_t nb = (sequence + kAttentionBlock - 1) / kAttentionBlock;
  densities.clear();
  times.clear();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
  for (double target : {0.1, 0.3, 0.6, 1.0}) {
    auto keep = at::rand({heads, nb, nb}, gen) < target;
    auto layout = attentionLayoutFromMask(keep, sequence, kAttentionBlock, device);
    densities.push_back(layout.density());
    times.push_back(fastestMs([&] {
      grad_of([&](const at::Tensor& qq, const at::Tensor& kk, const at::Tensor& vv) {
        return blockSparseAttention(qq, kk, vv, layout);
      });
    }));
  }
  auto attention = fit(densities, times);
  cost.attention_intercept_ms = attention.intercept, cost.attention_slope_ms = attention.slope;
  cost.attention_break_even = breakEven(attention, cost.attention_dense_ms);
  return cost;
}

}  // namespace darkroom::training

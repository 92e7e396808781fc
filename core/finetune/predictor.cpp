#include <torch/csrc/autograd/autograd.h>

#include "finetune/predictor.h"

#include <cmath>

#include "finetune/exposer.h"

namespace darkroom::training {
namespace {

// One Adam update, written out: the predictors are a handful of small tensors, trained
// alongside the model but outside its optimizer (their state must not mix with the PEFT one).
void adam(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, std::int64_t step,
          double lr) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  m.mul_(b1).add_(g, 1 - b1);
  v.mul_(b2).addcmul_(g, g, 1 - b2);
  const double c1 = 1 - std::pow(b1, double(step)), c2 = 1 - std::pow(b2, double(step));
  p.addcdiv_(m / c1, (v / c2).sqrt_().add_(eps), -lr);
}

// Mean over each block of `block` positions along dim 2 ([B, H, L, d] -> [B, H, nb, d]).
at::Tensor poolBlocks(const at::Tensor& x, std::int64_t block) {
  const std::int64_t length = x.size(2), nb = (length + block - 1) / block;
  auto padded = at::zeros({x.size(0), x.size(1), nb * block, x.size(3)}, x.options());
  padded.slice(2, 0, length).copy_(x);
  auto counts = at::full({nb}, double(block), x.options());
  counts[nb - 1] = double(length - (nb - 1) * block);
  return padded.view({x.size(0), x.size(1), nb, block, x.size(3)}).sum(3) /
         counts.view({1, 1, nb, 1});
}

}  // namespace

MlpPredictor::MlpPredictor(std::int64_t hidden, std::int64_t neurons, at::Generator& gen) {
  const std::int64_t blocks = (neurons + kMlpBlock - 1) / kMlpBlock;
  weight_ = at::randn({blocks, hidden}, gen, at::kFloat) / std::sqrt(double(hidden));
  bias_ = at::zeros({blocks});
  m_w_ = at::zeros_like(weight_), v_w_ = at::zeros_like(weight_);
  m_b_ = at::zeros_like(bias_), v_b_ = at::zeros_like(bias_);
}

// The decision threshold that keeps kTargetRecall of the positives' scores (or `fallback`
// when there are none).
double recallCut(const at::Tensor& positive_scores, double fallback) {
  if (positive_scores.numel() == 0) return fallback;
  auto sorted = std::get<0>(positive_scores.to(at::kDouble).flatten().sort());
  auto index = static_cast<std::int64_t>((1 - kTargetRecall) * double(sorted.numel()));
  // Just below the score at that rank, so that rank itself is kept.
  return sorted[index].item<double>() - 1e-6;
}

at::Tensor MlpPredictor::score(const at::Tensor& x) const {
  at::NoGradGuard no_grad;
  auto flat = x.reshape({-1, x.size(-1)}).to(at::kFloat);
  auto share = at::sigmoid(at::linear(flat, weight_.to(flat.device()), bias_.to(flat.device())));
  return share.amax(0).cpu();
}

at::Tensor MlpPredictor::predict(const at::Tensor& x) const { return score(x) > cut_; }

void MlpPredictor::calibrate(const std::vector<at::Tensor>& inputs,
                             const std::vector<at::Tensor>& active) {
  std::vector<at::Tensor> positives;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    positives.push_back(score(inputs[i]).masked_select(active[i].cpu()));
  cut_ = recallCut(at::cat(positives), kMlpSelect);
}

double MlpPredictor::train(const at::Tensor& inputs, const at::Tensor& targets, int steps) {
  auto x = inputs.cpu(), y = targets.cpu();
  double loss_value = 0;
  for (int s = 0; s < steps; ++s) {
    // Closed-form gradients of mean BCE-with-logits: d/dlogit = sigmoid(logit) - target.
    auto logits = at::linear(x, weight_, bias_);
    loss_value = at::binary_cross_entropy_with_logits(logits, y).item<double>();
    auto d = (at::sigmoid(logits) - y) / double(y.numel());
    ++adam_steps_;
    adam(weight_, at::matmul(d.t(), x), m_w_, v_w_, adam_steps_, 1e-3);
    adam(bias_, d.sum(0), m_b_, v_b_, adam_steps_, 1e-3);
  }
  return loss_value;
}

void MlpPredictor::save(model::TensorMap& into, const std::string& prefix) const {
  into[prefix + "weight"] = weight_;
  into[prefix + "bias"] = bias_;
  into[prefix + "cut"] = at::full({1}, cut_, at::kFloat);
}

void MlpPredictor::load(const model::TensorMap& from, const std::string& prefix) {
  weight_ = from.at(prefix + "weight").to(at::kFloat).clone();
  bias_ = from.at(prefix + "bias").to(at::kFloat).clone();
  cut_ = from.at(prefix + "cut").item<double>();
}

AttentionPredictor::AttentionPredictor(std::int64_t heads, std::int64_t head_dim, int rank,
                                       at::Generator& gen) {
  pq_ = at::randn({heads, head_dim, rank}, gen, at::kFloat) / std::sqrt(double(head_dim));
  pk_ = at::randn({heads, head_dim, rank}, gen, at::kFloat) / std::sqrt(double(head_dim));
  scale_ = at::ones({heads});
  shift_ = at::zeros({heads});
  for (const auto& p : params()) {
    m_.push_back(at::zeros_like(p));
    v_.push_back(at::zeros_like(p));
  }
}

at::Tensor AttentionPredictor::logits(const at::Tensor& q, const at::Tensor& k) const {
  auto qp = at::matmul(poolBlocks(q.to(at::kFloat).cpu(), kAttentionBlock), pq_);  // [B,H,nb,r]
  auto kp = at::matmul(poolBlocks(k.to(at::kFloat).cpu(), kAttentionBlock), pk_);
  auto scores = at::matmul(qp, kp.transpose(2, 3));  // [B, H, nb, nb]
  const std::int64_t nb = scores.size(2);
  auto future = at::ones({nb, nb}, at::kBool).triu(1);
  auto share = at::log_softmax(scores.masked_fill(future, -1e9), -1).mean(0);  // [H, nb, nb]
  return share * scale_.view({-1, 1, 1}) + shift_.view({-1, 1, 1});
}

at::Tensor AttentionPredictor::predict(const at::Tensor& q, const at::Tensor& k) const {
  at::NoGradGuard no_grad;
  auto l = logits(q, k);
  const std::int64_t nb = l.size(1);
  auto causal = at::ones({nb, nb}, at::kBool).tril();
  return ((l > cut_) | at::eye(nb, at::kBool)) & causal;
}

void AttentionPredictor::calibrate(const std::vector<std::pair<at::Tensor, at::Tensor>>& qk,
                                   const std::vector<at::Tensor>& keep) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> positives;
  for (std::size_t i = 0; i < qk.size(); ++i) {
    const std::int64_t nb = keep[i].size(1);
    auto counted = at::ones({nb, nb}, at::kBool).tril(-1).expand_as(keep[i]);
    positives.push_back(logits(qk[i].first, qk[i].second).masked_select(keep[i].cpu() & counted));
  }
  cut_ = recallCut(at::cat(positives), 0);
}

double AttentionPredictor::train(const at::Tensor& q, const at::Tensor& k, const at::Tensor& keep,
                                 int steps) {
  const std::int64_t nb = keep.size(1);
  // Off-diagonal causal blocks: the diagonal is always kept, the future never.
  auto counted = at::ones({nb, nb}, at::kBool).tril(-1).expand_as(keep);
  auto target = keep.cpu().to(at::kFloat);
  auto weight = counted.to(at::kFloat);
  if (weight.sum().item<double>() == 0) return 0;
  double loss_value = 0;
  for (auto p : params()) p.requires_grad_(true);
  for (int s = 0; s < steps; ++s) {
    auto loss = at::binary_cross_entropy_with_logits(logits(q, k), target, weight, {},
                                                     at::Reduction::Sum) /
                weight.sum();
    auto grads = torch::autograd::grad({loss}, params());
    loss_value = loss.item<double>();
    at::NoGradGuard no_grad;
    ++adam_steps_;
    auto ps = params();
    for (std::size_t i = 0; i < ps.size(); ++i) adam(ps[i], grads[i], m_[i], v_[i], adam_steps_, 1e-2);
  }
  for (auto p : params()) p.requires_grad_(false);
  return loss_value;
}

void AttentionPredictor::save(model::TensorMap& into, const std::string& prefix) const {
  into[prefix + "q_proj"] = pq_;
  into[prefix + "k_proj"] = pk_;
  into[prefix + "scale"] = scale_;
  into[prefix + "shift"] = shift_;
  into[prefix + "cut"] = at::full({1}, cut_, at::kFloat);
}

void AttentionPredictor::load(const model::TensorMap& from, const std::string& prefix) {
  pq_ = from.at(prefix + "q_proj").to(at::kFloat).clone();
  pk_ = from.at(prefix + "k_proj").to(at::kFloat).clone();
  scale_ = from.at(prefix + "scale").to(at::kFloat).clone();
  shift_ = from.at(prefix + "shift").to(at::kFloat).clone();
  cut_ = from.at(prefix + "cut").item<double>();
}

std::pair<double, double> recallPrecision(const at::Tensor& predicted, const at::Tensor& truth,
                                          const at::Tensor& counted) {
  auto p = predicted.cpu() & counted.cpu(), t = truth.cpu() & counted.cpu();
  const double hit = (p & t).sum().item<double>();
  const double actual = t.sum().item<double>(), chosen = p.sum().item<double>();
  return {actual > 0 ? hit / actual : 1.0, chosen > 0 ? hit / chosen : 1.0};
}

}  // namespace darkroom::training

#include "finetune/adamw.h"

#include <cmath>

#include "darkroom/finetune.h"

namespace darkroom::training {

AdamW::AdamW(model::TensorMap params, double weight_decay)
    : params_(std::move(params)), weight_decay_(weight_decay) {
  for (const auto& [name, p] : params_) {
    m_[name] = at::zeros_like(p);
    v_[name] = at::zeros_like(p);
  }
}

void AdamW::zeroGrad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

double AdamW::clipGradients(double max_norm) {
  double total = 0;
  for (const auto& [name, p] : params_)
    if (p.grad().defined()) total += p.grad().to(at::kDouble).pow(2).sum().item<double>();
  total = std::sqrt(total);
  if (max_norm > 0 && total > max_norm) {
    const double scale = max_norm / (total + 1e-6);
    for (auto& [name, p] : params_)
      if (p.grad().defined()) p.mutable_grad().mul_(scale);
  }
  return total;
}

void AdamW::step(double lr) {
  at::NoGradGuard no_grad;
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  ++steps_;
  const double c1 = 1 - std::pow(b1, double(steps_)), c2 = 1 - std::pow(b2, double(steps_));
  for (auto& [name, p] : params_) {
    if (!p.grad().defined()) continue;
    const auto& g = p.grad();
    auto& m = m_.at(name);
    auto& v = v_.at(name);
    m.mul_(b1).add_(g, 1 - b1);
    v.mul_(b2).addcmul_(g, g, 1 - b2);
    if (weight_decay_ > 0) p.mul_(1 - lr * weight_decay_);
    p.addcdiv_(m / c1, (v / c2).sqrt_().add_(eps), -lr);
  }
}

void AdamW::save(model::TensorMap& into) const {
  for (const auto& [name, t] : m_) into["adam/m/" + name] = t;
  for (const auto& [name, t] : v_) into["adam/v/" + name] = t;
  into["adam/step"] = at::full({1}, steps_, at::kLong);
}

void AdamW::load(const model::TensorMap& from) {
  auto get = [&](const std::string& key) -> const at::Tensor& {
    auto it = from.find(key);
    if (it == from.end()) throw FinetuneError("the checkpoint has no optimizer state " + key);
    return it->second;
  };
  for (auto& [name, t] : m_) t.copy_(get("adam/m/" + name));
  for (auto& [name, t] : v_) t.copy_(get("adam/v/" + name));
  steps_ = get("adam/step").item<std::int64_t>();
}

}  // namespace darkroom::training

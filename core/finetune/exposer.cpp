#include "finetune/exposer.h"

#include "finetune/dataset.h"
#include "sparsity/sparsity_accumulator.h"

namespace darkroom::training {

at::Tensor causalLoss(const at::Tensor& logits, const at::Tensor& targets) {
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), targets.reshape(-1),
                                {}, at::Reduction::Mean, kIgnore);
}

at::Tensor mlpActiveBlocks(const at::Tensor& peak, double p) {
  return ~sparsity::inactiveMlpBlocks(peak.unsqueeze(0), kMlpBlock, p, kMlpInactiveFraction);
}

at::Tensor attentionKeep(const at::Tensor& mass, double threshold) {
  const std::int64_t nb = mass.size(1);
  auto causal = at::ones({nb, nb}, mass.options().dtype(at::kBool)).tril();
  auto diagonal = at::eye(nb, mass.options().dtype(at::kBool));
  return ((mass > threshold) | diagonal) & causal;
}

Exposure expose(const model::Transformer& model, const Peft& peft, const at::Tensor& inputs,
                const at::Tensor& targets, bool for_predictors, double mlp_p) {
  const auto layers = static_cast<std::size_t>(model.config().num_layers);
  Exposure e;
  e.mlp_peak.resize(layers);
  e.attention_mass.resize(layers);
  if (for_predictors) {
    e.mlp_input.resize(layers);
    e.mlp_token_target.resize(layers);
    e.query.resize(layers);
    e.key.resize(layers);
  }
  model::ForwardObserver observer;
  observer.on_mlp = [&](int layer, const at::Tensor& act) {
    auto a = act.abs().to(at::kFloat).reshape({-1, act.size(-1)});  // [tokens, neurons]
    auto peak = a.amax(0);
    e.mlp_peak[static_cast<std::size_t>(layer)] = peak;
    if (!for_predictors) return;
    // Per token, the share of each block's neurons above p × that block's peak over the batch.
    const std::int64_t neurons = peak.size(0), blocks = (neurons + kMlpBlock - 1) / kMlpBlock;
    auto padded_peak = at::zeros({blocks * kMlpBlock}, peak.options());
    padded_peak.slice(0, 0, neurons).copy_(peak);
    auto block_max = padded_peak.view({blocks, kMlpBlock}).amax(1);  // [blocks]
    auto padded = at::zeros({a.size(0), blocks * kMlpBlock}, a.options());
    padded.slice(1, 0, neurons).copy_(a);
    auto above = padded.view({a.size(0), blocks, kMlpBlock}) >
                 (block_max * mlp_p).view({1, blocks, 1});
    auto sizes = at::full({blocks}, double(kMlpBlock), a.options());
    sizes[blocks - 1] = double(neurons - (blocks - 1) * kMlpBlock);
    e.mlp_token_target[static_cast<std::size_t>(layer)] =
        above.to(at::kFloat).sum(-1) / sizes;
  };
  observer.on_attention = [&](int layer, const at::Tensor& probs) {
    e.attention_mass[static_cast<std::size_t>(layer)] =
        sparsity::attentionBlockMass(probs, kAttentionBlock);
  };
  model::ForwardHooks hooks;
  hooks.linear = [&](const std::string& module, const at::Tensor& x, const at::Tensor& w,
                     const at::Tensor* b) { return peft.linear(module, x, w, b); };
  if (for_predictors) {
    hooks.mlp = [&](int layer, const std::string&, const at::Tensor& x) {
      e.mlp_input[static_cast<std::size_t>(layer)] =
          x.detach().to(at::kFloat).reshape({-1, x.size(-1)});
      return at::Tensor();  // record only: the dense MLP runs
    };
    hooks.attention = [&](int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor&) {
      e.query[static_cast<std::size_t>(layer)] = q.detach().to(at::kFloat);
      e.key[static_cast<std::size_t>(layer)] = k.detach().to(at::kFloat);
      return at::Tensor();
    };
  }
  at::NoGradGuard no_grad;
  auto logits = model.forward(inputs, nullptr, &observer, &hooks);
  e.loss = causalLoss(logits, targets).item<double>();
  return e;
}

}  // namespace darkroom::training

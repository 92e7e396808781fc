// The Exposer (PAPERS.md §1): what a batch's real activations say each layer's block layouts
// should be. One dense forward without gradients records, per layer, the per-neuron peak
// |activation| (MLP) and the per-head attention mass of every 16×16 block; layouts for any
// thresholds then follow without another forward (the threshold search uses that).
#pragma once

#include <ATen/ATen.h>

#include "finetune/peft.h"
#include "model/transformer.h"

namespace darkroom::training {

constexpr std::int64_t kMlpBlock = 128;
constexpr std::int64_t kAttentionBlock = 16;
constexpr double kMlpInactiveFraction = 0.9;  // a block is off when > 90% of it is below p·max

struct Thresholds {
  double mlp_p = 0.03;
  double attention = 10;
};

// What one batch's dense forward showed, per layer.
struct Exposure {
  std::vector<at::Tensor> mlp_peak;        // [neurons] max |activation| over the batch
  std::vector<at::Tensor> attention_mass;  // [heads, nb, nb] summed over the batch
  // Predictor training data (only when recorded with `for_predictors`):
  std::vector<at::Tensor> mlp_input;       // [tokens, hidden] the MLP's input
  std::vector<at::Tensor> mlp_token_target;  // [tokens, blocks] share of each block's neurons
                                             // above p × the block's peak, per token
  std::vector<at::Tensor> query, key;      // [batch, heads, length, dim] after rotary
  double loss = 0;                         // the batch's dense loss
};

// Runs the dense forward (PEFT applied, no gradients). With for_predictors, also keeps the
// inputs and per-token targets the predictors learn from, for the MLP threshold `mlp_p`.
Exposure expose(const model::Transformer& model, const Peft& peft, const at::Tensor& inputs,
                const at::Tensor& targets, bool for_predictors, double mlp_p);

// Layouts at given thresholds: active MLP blocks [blocks] and kept attention blocks
// [heads, nb, nb] (causal; the diagonal always kept).
at::Tensor mlpActiveBlocks(const at::Tensor& peak, double p);
at::Tensor attentionKeep(const at::Tensor& mass, double threshold);

// Mean next-token loss over the positions whose target is not ignored.
at::Tensor causalLoss(const at::Tensor& logits, const at::Tensor& targets);

}  // namespace darkroom::training

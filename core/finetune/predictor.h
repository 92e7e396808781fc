// Sequence-oriented predictors (PAPERS.md §1): per layer, cheap forecasts of the Exposer's
// layouts from what the layer already has at hand, so that sparse steps need no dense pass.
//
// MLP: one Linear(hidden → blocks) per layer predicts, per token, the share of each 128-neuron
// block that fires above p × the block's peak; a block is selected for the batch when any token's
// predicted share exceeds kMlpSelect (an OR over tokens, as in the paper).
//
// Attention: q and k are mean-pooled over each 16-token block (the sequence downsampled to the
// block grid); per head, rank-r projections of pooled q and k give block scores whose causal
// log-softmax (a block's predicted share of its row's attention) is mapped by a learned affine
// per head to the probability that the Exposer keeps the block. Using the projected q and k,
// which the forward computes anyway, costs nb² · r per head instead of the paper's second pass
// over the hidden states.
#pragma once

#include <ATen/ATen.h>

#include "model/tensor_file.h"

namespace darkroom::training {

constexpr double kMlpSelect = 0.05;
// Both predictors set their decision threshold from the newest true layouts so that they would
// have kept this share of the truly active blocks: a missed block costs accuracy, an extra one
// only time.
constexpr double kTargetRecall = 0.95;

class MlpPredictor {
 public:
  MlpPredictor(std::int64_t hidden, std::int64_t neurons, at::Generator& gen);
  // x [.., hidden] -> bool [blocks] of predicted active blocks.
  at::Tensor predict(const at::Tensor& x) const;
  // A few Adam steps (lr 1e-3) of BCE on per-token shares; returns the last loss.
  double train(const at::Tensor& inputs, const at::Tensor& targets, int steps);
  // Sets the selection threshold from batches' inputs and their true active blocks.
  void calibrate(const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& active);
  void save(model::TensorMap& into, const std::string& prefix) const;
  void load(const model::TensorMap& from, const std::string& prefix);

 private:
  at::Tensor score(const at::Tensor& x) const;  // [blocks]: the largest share over tokens
  at::Tensor weight_, bias_;  // [blocks, hidden], [blocks]
  double cut_ = kMlpSelect;
  at::Tensor m_w_, v_w_, m_b_, v_b_;  // Adam moments
  std::int64_t adam_steps_ = 0;
};

class AttentionPredictor {
 public:
  AttentionPredictor(std::int64_t heads, std::int64_t head_dim, int rank, at::Generator& gen);
  // q, k [batch, heads, length, dim] -> bool [heads, nb, nb] kept blocks (causal, diagonal in).
  at::Tensor predict(const at::Tensor& q, const at::Tensor& k) const;
  // A few Adam steps (lr 1e-2) of BCE against the Exposer's kept blocks [heads, nb, nb].
  double train(const at::Tensor& q, const at::Tensor& k, const at::Tensor& keep, int steps);
  // Sets the decision threshold from batches' q, k and their true kept blocks.
  void calibrate(const std::vector<std::pair<at::Tensor, at::Tensor>>& qk,
                 const std::vector<at::Tensor>& keep);
  void save(model::TensorMap& into, const std::string& prefix) const;
  void load(const model::TensorMap& from, const std::string& prefix);

 private:
  at::Tensor logits(const at::Tensor& q, const at::Tensor& k) const;  // [heads, nb, nb]
  std::vector<at::Tensor> params() const { return {pq_, pk_, scale_, shift_}; }
  at::Tensor pq_, pk_, scale_, shift_;  // [h, d, r], [h, d, r], [h], [h]
  double cut_ = 0;
  std::vector<at::Tensor> m_, v_;
  std::int64_t adam_steps_ = 0;
};

// Recall (share of truly active blocks the prediction kept) and precision (share of kept blocks
// that were truly active) of two bool masks, over the entries where `counted` is true.
std::pair<double, double> recallPrecision(const at::Tensor& predicted, const at::Tensor& truth,
                                          const at::Tensor& counted);

}  // namespace darkroom::training

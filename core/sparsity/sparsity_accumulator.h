// Streams a model's activations, batch by batch, into the numbers of SparsityAnalysis without
// keeping the activations themselves (a calibration set's would not fit in memory).
#pragma once

#include <ATen/ATen.h>

#include "darkroom/sparsity.h"

namespace darkroom::sparsity {

// Exposer MLP rule on one batch: per neuron the largest |activation| over the batch's tokens;
// a block of `block` neurons is inactive when more than `inactive_fraction` of its neurons stay
// below p × the block's largest. Returns a bool mask [ceil(neurons / block)] of inactive blocks.
at::Tensor inactiveMlpBlocks(const at::Tensor& activation, std::int64_t block, double p,
                             double inactive_fraction);

// Attention mass per (head, query block, key block), summed over the batch: [heads, nb, nb]
// with nb = ceil(length / block).
at::Tensor attentionBlockMass(const at::Tensor& probabilities, std::int64_t block);

// Fraction of causal blocks (key block <= query block) whose mass exceeds the threshold: per
// head [heads], and for one layout shared by all heads (a block kept by any head).
std::pair<at::Tensor, double> keptBlockFractions(const at::Tensor& mass, double threshold);

class SparsityAccumulator {
 public:
  SparsityAccumulator(int layers, SparsityOptions options);

  // activation: [batch, length, neurons], one layer's MLP activations for one batch.
  void addMlp(int layer, const at::Tensor& activation);
  // probabilities: [batch, heads, length, keys], causal softmax output.
  void addAttention(int layer, const at::Tensor& probabilities);
  SparsityAnalysis finish() const;

 private:
  struct Layer {
    double per_token_sum = 0, aggregated_sequence_sum = 0, aggregated_batch_sum = 0;
    std::int64_t tokens = 0, sequences = 0, batches = 0;
    at::Tensor active_count;         // [neurons] int64
    std::vector<double> block_sparsity_sum;
    at::Tensor sample;               // [length, neurons] |a| of the first sequence
    at::Tensor mass_sum;             // [heads, nb, nb]
    std::int64_t attention_batches = 0;
    double kept_per_head_sum = 0, kept_shared_sum = 0;
  };
  SparsityOptions options_;
  std::vector<Layer> layers_;
};

}  // namespace darkroom::sparsity

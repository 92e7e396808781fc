// Activation sparsity of a model on a calibration set: per token vs aggregated ("shadowy")
// sparsity of the MLP, the Exposer's block rules for MLP neurons and attention, and neuron
// activation frequencies. Plain data for the views and the CLI; computed in core/sparsity.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace darkroom {

struct SparsityOptions {
  double epsilon = 0.0;          // |activation| <= epsilon counts as inactive
  std::int64_t mlp_block = 128;  // neurons per Exposer block
  double block_inactive_fraction = 0.9;  // a block is inactive when more than this fraction ...
  std::vector<double> block_p = {0.01, 0.03, 0.05};  // ... is below p × the block's max
  std::int64_t attention_block = 16;  // attention maps in blocks of this many queries × keys
  double attention_threshold = 10.0;  // a block is kept when its attention mass (summed over
                                      // its entries and the batch) exceeds this; 10 is the
                                      // Long Exposure artifact's value (batch 8)
};

struct LayerSparsity {
  int layer = 0;
  double mlp_per_token = 0;           // mean over tokens of the fraction of inactive neurons
  double mlp_aggregated_sequence = 0; // mean over sequences: inactive for every token of it
  double mlp_aggregated_batch = 0;    // mean over batches: inactive for every token of it
  std::vector<double> mlp_block_sparsity;  // per SparsityOptions::block_p: inactive blocks
  double attention_kept_per_head = 0;  // mean over heads of the kept causal-block fraction
  double attention_kept_shared = 0;    // one layout for all heads (union of the heads' blocks)
};

// A dense row-major array with its shape, as the views draw it.
struct Array2D {
  std::int64_t rows = 0, cols = 0;
  std::vector<float> values;
  float at(std::int64_t r, std::int64_t c) const { return values[std::size_t(r * cols + c)]; }
};

struct SparsityAnalysis {
  std::vector<LayerSparsity> layers;
  std::int64_t sequences = 0, tokens = 0;
  // layers × neurons: fraction of calibration tokens on which each neuron was active.
  Array2D neuron_frequency;
  // For the first calibration sequence: per token, layers × neurons of |activation|, flattened
  // as tokens × (layers · neurons) — the heatmap's per-token view.
  std::int64_t sample_tokens = 0;
  Array2D sample_magnitude;  // rows = tokens, cols = layers · neurons
  // Attention block masses, per layer and head: blocks × blocks (row = query block).
  std::int64_t heads = 0, attention_blocks = 0;
  std::vector<Array2D> attention_mass;  // index layer · heads + head
  SparsityOptions options;
};

}  // namespace darkroom

// When a sparse operator pays: measured, not assumed. For the run's own shapes, the block-sparse
// MLP and attention (forward + input backward) are timed at several densities next to the dense
// ATen operations, and a line t(density) = a + b · density is fitted; a layer runs sparse only
// when its layout's density is below the break-even point where that line meets dense.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "darkroom/model_config.h"

namespace darkroom::training {

struct CostModel {
  double mlp_break_even = 1.0;        // densities below this run the sparse MLP
  double attention_break_even = 1.0;  // the same for attention (share of causal blocks)
  double mlp_dense_ms = 0, attention_dense_ms = 0;  // what was measured, for the record
  // The fitted lines: sparse ms = intercept + slope · density.
  double mlp_intercept_ms = 0, mlp_slope_ms = 0;  // for mlp_tokens tokens
  std::int64_t mlp_tokens = 0;
  double attention_intercept_ms = 0, attention_slope_ms = 0;  // for one sequence
  // Predicted ms of one layer's MLP / attention at a layout density, dense fall-back included.
  double mlpMs(double density) const;
  double attentionMs(double density) const;
  std::string describe() const;
};

// Takes a second or two: each case runs a few times and the fastest time counts.
CostModel measureCostModel(const ModelConfig& config, std::int64_t batch, std::int64_t sequence,
                           at::Device device);

}  // namespace darkroom::training

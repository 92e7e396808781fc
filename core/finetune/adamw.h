// AdamW with decoupled weight decay over a fixed list of named parameters, with its state as
// plain tensors so that a checkpoint can hold it (and a resumed run continue it exactly).
#pragma once

#include <ATen/ATen.h>

#include "model/tensor_file.h"

namespace darkroom::training {

class AdamW {
 public:
  AdamW(model::TensorMap params, double weight_decay);
  void step(double lr);  // uses each parameter's .grad()
  void zeroGrad();
  // Global L2 norm of the gradients; scales them down to max_norm when above (0: no clipping).
  double clipGradients(double max_norm);
  std::int64_t steps() const { return steps_; }
  void save(model::TensorMap& into) const;  // "adam/m/<name>", "adam/v/<name>", "adam/step"
  void load(const model::TensorMap& from);

 private:
  model::TensorMap params_, m_, v_;
  double weight_decay_;
  std::int64_t steps_ = 0;
};

}  // namespace darkroom::training

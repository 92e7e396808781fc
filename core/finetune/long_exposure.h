// Everything sparse mode adds to a training step: the thresholds (given or searched), the
// measured cost model, the per-layer predictors (trained on calibration batches, refreshed
// online) and the sparse forward built from them.
#pragma once

#include <functional>

#include "finetune/dataset.h"
#include "finetune/exposer.h"
#include "finetune/sparse_model.h"

namespace darkroom::training {

// Metric name -> value, to be logged at one step.
using StepMetrics = std::map<std::string, double>;

class LongExposure {
 public:
  LongExposure(const model::Transformer& model, const Peft& peft, const FinetuneOptions& options,
               at::Generator& gen);

  // Measures the cost model, searches the thresholds when the policy is automatic, and trains
  // the predictors on `batches`. progress(fraction, message) reports along the way and may
  // throw to cancel. Returns what to log at step 0 (predictor recall and precision).
  StepMetrics calibrate(const std::vector<Batch>& batches,
                        const std::function<void(double, const std::string&)>& progress);
  // Records the batch's true layouts, logs predictor recall/precision against them and trains
  // the predictors a few steps on them.
  StepMetrics refresh(const Batch& batch);

  model::ForwardHooks hooks() { return sparse_.hooks(); }
  LayoutStats stats() const { return sparse_.stats(); }
  const Thresholds& thresholds() const { return thresholds_; }
  const CostModel& cost() const { return cost_; }
  std::string describe() const;

  // Predictors, thresholds and cost model into / out of a checkpoint.
  void save(model::TensorMap& tensors, std::map<std::string, std::string>& metadata) const;
  void load(const model::TensorMap& tensors, const std::map<std::string, std::string>& metadata);

 private:
  void searchThresholds(const std::vector<Batch>& batches,
                        const std::function<void(double, const std::string&)>& progress);
  double sparseLoss(const Batch& batch, const Exposure& e, double mlp_p, double attention);
  StepMetrics train(const std::vector<Exposure>& exposures, int steps);

  const model::Transformer& model_;
  const Peft& peft_;
  FinetuneOptions options_;
  Thresholds thresholds_;
  CostModel cost_;
  std::vector<MlpPredictor> mlp_;
  std::vector<AttentionPredictor> attention_;
  SparseModel sparse_;
  std::string search_log_;  // each candidate the search tried and its loss against dense
};

}  // namespace darkroom::training

#include "finetune/long_exposure.h"

#include <cstdio>
#include <sstream>

namespace darkroom::training {
namespace {

constexpr int kPredictorRank = 8;
constexpr int kCalibrationSteps = 100;  // the paper's offline predictor training length

std::vector<MlpPredictor> makeMlpPredictors(const ModelConfig& c, at::Generator& gen) {
  std::vector<MlpPredictor> out;
  for (int i = 0; i < c.num_layers; ++i) out.emplace_back(c.hidden_size, c.intermediate_size, gen);
  return out;
}

std::vector<AttentionPredictor> makeAttentionPredictors(const ModelConfig& c, at::Generator& gen) {
  std::vector<AttentionPredictor> out;
  for (int i = 0; i < c.num_layers; ++i)
    out.emplace_back(c.num_heads, c.headDim(), kPredictorRank, gen);
  return out;
}

}  // namespace

LongExposure::LongExposure(const model::Transformer& model, const Peft& peft,
                           const FinetuneOptions& options, at::Generator& gen)
    : model_(model), peft_(peft), options_(options),
      thresholds_{options.thresholds.mlp_p, options.thresholds.attention_threshold},
      mlp_(makeMlpPredictors(model.config(), gen)),
      attention_(makeAttentionPredictors(model.config(), gen)),
      sparse_(model, peft, mlp_, attention_, cost_) {}

double LongExposure::sparseLoss(const Batch& batch, const Exposure& e, double mlp_p,
                                double attention) {
  std::vector<at::Tensor> mlp, keep;
  for (const auto& peak : e.mlp_peak) mlp.push_back(mlpActiveBlocks(peak, mlp_p));
  for (const auto& mass : e.attention_mass) keep.push_back(attentionKeep(mass, attention));
  sparse_.fixLayouts(mlp, keep);
  at::NoGradGuard no_grad;
  auto hooks = sparse_.hooks();
  double loss = causalLoss(model_.forward(batch.inputs, nullptr, nullptr, &hooks), batch.targets)
                    .item<double>();
  sparse_.fixLayouts({}, {});
  return loss;
}

// The fastest thresholds, by the measured cost model, whose loss on the calibration batches stays
// within the tolerance of dense. Each axis is screened alone first (MLP p with dense attention,
// attention mass with a dense MLP); the pairs of survivors are then tried in order of predicted
// step time until one also passes together.
void LongExposure::searchThresholds(const std::vector<Batch>& batches,
                                    const std::function<void(double, const std::string&)>& progress) {
  std::vector<Exposure> exposures;
  double dense = 0;
  for (const auto& b : batches) {
    exposures.push_back(expose(model_, peft_, b.inputs, b.targets, false, 0));
    dense += exposures.back().loss / double(batches.size());
  }
  search_log_.clear();
  auto lossAt = [&](double p, double attention) {
    double loss = 0;
    for (std::size_t i = 0; i < batches.size(); ++i)
      loss += sparseLoss(batches[i], exposures[i], p, attention) / double(batches.size());
    char entry[96];
    std::snprintf(entry, sizeof entry, "%sp %g, mass %g: %+.2f%%", search_log_.empty() ? "" : "; ",
                  p, attention, 100 * (loss / dense - 1));
    search_log_ += entry;
    return loss;
  };
  // Predicted ms of the MLPs (or attentions) of one step at these thresholds, from the true
  // layouts' densities.
  const double tokens = double(options_.batch) * options_.sequence;
  auto mlpMs = [&](double p) {
    double ms = 0;
    for (const auto& e : exposures)
      for (const auto& peak : e.mlp_peak)
        ms += cost_.mlpMs(mlpActiveBlocks(peak, p).to(at::kDouble).mean().item<double>());
    return ms / double(exposures.size()) * tokens / double(std::max<std::int64_t>(cost_.mlp_tokens, 1));
  };
  auto attentionMs = [&](double m) {
    double ms = 0;
    for (const auto& e : exposures)
      for (const auto& mass : e.attention_mass) {
        auto keep = attentionKeep(mass, m);
        const double nb = double(keep.size(1));
        ms += cost_.attentionMs(keep.sum().item<double>() / (double(keep.size(0)) * nb * (nb + 1) / 2));
      }
    return ms / double(exposures.size()) * options_.batch;
  };
  const double limit = dense * (1 + options_.thresholds.tolerance);
  const std::vector<double> ps = {0.5, 0.3, 0.2, 0.1, 0.05, 0.03, 0.01, 0.0};
  // Attention mass is summed over the batch; the paper's scale (10) is for batch 8.
  const double per_batch = double(options_.batch) / 8.0;
  std::vector<double> masses;
  for (double m : {100.0, 50.0, 20.0, 10.0, 5.0, 3.0, 2.0, 1.0, 0.5, 0.2, 0.0}) masses.push_back(m * per_batch);
  const std::size_t total = ps.size() + masses.size() + 6;
  std::size_t done = 0;
  std::vector<double> ok_p = {0.0}, ok_m = {0.0};  // the dense-equivalent ends always qualify
  for (double p : ps) {
    progress(double(++done) / double(total), "threshold search: MLP p " + std::to_string(p));
    if (p > 0 && lossAt(p, 0) <= limit) ok_p.push_back(p);
  }
  for (double m : masses) {
    progress(double(++done) / double(total), "threshold search: attention mass " + std::to_string(m));
    if (m > 0 && lossAt(0, m) <= limit) ok_m.push_back(m);
  }
  struct Pair {
    double p, m, ms;
  };
  std::vector<Pair> pairs;
  for (double p : ok_p)
    for (double m : ok_m) pairs.push_back({p, m, mlpMs(p) + attentionMs(m)});
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.ms < b.ms; });
  // A pair with one axis at zero passed its screening already; a pair of two is tried on its
  // own, at most six times (then the fastest single-axis choice wins). (0, 0) always passes.
  int tries = 0;
  for (const auto& pair : pairs) {
    if (pair.p > 0 && pair.m > 0) {
      if (tries == 6) continue;
      ++tries;
      progress(double(++done) / double(total), "threshold search: MLP p " + std::to_string(pair.p) +
                                                   " with attention mass " + std::to_string(pair.m));
      if (lossAt(pair.p, pair.m) > limit) continue;
    }
    thresholds_ = {pair.p, pair.m};
    break;
  }
}

StepMetrics LongExposure::train(const std::vector<Exposure>& exposures, int steps) {
  StepMetrics metrics;
  const std::size_t layers = mlp_.size();
  double mr = 0, mp = 0, ar = 0, ap = 0;
  for (std::size_t l = 0; l < layers; ++l) {
    // Quality before this round of training: what the steps since the last refresh ran with.
    std::vector<at::Tensor> inputs, targets;
    double lr = 0, lp = 0, alr = 0, alp = 0;
    for (const auto& e : exposures) {
      auto truth = mlpActiveBlocks(e.mlp_peak[l], thresholds_.mlp_p);
      auto [r, p] = recallPrecision(mlp_[l].predict(e.mlp_input[l]), truth,
                                    at::ones_like(truth));
      lr += r / double(exposures.size()), lp += p / double(exposures.size());
      auto keep = attentionKeep(e.attention_mass[l], thresholds_.attention);
      const std::int64_t nb = keep.size(1);
      auto off_diagonal = at::ones({nb, nb}, at::kBool).tril(-1).expand_as(keep);
      auto [a_r, a_p] = recallPrecision(attention_[l].predict(e.query[l], e.key[l]), keep,
                                        off_diagonal);
      alr += a_r / double(exposures.size()), alp += a_p / double(exposures.size());
      inputs.push_back(e.mlp_input[l]);
      targets.push_back(e.mlp_token_target[l]);
    }
    auto tag = "predictor/layer" + std::to_string(l) + "/";
    metrics[tag + "mlp_recall"] = lr;
    metrics[tag + "mlp_precision"] = lp;
    metrics[tag + "attention_recall"] = alr;
    metrics[tag + "attention_precision"] = alp;
    mr += lr / double(layers), mp += lp / double(layers);
    ar += alr / double(layers), ap += alp / double(layers);
    if (steps == 0) continue;
    mlp_[l].train(at::cat(inputs), at::cat(targets), steps);
    for (int s = 0; s < steps; ++s) {
      const auto& e = exposures[static_cast<std::size_t>(s) % exposures.size()];
      attention_[l].train(e.query[l], e.key[l],
                          attentionKeep(e.attention_mass[l], thresholds_.attention), 1);
    }
    std::vector<at::Tensor> mlp_inputs, mlp_truth, keeps;
    std::vector<std::pair<at::Tensor, at::Tensor>> qk;
    for (const auto& e : exposures) {
      mlp_inputs.push_back(e.mlp_input[l]);
      mlp_truth.push_back(mlpActiveBlocks(e.mlp_peak[l], thresholds_.mlp_p));
      qk.emplace_back(e.query[l], e.key[l]);
      keeps.push_back(attentionKeep(e.attention_mass[l], thresholds_.attention));
    }
    mlp_[l].calibrate(mlp_inputs, mlp_truth);
    attention_[l].calibrate(qk, keeps);
  }
  double true_mlp = 0, true_attention = 0;
  for (const auto& e : exposures)
    for (std::size_t l = 0; l < layers; ++l) {
      true_mlp += 1 - mlpActiveBlocks(e.mlp_peak[l], thresholds_.mlp_p).to(at::kDouble).mean().item<double>();
      auto keep = attentionKeep(e.attention_mass[l], thresholds_.attention);
      const double nb = double(keep.size(1));
      true_attention += 1 - keep.sum().item<double>() / (double(keep.size(0)) * nb * (nb + 1) / 2);
    }
  metrics["exposer/mlp_sparsity"] = true_mlp / double(layers * exposures.size());
  metrics["exposer/attention_sparsity"] = true_attention / double(layers * exposures.size());
  metrics["predictor/mlp_recall"] = mr;
  metrics["predictor/mlp_precision"] = mp;
  metrics["predictor/attention_recall"] = ar;
  metrics["predictor/attention_precision"] = ap;
  return metrics;
}

StepMetrics LongExposure::calibrate(const std::vector<Batch>& batches,
                                    const std::function<void(double, const std::string&)>& progress) {
  progress(0, "measuring the cost model");
  cost_ = measureCostModel(model_.config(), options_.batch, options_.sequence,
                           model_.device());
  sparse_.setCost(cost_);
  if (options_.thresholds.automatic)
    searchThresholds(batches, [&](double f, const std::string& m) { progress(0.1 + 0.6 * f, m); });
  progress(0.7, "training the predictors");
  std::vector<Exposure> exposures;
  for (const auto& b : batches)
    exposures.push_back(expose(model_, peft_, b.inputs, b.targets, true, thresholds_.mlp_p));
  train(exposures, kCalibrationSteps);
  // Report how well the freshly trained predictors do on what they were trained on.
  auto metrics = train(exposures, 0);
  progress(1, describe());
  return metrics;
}

StepMetrics LongExposure::refresh(const Batch& batch) {
  std::vector<Exposure> exposures;
  exposures.push_back(expose(model_, peft_, batch.inputs, batch.targets, true, thresholds_.mlp_p));
  return train(exposures, options_.predictor_refresh_steps);
}

std::string LongExposure::describe() const {
  std::ostringstream s;
  s << "thresholds: MLP p " << thresholds_.mlp_p << ", attention mass " << thresholds_.attention
    << (options_.thresholds.automatic ? " (searched)" : " (given)") << "; cost model: "
    << cost_.describe();
  if (!search_log_.empty()) s << "; loss vs dense on the calibration batches: " << search_log_;
  return s.str();
}

void LongExposure::save(model::TensorMap& tensors,
                        std::map<std::string, std::string>& metadata) const {
  for (std::size_t l = 0; l < mlp_.size(); ++l) {
    mlp_[l].save(tensors, "predictor/mlp/" + std::to_string(l) + "/");
    attention_[l].save(tensors, "predictor/attention/" + std::to_string(l) + "/");
  }
  metadata["mlp_p"] = std::to_string(thresholds_.mlp_p);
  metadata["attention_threshold"] = std::to_string(thresholds_.attention);
  metadata["mlp_break_even"] = std::to_string(cost_.mlp_break_even);
  metadata["attention_break_even"] = std::to_string(cost_.attention_break_even);
  metadata["mlp_dense_ms"] = std::to_string(cost_.mlp_dense_ms);
  metadata["attention_dense_ms"] = std::to_string(cost_.attention_dense_ms);
}

void LongExposure::load(const model::TensorMap& tensors,
                        const std::map<std::string, std::string>& metadata) {
  try {
    for (std::size_t l = 0; l < mlp_.size(); ++l) {
      mlp_[l].load(tensors, "predictor/mlp/" + std::to_string(l) + "/");
      attention_[l].load(tensors, "predictor/attention/" + std::to_string(l) + "/");
    }
    thresholds_.mlp_p = std::stod(metadata.at("mlp_p"));
    thresholds_.attention = std::stod(metadata.at("attention_threshold"));
    cost_.mlp_break_even = std::stod(metadata.at("mlp_break_even"));
    cost_.attention_break_even = std::stod(metadata.at("attention_break_even"));
    cost_.mlp_dense_ms = std::stod(metadata.at("mlp_dense_ms"));
    cost_.attention_dense_ms = std::stod(metadata.at("attention_dense_ms"));
  } catch (const std::out_of_range&) {
    throw FinetuneError("the checkpoint lacks the sparse-mode state (predictors, thresholds)");
  }
  sparse_.setCost(cost_);
}

}  // namespace darkroom::training

#include "finetune/finetune_curves.h"

#include <algorithm>

namespace darkroom::views {

const std::vector<std::string>& FinetuneCurves::keys() {
  static const std::vector<std::string> k = {
      "train/loss",           "eval/loss",           "train/step_time_s",
      "train/tokens_per_s",   "sparsity/mlp",        "sparsity/attention",
      "predictor/mlp_recall", "predictor/attention_recall"};
  return k;
}

void FinetuneCurves::setRuns(const std::vector<std::int64_t>& run_ids) {
  runs_ = run_ids;
  for (auto it = curves_.begin(); it != curves_.end();)
    it = std::count(runs_.begin(), runs_.end(), it->first) ? std::next(it) : curves_.erase(it);
}

void FinetuneCurves::reset(std::int64_t run_id) { curves_.erase(run_id); }

bool FinetuneCurves::poll(const Store& store) {
  bool changed = false;
  for (auto id : runs_) {
    auto& run = curves_[id];
    const auto count = store.metricCount(id);
    if (count == run.store_count) continue;
    // Fewer points than last time: steps were rewritten (a resume); read the run afresh.
    if (count < run.store_count) {
      run.by_key.clear();
      changed = true;
    }
    run.store_count = count;
    for (const auto& key : keys()) {
      auto& curve = run.by_key[key];
      std::optional<std::int64_t> after;
      if (!curve.empty()) after = curve.back().step;
      auto points = store.metrics(id, key, after);
      if (points.empty()) continue;
      curve.insert(curve.end(), points.begin(), points.end());
      changed = true;
    }
  }
  return changed;
}

const std::vector<MetricPoint>& FinetuneCurves::curve(std::int64_t run_id,
                                                      const std::string& key) const {
  static const std::vector<MetricPoint> none;
  auto run = curves_.find(run_id);
  if (run == curves_.end()) return none;
  auto it = run->second.by_key.find(key);
  return it == run->second.by_key.end() ? none : it->second;
}

}  // namespace darkroom::views

#include "finetune/run_comparison.h"

#include <cmath>

namespace darkroom::views {
namespace {

// The values of a and b at the steps both have (both in step order), NaNs skipped.
void commonSteps(const std::vector<MetricPoint>& a, const std::vector<MetricPoint>& b,
                 std::vector<double>& va, std::vector<double>& vb) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].step < b[j].step) {
      ++i;
    } else if (b[j].step < a[i].step) {
      ++j;
    } else {
      if (!std::isnan(a[i].value) && !std::isnan(b[j].value)) {
        va.push_back(a[i].value);
        vb.push_back(b[j].value);
      }
      ++i;
      ++j;
    }
  }
}

double meanOf(const std::vector<double>& v, std::size_t from) {
  double sum = 0;
  for (std::size_t k = from; k < v.size(); ++k) sum += v[k];
  return sum / double(v.size() - from);
}

}  // namespace

RunComparison compareRuns(const std::vector<MetricPoint>& base_step_time,
                          const std::vector<MetricPoint>& other_step_time,
                          const std::vector<MetricPoint>& base_loss,
                          const std::vector<MetricPoint>& other_loss) {
  RunComparison c;
  std::vector<double> bt, ot;
  commonSteps(base_step_time, other_step_time, bt, ot);
  if (bt.empty()) return c;
  c.common_steps = int(bt.size());
  c.base_step_time = meanOf(bt, 0);
  c.other_step_time = meanOf(ot, 0);
  c.speedup = c.other_step_time > 0 ? c.base_step_time / c.other_step_time : 0;
  // As FinetuneResult::final_loss: the mean of the last 10 steps, here the last 10 both have.
  std::vector<double> bl, ol;
  commonSteps(base_loss, other_loss, bl, ol);
  if (!bl.empty()) {
    const std::size_t from = bl.size() > 10 ? bl.size() - 10 : 0;
    c.loss_steps = int(bl.size() - from);
    c.base_loss = meanOf(bl, from);
    c.other_loss = meanOf(ol, from);
  }
  return c;
}

}  // namespace darkroom::views

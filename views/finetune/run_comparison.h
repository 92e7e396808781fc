// Dense against sparse, measured on the steps both runs have: the speed-up is the ratio of the
// mean step times, the loss difference compares the mean training loss of the last steps.
#pragma once

#include <vector>

#include "darkroom/store.h"

namespace darkroom::views {

struct RunComparison {
  int common_steps = 0;         // steps with a step time in both runs
  double base_step_time = 0;    // mean seconds per step, baseline (dense)
  double other_step_time = 0;   // mean seconds per step, the other run (sparse)
  double speedup = 0;           // base / other; > 1: the other run is faster
  int loss_steps = 0;           // common steps averaged for the losses (the last <= 10)
  double base_loss = 0;
  double other_loss = 0;
  bool valid() const { return common_steps > 0; }
};

// Both curves in step order, as the store returns them.
RunComparison compareRuns(const std::vector<MetricPoint>& base_step_time,
                          const std::vector<MetricPoint>& other_step_time,
                          const std::vector<MetricPoint>& base_loss,
                          const std::vector<MetricPoint>& other_loss);

}  // namespace darkroom::views

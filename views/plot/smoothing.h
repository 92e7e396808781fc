// Curve smoothing for noisy training metrics.
#pragma once

#include <vector>

namespace darkroom::views {

// Exponential moving average with bias correction (as TensorBoard draws it): weight 0 returns
// the input, weight 0.99 is very smooth; the first points are not dragged towards zero. NaNs
// are passed through and skipped by the average.
std::vector<double> smoothEma(const std::vector<double>& values, double weight);

}  // namespace darkroom::views

#include "plot/smoothing.h"

#include <algorithm>
#include <cmath>

namespace darkroom::views {

std::vector<double> smoothEma(const std::vector<double>& values, double weight) {
  weight = std::clamp(weight, 0.0, 0.999);
  std::vector<double> out(values.size());
  double average = 0, debias = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i])) {
      out[i] = values[i];
      continue;
    }
    average = weight * average + (1 - weight) * values[i];
    debias = weight * debias + (1 - weight);
    out[i] = average / debias;
  }
  return out;
}

}  // namespace darkroom::views

#include "sparsity/sparsity_matrices.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace darkroom::views {

std::int64_t analysisLayers(const SparsityAnalysis& analysis) {
  return analysis.neuron_frequency.rows;
}

std::int64_t analysisNeurons(const SparsityAnalysis& analysis) {
  return analysis.neuron_frequency.cols;
}

bool hasTokenMagnitudes(const SparsityAnalysis& analysis) {
  const Array2D& m = analysis.sample_magnitude;
  return analysis.sample_tokens > 0 && m.rows == analysis.sample_tokens &&
         m.cols == analysisLayers(analysis) * analysisNeurons(analysis) && m.cols > 0 &&
         std::int64_t(m.values.size()) == m.rows * m.cols;
}

Array2D tokenMagnitude(const SparsityAnalysis& analysis, std::int64_t token) {
  if (!hasTokenMagnitudes(analysis) || token < 0 || token >= analysis.sample_tokens) return {};
  // Row `token` of sample_magnitude is that token's layers × neurons, already row-major.
  const Array2D& m = analysis.sample_magnitude;
  const auto first = m.values.begin() + token * m.cols;
  return {analysisLayers(analysis), analysisNeurons(analysis),
          std::vector<float>(first, first + m.cols)};
}

float largestTokenMagnitude(const SparsityAnalysis& analysis) {
  float largest = 0;
  for (const float v : analysis.sample_magnitude.values)
    if (std::isfinite(v)) largest = std::max(largest, std::abs(v));
  return largest;
}

std::vector<int> neuronsByMeanFrequency(const SparsityAnalysis& analysis) {
  const Array2D& f = analysis.neuron_frequency;
  std::vector<double> mean(std::size_t(f.cols), 0.0);
  for (std::int64_t l = 0; l < f.rows; ++l)
    for (std::int64_t n = 0; n < f.cols; ++n) {
      const float v = f.at(l, n);
      mean[std::size_t(n)] += std::isfinite(v) ? v : 0.0;  // NaN would break the sort
    }
  std::vector<int> order(std::size_t(f.cols));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return mean[std::size_t(a)] > mean[std::size_t(b)]; });
  return order;
}

const Array2D* attentionMass(const SparsityAnalysis& analysis, std::int64_t layer,
                             std::int64_t head) {
  if (layer < 0 || head < 0 || head >= analysis.heads) return nullptr;
  const auto index = std::size_t(layer * analysis.heads + head);
  if (index >= analysis.attention_mass.size()) return nullptr;
  const Array2D& map = analysis.attention_mass[index];
  if (map.rows <= 0 || map.cols <= 0 || std::int64_t(map.values.size()) != map.rows * map.cols)
    return nullptr;
  return &map;
}

}  // namespace darkroom::views

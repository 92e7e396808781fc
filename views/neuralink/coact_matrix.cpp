#include "neuralink/coact_matrix.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>

namespace darkroom::views {

SlotRange PooledCoact::slotsOf(std::int64_t cellFirst, std::int64_t cellEnd) const {
  const std::int64_t first = std::clamp(range.first + cellFirst * bin, range.first, range.end);
  const std::int64_t end = std::clamp(range.first + cellEnd * bin, first, range.end);
  return {first, end};
}

std::vector<std::int32_t> identityOrder(std::int64_t neurons) {
  std::vector<std::int32_t> order(std::size_t(std::max<std::int64_t>(neurons, 0)));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

bool isNeuronOrder(const std::vector<std::int32_t>& order, std::int64_t neurons) {
  if (std::int64_t(order.size()) != neurons) return false;
  std::vector<bool> seen(order.size(), false);
  for (const std::int32_t n : order) {
    if (n < 0 || n >= neurons || seen[std::size_t(n)]) return false;
    seen[std::size_t(n)] = true;
  }
  return true;
}

PooledCoact poolCoactivation(const neuralink::LayerCoact& stats,
                             const std::vector<std::int32_t>& order, SlotRange range,
                             std::int64_t maxSide, Pooling pooling) {
  PooledCoact out;
  const std::int64_t n = stats.neurons;
  if (n <= 0 || stats.tokens <= 0 || !isNeuronOrder(order, n) ||
      std::int64_t(stats.pair.size()) != n * n)
    return out;
  range.first = std::clamp<std::int64_t>(range.first, 0, n);
  range.end = std::clamp<std::int64_t>(range.end, range.first, n);
  if (range.size() == 0) range = {0, n};
  out.range = range;
  const std::int64_t slots = range.size();
  maxSide = std::max<std::int64_t>(maxSide, 1);
  out.bin = (slots + maxSide - 1) / maxSide;
  const std::int64_t cells = (slots + out.bin - 1) / out.bin;
  const double perToken = 1.0 / double(stats.tokens);

  std::vector<double> sum(std::size_t(cells * cells), 0.0);
  std::vector<double> peak(std::size_t(cells * cells), 0.0);
  out.frequency.assign(std::size_t(cells), 0.0);
  std::vector<double> frequencySum(std::size_t(cells), 0.0);
  for (std::int64_t a = 0; a < slots; ++a) {
    const std::int64_t i = order[std::size_t(range.first + a)];
    const std::uint32_t* row = stats.pair.data() + i * n;
    const std::int64_t ca = a / out.bin;
    const double pi = double(row[i]) * perToken;
    frequencySum[std::size_t(ca)] += pi;
    out.frequency[std::size_t(ca)] = std::max(out.frequency[std::size_t(ca)], pi);
    for (std::int64_t b = 0; b < slots; ++b) {
      const double v = double(row[order[std::size_t(range.first + b)]]) * perToken;
      const std::size_t cell = std::size_t(ca * cells + b / out.bin);
      sum[cell] += v;
      peak[cell] = std::max(peak[cell], v);
    }
  }
  out.matrix = {cells, cells, std::vector<float>(std::size_t(cells * cells))};
  for (std::int64_t r = 0; r < cells; ++r) {
    const std::int64_t rowSlots = std::min(out.bin, slots - r * out.bin);
    if (pooling == Pooling::Mean)
      out.frequency[std::size_t(r)] = frequencySum[std::size_t(r)] / double(rowSlots);
    for (std::int64_t c = 0; c < cells; ++c) {
      const std::int64_t colSlots = std::min(out.bin, slots - c * out.bin);
      const std::size_t cell = std::size_t(r * cells + c);
      out.matrix.values[cell] = float(pooling == Pooling::Max
                                           ? peak[cell]
                                           : sum[cell] / double(rowSlots * colSlots));
    }
  }
  return out;
}

double nearDiagonalMass(const neuralink::LayerCoact& stats, const std::vector<std::int32_t>& order,
                        std::int64_t band) {
  const std::int64_t n = stats.neurons;
  if (n <= 1 || !isNeuronOrder(order, n) || std::int64_t(stats.pair.size()) != n * n) return 0;
  double near = 0, total = 0;
  for (std::int64_t a = 0; a < n; ++a) {
    const std::uint32_t* row = stats.pair.data() + std::int64_t(order[std::size_t(a)]) * n;
    for (std::int64_t b = a + 1; b < n; ++b) {
      const double v = row[order[std::size_t(b)]];
      total += v;
      if (b - a <= band) near += v;
    }
  }
  return total > 0 ? near / total : 0;
}

}  // namespace darkroom::views

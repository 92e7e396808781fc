// What the co-activation view draws, as plain data: a layer's P(ij) for a range of slots of one
// neuron order, pooled down to a texture-sized matrix, the frequency strip along that order, and
// how much co-activation mass an order keeps near the diagonal. No Qt widgets, no OpenGL, so
// tests check the picture's content without pixels.
#pragma once

#include <darkroom/neuralink/coact.h>
#include <darkroom/sparsity.h>

#include <cstdint>
#include <vector>

namespace darkroom::views {

// How cells of a big layer are merged into one texel. Max keeps a small hot cluster visible at
// any size; mean shows how dense a region is.
enum class Pooling { Max, Mean };

// Slots [first, end) of an order.
struct SlotRange {
  std::int64_t first = 0, end = 0;
  std::int64_t size() const { return end - first; }
  bool operator==(const SlotRange& o) const { return first == o.first && end == o.end; }
};

struct PooledCoact {
  Array2D matrix;               // cells × cells of P(ij); cell c covers slots first + c·bin …
  std::vector<double> frequency;  // P(i) per cell, pooled the same way
  SlotRange range;
  std::int64_t bin = 1;         // slots per cell
  // The slots one cell (or a range of cells) covers, clipped to the range.
  SlotRange slotsOf(std::int64_t cellFirst, std::int64_t cellEnd) const;
};

// The identity order 0 … n−1.
std::vector<std::int32_t> identityOrder(std::int64_t neurons);

// P(ij) = f(i,j)/tokens of the neurons at slots `range` of `order` (slot → neuron), in that
// order, pooled into at most maxSide × maxSide cells. The diagonal holds P(i).
PooledCoact poolCoactivation(const neuralink::LayerCoact& stats,
                             const std::vector<std::int32_t>& order, SlotRange range,
                             std::int64_t maxSide, Pooling pooling);

// The share of the off-diagonal co-activation mass Σ P(ij), i ≠ j, whose two neurons sit at most
// `band` slots apart in `order`: near 1 when co-activated neurons are stored together.
double nearDiagonalMass(const neuralink::LayerCoact& stats, const std::vector<std::int32_t>& order,
                        std::int64_t band);

// True when order is a permutation of 0 … neurons−1.
bool isNeuronOrder(const std::vector<std::int32_t>& order, std::int64_t neurons);

}  // namespace darkroom::views

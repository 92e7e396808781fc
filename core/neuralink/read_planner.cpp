// Read planning: activated neurons -> slots -> runs of adjacent bundles -> (collapse across small
// gaps) -> 4 KiB-aligned reads. Pure functions; the engine issues exactly what they return.
#include <algorithm>

#include "darkroom/neuralink/io_engine.h"

namespace darkroom::neuralink {
namespace {

constexpr std::uint64_t kAlign = 4096;

std::uint64_t alignDown(std::uint64_t v) { return v / kAlign * kAlign; }
std::uint64_t alignUp(std::uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

std::vector<std::int32_t> sortedSlots(const LayoutLayer& layer,
                                      const std::vector<std::int32_t>& neurons) {
  if (layer.bundle_bytes <= 0)
    throw NeuralinkError("layout layer has bundle size " + std::to_string(layer.bundle_bytes));
  std::vector<std::int32_t> slots;
  slots.reserve(neurons.size());
  for (std::int32_t n : neurons) {
    if (n < 0 || std::size_t(n) >= layer.slot.size())
      throw NeuralinkError("neuron " + std::to_string(n) + " is outside a layout layer of " +
                           std::to_string(layer.slot.size()) + " neurons");
    slots.push_back(layer.slot[std::size_t(n)]);
  }
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  return slots;
}

}  // namespace

std::vector<PlannedRead> planReads(const LayoutLayer& layer,
                                   const std::vector<std::int32_t>& neurons,
                                   std::int64_t gap_bytes) {
  std::vector<PlannedRead> reads;
  const auto slots = sortedSlots(layer, neurons);
  if (slots.empty()) return reads;
  const std::uint64_t bundle = std::uint64_t(layer.bundle_bytes);
  const std::uint64_t gap = std::uint64_t(std::max<std::int64_t>(gap_bytes, 0));
  // Byte ranges [begin, end) of runs, merged across gaps below the threshold.
  std::uint64_t begin = layer.data_offset + std::uint64_t(slots[0]) * bundle;
  std::uint64_t end = begin + bundle;
  auto emit = [&](std::uint64_t b, std::uint64_t e) {
    const std::uint64_t ab = alignDown(b), ae = alignUp(e);
    if (!reads.empty() && ab < reads.back().offset + std::uint64_t(reads.back().bytes)) {
      // Shares a page with the previous read: extend it.
      reads.back().bytes = std::int64_t(ae - reads.back().offset);
      return;
    }
    reads.push_back({ab, std::int64_t(ae - ab)});
  };
  for (std::size_t i = 1; i < slots.size(); ++i) {
    const std::uint64_t b = layer.data_offset + std::uint64_t(slots[i]) * bundle;
    if (b - end < gap || b == end) {
      end = b + bundle;
    } else {
      emit(begin, end);
      begin = b;
      end = b + bundle;
    }
  }
  emit(begin, end);
  return reads;
}

std::vector<PlannedRead> planNeuronReads(const LayoutLayer& layer,
                                         const std::vector<std::int32_t>& neurons) {
  std::vector<PlannedRead> reads;
  const auto slots = sortedSlots(layer, neurons);
  reads.reserve(slots.size());
  const std::uint64_t bundle = std::uint64_t(layer.bundle_bytes);
  for (std::int32_t s : slots) {
    const std::uint64_t b = layer.data_offset + std::uint64_t(s) * bundle;
    const std::uint64_t ab = alignDown(b), ae = alignUp(b + bundle);
    reads.push_back({ab, std::int64_t(ae - ab)});
  }
  return reads;
}

}  // namespace darkroom::neuralink

// Writing flash layout files (docs/flash-layout.md), shared by the two writers: the synthetic one
// (flash_layout.cpp, in darkroom_flashio, no LibTorch) and the model one (flash_layout_write.cpp,
// in darkroom_core, which gathers the FFN bundles with ATen). Private to core/neuralink.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/neuralink/placement.h"
#include "neuralink/layout_format.h"

namespace darkroom::neuralink {

// What the writer needs to know of a file before its data exists.
struct LayoutPlan {
  std::string model_type;
  std::string placement;
  std::uint32_t dtype = layout_format::kU8;
  std::uint32_t bundle = layout_format::kOpaque;
  std::uint64_t hidden = 0;
  std::vector<std::vector<std::int32_t>> orders;  // per layer: slot -> neuron
  std::vector<std::uint64_t> bundle_bytes;        // per layer
};

// Fills `out` with the bundles of slots [first, first + count) of `layer`.
using BundleProducer =
    std::function<void(int layer, std::int64_t first, std::int64_t count, unsigned char* out)>;

// Writes PATH.partial, fsyncs it and renames it to PATH: a failure leaves no file behind. Reports
// progress to `ctx` when given.
void writeLayoutFile(const LayoutPlan& plan, const BundleProducer& produce,
                     const std::filesystem::path& path, JobContext* ctx);

// Bytes of one element of a layout dtype code.
std::uint32_t layoutDtypeBytes(std::uint32_t code);

// The slot -> neuron order of one layer of `neurons` neurons: the identity when `layer` is null,
// else its order, checked to be a permutation (NeuralinkError names what is wrong).
std::vector<std::int32_t> checkedLayerOrder(const LayerPlacement* layer, std::int64_t neurons);

}  // namespace darkroom::neuralink

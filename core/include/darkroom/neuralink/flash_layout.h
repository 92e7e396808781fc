// Flash layout files: a model's FFN neuron bundles stored contiguously in placement order, one
// 4 KiB-aligned region per layer, with per-layer checksums. A bundle is what one neuron needs:
// OPT fc1 row + fc1 bias + fc2 column; LLaMA-style gate row + up row + down column. The byte
// format is documented in docs/flash-layout.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/neuralink/placement.h"

namespace darkroom::neuralink {

// Where each neuron's bundle lives: all the I/O engine needs to plan reads.
struct LayoutLayer {
  std::int64_t neurons = 0;
  std::int64_t bundle_bytes = 0;      // every bundle of the layer has this size
  std::uint64_t data_offset = 0;      // file offset of slot 0, 4 KiB aligned
  std::vector<std::int32_t> order;    // slot -> neuron
  std::vector<std::int32_t> slot;     // neuron -> slot (the inverse)
  std::uint64_t offsetOf(std::int32_t neuron) const {
    return data_offset + std::uint64_t(slot[static_cast<std::size_t>(neuron)]) *
                             std::uint64_t(bundle_bytes);
  }
};

struct FlashLayout {
  std::filesystem::path path;
  std::string model_type;  // "opt", "llama", ...
  std::string dtype;       // "f32", "f16", "bf16"
  std::vector<LayoutLayer> layers;
  // Added with the file format (docs/flash-layout.md):
  std::string bundle;             // "opt" (fc1 row, fc1 bias, fc2 column), "gated" (gate row,
                                  // up row, down column) or "opaque" (synthetic zeros)
  std::int64_t hidden_size = 0;   // elements per weight vector in a bundle; 0 when opaque
  std::string placement;          // the placement method's name, as written
  std::uint64_t file_bytes = 0;   // the whole file, 4 KiB aligned
};

// Placements: an empty one (no layers) means the checkpoint's order in every layer; otherwise it
// must hold one permutation per layer, or NeuralinkError says which layer is wrong.
// Writes the layout of the model folder `model_dir` (its FFN weights) in `placement` order.
// Written to PATH.partial and renamed: a failure leaves no file.
void writeFlashLayout(const std::filesystem::path& model_dir, const Placement& placement,
                      const std::filesystem::path& path, JobContext& ctx);
// Reads the header and tables (checking their checksum), not the data.
FlashLayout readFlashLayout(const std::filesystem::path& path);
// Reads every layer and checks its checksum; throws NeuralinkError naming the first bad layer,
// or a truncated file.
void verifyFlashLayout(const std::filesystem::path& path, JobContext& ctx);
// The same check, layer by layer, without stopping at the first bad one (`layout verify` prints
// all). Header, table and truncation problems still throw NeuralinkError.
struct LayerCheck {
  int layer = 0;
  bool ok = false;
  std::string problem;  // empty when ok
};
std::vector<LayerCheck> checkFlashLayout(const std::filesystem::path& path, JobContext& ctx);
// A layout for synthetic traces (no model): `bundle_bytes` per neuron, zero-filled data with
// valid checksums, so the I/O engine can replay 7B-shaped traces against a real file.
void writeSyntheticLayout(const std::vector<std::int64_t>& neurons_per_layer,
                          std::int64_t bundle_bytes, const Placement& placement,
                          const std::filesystem::path& path);

// GGUF (v3) file of the model with every FFN's neurons permuted by `placement` (fc1/gate/up rows
// and their bias, fc2/down columns), so llama.cpp-family runtimes read the placed order; the
// model's outputs are unchanged.
void exportGguf(const std::filesystem::path& model_dir, const Placement& placement,
                const std::filesystem::path& path, JobContext& ctx);

}  // namespace darkroom::neuralink

// Neuron placement in flash (PAPERS.md §2): a permutation per FFN layer; order[k] is the neuron
// stored at slot k. The greedy-edge Hamiltonian path on d(i,j) = 1 − P(ij) puts neurons that fire
// together next to each other, so one read serves several.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/neuralink/coact.h"

namespace darkroom::neuralink {

enum class PlacementMethod {
  Identity,       // the checkpoint's order
  Frequency,      // hottest first
  HotCold,        // PowerInfer-2 style: hot neurons (top 20% by frequency) first, then cold, each
                  // in original order
  ClosestFriend,  // LLM in a flash: each neuron followed by its most co-activated free partner
  Greedy,         // Neuralink's greedy-edge path: the all-pairs result, found in count bands on
                  // threads; layers over 65536 neurons use the top-k partners of each neuron
  GreedyAllPairs,  // the same over all n² pairs in one counting sort (the reference)
  GreedyTopK       // the greedy path over each neuron's top-k partners only (memory-light;
                   // its quality loss against all pairs is measured in bench/compare-placement)
};
const char* toString(PlacementMethod method);
PlacementMethod parsePlacementMethod(const std::string& text);  // "identity", "greedy", ...

struct PlacementOptions {
  PlacementMethod method = PlacementMethod::Greedy;
  int top_k = 32;  // GreedyTopK (and Greedy above 65536 neurons): partners per neuron
  int threads = 0;
};

struct LayerPlacement {
  std::vector<std::int32_t> order;  // slot -> neuron
  double expected_io = 0;  // ΣP(i) − Σ_adjacent P(order[k], order[k+1]): expected reads per token
  double seconds = 0;
};

struct Placement {
  PlacementMethod method = PlacementMethod::Identity;
  std::vector<LayerPlacement> layers;
  double expectedIo() const;  // summed over layers

  // Safetensors: one I32 tensor "order.N" [neurons] per layer (slot -> neuron), F64 tensors
  // "expected_io" and "seconds" [layers], metadata "method" (toString) and "layers". load()
  // checks that every order is a permutation; errors (NeuralinkError) name the file.
  void save(const std::filesystem::path& path) const;
  static Placement load(const std::filesystem::path& path);
};

LayerPlacement placeLayer(const LayerCoact& stats, const PlacementOptions& options);
Placement place(const CoactStats& stats, const PlacementOptions& options, JobContext& ctx);
double expectedIo(const LayerCoact& stats, const std::vector<std::int32_t>& order);

}  // namespace darkroom::neuralink

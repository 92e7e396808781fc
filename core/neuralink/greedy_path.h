// Internals of the greedy-edge Hamiltonian path (placement.cpp), open to the unit tests.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "darkroom/neuralink/coact.h"

namespace darkroom::neuralink::detail {

struct Edge {
  std::int32_t a = 0, b = 0;  // a < b
  std::uint32_t weight = 0;   // f(a, b): a higher count is a shorter distance 1 − P(ab)
};

// Chains under construction: each neuron has at most two neighbours and no cycle forms.
class PathBuilder {
 public:
  explicit PathBuilder(std::int32_t n);
  // Links a and b unless either already has two neighbours or both lie in one chain.
  bool link(std::int32_t a, std::int32_t b);
  bool open(std::int32_t v) const { return next_[std::size_t(v)][1] < 0; }  // degree < 2
  std::int32_t chain(std::int32_t v);  // the chain's representative (union-find root)
  std::int64_t links() const { return links_; }
  // Walks every chain; chains come hottest first (by summed f(i)), each from its lower end.
  std::vector<std::int32_t> walk(const std::vector<std::uint32_t>& count) const;

 private:
  std::vector<std::array<std::int32_t, 2>> next_;
  std::vector<std::int32_t> parent_, size_;
  std::int64_t links_ = 0;
};

// Neuralink's greedy path over all pairs with f > 0, taken by count descending (ties: a, then b
// ascending). `chosen` (optional) receives the linked edges in the order they were linked.
std::vector<std::int32_t> greedyAllPairs(const LayerCoact& stats, std::vector<Edge>* chosen);
// The same result (the same edges in the same order) in phases: each phase takes the pairs between
// open neurons of different chains whose counts lie in a band chosen to hold about `batch` pairs
// (estimated from sampled rows), found on threads; neurons that fill up drop out of later phases.
// placeLayer's Greedy uses it up to kPhasedMaxNeurons with batch = kPhasedBatchPerNeuron * n.
inline constexpr std::int64_t kPhasedMaxNeurons = 65536, kPhasedBatchPerNeuron = 32;
std::vector<std::int32_t> greedyPhased(const LayerCoact& stats, int threads, std::vector<Edge>* chosen,
                                       std::int64_t batch);
// The same over each neuron's top-k partners, taken lazily in the same global order; a neuron
// that runs out of candidates while open rescans its row for k more, at most max_refills times
// (-1: no cap, which makes it all-pairs greedy up to the order of equal counts). Chains left
// over are joined through rounds over the open ends' top-k partners among open ends.
inline constexpr int kDefaultRefills = 2;
std::vector<std::int32_t> greedyTopK(const LayerCoact& stats, int k, int threads,
                                     std::vector<Edge>* chosen, int max_refills = kDefaultRefills);

}  // namespace darkroom::neuralink::detail

// Synthetic traces shaped like a ReLU LLM's FFN: neurons form hidden groups (scattered over the
// layer by a random permutation) that fire together; group popularity follows a power law, so
// neuron frequencies do too; a few hot neurons fire on most tokens on their own, and a little
// independent background noise fires everywhere.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <thread>

#include "darkroom/neuralink/coact.h"

namespace darkroom::neuralink {
namespace {

struct SplitMix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  std::int64_t below(std::int64_t n) { return std::int64_t(next() % std::uint64_t(n)); }
};

LayerTrace syntheticLayer(std::int64_t neurons, std::int64_t tokens, double mean_fraction,
                          std::uint64_t seed) {
  SplitMix rng{seed};
  LayerTrace layer;
  layer.neurons = neurons;
  layer.tokens = tokens;
  layer.bits.assign(std::size_t(tokens * layer.words()), 0);

  std::vector<std::int32_t> perm(static_cast<std::size_t>(neurons));
  std::iota(perm.begin(), perm.end(), 0);
  for (std::int64_t i = neurons - 1; i > 0; --i) std::swap(perm[std::size_t(i)], perm[std::size_t(rng.below(i + 1))]);

  // Groups: consecutive runs of the permutation, 8..48 neurons each.
  struct Group {
    std::int64_t begin, end;
    double weight = 0, q = 0;
  };
  std::vector<Group> groups;
  for (std::int64_t b = 0; b < neurons;) {
    const std::int64_t e = std::min(neurons, b + 8 + rng.below(41));
    groups.push_back({b, e});
    b = e;
  }
  std::vector<double> strength(static_cast<std::size_t>(neurons));  // P(fire | its group is on)
  for (auto& s : strength) s = 0.5 + 0.45 * rng.uniform();
  std::vector<std::int64_t> rank(groups.size());
  std::iota(rank.begin(), rank.end(), 1);
  for (std::size_t i = rank.size(); i > 1; --i) std::swap(rank[i - 1], rank[std::size_t(rng.below(std::int64_t(i)))]);

  // Hot neurons: 1%, firing on 30..80% of tokens by themselves.
  const std::int64_t hot_count = neurons / 100;
  std::vector<std::pair<std::int32_t, double>> hot;
  for (std::int64_t h = 0; h < hot_count; ++h)
    hot.emplace_back(std::int32_t(rng.below(neurons)), 0.3 + 0.5 * rng.uniform());
  const double budget = mean_fraction * double(neurons);
  double hot_mass = 0;
  for (auto& h : hot) hot_mass += h.second;
  if (hot_mass > 0.3 * budget) {
    for (auto& h : hot) h.second *= 0.3 * budget / hot_mass;
    hot_mass = 0.3 * budget;
  }
  const double background = 0.1 * mean_fraction;
  const double group_budget = std::max(0.0, budget - hot_mass - background * double(neurons));
  double mass = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto& gr = groups[g];
    gr.weight = std::pow(double(rank[g]), -0.8);
    double s = 0;
    for (std::int64_t k = gr.begin; k < gr.end; ++k) s += strength[std::size_t(k)];
    mass += gr.weight * s;
  }
  for (auto& gr : groups) gr.q = std::min(0.9, group_budget / mass * gr.weight);

  const double expected_noise = background * double(neurons);
  for (std::int64_t t = 0; t < tokens; ++t) {
    std::uint64_t* row = layer.bits.data() + t * layer.words();
    auto set = [&](std::int64_t n) { row[n >> 6] |= std::uint64_t{1} << (n & 63); };
    for (const auto& gr : groups)
      if (rng.uniform() < gr.q)
        for (std::int64_t k = gr.begin; k < gr.end; ++k)
          if (rng.uniform() < strength[std::size_t(k)]) set(perm[std::size_t(k)]);
    for (const auto& h : hot)
      if (rng.uniform() < h.second) set(h.first);
    // Background: a Poisson number of uniformly placed neurons (Knuth's method in chunks).
    double noise = expected_noise;
    while (noise > 0) {
      const double lambda = std::min(noise, 30.0);
      noise -= lambda;
      const double limit = std::exp(-lambda);
      double prod = rng.uniform();
      while (prod > limit) {
        set(rng.below(neurons));
        prod *= rng.uniform();
      }
    }
  }
  return layer;
}

}  // namespace

ActivationTrace syntheticTrace(int layers, std::int64_t neurons, std::int64_t tokens,
                               double mean_active_fraction, std::uint64_t seed) {
  if (layers < 0 || neurons < 1 || tokens < 0)
    throw NeuralinkError("syntheticTrace needs layers >= 0, neurons >= 1 and tokens >= 0");
  if (!(mean_active_fraction > 0 && mean_active_fraction <= 1))
    throw NeuralinkError("syntheticTrace needs a mean active fraction in (0, 1]");
  ActivationTrace trace;
  char source[160];
  std::snprintf(source, sizeof source,
                "synthetic: %d layers x %lld neurons, %lld tokens, mean active %.3g, seed %llu "
                "(power-law groups)",
                layers, static_cast<long long>(neurons), static_cast<long long>(tokens),
                mean_active_fraction, static_cast<unsigned long long>(seed));
  trace.source = source;
  trace.layers.resize(std::size_t(layers));
  std::atomic<int> next{0};
  auto worker = [&] {
    for (int l; (l = next.fetch_add(1)) < layers;)
      trace.layers[std::size_t(l)] = syntheticLayer(
          neurons, tokens, mean_active_fraction, seed * 0x2545f4914f6cdd1dull + std::uint64_t(l) + 1);
  };
  const int threads = std::min<int>(layers, int(std::max(1u, std::thread::hardware_concurrency())));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  return trace;
}

}  // namespace darkroom::neuralink

// Neuron placement for a 7B shape (32 layers x 11008 FFN neurons, synthetic power-law groups,
// 2000 calibration tokens): co-activation counting time, placement search time per method, and
// expected I/O (reads per token) relative to all-pairs greedy. One layer is counted and placed
// at a time (a layer's exact f(i,j) is 484 MB).
//
// BM_Count: one layer's counts. BM_Place/<method>/<k>: one layer's search. BM_TopK/<k>: the top-k
// variant of greedy on one layer. BM_Model7B/<k>: the whole 32-layer model with Greedy (the
// exact path in count bands at this size; search time only, counting reported apart), and
// all-pairs greedy on the first DARKROOM_BENCH_ALL_LAYERS layers (default 4) for the quality ratio.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>

#include "darkroom/neuralink/placement.h"
#include "neuralink/greedy_path.h"

using namespace darkroom::neuralink;

namespace {

constexpr std::int64_t kNeurons = 11008, kTokens = 2000;
constexpr int kLayers = 32;
constexpr double kActive = 0.1;
constexpr std::uint64_t kSeed = 7;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

const LayerCoact& layer0() {
  static std::unique_ptr<LayerCoact> c;
  if (!c) c = std::make_unique<LayerCoact>(countCoactivations(syntheticTrace(1, kNeurons, kTokens, kActive, kSeed).layers[0]));
  return *c;
}

double allPairsIo0() {
  static double io = -1;
  if (io < 0) {
    PlacementOptions o;
    o.method = PlacementMethod::GreedyAllPairs;
    io = placeLayer(layer0(), o).expected_io;
  }
  return io;
}

void BM_Count(benchmark::State& state) {
  const auto trace = syntheticTrace(1, kNeurons, kTokens, kActive, kSeed);
  for (auto _ : state) benchmark::DoNotOptimize(countCoactivations(trace.layers[0]).pair.data());
  state.counters["neurons"] = double(kNeurons);
  state.counters["tokens"] = double(kTokens);
}
BENCHMARK(BM_Count)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Place(benchmark::State& state) {
  PlacementOptions o;
  o.method = PlacementMethod(state.range(0));
  o.top_k = int(state.range(1));
  const auto& c = layer0();
  const double reference = allPairsIo0();
  LayerPlacement p;
  for (auto _ : state) p = placeLayer(c, o);
  state.SetLabel(toString(o.method));
  state.counters["expected_io"] = p.expected_io;
  state.counters["vs_all_pairs"] = p.expected_io / reference;
}
BENCHMARK(BM_Place)
    ->ArgNames({"method", "k"})
    ->Args({int(PlacementMethod::Identity), 0})
    ->Args({int(PlacementMethod::Frequency), 0})
    ->Args({int(PlacementMethod::HotCold), 0})
    ->Args({int(PlacementMethod::ClosestFriend), 0})
    ->Args({int(PlacementMethod::Greedy), 32})
    ->Args({int(PlacementMethod::GreedyAllPairs), 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

// The top-k variant (Greedy's path for layers over 65536 neurons), called directly: its search
// time and its quality loss against all-pairs greedy.
void BM_TopK(benchmark::State& state) {
  const int k = int(state.range(0));
  const auto& c = layer0();
  const double reference = allPairsIo0();
  double io = 0;
  for (auto _ : state) {
    const auto order = darkroom::neuralink::detail::greedyTopK(c, k, 0, nullptr);
    state.PauseTiming();
    io = expectedIo(c, order);
    state.ResumeTiming();
  }
  state.SetLabel("greedy-top-k");
  state.counters["expected_io"] = io;
  state.counters["vs_all_pairs"] = io / reference;
}
BENCHMARK(BM_TopK)
    ->ArgNames({"k"})
    ->Arg(8)
    ->Arg(16)
    ->Arg(32)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

void BM_Model7B(benchmark::State& state) {
  const int all_layers = std::getenv("DARKROOM_BENCH_ALL_LAYERS")
                             ? std::atoi(std::getenv("DARKROOM_BENCH_ALL_LAYERS"))
                             : 4;
  PlacementOptions greedy;
  greedy.top_k = int(state.range(0));
  PlacementOptions all;
  all.method = PlacementMethod::GreedyAllPairs;
  std::map<std::string, double> io;
  double search = 0, counting = 0, all_search = 0, topk_subset = 0, all_subset = 0, identity = 0;
  for (auto _ : state) {
    // The trace of all 32 layers is 88 MB; generated up front, outside every timing.
    const auto trace = syntheticTrace(kLayers, kNeurons, kTokens, kActive, kSeed);
    for (int l = 0; l < kLayers; ++l) {
      double t0 = now();
      const auto c = countCoactivations(trace.layers[std::size_t(l)]);
      counting += now() - t0;
      t0 = now();
      const auto p = placeLayer(c, greedy);
      search += now() - t0;
      io["greedy"] += p.expected_io;
      PlacementOptions id;
      id.method = PlacementMethod::Identity;
      identity += placeLayer(c, id).expected_io;
      if (l < all_layers) {
        t0 = now();
        const auto a = placeLayer(c, all);
        all_search += now() - t0;
        all_subset += a.expected_io;
        topk_subset += p.expected_io;
      }
      state.SetIterationTime(search);
    }
  }
  state.counters["search_s"] = search;
  state.counters["counting_s"] = counting;
  state.counters["expected_io"] = io["greedy"];
  state.counters["identity_io"] = identity;
  state.counters["all_pairs_layers"] = all_layers;
  state.counters["all_pairs_s_per_layer"] = all_layers ? all_search / all_layers : 0;
  state.counters["vs_all_pairs"] = all_subset > 0 ? topk_subset / all_subset : 0;
}
BENCHMARK(BM_Model7B)->ArgNames({"k"})->Arg(32)->Unit(benchmark::kSecond)->UseManualTime()->Iterations(1);

}  // namespace

BENCHMARK_MAIN();

// How metric writes cost: one transaction per point versus MetricBuffer's one per flush, and a
// reader's cost to fetch a live curve. Run: build/bench/store_bench (see bench/README.md).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>

#include "darkroom/store.h"

using namespace darkroom;

namespace {

struct Scratch {
  std::filesystem::path dir;
  Store store;
  std::int64_t run;
  static Scratch make() {
    auto dir = std::filesystem::temp_directory_path() /
               ("darkroom-bench-" + std::to_string(getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir);
    auto store = Store::open(dir / "darkroom.db");
    auto run = store.createRun(store.ensureExperiment("bench"), "r", "bench");
    return {dir, std::move(store), run};
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// One point, one transaction: what a naive trainer loop would do.
void BM_AppendPerPoint(benchmark::State& state) {
  auto s = Scratch::make();
  std::int64_t step = 0;
  for (auto _ : state) s.store.appendMetrics(s.run, {{"loss", step++, 0.5, 0}});
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendPerPoint);

// Points through MetricBuffer, flushed every `flush_every`.
void BM_AppendBuffered(benchmark::State& state) {
  auto s = Scratch::make();
  MetricBuffer buffer(s.store, s.run, static_cast<std::size_t>(state.range(0)));
  std::int64_t step = 0;
  for (auto _ : state) buffer.add("loss", step++, 0.5);
  buffer.flush();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendBuffered)->Arg(16)->Arg(256)->Arg(4096);

// A view re-reading a 10k-point curve, and fetching only what is new since the last step.
void BM_ReadCurve(benchmark::State& state) {
  auto s = Scratch::make();
  std::vector<MetricPoint> points;
  for (int i = 0; i < 10000; ++i) points.push_back({"loss", i, 1.0 / (i + 1), 0});
  s.store.appendMetrics(s.run, points);
  const bool incremental = state.range(0) != 0;
  for (auto _ : state) {
    auto curve = incremental ? s.store.metrics(s.run, "loss", 9900) : s.store.metrics(s.run, "loss");
    benchmark::DoNotOptimize(curve.data());
  }
}
BENCHMARK(BM_ReadCurve)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();

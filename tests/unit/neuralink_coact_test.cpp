// Activation traces and co-activation counts: bit rows, the safetensors forms and their errors,
// exact counts against a naive count on random masks of awkward sizes (one and several threads),
// synthetic traces, and recording a real (briefly trained) demo model.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "darkroom/demo_models.h"
#include "darkroom/neuralink/coact.h"
#include "darkroom/safetensors.h"
#include "neuralink_test_util.h"
#include "test_util.h"

using namespace darkroom;
using namespace darkroom::neuralink;

namespace {

using test::randomLayer;

template <typename Fn>
void runJob(Fn&& fn) {
  JobQueue queue(1);
  std::string error;
  auto id = queue.submit("test", "test", [&](JobContext& ctx) {
    try {
      fn(ctx);
    } catch (const std::exception& e) {
      error = e.what();
      throw;
    }
    return std::any();
  });
  ASSERT_EQ(queue.wait(id), JobState::Succeeded) << error;
}

TEST(NeuralinkTrace, RowsHoldTheActiveNeuronsAscending) {
  LayerTrace layer;
  layer.neurons = 130;
  layer.addToken({129, 0, 64, 63});
  layer.addToken({});
  EXPECT_EQ(layer.tokens, 2);
  EXPECT_EQ(layer.words(), 3);
  EXPECT_EQ(layer.activeNeurons(0), (std::vector<std::int32_t>{0, 63, 64, 129}));
  EXPECT_TRUE(layer.activeNeurons(1).empty());
  EXPECT_TRUE(layer.active(0, 129));
  EXPECT_FALSE(layer.active(0, 128));
  EXPECT_THROW(layer.addToken({130}), NeuralinkError);
  EXPECT_THROW(layer.addToken({-1}), NeuralinkError);
  EXPECT_EQ(layer.tokens, 2);  // a rejected row is not appended
  EXPECT_EQ(layer.bits.size(), 6u);
}

TEST(NeuralinkTrace, SaveLoadRoundTrip) {
  test::TempDir dir;
  std::uniform_int_distribution<std::int64_t> size(1, 200), tokens(0, 90);
  ActivationTrace trace;
  trace.source = "random masks";
  const std::int64_t t = tokens(test::rng());
  for (int l = 0; l < 3; ++l) trace.layers.push_back(randomLayer(size(test::rng()), t, 0.3));
  trace.save(dir / "trace.safetensors");
  auto back = ActivationTrace::load(dir / "trace.safetensors");
  EXPECT_EQ(back.source, trace.source);
  ASSERT_EQ(back.layers.size(), 3u);
  for (int l = 0; l < 3; ++l) {
    EXPECT_EQ(back.layers[l].neurons, trace.layers[l].neurons);
    EXPECT_EQ(back.layers[l].tokens, t);
    EXPECT_EQ(back.layers[l].bits, trace.layers[l].bits);
  }
}

TEST(NeuralinkTrace, LoadNamesTheFileAndWhatIsWrong) {
  test::TempDir dir;
  auto file = dir / "bad.safetensors";
  std::vector<std::uint64_t> row = {std::uint64_t{1} << 40};  // neuron 40 of a 10-neuron layer
  writeSafetensors(file, {{"layer.0", DType::U8, {1, 8}, row.data(), 8}},
                   {{"layers", "1"}, {"neurons.0", "10"}});
  try {
    ActivationTrace::load(file);
    FAIL() << "accepted a bit past the last neuron";
  } catch (const NeuralinkError& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("past"), std::string::npos) << e.what();
  }
  writeSafetensors(file, {{"layer.0", DType::U8, {1, 8}, row.data(), 8}},
                   {{"layers", "1"}, {"neurons.0", "100"}});
  EXPECT_THROW(ActivationTrace::load(file), NeuralinkError);  // 100 neurons need 16 bytes a row
  writeSafetensors(file, {{"layer.0", DType::U8, {1, 8}, row.data(), 8}}, {{"layers", "2"},
                   {"neurons.0", "64"}, {"neurons.1", "64"}});
  EXPECT_THROW(ActivationTrace::load(file), NeuralinkError);  // layer.1 missing
  writeSafetensors(file, {{"layer.0", DType::U8, {1, 8}, row.data(), 8}}, {{"layers", "x"}});
  EXPECT_THROW(ActivationTrace::load(file), NeuralinkError);
  EXPECT_THROW(ActivationTrace::load(dir / "absent.safetensors"), NeuralinkError);
}

TEST(NeuralinkCoact, CountsMatchANaiveCountOnRandomMasks) {
  std::uniform_int_distribution<std::int64_t> size(1, 300), tokens(0, 700);
  std::uniform_real_distribution<double> density(0.01, 0.9);
  std::vector<std::pair<std::int64_t, std::int64_t>> shapes = {{1, 1}, {63, 65}, {64, 64}, {65, 63},
                                                               {129, 0}, {200, 513}};
  for (int i = 0; i < 4; ++i) shapes.emplace_back(size(test::rng()), tokens(test::rng()));
  for (auto [n, t] : shapes) {
    SCOPED_TRACE("neurons " + std::to_string(n) + ", tokens " + std::to_string(t));
    const auto layer = randomLayer(n, t, density(test::rng()));
    for (int threads : {1, 3}) {
      const auto c = countCoactivations(layer, threads);
      ASSERT_EQ(c.neurons, n);
      ASSERT_EQ(c.tokens, t);
      ASSERT_EQ(c.pair.size(), std::size_t(n * n));
      std::vector<std::uint32_t> naive(std::size_t(n * n), 0);
      for (std::int64_t k = 0; k < t; ++k) {
        const auto active = layer.activeNeurons(k);
        for (auto a : active)
          for (auto b : active) ++naive[std::size_t(a * n + b)];
      }
      ASSERT_EQ(c.pair, naive);
      for (std::int64_t a = 0; a < n; ++a) ASSERT_EQ(c.count[std::size_t(a)], naive[std::size_t(a * n + a)]);
      if (t > 0 && n > 1) {
        EXPECT_DOUBLE_EQ(c.p(0), double(c.count[0]) / double(t));
        EXPECT_DOUBLE_EQ(c.p(0, 1), double(c.pairCount(0, 1)) / double(t));
      }
    }
  }
}

TEST(NeuralinkCoact, StatsSaveLoadRoundTripAndErrors) {
  test::TempDir dir;
  ActivationTrace trace;
  trace.source = "random";
  trace.layers = {randomLayer(37, 101, 0.4), randomLayer(70, 101, 0.2)};
  CoactStats stats;
  runJob([&](JobContext& ctx) { stats = countCoactivations(trace, ctx); });
  ASSERT_EQ(stats.layers.size(), 2u);
  EXPECT_EQ(stats.source, "random");
  stats.save(dir / "coact.safetensors");
  auto back = CoactStats::load(dir / "coact.safetensors");
  ASSERT_EQ(back.layers.size(), 2u);
  for (std::size_t l = 0; l < 2; ++l) {
    EXPECT_EQ(back.layers[l].neurons, stats.layers[l].neurons);
    EXPECT_EQ(back.layers[l].tokens, 101);
    EXPECT_EQ(back.layers[l].count, stats.layers[l].count);
    EXPECT_EQ(back.layers[l].pair, stats.layers[l].pair);
  }
  // A count above the token count is rejected, naming the file.
  auto bad = stats;
  bad.layers[1].tokens = 1;
  bad.save(dir / "bad.safetensors");
  try {
    CoactStats::load(dir / "bad.safetensors");
    FAIL() << "accepted counts above the token count";
  } catch (const NeuralinkError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
  }
  bad = stats;
  bad.layers[0].pair.pop_back();
  EXPECT_THROW(bad.save(dir / "bad.safetensors"), NeuralinkError);
}

TEST(NeuralinkSynthetic, DeterministicSkewedAndNearTheMeanFraction) {
  const std::uint64_t seed = test::rng()();
  const auto a = syntheticTrace(3, 1001, 400, 0.1, seed);
  const auto b = syntheticTrace(3, 1001, 400, 0.1, seed);
  ASSERT_EQ(a.layers.size(), 3u);
  for (std::size_t l = 0; l < 3; ++l) {
    EXPECT_EQ(a.layers[l].bits, b.layers[l].bits);
    EXPECT_EQ(a.layers[l].tokens, 400);
    const auto c = countCoactivations(a.layers[l], 2);
    std::vector<std::uint32_t> f = c.count;
    const double mean = std::accumulate(f.begin(), f.end(), 0.0) / (400.0 * 1001.0);
    EXPECT_GT(mean, 0.06);
    EXPECT_LT(mean, 0.14);
    std::sort(f.rbegin(), f.rend());
    const double top = std::accumulate(f.begin(), f.begin() + 100, 0.0);
    EXPECT_GT(top / std::accumulate(f.begin(), f.end(), 0.0), 0.25);  // power law: top 10% > 25%
  }
  EXPECT_NE(a.layers[0].bits, a.layers[1].bits);
  EXPECT_THROW(syntheticTrace(1, 0, 10, 0.1, 1), NeuralinkError);
  EXPECT_THROW(syntheticTrace(1, 10, 10, 0.0, 1), NeuralinkError);
}

TEST(NeuralinkRecord, RecordsEveryLayerOfADemoModel) {
  test::TempDir dir;
  auto ws = Workspace::create(dir.path());
  ActivationTrace trace;
  runJob([&](JobContext& ctx) {
    DemoTrainOptions o;
    o.steps = 3;
    trainDemoModel(ws, "demo-opt", o, ctx);
    TraceRequest req;
    req.tokens = 100;
    req.sequence = 32;
    trace = recordTrace(ws, req, ctx);
  });
  ASSERT_FALSE(trace.layers.empty());
  for (const auto& l : trace.layers) {
    EXPECT_EQ(l.tokens, 96);  // whole sequences
    EXPECT_GT(l.neurons, 0);
    EXPECT_EQ(l.bits.size(), std::size_t(l.tokens * l.words()));
    std::int64_t active = 0;
    for (std::int64_t t = 0; t < l.tokens; ++t) active += std::int64_t(l.activeNeurons(t).size());
    EXPECT_GT(active, 0);                   // ReLU: some fire
    EXPECT_LT(active, l.tokens * l.neurons);  // and some do not
  }
}

}  // namespace

// The Neuralink I/O engine: read planning, access collapse, caches, real replays of a hand-made
// layout file, and the flash model.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <numeric>
#include <set>

#include <gtest/gtest.h>

#include "../../core/neuralink/caches.h"
#include "darkroom/jobs.h"
#include "darkroom/neuralink/io_engine.h"
#include "test_util.h"

namespace darkroom::neuralink {
namespace {

using test::rng;

// Runs `work` as a job (a JobContext exists only inside one) and rethrows what it threw.
template <typename F>
auto runJob(F work) {
  JobQueue queue(1);
  using R = decltype(work(std::declval<JobContext&>()));
  R result{};
  std::exception_ptr error;
  auto id = queue.submit("io-test", "io", [&](JobContext& ctx) -> std::any {
    try {
      result = work(ctx);
    } catch (...) {
      error = std::current_exception();
    }
    return {};
  });
  queue.wait(id);
  if (error) std::rethrow_exception(error);
  return result;
}

LayoutLayer makeLayer(std::int64_t neurons, std::int64_t bundle, std::uint64_t offset,
                      std::vector<std::int32_t> order = {}) {
  LayoutLayer l;
  l.neurons = neurons;
  l.bundle_bytes = bundle;
  l.data_offset = offset;
  if (order.empty()) {
    order.resize(std::size_t(neurons));
    std::iota(order.begin(), order.end(), 0);
  }
  l.order = order;
  l.slot.assign(std::size_t(neurons), 0);
  for (std::size_t s = 0; s < order.size(); ++s) l.slot[std::size_t(order[s])] = std::int32_t(s);
  return l;
}

std::uint64_t alignUp(std::uint64_t v) { return (v + 4095) / 4096 * 4096; }

// A layout of the given layers (placed back to back, 4 KiB aligned) and its file, written with
// pwrite: the I/O engine needs only sizes and offsets.
FlashLayout makeLayout(const std::filesystem::path& path,
                       const std::vector<std::pair<std::int64_t, std::int64_t>>& shapes,
                       bool shuffle) {
  FlashLayout f;
  f.path = path;
  f.model_type = "test";
  f.dtype = "f16";
  std::uint64_t offset = 4096;  // a header page
  for (const auto& [neurons, bundle] : shapes) {
    std::vector<std::int32_t> order(static_cast<std::size_t>(neurons));
    std::iota(order.begin(), order.end(), 0);
    if (shuffle) std::shuffle(order.begin(), order.end(), rng());
    f.layers.push_back(makeLayer(neurons, bundle, offset, order));
    offset = alignUp(offset + std::uint64_t(neurons * bundle));
  }
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  EXPECT_GE(fd, 0);
  std::vector<char> block(1 << 20, 'x');
  for (std::uint64_t at = 0; at < offset; at += block.size()) {
    const std::size_t n = std::size_t(std::min<std::uint64_t>(block.size(), offset - at));
    EXPECT_EQ(::pwrite(fd, block.data(), n, off_t(at)), ssize_t(n));
  }
  ::close(fd);
  return f;
}

LayerTrace makeTrace(std::int64_t neurons, const std::vector<std::vector<std::int32_t>>& tokens) {
  LayerTrace t;
  t.neurons = neurons;
  t.tokens = std::int64_t(tokens.size());
  t.bits.assign(std::size_t(t.tokens * t.words()), 0);
  for (std::size_t k = 0; k < tokens.size(); ++k)
    for (std::int32_t n : tokens[k])
      t.bits[k * std::size_t(t.words()) + std::size_t(n >> 6)] |= std::uint64_t(1) << (n & 63);
  return t;
}

std::vector<std::vector<std::int32_t>> randomTokens(std::int64_t neurons, int tokens, double p) {
  std::bernoulli_distribution on(p);
  std::vector<std::vector<std::int32_t>> out(static_cast<std::size_t>(tokens));
  for (auto& tok : out)
    for (std::int32_t n = 0; n < neurons; ++n)
      if (on(rng())) tok.push_back(n);
  return out;
}

std::int64_t activeCount(const LayerTrace& t, std::int64_t token) {
  std::int64_t n = 0;
  for (std::int64_t w = 0; w < t.words(); ++w) n += __builtin_popcountll(t.row(token)[w]);
  return n;
}

void expectWellFormed(const std::vector<PlannedRead>& reads) {
  for (std::size_t i = 0; i < reads.size(); ++i) {
    EXPECT_EQ(reads[i].offset % 4096, 0u);
    EXPECT_EQ(reads[i].bytes % 4096, 0);
    EXPECT_GT(reads[i].bytes, 0);
    if (i > 0) {
      EXPECT_GE(reads[i].offset, reads[i - 1].offset + std::uint64_t(reads[i - 1].bytes));
    }
  }
}

bool covered(const std::vector<PlannedRead>& reads, std::uint64_t begin, std::uint64_t end) {
  for (const auto& r : reads)
    if (r.offset <= begin && end <= r.offset + std::uint64_t(r.bytes)) return true;
  return false;
}

TEST(NeuralinkIo, PlanReadsMergesRunsAndAligns) {
  // 8 KiB bundles from offset 4096: slot s is [4096 + 8192 s, +8192).
  auto layer = makeLayer(16, 8192, 4096, {3, 1, 2, 0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
  // Neurons 3, 1 sit in slots 0, 1 (one run); 5 in slot 5; 6 in slot 6 (run with 5); 9 in slot 9.
  auto reads = planReads(layer, {9, 1, 3, 6, 5, 5}, 0);
  ASSERT_EQ(reads.size(), 3u);
  EXPECT_EQ(reads[0].offset, 4096u);
  EXPECT_EQ(reads[0].bytes, 2 * 8192);
  EXPECT_EQ(reads[1].offset, 4096u + 5 * 8192);
  EXPECT_EQ(reads[1].bytes, 2 * 8192);
  EXPECT_EQ(reads[2].offset, 4096u + 9 * 8192);
  EXPECT_EQ(reads[2].bytes, 8192);
  // The gap of 2 slots (16 KiB) between slots 6 and 9 is below a 20 KiB threshold: read as one;
  // the gap of 3 slots (24 KiB) between slots 1 and 5 is not.
  reads = planReads(layer, {9, 1, 3, 6, 5}, 20 * 1024);
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(reads[1].offset, 4096u + 5 * 8192);
  EXPECT_EQ(reads[1].bytes, 5 * 8192);
  // A gap equal to the threshold is not collapsed ("below").
  EXPECT_EQ(planReads(layer, {6, 9}, 2 * 8192).size(), 2u);
  EXPECT_EQ(planReads(layer, {6, 9}, 2 * 8192 + 1).size(), 1u);
  EXPECT_TRUE(planReads(layer, {}, 0).empty());
  EXPECT_THROW(planReads(layer, {16}, 0), NeuralinkError);
  EXPECT_THROW(planReads(layer, {-1}, 0), NeuralinkError);
}

TEST(NeuralinkIo, PlanReadsMergesReadsSharingAPage) {
  // 1000-byte bundles: slots 0 and 2 are not adjacent, but both lie in page [0, 4096).
  auto small = makeLayer(10, 1000, 0);
  auto reads = planReads(small, {0, 2}, 0);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].offset, 0u);
  EXPECT_EQ(reads[0].bytes, 4096);
  // Slots 0 and 5 ([5000, 6000)) do not share a page: two reads.
  EXPECT_EQ(planReads(small, {0, 5}, 0).size(), 2u);
  // 3000-byte bundles: slots 0 and 2 ([0, 4096) and [4096, 12288) aligned) do not overlap.
  auto layer = makeLayer(10, 3000, 0);
  EXPECT_EQ(planReads(layer, {0, 2}, 0).size(), 2u);
  // Per-neuron reads never merge: each is aligned on its own.
  auto per = planNeuronReads(layer, {2, 0, 1});
  ASSERT_EQ(per.size(), 3u);
  EXPECT_EQ(per[0].offset, 0u);
  EXPECT_EQ(per[0].bytes, 4096);   // [0, 3000)
  EXPECT_EQ(per[1].offset, 0u);
  EXPECT_EQ(per[1].bytes, 8192);   // [3000, 6000)
  EXPECT_EQ(per[2].offset, 4096u);
  EXPECT_EQ(per[2].bytes, 8192);   // [6000, 9000)
}

TEST(NeuralinkIo, CollapseNeverDropsAnActivatedNeuron) {
  for (int trial = 0; trial < 200; ++trial) {
    const std::int64_t neurons = 1 + std::int64_t(rng()() % 700);
    const std::int64_t bundle = 1 + std::int64_t(rng()() % 20000);
    std::vector<std::int32_t> order(static_cast<std::size_t>(neurons));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng());
    auto layer = makeLayer(neurons, bundle, 4096 * (rng()() % 5), order);
    const double p = double(rng()() % 100) / 100.0;
    std::vector<std::int32_t> active;
    std::bernoulli_distribution on(p);
    for (std::int32_t n = 0; n < neurons; ++n)
      if (on(rng())) active.push_back(n);
    std::shuffle(active.begin(), active.end(), rng());
    const std::int64_t gap = std::int64_t(rng()() % 200000);
    for (std::int64_t g : {std::int64_t(0), gap}) {
      auto reads = planReads(layer, active, g);
      expectWellFormed(reads);
      for (std::int32_t n : active) {
        const std::uint64_t b = layer.offsetOf(n);
        ASSERT_TRUE(covered(reads, b, b + std::uint64_t(bundle)))
            << "neuron " << n << " (gap " << g << ", bundle " << bundle << ")";
      }
      // Collapse only merges: never more reads, never fewer bytes than without it.
      if (g > 0) {
        auto plain = planReads(layer, active, 0);
        EXPECT_LE(reads.size(), plain.size());
        std::int64_t a = 0, c = 0;
        for (const auto& r : reads) a += r.bytes;
        for (const auto& r : plain) c += r.bytes;
        EXPECT_GE(a, c);
      }
    }
    auto per = planNeuronReads(layer, active);
    std::set<std::int32_t> distinct(active.begin(), active.end());
    EXPECT_EQ(per.size(), distinct.size());
  }
}

TEST(NeuralinkIo, LruHitAccountingOnAHandTrace) {
  LruCache cache(2 * 100);  // two 100-byte bundles
  auto k = [](int n) { return cacheKey(0, n); };
  EXPECT_FALSE(cache.lookup(k(1)));
  cache.insert(k(1), 100);
  EXPECT_FALSE(cache.lookup(k(2)));
  cache.insert(k(2), 100);
  EXPECT_TRUE(cache.lookup(k(1)));  // 1 is now the most recent
  EXPECT_FALSE(cache.lookup(k(3)));
  cache.insert(k(3), 100);          // evicts 2
  EXPECT_FALSE(cache.contains(k(2)));
  EXPECT_TRUE(cache.lookup(k(1)));
  EXPECT_TRUE(cache.lookup(k(3)));
  EXPECT_EQ(cache.usedBytes(), 200);
  cache.insert(k(4), 300);          // bigger than the cache: not admitted, nothing evicted
  EXPECT_FALSE(cache.contains(k(4)));
  EXPECT_EQ(cache.usedBytes(), 200);
  // Layers are part of the key.
  EXPECT_FALSE(cache.lookup(cacheKey(1, 1)));
}

TEST(NeuralinkIo, S3FifoFollowsItsRules) {
  // 1000 bytes: small FIFO 100 (one 100-byte entry), main 900 (nine).
  S3FifoCache cache(1000);
  auto k = [](int n) { return cacheKey(0, n); };
  cache.insert(k(1), 100);
  EXPECT_TRUE(cache.contains(k(1)));
  EXPECT_FALSE(cache.inMain(k(1)));
  cache.insert(k(2), 100);  // small over size: 1 was never hit -> dropped to the ghost
  EXPECT_FALSE(cache.contains(k(1)));
  EXPECT_TRUE(cache.inGhost(k(1)));
  EXPECT_TRUE(cache.lookup(k(2)));  // 2 hit once in the small FIFO
  cache.insert(k(3), 100);          // 2 moves to main, 3 in small
  EXPECT_TRUE(cache.inMain(k(2)));
  EXPECT_TRUE(cache.contains(k(3)));
  cache.insert(k(1), 100);          // ghost hit: straight to main
  EXPECT_TRUE(cache.inMain(k(1)));
  EXPECT_FALSE(cache.inGhost(k(1)));
  EXPECT_FALSE(cache.inMain(k(3)));
  // Fill main with 7 more entries through the ghost (insert, push out of small, reinsert).
  for (int n = 10; n < 17; ++n) {
    cache.insert(k(n), 100);
    cache.insert(k(100 + n), 100);  // pushes n to the ghost
    cache.insert(k(n), 100);        // ghost hit -> main
  }
  // main: 2, 1, 10..16 = 9 entries, full. Hit 2 so it survives one eviction round.
  EXPECT_TRUE(cache.lookup(k(2)));
  cache.insert(k(50), 100);
  cache.insert(k(51), 100);  // 50 -> ghost
  cache.insert(k(50), 100);  // ghost hit -> main over size: 2 (hit) reinserted, 1 evicted
  EXPECT_TRUE(cache.inMain(k(2)));
  EXPECT_FALSE(cache.contains(k(1)));
  EXPECT_TRUE(cache.inMain(k(50)));
  EXPECT_LE(cache.usedBytes(), 1000);
}

class NeuralinkIoFile : public ::testing::Test {
 protected:
  test::TempDir dir;
  // O_DIRECT where the temp dir's file system supports it, else buffered (byte accounting is
  // the same).
  bool direct = true;
  IoSummary replayOrBuffered(const FlashLayout& layout, const ActivationTrace& trace,
                             IoOptions o) {
    o.direct = direct;
    try {
      return runJob([&](JobContext& ctx) { return replay(layout, trace, o, ctx); });
    } catch (const NeuralinkError& e) {
      if (!direct || std::string(e.what()).find("O_DIRECT is not supported") == std::string::npos)
        throw;
      std::printf("[ note ] %s; using buffered reads\n", e.what());
      direct = false;
      o.direct = false;
      return runJob([&](JobContext& ctx) { return replay(layout, trace, o, ctx); });
    }
  }
};

TEST_F(NeuralinkIoFile, BytesReadMatchThePlannedReadsExactly) {
  auto layout = makeLayout(dir / "layout.bin", {{300, 3000}, {200, 8192}, {77, 12345}}, true);
  ActivationTrace trace;
  std::vector<std::vector<std::vector<std::int32_t>>> tokens;
  for (const auto& l : layout.layers) {
    tokens.push_back(randomTokens(l.neurons, 12, 0.15));
    trace.layers.push_back(makeTrace(l.neurons, tokens.back()));
  }
  for (int mode = 0; mode < 3; ++mode) {
    IoOptions o;
    o.queue_depth = mode == 0 ? 1 : 8;
    o.collapse = mode == 1;
    o.adaptive_collapse = false;
    o.collapse_gap_bytes = 20000;
    o.merge_adjacent = mode != 2;
    o.predict = true;
    o.flash_model = FlashModel::profile("ufs4.0");
    auto s = replayOrBuffered(layout, trace, o);
    ASSERT_EQ(s.tokens.size(), 12u);
    std::int64_t all_reads = 0, all_bytes = 0;
    for (std::size_t t = 0; t < 12; ++t) {
      std::int64_t reads = 0, bytes = 0, useful = 0;
      double predicted = 0;
      for (std::size_t l = 0; l < layout.layers.size(); ++l) {
        const auto& tok = tokens[l][t];
        auto plan = mode == 2 ? planNeuronReads(layout.layers[l], tok)
                              : planReads(layout.layers[l], tok, mode == 1 ? 20000 : 0);
        reads += std::int64_t(plan.size());
        for (const auto& r : plan) bytes += r.bytes;
        useful += std::int64_t(tok.size()) * layout.layers[l].bundle_bytes;
        predicted += o.flash_model.tokenMs(plan);
      }
      EXPECT_EQ(s.tokens[t].reads, reads) << "mode " << mode << " token " << t;
      EXPECT_EQ(s.tokens[t].bytes_read, bytes) << "mode " << mode << " token " << t;
      EXPECT_EQ(s.tokens[t].bytes_useful, useful);
      EXPECT_NEAR(s.tokens[t].predicted_ms, predicted, 1e-9);
      EXPECT_GT(s.tokens[t].latency_ms, 0);
      all_reads += reads;
      all_bytes += bytes;
    }
    EXPECT_EQ(s.reads, all_reads);
    EXPECT_EQ(s.bytes_read, all_bytes);
    EXPECT_NEAR(s.mean_read_bytes, double(all_bytes) / double(all_reads), 1e-6);
    EXPECT_GT(s.iops, 0);
    EXPECT_LE(s.p50_ms, s.p90_ms);
    EXPECT_LE(s.p90_ms, s.p99_ms);
    std::int64_t histogram = 0;
    for (auto h : s.read_length_histogram) histogram += h;
    EXPECT_EQ(histogram, all_reads);
    EXPECT_FALSE(s.describe().empty());
  }
}

TEST_F(NeuralinkIoFile, AdaptiveCollapseStillReadsEveryActivatedNeuron) {
  auto layout = makeLayout(dir / "layout.bin", {{2000, 4096}}, true);
  ActivationTrace trace;
  trace.layers.push_back(makeTrace(2000, randomTokens(2000, 10, 0.1)));
  IoOptions o;
  o.collapse = true;
  o.queue_depth = 4;
  auto s = replayOrBuffered(layout, trace, o);
  EXPECT_GE(s.peak_mb_s, 0);
  EXPECT_GE(s.final_gap_bytes, 4096);
  EXPECT_LE(s.final_gap_bytes, 1 << 20);
  for (std::size_t t = 0; t < s.tokens.size(); ++t) {
    // Every activated bundle was read, whatever the threshold: at least the useful bytes.
    EXPECT_GE(s.tokens[t].bytes_read, s.tokens[t].bytes_useful);
    EXPECT_EQ(s.tokens[t].bytes_useful, activeCount(trace.layers[0], std::int64_t(t)) * 4096);
  }
}

TEST_F(NeuralinkIoFile, CacheHitAccountingIsExact) {
  // One layer of 8 neurons, 4 KiB bundles, identity order; LRU of two bundles.
  auto layout = makeLayout(dir / "layout.bin", {{8, 4096}}, false);
  ActivationTrace trace;
  trace.layers.push_back(makeTrace(8, {{1, 5}, {1, 6}, {5, 1}, {2}, {2, 5}}));
  IoOptions o;
  o.cache = CachePolicy::Lru;
  o.cache_bytes = 2 * 4096;
  o.queue_depth = 2;
  auto s = replayOrBuffered(layout, trace, o);
  // Lookups go in neuron order, admissions after the token's reads. Most recent first:
  // t0: miss 1, 5 -> {5, 1}. t1: hit 1, miss 6 -> {6, 1}. t2: hit 1, miss 5 -> {5, 1}.
  // t3: miss 2 -> {2, 5}. t4: hit 2, hit 5.
  std::vector<std::int64_t> hits = {0, 1, 1, 0, 2}, reads = {2, 1, 1, 1, 0};
  for (std::size_t t = 0; t < 5; ++t) {
    EXPECT_EQ(s.tokens[t].cache_hits, hits[t]) << "token " << t;
    EXPECT_EQ(s.tokens[t].reads, reads[t]) << "token " << t;
    EXPECT_EQ(s.tokens[t].bytes_read, reads[t] * 4096) << "token " << t;
  }
  EXPECT_EQ(s.cache_hits, 4);
  EXPECT_EQ(s.cache_capacity_bytes, 8192);

  // S3-FIFO, 10 bundles (small FIFO: one bundle): t0 {1,5}: 5 evicts 1 from small to the ghost.
  o.cache = CachePolicy::S3Fifo;
  o.cache_bytes = 10 * 4096;
  s = replayOrBuffered(layout, trace, o);
  // t1: 1 (ghost -> main), 6 (small, 5 -> ghost). t2: 1 hit, 5 miss (ghost -> main).
  // t3: 2 miss (small, 6 -> ghost). t4: 2 hit (small), 5 hit (main).
  hits = {0, 0, 1, 0, 2};
  for (std::size_t t = 0; t < 5; ++t) EXPECT_EQ(s.tokens[t].cache_hits, hits[t]) << "token " << t;
  // The cache as a fraction of the FFN: 50% of 8 × 4 KiB.
  o.cache_bytes = 0;
  o.cache_fraction = 0.5;
  s = replayOrBuffered(layout, trace, o);
  EXPECT_EQ(s.cache_capacity_bytes, 4 * 4096);
}

TEST_F(NeuralinkIoFile, LinkedAdmissionKeepsRunsOutOfTheCache) {
  auto layout = makeLayout(dir / "layout.bin", {{16, 4096}}, false);
  ActivationTrace trace;
  // Token 0: run 3,4,5 (4 is inside it) and sporadic 9. Token 1 repeats them.
  trace.layers.push_back(makeTrace(16, {{3, 4, 5, 9}, {3, 4, 5, 9}}));
  IoOptions o;
  o.cache = CachePolicy::S3FifoLinked;
  o.linked_admission = 0;  // never admit neurons inside runs
  o.cache_bytes = 100 * 4096;
  auto s = replayOrBuffered(layout, trace, o);
  EXPECT_EQ(s.tokens[1].cache_hits, 3);  // 3, 5 (run ends) and 9; not 4
  EXPECT_EQ(s.tokens[1].reads, 1);
  o.linked_admission = 1;
  s = replayOrBuffered(layout, trace, o);
  EXPECT_EQ(s.tokens[1].cache_hits, 4);
  EXPECT_EQ(s.tokens[1].reads, 0);
}

TEST_F(NeuralinkIoFile, BadInputsGetClearErrors) {
  auto layout = makeLayout(dir / "layout.bin", {{64, 4096}}, false);
  ActivationTrace trace;
  trace.layers.push_back(makeTrace(63, {{1}}));
  IoOptions o;
  o.direct = false;
  auto run = [&] { return runJob([&](JobContext& ctx) { return replay(layout, trace, o, ctx); }); };
  EXPECT_THROW(run(), NeuralinkError);  // neuron counts differ
  trace.layers[0] = makeTrace(64, {{1}});
  layout.layers[0].neurons = 64;
  layout.layers[0].data_offset = 1 << 30;  // past the end of the file
  try {
    run();
    ADD_FAILURE() << "a truncated layout file was replayed";
  } catch (const NeuralinkError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  layout.layers[0].data_offset = 4096;
  layout.path = dir / "missing.bin";
  EXPECT_THROW(run(), NeuralinkError);
  // io_uring: works, or says the build lacks liburing.
  layout.path = dir / "layout.bin";
  o.io_uring = true;
  try {
    run();
  } catch (const NeuralinkError& e) {
    EXPECT_NE(std::string(e.what()).find("liburing"), std::string::npos) << e.what();
  }
}

TEST_F(NeuralinkIoFile, IoUringReadsTheSameBytesWhenBuilt) {
  auto layout = makeLayout(dir / "layout.bin", {{500, 6000}}, true);
  ActivationTrace trace;
  trace.layers.push_back(makeTrace(500, randomTokens(500, 6, 0.2)));
  IoOptions o;
  o.queue_depth = 16;
  auto threads = replayOrBuffered(layout, trace, o);
  o.io_uring = true;
  IoSummary uring;
  try {
    uring = replayOrBuffered(layout, trace, o);
  } catch (const NeuralinkError& e) {
    ASSERT_NE(std::string(e.what()).find("liburing"), std::string::npos) << e.what();
    GTEST_SKIP() << e.what();
  }
  EXPECT_NE(uring.engine.find("io_uring"), std::string::npos);
  EXPECT_EQ(uring.bytes_read, threads.bytes_read);
  EXPECT_EQ(uring.reads, threads.reads);
}

TEST(NeuralinkIo, FlashModelProfiles) {
  auto ufs4 = FlashModel::profile("ufs4.0");
  EXPECT_NEAR(ufs4.throughputMbS(4096), 1000, 1);         // ~1 GB/s at 4 KiB random, depth 32
  EXPECT_NEAR(ufs4.throughputMbS(1 << 20), 4200, 1);      // sequential
  auto ufs3 = FlashModel::profile("ufs3.1");
  EXPECT_NEAR(ufs3.throughputMbS(4096) * 1e6 / 4096, 100000, 100);  // ~100K IOPS
  EXPECT_NEAR(ufs3.throughputMbS(1 << 20), 2100, 1);
  EXPECT_THROW(FlashModel::profile("emmc"), NeuralinkError);
  // One read: its own latency. Many: bounded below by bandwidth and by the queue's makespan.
  EXPECT_NEAR(ufs4.tokenMs({{0, 4096}}), ufs4.readMs(4096), 1e-12);
  std::vector<PlannedRead> many(64, PlannedRead{0, 4096});
  EXPECT_NEAR(ufs4.tokenMs(many), 2 * ufs4.readMs(4096), 1e-9);  // two rounds of 32
  std::vector<PlannedRead> big(4, PlannedRead{0, 8 << 20});
  EXPECT_NEAR(ufs4.tokenMs(big), 4.0 * (8 << 20) / 4200 / 1e3, 1e-6);
  EXPECT_DOUBLE_EQ(ufs4.tokenMs({}), 0);
  EXPECT_STREQ(toString(parseCachePolicy("linked")), "linked");
  for (auto p : {CachePolicy::None, CachePolicy::Lru, CachePolicy::S3Fifo, CachePolicy::S3FifoLinked})
    EXPECT_EQ(parseCachePolicy(toString(p)), p);
  EXPECT_THROW(parseCachePolicy("arc"), NeuralinkError);
}

TEST_F(NeuralinkIoFile, FlashModelMeasureFitsASweep) {
  auto layout = makeLayout(dir / "layout.bin", {{1024, 8192}}, false);  // 8 MiB
  FlashModel m;
  try {
    m = runJob([&](JobContext& ctx) { return FlashModel::measure(layout.path, ctx, 4, direct); });
  } catch (const NeuralinkError& e) {
    if (std::string(e.what()).find("O_DIRECT") == std::string::npos) throw;
    m = runJob([&](JobContext& ctx) { return FlashModel::measure(layout.path, ctx, 4, false); });
  }
  ASSERT_EQ(m.sweep.size(), 9u);  // 4 KiB .. 1 MiB
  EXPECT_EQ(m.sweep.front().bytes, 4096);
  EXPECT_EQ(m.sweep.back().bytes, 1 << 20);
  EXPECT_GT(m.bandwidth_mb_s, 0);
  EXPECT_GE(m.overhead_us, 0);
  EXPECT_EQ(m.queue_depth, 4);
  for (const auto& p : m.sweep) EXPECT_LE(p.mb_s, m.bandwidth_mb_s);
}

}  // namespace
}  // namespace darkroom::neuralink

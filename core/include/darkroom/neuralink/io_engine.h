// Replays per-token activated-neuron sets against a flash layout file with real reads (O_DIRECT
// pread on a pool of threads for queue depth, or io_uring when built with liburing), through an
// online policy: access collapse and a cache (S3-FIFO with Neuralink's linking-aligned admission,
// or LRU). Also the flash model that predicts the same replay on a phone's UFS.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/store.h"
#include "darkroom/neuralink/flash_layout.h"
#include "darkroom/neuralink/trace.h"

namespace darkroom::neuralink {

enum class CachePolicy { None, Lru, S3Fifo, S3FifoLinked };
const char* toString(CachePolicy policy);
CachePolicy parseCachePolicy(const std::string& text);  // "none", "lru", "s3fifo", "linked"

// A planned read: [offset, offset + bytes), covering the listed neurons' bundles.
struct PlannedRead {
  std::uint64_t offset = 0;
  std::int64_t bytes = 0;
};
// The reads one token needs for one layer under collapse with gap threshold `gap_bytes`
// (0: one read per run of adjacent slots), 4 KiB aligned. Pure: what the engine issues.
// Runs whose gap (end of one bundle run to the start of the next) is below `gap_bytes` are read
// as one; after aligning to 4 KiB, reads that would share a page are merged too (reading a page
// twice is never cheaper). Neurons may come in any order; duplicates are read once.
std::vector<PlannedRead> planReads(const LayoutLayer& layer,
                                   const std::vector<std::int32_t>& neurons,
                                   std::int64_t gap_bytes);
// Per-neuron reads (llama.cpp-style baseline): one aligned read per activated neuron, in slot
// order, never merged, even when neighbours share a page.
std::vector<PlannedRead> planNeuronReads(const LayoutLayer& layer,
                                         const std::vector<std::int32_t>& neurons);

// latency(bytes) = overhead + bytes / bandwidth per command, with `queue_depth` commands in
// flight; fitted from a read-size sweep, or a named profile ("ufs3.1", "ufs4.0").
//
// The model: one command of b bytes takes overhead_us + b / bandwidth; up to queue_depth commands
// are in flight (list-scheduled in issue order), and all of them share the transfer bandwidth, so
// a batch takes max(makespan of the commands on queue_depth slots, total bytes / bandwidth).
// Profiles from PAPERS.md §2: UFS 4.0 4.2 GB/s sequential and ~1 GB/s at 4 KiB random with 32
// commands in flight (so overhead ≈ 32 × 4 KiB / 1 GB/s ≈ 130 µs); UFS 3.1 2.1 GB/s sequential
// and ~100K 4 KiB IOPS at depth 32 (overhead ≈ 318 µs).
struct FlashSweepPoint {
  std::int64_t bytes = 0;
  double mb_s = 0;          // throughput with queue_depth reads in flight
  double mean_read_us = 0;  // mean service time of one read
};
struct FlashModel {
  std::string name;
  double overhead_us = 0;
  double bandwidth_mb_s = 0;
  int queue_depth = 32;
  std::vector<FlashSweepPoint> sweep;  // measured models only
  static FlashModel profile(const std::string& name);  // throws NeuralinkError for unknown names
  // Measures reads of 4 KiB .. 1 MiB on `file` (O_DIRECT) and fits the model.
  // Random 4 KiB-aligned offsets over the whole file, queue_depth threads, direct = O_DIRECT.
  static FlashModel measure(const std::filesystem::path& file, JobContext& ctx,
                            int queue_depth = 32, bool direct = true);
  double readMs(std::int64_t bytes) const;
  // Predicted latency of one token's reads issued `queue_depth` at a time.
  double tokenMs(const std::vector<PlannedRead>& reads) const;
  // Throughput with queue_depth reads of `bytes` in flight, MB/s (1 MB = 1e6 bytes).
  double throughputMbS(std::int64_t bytes) const;
  std::string describe() const;
};

struct TokenIo;

struct IoOptions {
  bool collapse = false;          // access collapse (merge runs across small gaps)
  std::int64_t collapse_gap_bytes = 24 * 1024;  // initial gap threshold; adapts at run time
  bool adaptive_collapse = true;  // adapt the threshold from measured bandwidth, and turn
                                  // collapse off when bandwidth is saturated
  CachePolicy cache = CachePolicy::None;
  double cache_fraction = 0.1;    // of the FFN bytes (ignored when cache_bytes > 0)
  std::int64_t cache_bytes = 0;
  int queue_depth = 32;           // reads in flight
  bool direct = true;             // O_DIRECT (falls back to buffered only when asked: false)
  bool io_uring = false;          // only when built with liburing
  std::int64_t max_tokens = 0;    // 0: the whole trace
  bool merge_adjacent = true;     // false: one read per activated neuron (per-neuron baseline;
                                  // collapse is then ignored)
  double linked_admission = 0.25; // S3FifoLinked: admission probability of a neuron whose two
                                  // layout neighbours are activated by the same token (not
                                  // published by the paper; 0.25 is our choice)
  std::uint64_t seed = 1;         // the admission coin
  bool predict = false;           // also predict each token with `flash_model`
  FlashModel flash_model;
  // Called on replay's thread after each token's reads, with the token's index and its final
  // numbers (the same values IoSummary.tokens will hold), so a caller can stream them live.
  // Whatever it throws ends the replay.
  std::function<void(std::int64_t token, const TokenIo& io)> on_token;
};

struct TokenIo {
  std::int64_t reads = 0;
  std::int64_t bytes_read = 0;
  std::int64_t bytes_useful = 0;  // bundles of activated neurons
  std::int64_t cache_hits = 0;    // neurons served from the cache
  double latency_ms = 0;          // measured: the sum of the layers' read batches
  double predicted_ms = 0;        // the flash model's prediction of the same reads (predict)
  bool collapse_on = false;       // collapse was applied to this token
};

struct IoSummary {
  std::vector<TokenIo> tokens;
  double iops = 0;
  double effective_bandwidth_mb_s = 0;  // useful bytes / I/O time
  double mean_read_bytes = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;
  std::vector<std::int64_t> read_length_histogram;  // reads per power-of-two size bucket from 4K
  // Totals and what the engine did.
  std::int64_t reads = 0, bytes_read = 0, bytes_useful = 0, cache_hits = 0, activated = 0;
  double io_seconds = 0;            // summed token latencies
  double mean_ms = 0;
  std::int64_t cache_capacity_bytes = 0;
  double final_gap_bytes = 0;       // the adaptive collapse threshold at the end
  std::int64_t collapse_off_tokens = 0;  // tokens the bottleneck detector turned collapse off
  double peak_mb_s = 0;             // the bottleneck detector's reference (startup sweep)
  std::string engine;               // "threads" or "io_uring", "O_DIRECT" or "buffered"
  std::string warning;              // e.g. a sparse layout file (holes are not read from disk)
  // Predictions (options.predict).
  double predicted_mean_ms = 0, predicted_p50_ms = 0, predicted_p99_ms = 0;
  std::string describe() const;
};

IoSummary replay(const FlashLayout& layout, const ActivationTrace& trace, const IoOptions& options,
                 JobContext& ctx);

// The file system holding `path` (or its parent when `path` does not exist) as a name: "ext4",
// "f2fs", "tmpfs", ..., or "unknown (magic 0x...)". For messages about O_DIRECT.
std::string fileSystemName(const std::filesystem::path& path);

// Stores a replay as an "iobench" run in experiment "neuralink-io": `params`, per-token metrics
// (step = token: io.reads, io.bytes_read, io.bytes_useful, io.cache_hits, io.latency_ms,
// io.predicted_ms) and the summary at step 0 (io.iops, io.effective_mb_s, io.mean_read_bytes,
// io.p50_ms, io.p90_ms, io.p99_ms, io.mean_ms, io.reads_per_token, io.mb_per_token and, with a
// prediction, io.predicted_mean_ms). Returns the run id; the run is finished.
std::int64_t storeIoRun(Store& store, const std::string& name, const Params& params,
                        const IoSummary& summary);

}  // namespace darkroom::neuralink

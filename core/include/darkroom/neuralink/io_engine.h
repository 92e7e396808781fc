// Replays per-token activated-neuron sets against a flash layout file with real reads (O_DIRECT
// pread on a pool of threads for queue depth, or io_uring when built with liburing), through an
// online policy: access collapse and a cache (S3-FIFO with Neuralink's linking-aligned admission,
// or LRU). Also the flash model that predicts the same replay on a phone's UFS.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/neuralink/flash_layout.h"
#include "darkroom/neuralink/trace.h"

namespace darkroom::neuralink {

enum class CachePolicy { None, Lru, S3Fifo, S3FifoLinked };
const char* toString(CachePolicy policy);
CachePolicy parseCachePolicy(const std::string& text);  // "none", "lru", "s3fifo", "linked"

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
};

struct TokenIo {
  std::int64_t reads = 0;
  std::int64_t bytes_read = 0;
  std::int64_t bytes_useful = 0;  // bundles of activated neurons
  std::int64_t cache_hits = 0;    // neurons served from the cache
  double latency_ms = 0;
};

struct IoSummary {
  std::vector<TokenIo> tokens;
  double iops = 0;
  double effective_bandwidth_mb_s = 0;  // useful bytes / I/O time
  double mean_read_bytes = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;
  std::vector<std::int64_t> read_length_histogram;  // reads per power-of-two size bucket from 4K
  std::string describe() const;
};

// A planned read: [offset, offset + bytes), covering the listed neurons' bundles.
struct PlannedRead {
  std::uint64_t offset = 0;
  std::int64_t bytes = 0;
};
// The reads one token needs for one layer under collapse with gap threshold `gap_bytes`
// (0: one read per run of adjacent slots), 4 KiB aligned. Pure: what the engine issues.
std::vector<PlannedRead> planReads(const LayoutLayer& layer,
                                   const std::vector<std::int32_t>& neurons,
                                   std::int64_t gap_bytes);

IoSummary replay(const FlashLayout& layout, const ActivationTrace& trace, const IoOptions& options,
                 JobContext& ctx);

// latency(bytes) = overhead + bytes / bandwidth per command, with `queue_depth` commands in
// flight; fitted from a read-size sweep, or a named profile ("ufs3.1", "ufs4.0").
struct FlashModel {
  std::string name;
  double overhead_us = 0;
  double bandwidth_mb_s = 0;
  int queue_depth = 32;
  static FlashModel profile(const std::string& name);
  // Measures reads of 4 KiB .. 1 MiB on `file` (O_DIRECT) and fits the model.
  static FlashModel measure(const std::filesystem::path& file, JobContext& ctx);
  double readMs(std::int64_t bytes) const;
  // Predicted latency of one token's reads issued `queue_depth` at a time.
  double tokenMs(const std::vector<PlannedRead>& reads) const;
};

}  // namespace darkroom::neuralink

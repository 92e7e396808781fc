// Per-read latencies in a log-linear histogram: 64 buckets per power of two (values below 64 ns
// exact), so a percentile is within 1/64 (1.6%) of the true value whatever the range, in a fixed
// few KiB per thread instead of one number per read. Mean, min and max are exact.
#pragma once

#include <cstdint>
#include <vector>

namespace darkroom::agent {

class LatencyHistogram {
 public:
  LatencyHistogram();
  void record(std::uint64_t ns);
  void merge(const LatencyHistogram& other);
  std::uint64_t count() const { return count_; }
  double meanNs() const { return count_ ? double(sum_ns_) / double(count_) : 0; }
  std::uint64_t minNs() const { return count_ ? min_ns_ : 0; }
  std::uint64_t maxNs() const { return max_ns_; }
  // The value at quantile p (0 < p <= 1): the middle of the bucket that holds the
  // ceil(p · count)-th smallest value, clamped to [min, max]. 0 when empty.
  double percentileNs(double p) const;

  // The bucket of a value and the range [low, high) a bucket covers (exposed for tests).
  static std::size_t bucketOf(std::uint64_t ns);
  static std::uint64_t bucketLow(std::size_t bucket);
  static std::uint64_t bucketHigh(std::size_t bucket);

 private:
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0, sum_ns_ = 0, min_ns_ = UINT64_MAX, max_ns_ = 0;
};

}  // namespace darkroom::agent

#include "latency_histogram.h"

#include <algorithm>
#include <cmath>

namespace darkroom::agent {
namespace {
constexpr int kSubBits = 6;                      // 64 buckets per octave
constexpr std::uint64_t kSub = 1u << kSubBits;
constexpr std::size_t kBuckets = (64 - kSubBits + 1) * kSub;  // covers all of uint64
}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

std::size_t LatencyHistogram::bucketOf(std::uint64_t ns) {
  if (ns < kSub) return std::size_t(ns);
  const int top = 63 - __builtin_clzll(ns);  // >= kSubBits
  const int shift = top - kSubBits;
  return std::size_t(shift + 1) * kSub + std::size_t((ns >> shift) - kSub);
}

std::uint64_t LatencyHistogram::bucketLow(std::size_t bucket) {
  if (bucket < kSub) return bucket;
  const int shift = int(bucket / kSub) - 1;
  return (kSub + bucket % kSub) << shift;
}

std::uint64_t LatencyHistogram::bucketHigh(std::size_t bucket) {
  if (bucket < kSub) return bucket + 1;
  const int shift = int(bucket / kSub) - 1;
  const std::uint64_t low = bucketLow(bucket);
  const std::uint64_t width = std::uint64_t(1) << shift;
  return low > UINT64_MAX - width ? UINT64_MAX : low + width;
}

void LatencyHistogram::record(std::uint64_t ns) {
  ++buckets_[bucketOf(ns)];
  ++count_;
  sum_ns_ += ns;
  min_ns_ = std::min(min_ns_, ns);
  max_ns_ = std::max(max_ns_, ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ns_ += other.sum_ns_;
  min_ns_ = std::min(min_ns_, other.min_ns_);
  max_ns_ = std::max(max_ns_, other.max_ns_);
}

double LatencyHistogram::percentileNs(double p) const {
  if (count_ == 0) return 0;
  const auto rank = std::uint64_t(
      std::clamp(std::ceil(p * double(count_)), 1.0, double(count_)));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b];
    if (seen >= rank) {
      const double mid = b < kSub ? double(b)
                                  : 0.5 * (double(bucketLow(b)) + double(bucketHigh(b)));
      return std::clamp(mid, double(min_ns_), double(max_ns_));
    }
  }
  return double(max_ns_);
}

}  // namespace darkroom::agent

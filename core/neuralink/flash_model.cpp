// The flash model (see io_engine.h): per-command overhead + bytes / bandwidth, queue_depth
// commands in flight sharing the bandwidth; named UFS profiles and a fit from a real read sweep.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <queue>
#include <random>

#include "io_reader.h"

namespace darkroom::neuralink {

FlashModel FlashModel::profile(const std::string& name) {
  FlashModel m;
  m.name = name;
  m.queue_depth = 32;
  if (name == "ufs4.0" || name == "ufs4") {
    // 4.2 GB/s sequential; 4 KiB random ~1 GB/s with 32 in flight:
    // 32 × 4096 B / 1000 MB/s = 131 µs per command, minus 4096 / 4200 µs of transfer.
    m.name = "ufs4.0";
    m.bandwidth_mb_s = 4200;
    m.overhead_us = 32.0 * 4096 / 1000.0 - 4096 / 4200.0;
  } else if (name == "ufs3.1" || name == "ufs3") {
    // 2.1 GB/s sequential; ~100K 4 KiB IOPS with 32 in flight: 320 µs per command.
    m.name = "ufs3.1";
    m.bandwidth_mb_s = 2100;
    m.overhead_us = 32.0 / 100000.0 * 1e6 - 4096 / 2100.0;
  } else {
    throw NeuralinkError("unknown flash profile '" + name + "' (ufs4.0, ufs3.1, or measure)");
  }
  return m;
}

double FlashModel::readMs(std::int64_t bytes) const {
  return (overhead_us + double(bytes) / std::max(bandwidth_mb_s, 1e-9)) / 1e3;
}

double FlashModel::throughputMbS(std::int64_t bytes) const {
  const double per_command_us = overhead_us + double(bytes) / std::max(bandwidth_mb_s, 1e-9);
  return std::min(bandwidth_mb_s, double(std::max(queue_depth, 1)) * double(bytes) / per_command_us);
}

double FlashModel::tokenMs(const std::vector<PlannedRead>& reads) const {
  if (reads.empty()) return 0;
  // List-schedule the commands on queue_depth slots in issue order.
  std::priority_queue<double, std::vector<double>, std::greater<double>> slots;
  for (int i = 0; i < std::max(queue_depth, 1); ++i) slots.push(0.0);
  double makespan = 0, bytes = 0;
  for (const auto& r : reads) {
    const double start = slots.top();
    slots.pop();
    const double end = start + readMs(r.bytes);
    slots.push(end);
    makespan = std::max(makespan, end);
    bytes += double(r.bytes);
  }
  const double transfer_ms = bytes / std::max(bandwidth_mb_s, 1e-9) / 1e3;
  return std::max(makespan, transfer_ms);
}

FlashModel FlashModel::measure(const std::filesystem::path& file, JobContext& ctx,
                               int queue_depth, bool direct) {
  auto reader = BlockReader::open(file, queue_depth, direct, false);
  const std::uint64_t size = reader->fileSize() / 4096 * 4096;
  if (size < 4096)
    throw NeuralinkError("cannot measure flash reads on " + file.string() + ": it has " +
                         std::to_string(reader->fileSize()) + " bytes (need at least 4 KiB)");
  FlashModel m;
  m.name = "measured " + file.parent_path().string() + " (" + fileSystemName(file) + ", " +
           reader->engine() + ")";
  m.queue_depth = queue_depth;
  std::mt19937_64 rng(12345);
  std::vector<std::int64_t> sizes;
  for (std::int64_t b = 4096; b <= 1 << 20 && std::uint64_t(b) <= size; b *= 2) sizes.push_back(b);
  std::vector<double> us;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const std::int64_t b = sizes[k];
    ctx.progress(double(k) / double(sizes.size()), "flash sweep: " + std::to_string(b / 1024) + " KiB reads");
    // 16 MiB per size, at least 4 × queue depth reads and at most 2048.
    const std::int64_t n = std::clamp<std::int64_t>((16 << 20) / b, 4 * queue_depth, 2048);
    const std::uint64_t pages = (size - std::uint64_t(b)) / 4096 + 1;
    std::vector<PlannedRead> reads(static_cast<std::size_t>(n));
    for (auto& r : reads) r = {(rng() % pages) * 4096, b};
    const double seconds = reader->run(reads, &us);
    FlashSweepPoint p;
    p.bytes = b;
    p.mb_s = seconds > 0 ? double(n * b) / seconds / 1e6 : 0;
    double total = 0;
    for (double u : us) total += u;
    p.mean_read_us = total / double(n);
    m.sweep.push_back(p);
  }
  ctx.progress(1.0, "flash sweep done");
  // Fit: bandwidth = the best throughput; overhead from the sizes below 80% of it, where
  // throughput = queue_depth × b / (overhead + b / bandwidth), so
  // overhead = queue_depth × b / throughput − b / bandwidth; the median over those sizes.
  for (const auto& p : m.sweep) m.bandwidth_mb_s = std::max(m.bandwidth_mb_s, p.mb_s);
  std::vector<double> overheads;
  for (const auto& p : m.sweep)
    if (p.mb_s > 0 && p.mb_s < 0.8 * m.bandwidth_mb_s)
      overheads.push_back(double(queue_depth) * double(p.bytes) / p.mb_s -
                          double(p.bytes) / m.bandwidth_mb_s);
  if (overheads.empty() && !m.sweep.empty() && m.sweep.front().mb_s > 0)
    overheads.push_back(double(queue_depth) * double(m.sweep.front().bytes) / m.sweep.front().mb_s -
                        double(m.sweep.front().bytes) / m.bandwidth_mb_s);
  if (!overheads.empty()) {
    std::sort(overheads.begin(), overheads.end());
    m.overhead_us = std::max(0.0, overheads[overheads.size() / 2]);
  }
  return m;
}

std::string FlashModel::describe() const {
  char line[256];
  std::snprintf(line, sizeof line,
                "%s: %.1f µs per command + bytes / %.0f MB/s, %d in flight (4 KiB: %.0f MB/s, "
                "64 KiB: %.0f MB/s)",
                name.c_str(), overhead_us, bandwidth_mb_s, queue_depth, throughputMbS(4096),
                throughputMbS(65536));
  return line;
}

}  // namespace darkroom::neuralink

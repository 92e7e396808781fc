// `flash-sweep`: read throughput and latency of the storage under the work directory, for each
// read size × access pattern × queue depth. `depth` threads each keep one O_DIRECT pread in
// flight (what a queue depth means for synchronous reads), for --seconds or --reads per point.
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "agent_error.h"
#include "commands.h"
#include "darkroom/neuralink/io_engine.h"
#include "latency_histogram.h"
#include "stop_signal.h"
#include "storage_info.h"
#include "test_file.h"

namespace darkroom::agent {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::int64_t kAlign = 4096;

struct Point {
  std::int64_t size = 0;
  std::string pattern;
  int depth = 1;
};

struct PointResult {
  std::int64_t reads = 0;
  double seconds = 0;
  LatencyHistogram latency;
  std::string error;
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One point: `depth` threads read until the deadline, the read cap or a stop.
PointResult runPoint(int fd, std::int64_t file_bytes, const Point& p, double seconds,
                     std::int64_t read_cap, std::uint64_t seed) {
  PointResult result;
  std::atomic<bool> go{false}, failed{false};
  std::atomic<std::int64_t> issued{0};
  std::mutex merge_mutex;
  const std::int64_t blocks = file_bytes / p.size;           // sequential: whole reads
  const std::int64_t offsets4k = (file_bytes - p.size) / kAlign + 1;  // random: 4 KiB aligned
  Clock::time_point deadline;
  std::vector<std::thread> threads;
  for (int t = 0; t < p.depth; ++t) {
    threads.emplace_back([&, t] {
      LatencyHistogram hist;
      std::int64_t reads = 0;
      std::string error;
      void* raw = nullptr;
      if (posix_memalign(&raw, kAlign, std::size_t(p.size)) != 0) {
        error = "out of memory for a " + std::to_string(p.size) + "-byte read buffer";
      }
      std::unique_ptr<void, FreeDeleter> buffer(raw);
      std::uint64_t rng = seed * 1000003u + std::uint64_t(t) * 7919u + 1;
      // Sequential streams start evenly spread, so `depth` of them do not read the same blocks.
      std::int64_t next_block = blocks * t / p.depth;
      const bool random = p.pattern == "random";
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      auto now = Clock::now();
      // Every thread reads at least once, even when it was scheduled after the deadline (a busy
      // phone): a point of zero reads would say nothing.
      while (error.empty() && !failed.load(std::memory_order_relaxed) &&
             (now < deadline || reads == 0) && !stopRequested()) {
        if (read_cap > 0 && issued.fetch_add(1, std::memory_order_relaxed) >= read_cap) break;
        std::int64_t offset;
        if (random) {
          offset = std::int64_t(splitmix(rng) % std::uint64_t(offsets4k)) * kAlign;
        } else {
          offset = next_block * p.size;
          next_block = (next_block + 1) % blocks;
        }
        const auto t0 = now;
        std::int64_t got = 0;
        while (got < p.size) {
          const ssize_t n = ::pread(fd, static_cast<char*>(buffer.get()) + got,
                                    std::size_t(p.size - got), off_t(offset + got));
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) {
            error = "read of " + std::to_string(p.size) + " bytes at offset " +
                    std::to_string(offset) + " failed: " +
                    (n < 0 ? std::strerror(errno) : "unexpected end of file");
            break;
          }
          got += n;
        }
        now = Clock::now();
        if (!error.empty()) break;
        hist.record(std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(now - t0)
                                      .count()));
        ++reads;
      }
      if (!error.empty()) failed.store(true);
      std::lock_guard<std::mutex> lock(merge_mutex);
      result.latency.merge(hist);
      result.reads += reads;
      if (!error.empty() && result.error.empty()) result.error = error;
    });
  }
  const auto start = Clock::now();
  deadline = start + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(seconds));
  go.store(true, std::memory_order_release);
  for (auto& th : threads) th.join();
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace

std::vector<FlagSpec> flashSweepFlags() {
  return {
      {"file-mb", true, "N  size of the test file in MiB (256)"},
      {"file", true, "NAME  test file, inside the work directory (flash-sweep.bin)"},
      {"sizes", true,
       "B,B,...  read sizes in bytes, multiples of 4096 (4096,16384,65536,262144,1048576)"},
      {"patterns", true, "P,P  random and/or sequential (random,sequential)"},
      {"depths", true, "N,N,...  reads in flight (1,4,32)"},
      {"seconds", true, "S  time per point (1)"},
      {"reads", true, "N  stop each point after N reads (0: no limit)"},
      {"seed", true, "N  seed of the file's data and of the random offsets (1)"},
      {"keep-file", false, "keep the test file afterwards (it is removed by default)"},
  };
}

void runFlashSweep(const CommandContext& ctx) {
  const Args& a = ctx.args;
  const std::int64_t file_mb = a.integer("file-mb", 256, 1, std::int64_t(1) << 20);
  const std::int64_t file_bytes = file_mb << 20;
  const auto sizes = a.integers("sizes", {4096, 16384, 65536, 262144, 1048576}, kAlign,
                                std::int64_t(1) << 30);
  for (auto s : sizes) {
    if (s % kAlign)
      throw UsageError("--sizes", "flash-sweep: --sizes values must be multiples of 4096 (O_DIRECT "
                                  "reads are block aligned), not " + std::to_string(s));
    if (s > file_bytes)
      throw UsageError("--sizes", "flash-sweep: --sizes value " + std::to_string(s) +
                                      " is larger than the test file (--file-mb " +
                                      std::to_string(file_mb) + ")");
  }
  const auto patterns = a.choices("patterns", {"random", "sequential"}, {"random", "sequential"});
  const auto depths = a.integers("depths", {1, 4, 32}, 1, 256);
  const double seconds = a.number("seconds", 1.0, 0.001, 3600);
  const std::int64_t read_cap = a.integer("reads", 0, 0, std::int64_t(1) << 40);
  const auto seed = std::uint64_t(a.integer("seed", 1, 0, INT64_MAX));
  const auto path = ctx.workdir.fileForWriting(a.text("file", "flash-sweep.bin"), "--file");
  const bool keep = a.flag("keep-file");

  struct statvfs vfs {};
  if (::statvfs(ctx.workdir.path().c_str(), &vfs) == 0) {
    const auto free_bytes = std::int64_t(vfs.f_bavail) * std::int64_t(vfs.f_frsize);
    // A test file of the same name is replaced, so its space counts as free.
    std::error_code ec;
    const auto old = std::filesystem::is_regular_file(path, ec)
                         ? std::int64_t(std::filesystem::file_size(path, ec)) : 0;
    if (free_bytes + old < file_bytes + (64 << 20))
      throw AgentError("not enough free space in " + ctx.workdir.path().string() + " for a " +
                       std::to_string(file_mb) + " MiB test file (" +
                       std::to_string((free_bytes + old) >> 20) +
                       " MiB free, 64 MiB kept spare); use a smaller --file-mb");
  }

  const auto t_start = Clock::now();
  createTestFile(
      path, file_bytes, seed,
      [&](std::int64_t done, std::int64_t total) {
        ctx.out.progress(double(done), double(total), "writing " + path.filename().string());
      },
      [&] { return stopRequested() || ctx.out.broken(); });

  struct Remover {  // the test file goes unless --keep-file, also when a point fails
    const std::filesystem::path& p;
    bool keep;
    ~Remover() {
      if (!keep) ::unlink(p.c_str());
    }
  } remover{path, keep};

  ReadHandle file = openForReading(path);
  const Json storage = storageInfo(ctx.workdir.path());

  std::vector<Point> points;
  for (auto size : sizes)
    for (const auto& pattern : patterns)
      for (auto depth : depths) points.push_back({size, pattern, int(depth)});

  int index = 0;
  auto checkStop = [&] {
    // A point cut short by a signal is not reported: its numbers would mislead.
    if (stopRequested() || ctx.out.broken())
      throw AgentError(std::string("interrupted by ") +
                       (stopRequested() ? stopSignalName() : "a closed output") + " after " +
                       std::to_string(index) + " of " + std::to_string(points.size()) +
                       " points");
  };
  for (const auto& p : points) {
    checkStop();
    auto r = runPoint(file.fd, file_bytes, p, seconds, read_cap, seed + std::uint64_t(index));
    checkStop();
    if (!r.error.empty())
      throw AgentError("flash-sweep: " + path.string() + ": " + r.error);
    Json s;
    s["read_bytes"] = p.size;
    s["pattern"] = p.pattern;
    s["queue_depth"] = p.depth;
    s["reads"] = r.reads;
    s["seconds"] = round6(r.seconds);
    const double secs = std::max(r.seconds, 1e-9);
    s["iops"] = significant6(double(r.reads) / secs);
    s["mb_s"] = significant6(double(r.reads) * double(p.size) / secs / 1e6);
    Json lat;
    lat["mean"] = round3(r.latency.meanNs() / 1e3);
    lat["p50"] = round3(r.latency.percentileNs(0.50) / 1e3);
    lat["p90"] = round3(r.latency.percentileNs(0.90) / 1e3);
    lat["p99"] = round3(r.latency.percentileNs(0.99) / 1e3);
    lat["min"] = round3(double(r.latency.minNs()) / 1e3);
    lat["max"] = round3(double(r.latency.maxNs()) / 1e3);
    s["lat_us"] = lat;
    s["direct"] = file.direct;
    if (!file.warning.empty()) s["warning"] = file.warning;
    ctx.out.sample(s);
    ++index;
  }

  Json result;
  result["points"] = index;
  result["file_bytes"] = file_bytes;
  result["file"] = path.string();
  result["kept"] = keep;
  result["direct"] = file.direct;
  result["filesystem"] = storage["filesystem"];
  result["device"] = storage["device"];
  const double total = std::chrono::duration<double>(Clock::now() - t_start).count();
  result["seconds"] = round3(total);
  if (!file.warning.empty()) result["warning"] = file.warning;
  ctx.out.result(result);
}

}  // namespace darkroom::agent

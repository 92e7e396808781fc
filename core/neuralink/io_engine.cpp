// The I/O engine: replays a trace's per-token activated neurons against a flash layout file with
// real reads, through the cache and access collapse policies (see io_engine.h).
//
// Per token, layer by layer (a layer's neurons are known only once the previous layer ran):
//   activated neurons -> cache lookups (hits are not read) -> planReads (collapse threshold, or 0
//   when collapse is off) -> one batch of reads with queue_depth in flight -> misses admitted to
//   the cache. The token's latency is the sum of its layers' batch wall times.
//
// Adaptive collapse (our rule; the paper did not publish its own):
// - Threshold: the break-even gap. Merging two reads across a gap of g bytes costs g / B (B: the
//   peak bandwidth of the startup sweep) and saves one command's fixed cost o. o is the measured
//   per-command cost at the smallest read size (an exponentially weighted mean of read service
//   time divided by the reads in flight, seeded by the sweep) minus its transfer time at B. The
//   threshold g = o × B is clamped to [4 KiB, 1 MiB] and recomputed after every token, so it
//   rises when larger reads gain bandwidth over small ones and falls when they do not.
// - Bottleneck detector: an exponentially weighted mean (weight 0.3) of each token's achieved
//   bandwidth (bytes read / latency). When it reaches 90% of B the device is saturated and the
//   extra gap bytes would cost real time: collapse is turned off; it is turned on again when the
//   mean falls below 75% of B (hysteresis, so it does not flip every token).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#ifdef DARKROOM_HAVE_LIBURING
#include <liburing.h>
#endif

#include "caches.h"
#include "io_reader.h"

namespace darkroom::neuralink {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct AlignedBuffer {
  void* data = nullptr;
  std::size_t size = 0;
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data); }
  void ensure(std::size_t bytes) {
    if (bytes <= size) return;
    std::free(data);
    data = nullptr;
    size = 0;
    std::size_t want = 4096;
    while (want < bytes) want *= 2;
    if (posix_memalign(&data, 4096, want) != 0) throw NeuralinkError("out of memory for a read buffer");
    size = want;
  }
};

std::string errnoText(int e) { return std::strerror(e); }

class FileReader : public BlockReader {
 protected:
  int fd_ = -1;
  fs::path path_;
  bool direct_ = false;

  void openFile(const fs::path& file, bool direct) {
    path_ = file;
    direct_ = direct;
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0)
      throw NeuralinkError("cannot open layout file " + file.string() + ": " + errnoText(errno));
    file_size_ = std::uint64_t(st.st_size);
    sparse_ = std::uint64_t(st.st_blocks) * 512 + 65536 < file_size_;
    fd_ = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
    if (fd_ < 0) {
      const int e = errno;
      if (direct && e == EINVAL)
        throw NeuralinkError("O_DIRECT is not supported for " + file.string() + " on its " +
                             fileSystemName(file) +
                             " file system; put the layout on a real disk (e.g. a directory in "
                             "the workspace, not a tmpfs /tmp), or read buffered (direct = false; "
                             "the page cache then hides the disk)");
      throw NeuralinkError("cannot open layout file " + file.string() + ": " + errnoText(e));
    }
  }
  ~FileReader() override {
    if (fd_ >= 0) ::close(fd_);
  }
  // Reads one planned read into buf; throws on errors and short reads before the end of file.
  void readOne(const PlannedRead& r, void* buf) const {
    std::int64_t got = 0;
    while (got < r.bytes) {
      const ssize_t n = ::pread(fd_, static_cast<char*>(buf) + got, std::size_t(r.bytes - got),
                                off_t(r.offset + std::uint64_t(got)));
      if (n < 0) {
        if (errno == EINTR) continue;
        throwReadError(r, errno);
      }
      if (n == 0) break;
      got += n;
    }
    checkLength(r, got);
  }
  void throwReadError(const PlannedRead& r, int e) const {
    std::string msg = "read of " + std::to_string(r.bytes) + " bytes at offset " +
                      std::to_string(r.offset) + " of " + path_.string() + " failed: " +
                      errnoText(e);
    if (direct_ && e == EINVAL)
      msg += " (O_DIRECT needs 4 KiB-aligned offsets, lengths and buffers, and a file system that "
             "supports it; this one is " + fileSystemName(path_) + ")";
    throw NeuralinkError(msg);
  }
  void checkLength(const PlannedRead& r, std::int64_t got) const {
    if (got < r.bytes && r.offset + std::uint64_t(got) < file_size_)
      throw NeuralinkError("short read of " + path_.string() + " at offset " +
                           std::to_string(r.offset) + ": " + std::to_string(got) + " of " +
                           std::to_string(r.bytes) + " bytes");
    if (r.offset >= file_size_)
      throw NeuralinkError("read at offset " + std::to_string(r.offset) + " is past the end of " +
                           path_.string() + " (" + std::to_string(file_size_) + " bytes)");
  }
};

// queue_depth threads, each doing blocking pread on its own aligned buffer.
class ThreadReader : public FileReader {
 public:
  ThreadReader(const fs::path& file, int queue_depth, bool direct) {
    openFile(file, direct);
    engine_ = std::string("threads, ") + (direct ? "O_DIRECT" : "buffered");
    const int n = std::max(1, queue_depth);
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { work(); });
  }
  ~ThreadReader() override {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  double run(const std::vector<PlannedRead>& reads, std::vector<double>* read_us) override {
    if (read_us) read_us->assign(reads.size(), 0.0);
    if (reads.empty()) return 0;
    const auto t0 = Clock::now();
    {
      std::unique_lock<std::mutex> lock(m_);
      batch_ = &reads;
      us_ = read_us;
      next_.store(0);
      finished_ = 0;
      error_.clear();
      ++generation_;
      cv_.notify_all();
      done_cv_.wait(lock, [&] { return finished_ == threads_.size(); });
      batch_ = nullptr;
    }
    const double seconds = secondsSince(t0);
    if (!error_.empty()) throw NeuralinkError(error_);
    return seconds;
  }

 private:
  void work() {
    AlignedBuffer buf;
    std::uint64_t seen = 0;
    for (;;) {
      const std::vector<PlannedRead>* batch;
      std::vector<double>* us;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        batch = batch_;
        us = us_;
      }
      std::string error;
      for (;;) {
        const std::size_t i = next_.fetch_add(1);
        if (i >= batch->size() || !error.empty()) break;
        const PlannedRead& r = (*batch)[i];
        try {
          buf.ensure(std::size_t(r.bytes));
          const auto t0 = Clock::now();
          readOne(r, buf.data);
          if (us) (*us)[i] = secondsSince(t0) * 1e6;
        } catch (const std::exception& e) {
          error = e.what();
        }
      }
      std::lock_guard<std::mutex> lock(m_);
      if (!error.empty() && error_.empty()) error_ = error;
      if (++finished_ == threads_.size()) done_cv_.notify_one();
    }
  }
  std::vector<std::thread> threads_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  const std::vector<PlannedRead>* batch_ = nullptr;
  std::vector<double>* us_ = nullptr;
  std::atomic<std::size_t> next_{0};
  std::size_t finished_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
  std::string error_;
};

#ifdef DARKROOM_HAVE_LIBURING
// One ring with queue_depth entries; one aligned buffer per slot.
class UringReader : public FileReader {
 public:
  UringReader(const fs::path& file, int queue_depth, bool direct)
      : depth_(std::max(1, queue_depth)), buffers_(std::size_t(depth_)) {
    openFile(file, direct);
    engine_ = std::string("io_uring, ") + (direct ? "O_DIRECT" : "buffered");
    const int rc = io_uring_queue_init(unsigned(depth_), &ring_, 0);
    if (rc < 0) throw NeuralinkError("io_uring_queue_init failed: " + errnoText(-rc));
  }
  ~UringReader() override { io_uring_queue_exit(&ring_); }
  double run(const std::vector<PlannedRead>& reads, std::vector<double>* read_us) override {
    if (read_us) read_us->assign(reads.size(), 0.0);
    if (reads.empty()) return 0;
    std::vector<Clock::time_point> start(reads.size());
    std::vector<int> free_slots;
    for (int s = depth_ - 1; s >= 0; --s) free_slots.push_back(s);
    std::vector<std::size_t> slot_read(std::size_t(depth_), 0);
    std::size_t next = 0, done = 0;
    const auto t0 = Clock::now();
    while (done < reads.size()) {
      bool queued = false;
      while (next < reads.size() && !free_slots.empty()) {
        const int s = free_slots.back();
        free_slots.pop_back();
        const PlannedRead& r = reads[next];
        buffers_[std::size_t(s)].ensure(std::size_t(r.bytes));
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (!sqe) throw NeuralinkError("io_uring: submission queue full");
        io_uring_prep_read(sqe, fd_, buffers_[std::size_t(s)].data, unsigned(r.bytes), r.offset);
        io_uring_sqe_set_data64(sqe, std::uint64_t(s));
        slot_read[std::size_t(s)] = next;
        start[next] = Clock::now();
        ++next;
        queued = true;
      }
      if (queued) {
        const int rc = io_uring_submit(&ring_);
        if (rc < 0) throw NeuralinkError("io_uring_submit failed: " + errnoText(-rc));
      }
      io_uring_cqe* cqe = nullptr;
      const int rc = io_uring_wait_cqe(&ring_, &cqe);
      if (rc == -EINTR) continue;
      if (rc < 0) throw NeuralinkError("io_uring_wait_cqe failed: " + errnoText(-rc));
      const int s = int(io_uring_cqe_get_data64(cqe));
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      const std::size_t i = slot_read[std::size_t(s)];
      if (res < 0) throwReadError(reads[i], -res);
      if (res < reads[i].bytes && reads[i].offset + std::uint64_t(res) < file_size_) {
        // A short read before the end of the file: finish it synchronously.
        PlannedRead rest{reads[i].offset + std::uint64_t(res), reads[i].bytes - res};
        readOne(rest, static_cast<char*>(buffers_[std::size_t(s)].data) + res);
      } else {
        checkLength(reads[i], res);
      }
      if (read_us) (*read_us)[i] = secondsSince(start[i]) * 1e6;
      free_slots.push_back(s);
      ++done;
    }
    return secondsSince(t0);
  }

 private:
  int depth_;
  io_uring ring_{};
  std::vector<AlignedBuffer> buffers_;
};
#endif

}  // namespace

std::string fileSystemName(const fs::path& path) {
  struct statfs st {};
  fs::path p = path;
  if (!fs::exists(p)) p = p.parent_path();
  if (p.empty()) p = ".";
  if (::statfs(p.c_str(), &st) != 0) return "unknown";
  switch (static_cast<unsigned long>(st.f_type)) {
    case 0x01021994UL: return "tmpfs";
    case 0xEF53UL: return "ext4";
    case 0x58465342UL: return "xfs";
    case 0x9123683EUL: return "btrfs";
    case 0x794c7630UL: return "overlayfs";
    case 0x6969UL: return "nfs";
    case 0x65735546UL: return "fuse";
    case 0x858458f6UL: return "ramfs";
    case 0x01161970UL: return "gfs2";
    case 0x2fc12fc1UL: return "zfs";
    case 0xf2f52010UL: return "f2fs";
    default: {
      std::ostringstream s;
      s << "unknown (magic 0x" << std::hex << static_cast<unsigned long>(st.f_type) << ")";
      return s.str();
    }
  }
}

std::unique_ptr<BlockReader> BlockReader::open(const fs::path& file, int queue_depth, bool direct,
                                               bool io_uring) {
  if (io_uring) {
#ifdef DARKROOM_HAVE_LIBURING
    return std::make_unique<UringReader>(file, queue_depth, direct);
#else
    throw NeuralinkError(
        "io_uring was asked for, but this build was not built with liburing (install "
        "liburing-dev and reconfigure); the thread-pool reader needs no option");
#endif
  }
  return std::make_unique<ThreadReader>(file, queue_depth, direct);
}

// ---- replay ----

namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(p * double(v.size()));
  const std::size_t i = std::size_t(std::clamp(rank, 1.0, double(v.size()))) - 1;
  return v[i];
}

int sizeBucket(std::int64_t bytes) {
  int b = 0;
  while (b < 40 && (std::int64_t(4096) << (b + 1)) <= bytes) ++b;
  return b;
}

void decodeRow(const LayerTrace& lt, std::int64_t token, std::vector<std::int32_t>& out) {
  out.clear();
  const std::uint64_t* row = lt.row(token);
  for (std::int64_t w = 0; w < lt.words(); ++w) {
    std::uint64_t bits = row[w];
    while (bits) {
      const int j = __builtin_ctzll(bits);
      const std::int64_t n = w * 64 + j;
      if (n < lt.neurons) out.push_back(std::int32_t(n));
      bits &= bits - 1;
    }
  }
}

}  // namespace

IoSummary replay(const FlashLayout& layout, const ActivationTrace& trace, const IoOptions& options,
                 JobContext& ctx) {
  if (trace.layers.size() != layout.layers.size())
    throw NeuralinkError("the trace has " + std::to_string(trace.layers.size()) +
                         " layers, the layout " + layout.path.string() + " " +
                         std::to_string(layout.layers.size()));
  std::int64_t tokens = trace.layers.empty() ? 0 : trace.layers[0].tokens;
  std::int64_t ffn_bytes = 0;
  std::uint64_t extent = 0;
  for (std::size_t l = 0; l < layout.layers.size(); ++l) {
    const auto& ll = layout.layers[l];
    const auto& lt = trace.layers[l];
    if (lt.neurons != ll.neurons || std::int64_t(ll.slot.size()) != ll.neurons ||
        std::int64_t(ll.order.size()) != ll.neurons)
      throw NeuralinkError("layer " + std::to_string(l) + ": the trace has " +
                           std::to_string(lt.neurons) + " neurons, the layout " +
                           std::to_string(ll.neurons));
    if (lt.tokens != tokens ||
        std::int64_t(lt.bits.size()) < lt.tokens * lt.words())
      throw NeuralinkError("trace layer " + std::to_string(l) + " has " +
                           std::to_string(lt.tokens) + " tokens (or too few bits), layer 0 " +
                           std::to_string(tokens));
    if (ll.data_offset % 4096 != 0)
      throw NeuralinkError("layout layer " + std::to_string(l) + " starts at offset " +
                           std::to_string(ll.data_offset) + ", not 4 KiB aligned");
    ffn_bytes += ll.neurons * ll.bundle_bytes;
    extent = std::max(extent, ll.data_offset + std::uint64_t(ll.neurons * ll.bundle_bytes));
  }
  if (options.max_tokens > 0) tokens = std::min(tokens, options.max_tokens);
  if (options.queue_depth < 1 || options.queue_depth > 1024)
    throw NeuralinkError("queue depth " + std::to_string(options.queue_depth) +
                         " is outside 1..1024");

  auto reader = BlockReader::open(layout.path, options.queue_depth, options.direct,
                                  options.io_uring);
  if (reader->fileSize() < extent)
    throw NeuralinkError("layout file " + layout.path.string() + " is truncated: " +
                         std::to_string(reader->fileSize()) + " bytes, its layers need " +
                         std::to_string(extent));

  IoSummary sum;
  sum.engine = reader->engine();
  if (reader->sparse())
    sum.warning = "the layout file is sparse: reads of its holes do not touch the disk";
  sum.cache_capacity_bytes =
      options.cache == CachePolicy::None
          ? 0
          : (options.cache_bytes > 0 ? options.cache_bytes
                                     : std::int64_t(options.cache_fraction * double(ffn_bytes)));
  auto cache = makeCache(options.cache, sum.cache_capacity_bytes);
  std::mt19937_64 coin(options.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);

  const bool collapse = options.collapse && options.merge_adjacent;
  const bool adaptive = collapse && options.adaptive_collapse;
  double gap = double(std::max<std::int64_t>(options.collapse_gap_bytes, 0));
  bool collapse_on = collapse;

  // Adaptive collapse needs the device's peak bandwidth and its small-read cost: from the
  // options' measured flash model, or a short sweep of the layout file now.
  double peak = 0, small_cost_us = 0;
  const std::int64_t kSmall = 4096;
  JobContext replay_ctx = ctx;
  if (adaptive) {
    FlashModel m = options.flash_model;
    if (m.sweep.empty()) {
      JobContext sweep_ctx = ctx.slice(0, 0.05);
      m = FlashModel::measure(layout.path, sweep_ctx, options.queue_depth, options.direct);
      replay_ctx = ctx.slice(0.05, 0.95);
    }
    for (const auto& p : m.sweep) peak = std::max(peak, p.mb_s);
    if (!m.sweep.empty())
      small_cost_us = double(m.sweep.front().bytes) / std::max(m.sweep.front().mb_s, 1e-9);
    sum.peak_mb_s = peak;
  }
  auto updateGap = [&] {
    if (!adaptive || peak <= 0) return;
    const double transfer_us = double(kSmall) / peak;  // MB/s == bytes/µs
    const double overhead_us = std::max(0.0, small_cost_us - transfer_us);
    gap = std::clamp(overhead_us * peak, 4096.0, 1048576.0);
  };
  updateGap();
  double bw_mean = 0;
  bool bw_seen = false;

  sum.tokens.resize(std::size_t(tokens));
  sum.read_length_histogram.assign(10, 0);
  std::vector<std::int32_t> active, misses;
  std::vector<double> read_us;
  std::vector<PlannedRead> reads;
  for (std::int64_t t = 0; t < tokens; ++t) {
    replay_ctx.progress(double(t) / double(std::max<std::int64_t>(tokens, 1)),
                        "token " + std::to_string(t + 1) + "/" + std::to_string(tokens));
    TokenIo& tok = sum.tokens[std::size_t(t)];
    tok.collapse_on = collapse_on;
    for (std::size_t l = 0; l < layout.layers.size(); ++l) {
      const LayoutLayer& ll = layout.layers[l];
      const LayerTrace& lt = trace.layers[l];
      decodeRow(lt, t, active);
      sum.activated += std::int64_t(active.size());
      misses.clear();
      if (cache) {
        for (std::int32_t n : active) {
          if (cache->lookup(cacheKey(std::int64_t(l), n))) ++tok.cache_hits;
          else misses.push_back(n);
        }
      } else {
        misses = active;
      }
      reads = options.merge_adjacent
                  ? planReads(ll, misses, collapse_on ? std::int64_t(gap) : 0)
                  : planNeuronReads(ll, misses);
      const double seconds = reader->run(reads, &read_us);
      tok.latency_ms += seconds * 1e3;
      tok.reads += std::int64_t(reads.size());
      tok.bytes_useful += std::int64_t(misses.size()) * ll.bundle_bytes;
      const std::size_t inflight =
          std::min<std::size_t>(reads.size(), std::size_t(options.queue_depth));
      for (std::size_t i = 0; i < reads.size(); ++i) {
        tok.bytes_read += reads[i].bytes;
        const int b = sizeBucket(reads[i].bytes);
        if (std::size_t(b) >= sum.read_length_histogram.size())
          sum.read_length_histogram.resize(std::size_t(b) + 1, 0);
        ++sum.read_length_histogram[std::size_t(b)];
        if (adaptive && reads[i].bytes == kSmall && inflight > 0)
          small_cost_us = 0.95 * small_cost_us + 0.05 * read_us[i] / double(inflight);
      }
      if (options.predict) tok.predicted_ms += options.flash_model.tokenMs(reads);
      if (cache) {
        for (std::int32_t n : misses) {
          if (options.cache == CachePolicy::S3FifoLinked) {
            // Inside a contiguous segment: both layout neighbours activated by this token.
            const std::int32_t s = ll.slot[std::size_t(n)];
            const bool inside = s > 0 && s + 1 < ll.neurons &&
                                lt.active(t, ll.order[std::size_t(s - 1)]) &&
                                lt.active(t, ll.order[std::size_t(s + 1)]);
            if (inside && uniform(coin) >= options.linked_admission) continue;
          }
          cache->insert(cacheKey(std::int64_t(l), n), ll.bundle_bytes);
        }
      }
    }
    if (!collapse_on && collapse) ++sum.collapse_off_tokens;
    if (adaptive && tok.latency_ms > 0) {
      updateGap();
      const double bw = double(tok.bytes_read) / (tok.latency_ms * 1e3);  // MB/s
      bw_mean = bw_seen ? 0.7 * bw_mean + 0.3 * bw : bw;
      bw_seen = true;
      if (collapse_on && bw_mean >= 0.9 * peak) collapse_on = false;
      else if (!collapse_on && bw_mean < 0.75 * peak) collapse_on = true;
    }
    if (options.on_token) options.on_token(t, tok);
  }
  replay_ctx.progress(1.0, "replayed " + std::to_string(tokens) + " tokens");

  std::vector<double> lat, pred;
  for (const auto& tok : sum.tokens) {
    sum.reads += tok.reads;
    sum.bytes_read += tok.bytes_read;
    sum.bytes_useful += tok.bytes_useful;
    sum.cache_hits += tok.cache_hits;
    sum.io_seconds += tok.latency_ms / 1e3;
    lat.push_back(tok.latency_ms);
    pred.push_back(tok.predicted_ms);
  }
  if (sum.io_seconds > 0) {
    sum.iops = double(sum.reads) / sum.io_seconds;
    sum.effective_bandwidth_mb_s = double(sum.bytes_useful) / sum.io_seconds / 1e6;
  }
  if (sum.reads > 0) sum.mean_read_bytes = double(sum.bytes_read) / double(sum.reads);
  if (tokens > 0) {
    sum.mean_ms = sum.io_seconds * 1e3 / double(tokens);
    sum.p50_ms = percentile(lat, 0.5);
    sum.p90_ms = percentile(lat, 0.9);
    sum.p99_ms = percentile(lat, 0.99);
    if (options.predict) {
      double total = 0;
      for (double p : pred) total += p;
      sum.predicted_mean_ms = total / double(tokens);
      sum.predicted_p50_ms = percentile(pred, 0.5);
      sum.predicted_p99_ms = percentile(pred, 0.99);
    }
  }
  sum.final_gap_bytes = collapse ? gap : 0;
  return sum;
}

std::string IoSummary::describe() const {
  std::ostringstream s;
  const double n = double(std::max<std::size_t>(tokens.size(), 1));
  char line[256];
  std::snprintf(line, sizeof line, "%zu tokens (%s)\n", tokens.size(), engine.c_str());
  s << line;
  std::snprintf(line, sizeof line,
                "reads/token %.1f, MB read/token %.3f, MB useful/token %.3f, cache hits/token "
                "%.1f (%.1f%% of %lld activated)\n",
                double(reads) / n, double(bytes_read) / n / 1e6, double(bytes_useful) / n / 1e6,
                double(cache_hits) / n,
                activated > 0 ? 100.0 * double(cache_hits) / double(activated) : 0.0,
                static_cast<long long>(activated));
  s << line;
  std::snprintf(line, sizeof line,
                "IOPS %.0f, effective bandwidth %.1f MB/s, mean read %.1f KiB\n", iops,
                effective_bandwidth_mb_s, mean_read_bytes / 1024);
  s << line;
  std::snprintf(line, sizeof line, "I/O latency per token: mean %.3f ms, p50 %.3f, p90 %.3f, p99 %.3f ms\n",
                mean_ms, p50_ms, p90_ms, p99_ms);
  s << line;
  if (predicted_mean_ms > 0) {
    std::snprintf(line, sizeof line, "flash model: mean %.3f ms, p50 %.3f, p99 %.3f ms\n",
                  predicted_mean_ms, predicted_p50_ms, predicted_p99_ms);
    s << line;
  }
  if (final_gap_bytes > 0 || collapse_off_tokens > 0) {
    std::snprintf(line, sizeof line,
                  "collapse: gap threshold %.1f KiB, off (saturated) for %lld tokens, peak %.0f MB/s\n",
                  final_gap_bytes / 1024, static_cast<long long>(collapse_off_tokens), peak_mb_s);
    s << line;
  }
  if (!warning.empty()) s << "warning: " << warning << "\n";
  return s.str();
}

}  // namespace darkroom::neuralink

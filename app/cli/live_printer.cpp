#include "live_printer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

namespace darkroom::cli {

namespace {

using device::AgentRecord;
using Clock = std::chrono::steady_clock;

// Prints the agent's records as they arrive: a table whose columns suit the subcommand, or
// the JSON lines themselves.
class LivePrinter {
 public:
  LivePrinter(std::string kind, bool json)
      : kind_(std::move(kind)),
        json_(json),
        tty_(isatty(STDOUT_FILENO) && isatty(STDERR_FILENO)) {}

  void operator()(const AgentRecord& r) {
    std::lock_guard lock(mutex_);
    if (json_) {
      std::printf("%s\n", r.line.c_str());
      std::fflush(stdout);
      return;
    }
    if (r.type == "progress") return;  // the progress bar shows it
    if (r.type == "error") {
      clearBar();
      std::fprintf(stderr, "agent error: %s\n", r.text("message", r.line).c_str());
      return;
    }
    if (r.type == "sample") return sample(r);
    if (r.type == "info") return keyValues(r, "");
    if (r.type == "result") return keyValues(r, "result: ");
  }

 private:
  struct Column {
    std::string title;
    std::function<std::string(const AgentRecord&)> cell;
    std::size_t width = 9;  // rows stream in, so widths are fixed up front: fit the longest value
  };

  // The progress bar redraws one stderr line with \r; a table row must not land inside it.
  void clearBar() {
    if (tty_) std::fputs("\r\033[K", stderr);
  }

  void row(const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      std::string c = cells[i];
      if (i + 1 < cells.size()) c.resize(std::max<std::size_t>(widths_[i], c.size() + 1), ' ');
      line += c + (i + 1 < cells.size() ? " " : "");
    }
    clearBar();
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }

  static std::function<std::string(const AgentRecord&)> num(const std::string& key, int digits) {
    return [key, digits](const AgentRecord& r) {
      auto it = r.numbers.find(key);
      return it == r.numbers.end() ? std::string("-") : fixed(it->second, digits);
    };
  }
  static std::function<std::string(const AgentRecord&)> str(const std::string& key) {
    return [key](const AgentRecord& r) { return r.text(key, "-"); };
  }

  std::vector<Column> columnsFor(const AgentRecord& first) const {
    if (kind_ == "flash-sweep")
      return {{"PATTERN", str("pattern"), 11}, {"BYTES", num("read_bytes", 0)},
              {"QD", num("queue_depth", 0)},  {"IOPS", num("iops", 0)},
              {"MB/S", num("mb_s", 1)},       {"P50_US", num("lat_us.p50", 1)},
              {"P99_US", num("lat_us.p99", 1)}, {"DIRECT", num("direct", 0)}};
    if (kind_ == "flash-replay")
      return {{"TOKEN", num("token", 0)},          {"READS", num("reads", 0)},
              {"BYTES_READ", num("bytes_read", 0)}, {"USEFUL", num("bytes_useful", 0)},
              {"HITS", num("cache_hits", 0)},      {"MS", num("latency_ms", 3)}};
    if (kind_ == "kernels")
      return {{"KERNEL", str("kernel"), 24}, {"BACKEND", str("backend"), 10},
              {"BATCH", num("batch", 0)},
              {"ROWS", num("rows", 0)},  {"COLS", num("cols", 0)},    {"MS", num("ms", 4)},
              {"GB/S", num("gb_s", 2)}};
    if (kind_ == "monitor")
      return {{"T_S", [](const AgentRecord& r) { return fixed(r.t_ms / 1000, 2); }},
              {"CPU_MHZ_MEAN",
               [](const AgentRecord& r) {
                 double sum = 0, n = 0;
                 for (const auto& [k, v] : r.numbers)
                   if (k.rfind("cpu_freq_khz.", 0) == 0) sum += v, ++n;
                 return n > 0 ? fixed(sum / n / 1000, 0) : std::string("-");
               }},
              {"HOTTEST_C",
               [](const AgentRecord& r) {
                 double t = -INFINITY;
                 for (const auto& [k, v] : r.numbers)
                   if (k.rfind("thermal.", 0) == 0 && k.size() > 7 &&
                       k.compare(k.size() - 7, 7, ".temp_c") == 0)
                     t = std::max(t, v);
                 return std::isfinite(t) ? fixed(t, 1) : std::string("-");
               }},
              {"MEM_AVAIL_MB",
               [](const AgentRecord& r) {
                 return fixed(r.number("mem_available_bytes") / 1e6, 0);
               }},
              {"LOAD1", num("load1", 2)}};
    // Some other subcommand: every number of its first sample.
    std::vector<Column> cols;
    for (const auto& [k, v] : first.numbers)
      if (k != "v" && k != "seq") cols.push_back({k, num(k, 3)});
    return cols;
  }

  void sample(const AgentRecord& r) {
    // flash-replay prints one sample per token: show at most five a second, the stored
    // profile keeps them all.
    if (kind_ == "flash-replay") {
      auto now = Clock::now();
      if (!columns_.empty() && now - last_row_ < std::chrono::milliseconds(200)) return;
      last_row_ = now;
    }
    if (columns_.empty()) {
      columns_ = columnsFor(r);
      std::vector<std::string> header;
      for (const auto& c : columns_) {
        header.push_back(c.title);
        widths_.push_back(std::max(c.title.size() + 1, c.width));
      }
      row(header);
    }
    std::vector<std::string> cells;
    for (const auto& c : columns_) cells.push_back(c.cell(r));
    row(cells);
  }

  void keyValues(const AgentRecord& r, const std::string& prefix) {
    clearBar();
    static const std::set<std::string> skip = {"v", "seq", "t_ms", "cmd", "type"};
    std::printf("%s\n", prefix.empty() ? (r.type + ":").c_str() : prefix.c_str());
    for (const auto& [k, v] : r.strings)
      if (!skip.count(k)) std::printf("  %-36s %s\n", k.c_str(), v.c_str());
    for (const auto& [k, v] : r.numbers)
      if (!skip.count(k))
        std::printf("  %-36s %s\n", k.c_str(),
                    v == std::floor(v) && std::fabs(v) < 1e15 ? fixed(v, 0).c_str()
                                                              : fixed(v, 4).c_str());
    std::fflush(stdout);
  }

  std::string kind_;
  bool json_, tty_;
  std::mutex mutex_;
  std::vector<Column> columns_;
  std::vector<std::size_t> widths_;
  Clock::time_point last_row_{};
};

}  // namespace

std::function<void(const AgentRecord&)> livePrinter(std::string kind, bool json) {
  auto printer = std::make_shared<LivePrinter>(std::move(kind), json);
  return [printer](const AgentRecord& r) { (*printer)(r); };
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace darkroom::cli

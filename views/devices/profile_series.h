// What the Profile panel draws, worked out from agent records (docs/agent-protocol.md) without
// any widget: one series per chart × profile × variant (a read pattern and queue depth, a
// kernel, a thermal zone, a core) × measure (p50/p90/p99). Records are consumed one at a time,
// so a live run's charts grow by the records that arrived since the last redraw, and stored
// profiles (one `source` each) overlay in the same charts.
#pragma once

#include <darkroom/device/session.h>

#include <cstddef>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace darkroom::views {

enum class ProfileChartId {
  SweepThroughput,  // flash-sweep: MB/s against the read size
  SweepIops,        // flash-sweep: reads per second against the read size
  SweepLatency,     // flash-sweep: latency percentiles (µs) against the read size
  ReplayLatency,    // flash-replay: latency of each token (ms), with running p50 and p99
  KernelTime,       // kernels: ms per call against the batch size
  KernelBandwidth,  // kernels: GB/s against the batch size
  Temperature,      // monitor: °C per thermal zone against time
  Frequency,        // monitor: MHz per core against time
};

// The charts a profile kind draws, in layout order; none for "info" (a table) and unknown kinds.
std::vector<ProfileChartId> chartsOfKind(const std::string& kind);

struct ChartPoint {
  double x = 0;
  double y = 0;
};

struct ChartSeries {
  ProfileChartId chart = ProfileChartId::SweepThroughput;
  int source = 0;        // the profile it comes from (index into the comparison; 0 when live)
  std::string variant;   // "random · QD 4", "quant-gemm-q4_0-tile", "cpu-thermal", "cpu 3"
  std::string measure;   // "p50", "running p99", …; empty on charts with a single measure
  std::vector<ChartPoint> points;  // ascending x; one point per x on the x-keyed charts
};

// The flash sweep's variant name: "random · QD 4".
std::string sweepVariant(const std::string& pattern, int queue_depth);

class ProfileSeriesBuilder {
 public:
  explicit ProfileSeriesBuilder(std::string kind = {});

  const std::string& kind() const { return kind_; }
  // Forgets everything and draws `kind` from now on.
  void reset(std::string kind);

  // Consumes one record of profile `source` (0 and up). Records of another subcommand are
  // counted and otherwise ignored; info, progress, result and error records are kept for the
  // panel's summary and tables.
  void add(const device::AgentRecord& record, int source = 0);
  void add(const std::vector<device::AgentRecord>& records, int source = 0);

  // The series of one chart, in the order they first appeared. The pointers stay valid until the
  // next add or reset.
  std::vector<const ChartSeries*> series(ProfileChartId chart) const;
  const ChartSeries* find(ProfileChartId chart, int source, const std::string& variant,
                          const std::string& measure = {}) const;
  // A chart's variants and measures in order of first appearance: colours and line styles follow
  // these indices, so a variant keeps its look across charts and redraws.
  const std::vector<std::string>& variants(ProfileChartId chart) const;
  const std::vector<std::string>& measures(ProfileChartId chart) const;
  std::size_t pointCount(ProfileChartId chart) const;

  std::size_t records() const { return records_; }
  std::size_t samples() const { return samples_; }
  // True once any record said it came from darkroom-simphone.
  bool simulated() const { return simulated_; }
  // The latest record of a type ("info", "result", "progress") of one source; nullptr if none.
  const device::AgentRecord* latest(const std::string& type, int source = 0) const;
  // The type of the last record consumed ("progress" while, say, the test file is written).
  const std::string& lastType() const { return last_type_; }
  // The messages of error records, in order ("npu: no vendor runtime library").
  const std::vector<std::string>& errors() const { return errors_; }
  // The distinct `warning` texts of any record (e.g. "the file lies in memory (tmpfs)").
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  ChartSeries& seriesFor(ProfileChartId chart, int source, const std::string& variant,
                         const std::string& measure);
  // Adds (x, y) keeping x ascending; `replace` overwrites a point at the same x (a sweep point
  // measured again) instead of adding a second one.
  static void put(ChartSeries& s, double x, double y, bool replace);
  void addSweep(const device::AgentRecord& r, int source);
  void addReplay(const device::AgentRecord& r, int source);
  void addKernel(const device::AgentRecord& r, int source);
  void addMonitor(const device::AgentRecord& r, int source);

  std::string kind_;
  std::vector<ChartSeries> series_;
  std::map<std::tuple<int, int, std::string, std::string>, std::size_t> index_;
  std::map<int, std::vector<std::string>> variants_;
  std::map<int, std::vector<std::string>> measures_;
  std::map<std::pair<std::string, int>, device::AgentRecord> latest_;
  std::map<int, std::vector<double>> replay_sorted_;  // per source, for running percentiles
  std::map<int, double> replay_count_;
  std::map<int, double> monitor_t0_;                   // per source: time of the first sample
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
  std::string last_type_;
  std::size_t records_ = 0;
  std::size_t samples_ = 0;
  bool simulated_ = false;
};

// Nearest-rank percentile (p in 0..100) of an ascending vector; NaN when empty.
double sortedPercentile(const std::vector<double>& ascending, double p);

}  // namespace darkroom::views

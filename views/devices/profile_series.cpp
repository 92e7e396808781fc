#include "devices/profile_series.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace darkroom::views {

namespace {

using device::AgentRecord;

bool has(const AgentRecord& r, const std::string& key) { return r.numbers.count(key) != 0; }

const std::vector<std::string>& none() {
  static const std::vector<std::string> empty;
  return empty;
}

}  // namespace

std::vector<ProfileChartId> chartsOfKind(const std::string& kind) {
  if (kind == "flash-sweep")
    return {ProfileChartId::SweepThroughput, ProfileChartId::SweepIops, ProfileChartId::SweepLatency};
  if (kind == "flash-replay") return {ProfileChartId::ReplayLatency};
  if (kind == "kernels") return {ProfileChartId::KernelTime, ProfileChartId::KernelBandwidth};
  if (kind == "monitor") return {ProfileChartId::Temperature, ProfileChartId::Frequency};
  return {};
}

std::string sweepVariant(const std::string& pattern, int queue_depth) {
  return (pattern.empty() ? std::string("reads") : pattern) + " · QD " + std::to_string(queue_depth);
}

double sortedPercentile(const std::vector<double>& ascending, double p) {
  if (ascending.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double rank = std::ceil(p / 100.0 * double(ascending.size()));
  const auto index = std::size_t(std::clamp(rank, 1.0, double(ascending.size()))) - 1;
  return ascending[index];
}

ProfileSeriesBuilder::ProfileSeriesBuilder(std::string kind) : kind_(std::move(kind)) {}

void ProfileSeriesBuilder::reset(std::string kind) { *this = ProfileSeriesBuilder(std::move(kind)); }

void ProfileSeriesBuilder::add(const std::vector<AgentRecord>& records, int source) {
  for (const auto& r : records) add(r, source);
}

void ProfileSeriesBuilder::add(const AgentRecord& r, int source) {
  ++records_;
  last_type_ = r.type;
  simulated_ = simulated_ || r.simulated;
  // The agent says when a number does not measure what it seems to (buffered reads, a file in
  // RAM): each distinct warning is kept for the summary.
  if (const std::string warning = r.text("warning"); !warning.empty() &&
      std::find(warnings_.begin(), warnings_.end(), warning) == warnings_.end())
    warnings_.push_back(warning);
  if (r.type == "error") {
    errors_.push_back(r.text("message", r.text("error", r.line)));
    return;
  }
  if (!r.cmd.empty() && !kind_.empty() && r.cmd != kind_) return;
  if (r.type != "sample") {
    latest_[{r.type, source}] = r;
    return;
  }
  ++samples_;
  if (kind_ == "flash-sweep")
    addSweep(r, source);
  else if (kind_ == "flash-replay")
    addReplay(r, source);
  else if (kind_ == "kernels")
    addKernel(r, source);
  else if (kind_ == "monitor")
    addMonitor(r, source);
}

void ProfileSeriesBuilder::addSweep(const AgentRecord& r, int source) {
  if (!has(r, "read_bytes")) return;
  const double size = r.number("read_bytes");
  const std::string variant = sweepVariant(r.text("pattern"), int(r.number("queue_depth", 1)));
  if (has(r, "mb_s"))
    put(seriesFor(ProfileChartId::SweepThroughput, source, variant, {}), size, r.number("mb_s"), true);
  if (has(r, "iops"))
    put(seriesFor(ProfileChartId::SweepIops, source, variant, {}), size, r.number("iops"), true);
  for (const char* p : {"p50", "p90", "p99"}) {
    const std::string key = std::string("lat_us.") + p;
    if (has(r, key))
      put(seriesFor(ProfileChartId::SweepLatency, source, variant, p), size, r.number(key), true);
  }
}

void ProfileSeriesBuilder::addReplay(const AgentRecord& r, int source) {
  if (!has(r, "latency_ms")) return;
  const double token = has(r, "token") ? r.number("token") : replay_count_[source];
  replay_count_[source] += 1;
  const double ms = r.number("latency_ms");
  put(seriesFor(ProfileChartId::ReplayLatency, source, "per token", "latency"), token, ms, true);
  // Running percentiles over every token so far: the sorted latencies grow by one insert.
  auto& sorted = replay_sorted_[source];
  sorted.insert(std::upper_bound(sorted.begin(), sorted.end(), ms), ms);
  put(seriesFor(ProfileChartId::ReplayLatency, source, "per token", "running p50"), token,
      sortedPercentile(sorted, 50), true);
  put(seriesFor(ProfileChartId::ReplayLatency, source, "per token", "running p99"), token,
      sortedPercentile(sorted, 99), true);
}

void ProfileSeriesBuilder::addKernel(const AgentRecord& r, int source) {
  if (!has(r, "batch")) return;
  const std::string kernel = r.text("kernel", "kernel");
  const double batch = r.number("batch");
  if (has(r, "ms")) put(seriesFor(ProfileChartId::KernelTime, source, kernel, {}), batch, r.number("ms"), true);
  if (has(r, "gb_s"))
    put(seriesFor(ProfileChartId::KernelBandwidth, source, kernel, {}), batch, r.number("gb_s"), true);
}

void ProfileSeriesBuilder::addMonitor(const AgentRecord& r, int source) {
  // Time from the profile's first sample, so monitors of several devices start together.
  const auto t0 = monitor_t0_.try_emplace(source, r.t_ms).first->second;
  const double seconds = (r.t_ms - t0) / 1000.0;
  // Zones and cores by their index in the arrays; a sensor or core that read null has no key
  // and no point, the others still do.
  std::map<int, double> temps, khz;
  for (const auto& [key, value] : r.numbers) {
    if (key.rfind("cpu_freq_khz.", 0) == 0) {
      khz[std::atoi(key.c_str() + 13)] = value;
    } else if (key.rfind("thermal.", 0) == 0 && key.size() > 7 &&
               key.compare(key.size() - 7, 7, ".temp_c") == 0) {
      temps[std::atoi(key.c_str() + 8)] = value;
    }
  }
  for (const auto& [zone, celsius] : temps) {
    const std::string prefix = "thermal." + std::to_string(zone) + ".";
    std::string name = r.text(prefix + "type");
    if (name.empty()) name = r.text(prefix + "zone");
    if (name.empty() && has(r, prefix + "zone"))
      name = "zone " + std::to_string(int(r.number(prefix + "zone")));
    if (name.empty()) name = "zone " + std::to_string(zone);
    put(seriesFor(ProfileChartId::Temperature, source, name, {}), seconds, celsius, false);
  }
  for (const auto& [core, value] : khz)
    put(seriesFor(ProfileChartId::Frequency, source, "cpu " + std::to_string(core), {}), seconds,
        value / 1000.0, false);
}

ChartSeries& ProfileSeriesBuilder::seriesFor(ProfileChartId chart, int source,
                                             const std::string& variant,
                                             const std::string& measure) {
  const auto key = std::make_tuple(int(chart), source, variant, measure);
  if (auto it = index_.find(key); it != index_.end()) return series_[it->second];
  auto& variants = variants_[int(chart)];
  if (std::find(variants.begin(), variants.end(), variant) == variants.end()) variants.push_back(variant);
  auto& measures = measures_[int(chart)];
  if (std::find(measures.begin(), measures.end(), measure) == measures.end()) measures.push_back(measure);
  index_.emplace(key, series_.size());
  ChartSeries s;
  s.chart = chart;
  s.source = source;
  s.variant = variant;
  s.measure = measure;
  series_.push_back(std::move(s));
  return series_.back();
}

void ProfileSeriesBuilder::put(ChartSeries& s, double x, double y, bool replace) {
  auto& p = s.points;
  if (p.empty() || x > p.back().x) {
    p.push_back({x, y});
    return;
  }
  auto it = std::lower_bound(p.begin(), p.end(), x, [](const ChartPoint& a, double v) { return a.x < v; });
  if (replace && it != p.end() && it->x == x)
    it->y = y;
  else
    p.insert(std::upper_bound(p.begin(), p.end(), x,
                              [](double v, const ChartPoint& a) { return v < a.x; }),
             ChartPoint{x, y});
}

std::vector<const ChartSeries*> ProfileSeriesBuilder::series(ProfileChartId chart) const {
  std::vector<const ChartSeries*> out;
  for (const auto& s : series_)
    if (s.chart == chart) out.push_back(&s);
  return out;
}

const ChartSeries* ProfileSeriesBuilder::find(ProfileChartId chart, int source,
                                              const std::string& variant,
                                              const std::string& measure) const {
  const auto it = index_.find(std::make_tuple(int(chart), source, variant, measure));
  return it == index_.end() ? nullptr : &series_[it->second];
}

const std::vector<std::string>& ProfileSeriesBuilder::variants(ProfileChartId chart) const {
  const auto it = variants_.find(int(chart));
  return it == variants_.end() ? none() : it->second;
}

const std::vector<std::string>& ProfileSeriesBuilder::measures(ProfileChartId chart) const {
  const auto it = measures_.find(int(chart));
  return it == measures_.end() ? none() : it->second;
}

std::size_t ProfileSeriesBuilder::pointCount(ProfileChartId chart) const {
  std::size_t n = 0;
  for (const auto& s : series_)
    if (s.chart == chart) n += s.points.size();
  return n;
}

const AgentRecord* ProfileSeriesBuilder::latest(const std::string& type, int source) const {
  const auto it = latest_.find({type, source});
  return it == latest_.end() ? nullptr : &it->second;
}

}  // namespace darkroom::views

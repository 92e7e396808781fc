// `monitor`: a sample every --interval-ms of what throttles a phone during a benchmark: each
// core's clock, every thermal zone, available memory and the load average. The files are opened
// once and re-read in place. SIGINT, SIGTERM and SIGHUP end it with a final result.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "commands.h"
#include "cpu_info.h"
#include "stop_signal.h"
#include "sysfs.h"

namespace darkroom::agent {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

struct ThermalZone {
  int zone = 0;
  std::string type;
  PolledFile temp;
};

// thermal_zoneN folders in N order.
std::vector<ThermalZone> thermalZones() {
  std::vector<int> ids;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/class/thermal", ec)) {
    const std::string name = entry.path().filename().string();
    const std::string prefix = "thermal_zone";
    if (name.rfind(prefix, 0) != 0) continue;
    if (auto id = parseLeadingInteger(name.substr(prefix.size()))) ids.push_back(int(*id));
  }
  std::sort(ids.begin(), ids.end());
  std::vector<ThermalZone> zones;
  for (int id : ids) {
    const fs::path dir = "/sys/class/thermal/thermal_zone" + std::to_string(id);
    ThermalZone z{id, readLine(dir / "type").value_or(""), PolledFile(dir / "temp")};
    if (z.temp.isOpen()) zones.push_back(std::move(z));
  }
  return zones;
}

}  // namespace

std::vector<FlagSpec> monitorFlags() {
  return {
      {"interval-ms", true, "N  time between samples; 0: as fast as possible (1000)"},
      {"count", true, "N  stop after N samples (0: until a signal)"},
  };
}

void runMonitor(const CommandContext& ctx) {
  const auto interval_ms = ctx.args.integer("interval-ms", 1000, 0, 24 * 3600 * 1000);
  const auto count = ctx.args.integer("count", 0, 0, INT64_MAX);

  std::vector<PolledFile> freqs;
  for (int c = 0; c < configuredCpus(); ++c)
    freqs.emplace_back("/sys/devices/system/cpu/cpu" + std::to_string(c) +
                       "/cpufreq/scaling_cur_freq");
  auto zones = thermalZones();
  PolledFile meminfo("/proc/meminfo"), loadavg("/proc/loadavg");

  const auto start = Clock::now();
  const auto interval = std::chrono::milliseconds(interval_ms);
  auto next = start;
  std::int64_t samples = 0;
  while ((count == 0 || samples < count) && !stopRequested() && !ctx.out.broken()) {
    Json s;
    Json f = Json::array();
    for (auto& file : freqs) {
      auto text = file.read();
      auto khz = text ? parseLeadingInteger(*text) : std::nullopt;
      f.push_back(khz ? Json(*khz) : Json(nullptr));  // null: no cpufreq or the core is off
    }
    s["cpu_freq_khz"] = f;
    Json t = Json::array();
    for (auto& z : zones) {
      Json zone;
      zone["zone"] = z.zone;
      zone["type"] = z.type;
      auto text = z.temp.read();
      auto milli = text ? parseLeadingInteger(*text) : std::nullopt;
      // Zones report millidegrees; a few old drivers report degrees (values below 200).
      if (milli)
        zone["temp_c"] = *milli > 200 || *milli < -200 ? double(*milli) / 1000.0 : double(*milli);
      else
        zone["temp_c"] = nullptr;  // a sensor that is off or asleep refuses the read
      t.push_back(zone);
    }
    s["thermal"] = t;
    auto mem = meminfo.read();
    auto available = mem ? meminfoBytes(*mem, "MemAvailable") : std::nullopt;
    s["mem_available_bytes"] = available ? Json(*available) : Json(nullptr);
    double load1 = -1;
    if (auto la = loadavg.read())
      load1 = std::strtod(std::string(la->substr(0, la->find(' '))).c_str(), nullptr);
    s["load1"] = load1 >= 0 ? Json(load1) : Json(nullptr);
    ctx.out.sample(s);
    ++samples;
    if (count != 0 && samples >= count) break;
    if (interval_ms > 0) {
      // Deadlines from the start, so the sampling period does not drift with the sample cost.
      next += interval;
      const auto now = Clock::now();
      if (next < now) next = now;
      if (!sleepUntil(next)) break;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Json r;
  r["samples"] = samples;
  r["seconds"] = round3(seconds);
  r["samples_per_s"] = round3(seconds > 0 ? double(samples) / seconds : 0);
  if (const char* sig = stopSignalName()) r["interrupted"] = sig;
  ctx.out.result(r);
}

}  // namespace darkroom::agent

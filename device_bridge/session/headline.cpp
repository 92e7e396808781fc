// A profile's headline numbers (see profileHeadline in session.h): what a researcher compares
// across phones and flash layouts without opening every sample.
#include <cmath>
#include <cstdio>

#include "darkroom/device/session.h"

namespace darkroom::device {
namespace {

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string sizeText(double bytes) {
  if (bytes >= 1 << 20 && std::fmod(bytes, 1 << 20) == 0)
    return format("%.0f MiB", bytes / (1 << 20));
  if (bytes >= 1024 && std::fmod(bytes, 1024) == 0) return format("%.0f KiB", bytes / 1024);
  return format("%.0f B", bytes);
}

const AgentRecord* lastOfType(const std::vector<AgentRecord>& records, const std::string& type) {
  for (auto it = records.rbegin(); it != records.rend(); ++it)
    if (it->type == type) return &*it;
  return nullptr;
}

void flashSweep(const std::vector<AgentRecord>& records, ProfileHeadline& h) {
  const AgentRecord* peak = nullptr;
  const AgentRecord* rand4k = nullptr;
  for (const auto& r : records) {
    if (r.type != "sample") continue;
    if (!peak || r.number("mb_s") > peak->number("mb_s")) peak = &r;
    if (r.text("pattern") == "random" && r.number("read_bytes") == 4096 &&
        (!rand4k || r.number("iops") > rand4k->number("iops")))
      rand4k = &r;
  }
  if (!peak) {
    h.text = "no samples";
    return;
  }
  h.numbers.emplace_back("peak_mb_s", peak->number("mb_s"));
  h.numbers.emplace_back("peak_read_bytes", peak->number("read_bytes"));
  h.numbers.emplace_back("peak_queue_depth", peak->number("queue_depth"));
  h.text = "peak " + format("%.1f", peak->number("mb_s")) + " MB/s (" + peak->text("pattern") +
           " " + sizeText(peak->number("read_bytes")) + ", QD " +
           format("%.0f", peak->number("queue_depth")) + ")";
  if (rand4k) {
    h.numbers.emplace_back("rand4k_iops", rand4k->number("iops"));
    h.numbers.emplace_back("rand4k_queue_depth", rand4k->number("queue_depth"));
    h.numbers.emplace_back("rand4k_p99_us", rand4k->number("lat_us.p99"));
    h.text += "; 4K random " + format("%.0f", rand4k->number("iops")) + " IOPS (QD " +
              format("%.0f", rand4k->number("queue_depth")) + ", p99 " +
              format("%.0f", rand4k->number("lat_us.p99")) + " µs)";
  }
}

void flashReplay(const std::vector<AgentRecord>& records, ProfileHeadline& h) {
  const AgentRecord* result = lastOfType(records, "result");
  if (!result) {
    h.text = "no result";
    return;
  }
  for (const char* key : {"p50_ms", "p99_ms", "mean_ms", "effective_mb_s", "iops"})
    h.numbers.emplace_back(key, result->number(key));
  h.text = "p50 " + format("%.3f", result->number("p50_ms")) + " ms, p99 " +
           format("%.3f", result->number("p99_ms")) + " ms, " +
           format("%.1f", result->number("effective_mb_s")) + " MB/s effective";
  if (auto policy = result->text("policy"); !policy.empty()) h.text += " (" + policy + ")";
}

void kernels(const std::vector<AgentRecord>& records, ProfileHeadline& h) {
  // The first GEMV/GEMM kernel the agent measured: its cost at batch 1 against batch 8 is the
  // point of the tile layout (a batch of candidates for about the price of one).
  std::string kernel;
  for (const auto& r : records) {
    auto k = r.text("kernel");
    if (r.type == "sample" && (k.find("gemm") != std::string::npos ||
                               k.find("gemv") != std::string::npos)) {
      kernel = k;
      break;
    }
  }
  if (kernel.empty()) {
    h.text = "no GEMV samples";
    return;
  }
  double b1 = NAN, b8 = NAN;
  for (const auto& r : records) {
    if (r.type != "sample" || r.text("kernel") != kernel) continue;
    if (r.number("batch") == 1) b1 = r.number("ms");
    if (r.number("batch") == 8) b8 = r.number("ms");
  }
  h.text = kernel + ":";
  if (!std::isnan(b1)) {
    h.numbers.emplace_back("gemv_ms_batch1", b1);
    h.text += " " + format("%.3f", b1) + " ms at batch 1";
  }
  if (!std::isnan(b8)) {
    h.numbers.emplace_back("gemv_ms_batch8", b8);
    h.text += std::string(std::isnan(b1) ? "" : ",") + " " + format("%.3f", b8) + " ms at batch 8";
  }
  if (!std::isnan(b1) && !std::isnan(b8) && b1 > 0) {
    h.numbers.emplace_back("batch8_over_batch1", b8 / b1);
    h.text += " (" + format("%.2f", b8 / b1) + "×)";
  }
}

void monitor(const std::vector<AgentRecord>& records, ProfileHeadline& h) {
  double samples = 0, load = 0, hottest = -INFINITY;
  for (const auto& r : records) {
    if (r.type != "sample") continue;
    ++samples;
    load += r.number("load1");
    for (const auto& [k, v] : r.numbers)
      if (k.rfind("thermal.", 0) == 0 && k.size() > 7 && k.compare(k.size() - 7, 7, ".temp_c") == 0)
        hottest = std::max(hottest, v);
  }
  h.numbers.emplace_back("samples", samples);
  h.text = format("%.0f samples", samples);
  if (samples > 0) {
    h.numbers.emplace_back("mean_load1", load / samples);
    h.text += ", mean load " + format("%.2f", load / samples);
  }
  if (std::isfinite(hottest)) {
    h.numbers.emplace_back("max_temp_c", hottest);
    h.text += ", hottest " + format("%.1f", hottest) + " °C";
  }
}

void info(const std::vector<AgentRecord>& records, ProfileHeadline& h) {
  const AgentRecord* r = lastOfType(records, "info");
  if (!r) {
    h.text = "no info record";
    return;
  }
  h.numbers.emplace_back("cores", r->number("cpu.cores"));
  h.numbers.emplace_back("memory_total_bytes", r->number("memory.total_bytes"));
  h.text = r->text("cpu.abi") + ", " + format("%.0f", r->number("cpu.cores")) + " cores, " +
           format("%.1f", r->number("memory.total_bytes") / 1e9) + " GB";
  if (auto dev = r->text("storage.device"); !dev.empty()) h.text += ", storage " + dev;
}

}  // namespace

ProfileHeadline profileHeadline(const std::string& kind, const std::vector<AgentRecord>& records) {
  ProfileHeadline h;
  if (kind == "flash-sweep") flashSweep(records, h);
  else if (kind == "flash-replay") flashReplay(records, h);
  else if (kind == "kernels") kernels(records, h);
  else if (kind == "monitor") monitor(records, h);
  else if (kind == "info") info(records, h);
  else h.text = std::to_string(records.size()) + " records";
  return h;
}

}  // namespace darkroom::device

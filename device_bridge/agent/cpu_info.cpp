#include "cpu_info.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "sysfs.h"

namespace darkroom::agent {
namespace {

// "key\t: value" lines of /proc/cpuinfo, in order (keys repeat once per processor).
std::vector<std::pair<std::string, std::string>> cpuinfoFields() {
  std::vector<std::pair<std::string, std::string>> fields;
  auto text = readText("/proc/cpuinfo");
  if (!text) return fields;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    fields.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return fields;
}

// A model name: x86's "model name"; on ARM the "Hardware" line when the kernel has one, else the
// core types as implementer and part numbers with their counts (big.LITTLE shows as several).
std::string cpuModel(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string hardware, implementer;
  std::map<std::string, int> parts;
  for (const auto& [key, value] : fields) {
    if (key == "model name") return value;
    if (key == "Hardware") hardware = value;
    if (key == "CPU implementer") implementer = value;
    if (key == "CPU part") ++parts[value];
  }
  if (!hardware.empty()) return hardware;
  if (parts.empty()) return {};
  std::string out = "implementer " + implementer + ", parts";
  for (const auto& [part, count] : parts) out += " " + part + " x" + std::to_string(count);
  return out;
}

// The instruction-set features the kernels care about, as the kernel names them.
std::vector<std::string> cpuFeatures(
    const std::vector<std::pair<std::string, std::string>>& fields) {
  static const std::set<std::string> wanted = {
      "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_bf16", "avx512_vnni",  // x86-64
      "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2", "fphp"};        // aarch64
  std::set<std::string> found;
  for (const auto& [key, value] : fields) {
    if (key != "flags" && key != "Features") continue;
    std::istringstream words(value);
    std::string w;
    while (words >> w)
      if (wanted.count(w)) found.insert(w);
    break;  // every core lists the same set in practice; the first is enough
  }
  return {found.begin(), found.end()};
}

Json optionalNumber(const std::optional<std::int64_t>& v) {
  return v ? Json(*v) : Json(nullptr);
}

}  // namespace

std::string machineAbi() {
  utsname u{};
  if (::uname(&u) != 0) return "unknown";
  const std::string m = u.machine;
  if (m == "aarch64" || m == "arm64") return "arm64-v8a";
  if (m == "x86_64") return "x86_64";
  if (m.rfind("armv7", 0) == 0 || m.rfind("armv8l", 0) == 0) return "armeabi-v7a";
  if (m == "i686" || m == "i386") return "x86";
  return m;
}

int configuredCpus() {
  const long n = ::sysconf(_SC_NPROCESSORS_CONF);
  return n > 0 ? int(n) : 0;
}

Json cpuInfo(const std::string& android_abi) {
  const auto fields = cpuinfoFields();
  Json cpu;
  cpu["abi"] = android_abi.empty() ? machineAbi() : android_abi;
  utsname u{};
  cpu["machine"] = ::uname(&u) == 0 ? std::string(u.machine) : std::string("unknown");
  const int cores = configuredCpus();
  cpu["cores"] = cores;
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  cpu["online"] = online > 0 ? online : 0;
  cpu["model"] = cpuModel(fields);
  cpu["features"] = cpuFeatures(fields);
  Json freqs = Json::array();
  for (int c = 0; c < cores; ++c) {
    const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/cpufreq/";
    auto cur = readInteger(dir + "scaling_cur_freq");
    auto min = readInteger(dir + "cpuinfo_min_freq");
    auto max = readInteger(dir + "cpuinfo_max_freq");
    if (!cur && !min && !max) continue;  // no cpufreq for this core (VMs, offline cores)
    Json f;
    f["cpu"] = c;
    f["min"] = optionalNumber(min);
    f["max"] = optionalNumber(max);
    f["cur"] = optionalNumber(cur);
    freqs.push_back(f);
  }
  cpu["freq_khz"] = freqs;
  return cpu;
}

Json memoryInfo() {
  Json mem;
  auto text = readText("/proc/meminfo");
  const std::string_view view = text ? std::string_view(*text) : std::string_view();
  mem["total_bytes"] = optionalNumber(meminfoBytes(view, "MemTotal"));
  mem["available_bytes"] = optionalNumber(meminfoBytes(view, "MemAvailable"));
  return mem;
}

}  // namespace darkroom::agent

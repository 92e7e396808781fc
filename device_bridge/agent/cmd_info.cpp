// `info`: one record describing the device: processor, memory, the storage under the work
// directory, Android properties, the kernel back ends and this agent's build.
#include <algorithm>

#include "android_props.h"
#include "backends.h"
#include "commands.h"
#include "cpu_info.h"
#include "npu_backend.h"
#include "storage_info.h"

namespace darkroom::agent {

std::vector<FlagSpec> infoFlags() { return {}; }

void runInfo(const CommandContext& ctx) {
  Json record;
  Json warnings = Json::array();
  AndroidProperties android;
  bool have_android = false;
  if (auto getprop = findGetprop()) {
    android = readAndroidProperties(*getprop);
    have_android = true;
    if (!android.error.empty()) warnings.push_back("android properties: " + android.error);
  }
  const auto abi = android.values.find("ro.product.cpu.abi");
  record["cpu"] = cpuInfo(abi == android.values.end() ? std::string() : abi->second);
  record["memory"] = memoryInfo();
  record["storage"] = storageInfo(ctx.workdir.path());
  if (have_android) {
    Json props = Json::object();
    for (const auto& [key, value] : android.values) props[key] = value;
    record["android"] = props;
  }
  record["backends"] = backendList();
  Json agent;
  agent["version"] = DARKROOM_AGENT_VERSION;
#if defined(__aarch64__)
  agent["arch"] = "aarch64";
#elif defined(__x86_64__)
  agent["arch"] = "x86_64";
#else
  agent["arch"] = "other";
#endif
  agent["static"] = staticBinary();
  record["agent"] = agent;
  if (!warnings.empty()) record["warnings"] = warnings;
  ctx.out.info(record);
}

}  // namespace darkroom::agent

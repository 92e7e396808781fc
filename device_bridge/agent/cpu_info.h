// What the `info` record says about the processor and memory: /proc/cpuinfo, the cpufreq
// folders of /sys/devices/system/cpu and /proc/meminfo. Absent files give empty fields, never
// errors (a container or an emulator hides some of them).
#pragma once

#include <string>

#include "record_writer.h"

namespace darkroom::agent {

// The ABI name Android uses for this machine ("arm64-v8a", "x86_64", ...), from uname.
std::string machineAbi();
// {abi, machine, cores, online, model, features, freq_khz: [{cpu, min, max, cur}]}. `abi` is
// `android_abi` when given (ro.product.cpu.abi), else machineAbi().
Json cpuInfo(const std::string& android_abi);
// {total_bytes, available_bytes}
Json memoryInfo();
// The number of configured CPUs (cpu0 ... cpuN-1 folders).
int configuredCpus();

}  // namespace darkroom::agent

// Who owns a running run: host, pid and the process's start time. The start time tells a live
// process from a new one that reused a dead run's pid.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace darkroom::store {

struct ProcessIdentity {
  std::string host;
  std::int64_t pid = 0;
  std::int64_t start_ticks = 0;  // /proc/<pid>/stat field 22; 0 when unknown
};

ProcessIdentity currentProcess();
// Whether the process that `owner` describes still runs on this host. Only meaningful when
// owner.host is this host.
bool isAlive(const ProcessIdentity& owner);

}  // namespace darkroom::store

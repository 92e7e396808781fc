#include "storage_info.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <system_error>
#include <vector>

#include "darkroom/neuralink/io_engine.h"
#include "sysfs.h"

namespace darkroom::agent {
namespace fs = std::filesystem;
namespace {

Json optionalNumber(const std::optional<std::int64_t>& v) {
  return v ? Json(*v) : Json(nullptr);
}

// The active scheduler of "mq-deadline kyber [none]" is the bracketed one.
std::string activeScheduler(const std::string& line) {
  const auto open = line.find('[');
  const auto close = line.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return line;
  return line.substr(open + 1, close - open - 1);
}

// From the /sys/devices/... folder of a block device to the disk it lives on: a partition's
// parent, or the first slave of a stacked (dm/md) device. Records each step's name in `stack`.
fs::path physicalDisk(fs::path dev, std::vector<std::string>& stack) {
  std::error_code ec;
  for (int step = 0; step < 16; ++step) {
    stack.push_back(dev.filename().string());
    if (fs::exists(dev / "partition", ec)) {
      dev = dev.parent_path();
      continue;
    }
    fs::path next;
    for (const auto& slave : fs::directory_iterator(dev / "slaves", ec)) {
      next = fs::canonical(slave.path(), ec);
      if (!ec) break;
    }
    if (next.empty()) return dev;
    dev = next;
  }
  return dev;
}

}  // namespace

Json storageInfo(const fs::path& dir) {
  Json s;
  s["path"] = dir.string();
  s["filesystem"] = neuralink::fileSystemName(dir);
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) == 0) {
    s["free_bytes"] = std::int64_t(vfs.f_bavail) * std::int64_t(vfs.f_frsize);
    s["total_bytes"] = std::int64_t(vfs.f_blocks) * std::int64_t(vfs.f_frsize);
  } else {
    s["free_bytes"] = nullptr;
    s["total_bytes"] = nullptr;
  }
  s["mount_device"] = nullptr;
  s["stack"] = Json::array();
  s["device"] = nullptr;
  for (const char* key : {"rotational", "scheduler", "read_ahead_kb", "nr_requests",
                          "logical_block_bytes", "physical_block_bytes", "max_sectors_kb"})
    s[key] = nullptr;

  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return s;
  const unsigned maj = major(st.st_dev), min = minor(st.st_dev);
  s["mount_device"] = std::to_string(maj) + ":" + std::to_string(min);
  std::error_code ec;
  const fs::path link = "/sys/dev/block/" + std::to_string(maj) + ":" + std::to_string(min);
  const fs::path dev = fs::canonical(link, ec);
  if (ec) {
    // Major 0 is an anonymous device: tmpfs, overlayfs, a FUSE mount. No queue to report.
    s["note"] = maj == 0 ? "no block device (the directory is on an anonymous-device file "
                           "system such as tmpfs or overlayfs)"
                         : "no /sys/dev/block entry for " + std::to_string(maj) + ":" +
                               std::to_string(min);
    return s;
  }
  std::vector<std::string> stack;
  const fs::path disk = physicalDisk(dev, stack);
  s["mount_device"] = dev.filename().string();
  s["stack"] = stack;
  s["device"] = disk.filename().string();
  const fs::path q = disk / "queue";
  if (auto r = readInteger(q / "rotational")) s["rotational"] = *r != 0;
  if (auto sched = readLine(q / "scheduler")) s["scheduler"] = activeScheduler(*sched);
  s["read_ahead_kb"] = optionalNumber(readInteger(q / "read_ahead_kb"));
  s["nr_requests"] = optionalNumber(readInteger(q / "nr_requests"));
  s["logical_block_bytes"] = optionalNumber(readInteger(q / "logical_block_size"));
  s["physical_block_bytes"] = optionalNumber(readInteger(q / "physical_block_size"));
  s["max_sectors_kb"] = optionalNumber(readInteger(q / "max_sectors_kb"));
  return s;
}

}  // namespace darkroom::agent

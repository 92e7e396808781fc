// Reading the small text files of /proc and /sys: once (readText) or over and over from one open
// descriptor (PolledFile: pread at offset 0 regenerates a sysfs/procfs file's contents, so a
// monitor sample costs one system call per file, not three).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace darkroom::agent {

// The whole file (up to 1 MiB), or nullopt when it cannot be read.
std::optional<std::string> readText(const std::filesystem::path& path);
// The file's first line without surrounding spaces.
std::optional<std::string> readLine(const std::filesystem::path& path);
// The file holding one integer (a frequency, a flag).
std::optional<std::int64_t> readInteger(const std::filesystem::path& path);
// Leading/trailing white space removed.
std::string trim(std::string_view text);
// Parses the leading integer of `text` (after spaces).
std::optional<std::int64_t> parseLeadingInteger(std::string_view text);
// "MemAvailable:  123 kB" -> 123 * 1024 from /proc/meminfo's text; nullopt when the key is absent.
std::optional<std::int64_t> meminfoBytes(std::string_view meminfo, std::string_view key);

class PolledFile {
 public:
  explicit PolledFile(const std::filesystem::path& path);
  ~PolledFile();
  PolledFile(PolledFile&& other) noexcept;
  PolledFile& operator=(PolledFile&&) = delete;
  PolledFile(const PolledFile&) = delete;
  PolledFile& operator=(const PolledFile&) = delete;
  bool isOpen() const { return fd_ >= 0; }
  // The current contents (valid until the next call), or nullopt on a read error.
  std::optional<std::string_view> read();

 private:
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace darkroom::agent

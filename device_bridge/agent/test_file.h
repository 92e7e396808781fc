// The file flash-sweep reads: created inside the work directory with real (random, so
// incompressible) data, flushed to the device with fsync and dropped from the page cache, then
// opened for O_DIRECT reads. Only a file system that refuses O_DIRECT (tmpfs before Linux 6.6)
// gets buffered reads, and then `direct` is false and `warning` says so.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace darkroom::agent {

// Writes `bytes` of random data to `path` (which must not be a symbolic link), fsyncs it and
// advises the kernel to drop it from the page cache. `progress(done, total)` is called about
// every 16 MiB; `stop()` is polled as often and ends the write early (the file is removed, and
// AgentError says it was interrupted). Failures remove the partial file and throw AgentError.
void createTestFile(const std::filesystem::path& path, std::int64_t bytes, std::uint64_t seed,
                    const std::function<void(std::int64_t, std::int64_t)>& progress,
                    const std::function<bool()>& stop);

struct ReadHandle {
  int fd = -1;
  bool direct = false;
  std::string warning;  // why these reads do not measure flash (buffered, or a memory FS)
  ReadHandle() = default;
  ReadHandle(const ReadHandle&) = delete;
  ReadHandle& operator=(const ReadHandle&) = delete;
  ReadHandle(ReadHandle&& o) noexcept : fd(o.fd), direct(o.direct), warning(std::move(o.warning)) {
    o.fd = -1;
  }
  ~ReadHandle();
};
// Opens `path` for O_DIRECT reads and checks one aligned 4 KiB read; when the file system
// refuses O_DIRECT (EINVAL at open or at that read) it opens it buffered and says so in
// `warning`. A memory file system that accepts O_DIRECT (tmpfs on Linux 6.6+) keeps `direct`
// true and gets a `warning` too: its reads never touch flash. Throws AgentError for any other
// failure.
ReadHandle openForReading(const std::filesystem::path& path);

// The message for buffered reads forced by `path`'s file system.
std::string bufferedWarning(const std::filesystem::path& path);

}  // namespace darkroom::agent

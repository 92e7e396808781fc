#include "test_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "agent_error.h"
#include "darkroom/neuralink/io_engine.h"

namespace darkroom::agent {
namespace fs = std::filesystem;
namespace {

std::string errnoText(int e) { return std::strerror(e); }

// splitmix64: fast, and every 8 bytes differ, so no layer below can compress or deduplicate.
std::uint64_t nextRandom(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

}  // namespace

ReadHandle::~ReadHandle() {
  if (fd >= 0) ::close(fd);
}

std::string bufferedWarning(const fs::path& path) {
  return "O_DIRECT is refused by the " + neuralink::fileSystemName(path) + " file system of " +
         path.parent_path().string() +
         ": reads are buffered and come from the page cache, not from flash";
}

void createTestFile(const fs::path& path, std::int64_t bytes, std::uint64_t seed,
                    const std::function<void(std::int64_t, std::int64_t)>& progress,
                    const std::function<bool()>& stop) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    throw AgentError("cannot create the test file " + path.string() + ": " + errnoText(errno));
  auto fail = [&](const std::string& what) {
    ::close(fd);
    ::unlink(path.c_str());
    throw AgentError(what);
  };
  constexpr std::size_t kChunk = 1 << 20;
  std::vector<std::uint64_t> chunk(kChunk / 8);
  std::uint64_t state = seed;
  std::int64_t done = 0, reported = 0;
  while (done < bytes) {
    if (stop()) fail("interrupted while writing the test file " + path.string());
    for (auto& w : chunk) w = nextRandom(state);
    const std::size_t n = std::size_t(std::min<std::int64_t>(std::int64_t(kChunk), bytes - done));
    const char* p = reinterpret_cast<const char*>(chunk.data());
    std::size_t written = 0;
    while (written < n) {
      const ssize_t w = ::write(fd, p + written, n - written);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0)
        fail("writing the test file " + path.string() + " failed after " +
             std::to_string(done + std::int64_t(written)) + " bytes: " + errnoText(errno));
      written += std::size_t(w);
    }
    done += std::int64_t(n);
    if (done - reported >= (16 << 20) || done == bytes) {
      progress(done, bytes);
      reported = done;
    }
  }
  if (::fsync(fd) != 0)
    fail("fsync of the test file " + path.string() + " failed: " + errnoText(errno));
  // Buffered reads (the tmpfs fallback) would otherwise be served from what was just written;
  // with O_DIRECT it does not matter, but it costs nothing.
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  if (::close(fd) != 0) {
    ::unlink(path.c_str());
    throw AgentError("closing the test file " + path.string() + " failed: " + errnoText(errno));
  }
}

ReadHandle openForReading(const fs::path& path) {
  ReadHandle h;
  h.fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (h.fd >= 0) {
    // Some file systems accept O_DIRECT at open and refuse the reads.
    void* raw = nullptr;
    if (posix_memalign(&raw, 4096, 4096) != 0) throw AgentError("out of memory for a read buffer");
    std::unique_ptr<void, FreeDeleter> buffer(raw);
    ssize_t n;
    do n = ::pread(h.fd, buffer.get(), 4096, 0);
    while (n < 0 && errno == EINTR);
    if (n >= 0) {
      h.direct = true;
      // Linux 6.6 and later accept O_DIRECT on tmpfs, but the data still come from memory.
      const std::string fs_name = neuralink::fileSystemName(path);
      if (fs_name == "tmpfs" || fs_name == "ramfs")
        h.warning = "the file lies on " + fs_name + " (memory): O_DIRECT reads come from RAM, "
                    "not from flash; use a work directory on the device's storage";
      return h;
    }
    const int e = errno;
    if (e != EINVAL)
      throw AgentError("reading " + path.string() + " with O_DIRECT failed: " + errnoText(e));
    ::close(h.fd);
    h.fd = -1;
  } else if (errno != EINVAL) {
    throw AgentError("cannot open " + path.string() + ": " + errnoText(errno));
  }
  h.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (h.fd < 0) throw AgentError("cannot open " + path.string() + ": " + errnoText(errno));
  h.direct = false;
  h.warning = bufferedWarning(path);
  return h;
}

}  // namespace darkroom::agent

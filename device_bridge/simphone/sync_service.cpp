// The sync service (adb push/pull/ls/stat) over the sandbox. Requests are [id:4][length:4 LE]
// [path]; see adb's SYNC.TXT. Differences from adbd, all on purpose:
//  - SEND writes to a hidden temporary file in the target folder and renames it over the final
//    name only after DONE, so an interrupted push never leaves a short file under that name;
//  - paths that climb out of the sandbox are refused: FAIL for SEND/RECV, "no such file" for
//    STAT/LIST;
//  - symbolic links cannot be pushed (FAIL with a message).
// Like adbd: pushed files get the owner's permission bits copied to group and others, DONE's
// mtime is set on the file, missing folders are created (the fixed_push_mkdir feature), and a
// failed request ends the service after its FAIL.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "darkroom/adb/protocol.h"
#include "log.h"
#include "services.h"

namespace darkroom::simphone {

namespace {

namespace fs = std::filesystem;
using adb::appendLe32;

void appendLe64(std::string& out, std::uint64_t v) {
  appendLe32(out, static_cast<std::uint32_t>(v & 0xffffffffu));
  appendLe32(out, static_cast<std::uint32_t>(v >> 32));
}

// The stat fields shared by STA2/LST2 replies and DNT2 entries (after the id).
void appendStatV2(std::string& out, std::uint32_t error, const struct stat& st) {
  appendLe32(out, error);
  appendLe64(out, static_cast<std::uint64_t>(st.st_dev));
  appendLe64(out, static_cast<std::uint64_t>(st.st_ino));
  appendLe32(out, static_cast<std::uint32_t>(st.st_mode));
  appendLe32(out, static_cast<std::uint32_t>(st.st_nlink));
  appendLe32(out, static_cast<std::uint32_t>(st.st_uid));
  appendLe32(out, static_cast<std::uint32_t>(st.st_gid));
  appendLe64(out, static_cast<std::uint64_t>(st.st_size));
  appendLe64(out, static_cast<std::uint64_t>(st.st_atime));
  appendLe64(out, static_cast<std::uint64_t>(st.st_mtime));
  appendLe64(out, static_cast<std::uint64_t>(st.st_ctime));
}

std::string errnoText(int e) { return std::strerror(e); }

// Removes a temporary file unless it was renamed into place.
struct PartialFile {
  std::string path;
  int fd = -1;
  ~PartialFile() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) ::unlink(path.c_str());
  }
};

class SyncSession {
 public:
  SyncSession(Stream& stream, const Sandbox& sandbox)
      : stream_(stream),
        sandbox_(sandbox),
        in_(stream),
        tag_("stream " + std::to_string(stream.localId()) + ": sync: ") {}

  void run() {
    while (!in_.atEnd()) {
      char header[adb::kSyncHeaderBytes];
      if (!in_.readExactly(header, sizeof header)) return;
      const std::string id(header, 4);
      const std::uint32_t arg = adb::readLe32(reinterpret_cast<unsigned char*>(header + 4));
      if (id == "QUIT") return;
      if (id != "STAT" && id != "STA2" && id != "LST2" && id != "LIST" && id != "LIS2" &&
          id != "SEND" && id != "RECV") {
        fail("unknown sync request " + adb::printableBytes(std::string_view(header, 8)));
        return;
      }
      if (arg > adb::kSyncPathMax) {
        fail(id + " path of " + std::to_string(arg) + " bytes is over the limit of " +
             std::to_string(adb::kSyncPathMax));
        return;
      }
      std::string path(arg, '\0');
      if (!in_.readExactly(path.data(), path.size())) return;
      bool ok = true;
      if (id == "STAT") {
        statV1(path);
      } else if (id == "STA2" || id == "LST2") {
        statV2(id, path);
      } else if (id == "LIST" || id == "LIS2") {
        list(id == "LIS2", path);
      } else if (id == "SEND") {
        ok = send(path);
      } else {
        ok = recv(path);
      }
      if (!flushAll() || !ok) return;
    }
  }

 private:
  // The host path, or empty after logging why the device path is refused.
  fs::path resolve(const std::string& device_path, std::string* why = nullptr) {
    try {
      return sandbox_.hostPath(device_path);
    } catch (const SandboxError& e) {
      // A caller that asks why sends it in a FAIL, which is logged.
      if (why) {
        *why = e.what();
      } else {
        logLine(tag_ + e.what());
      }
      return {};
    }
  }

  void statV1(const std::string& path) {
    struct stat st{};
    const fs::path host = resolve(path);
    if (host.empty() || ::lstat(host.c_str(), &st) != 0) st = {};
    out_ += "STAT";
    appendLe32(out_, static_cast<std::uint32_t>(st.st_mode));
    appendLe32(out_, static_cast<std::uint32_t>(st.st_size));
    appendLe32(out_, static_cast<std::uint32_t>(st.st_mtime));
  }

  void statV2(const std::string& id, const std::string& path) {
    struct stat st{};
    std::uint32_t error = 0;
    const fs::path host = resolve(path);
    if (host.empty()) {
      error = ENOENT;
    } else if ((id == "STA2" ? ::stat(host.c_str(), &st) : ::lstat(host.c_str(), &st)) != 0) {
      error = static_cast<std::uint32_t>(errno);
      st = {};
    }
    out_ += id;
    appendStatV2(out_, error, st);
  }

  void list(bool v2, const std::string& path) {
    const fs::path host = resolve(path);
    std::unique_ptr<DIR, int (*)(DIR*)> dir(host.empty() ? nullptr : ::opendir(host.c_str()),
                                            ::closedir);
    const bool at_root = !host.empty() && fs::path(host) == sandbox_.root();
    while (dir) {
      const dirent* entry = ::readdir(dir.get());
      if (!entry) break;
      const std::string name = entry->d_name;
      struct stat st{};
      std::uint32_t error = 0;
      // The sandbox's ".." is the host folder above it; the device's "/.." is "/".
      const fs::path entry_path = (at_root && name == "..") ? host : host / name;
      if (::lstat(entry_path.c_str(), &st) != 0) {
        if (!v2) continue;
        error = static_cast<std::uint32_t>(errno);
        st = {};
      }
      if (v2) {
        out_ += "DNT2";
        appendStatV2(out_, error, st);
      } else {
        out_ += "DENT";
        appendLe32(out_, static_cast<std::uint32_t>(st.st_mode));
        appendLe32(out_, static_cast<std::uint32_t>(st.st_size));
        appendLe32(out_, static_cast<std::uint32_t>(st.st_mtime));
      }
      appendLe32(out_, static_cast<std::uint32_t>(name.size()));
      out_ += name;
      if (out_.size() >= stream_.maxPayload() && !flushWhole()) return;
    }
    // The end of a listing is a whole entry-sized record with the id DONE.
    out_ += "DONE";
    out_.append(v2 ? 72 : 16, '\0');
  }

  bool send(const std::string& spec) {
    const std::size_t comma = spec.rfind(',');
    if (comma == std::string::npos) {
      fail("missing , in SEND request " + adb::printableBytes(spec, 200));
      return false;
    }
    const std::string path = spec.substr(0, comma);
    const std::string mode_text = spec.substr(comma + 1);
    char* end = nullptr;
    errno = 0;
    const unsigned long requested = std::strtoul(mode_text.c_str(), &end, 0);
    if (mode_text.empty() || *end != '\0' || errno != 0 || requested > 0xffffffffUL) {
      fail("bad mode " + adb::printableBytes(mode_text) + " in SEND request for " + path);
      return false;
    }
    auto mode = static_cast<mode_t>(requested);

    std::string why;
    const fs::path host = resolve(path, &why);
    if (host.empty()) return refuseSend(path, why);
    if (S_ISLNK(mode)) {
      return refuseSend(path, "pushing symbolic links is not supported by darkroom-simphone");
    }
    struct stat st{};
    if (::stat(host.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return refuseSend(path, "couldn't create file: Is a directory");
    }
    std::error_code ec;
    fs::create_directories(host.parent_path(), ec);
    if (ec) return refuseSend(path, "cannot create the folders for " + path + ": " + ec.message());

    // adbd's permissions for a pushed file: the owner's bits copied to group and others.
    mode &= 0777;
    mode |= (mode >> 3) & 0070;
    mode |= (mode >> 3) & 0007;

    PartialFile partial;
    std::string temp = (host.parent_path() / ".simphone-partial-XXXXXX").string();
    partial.fd = ::mkostemp(temp.data(), O_CLOEXEC);
    if (partial.fd < 0) {
      return refuseSend(path, "couldn't create file: " + errnoText(errno));
    }
    partial.path = temp;
    ::fchmod(partial.fd, mode);

    std::uint64_t bytes = 0;
    while (true) {
      char header[adb::kSyncHeaderBytes];
      if (!in_.readExactly(header, sizeof header)) return interrupted(path, bytes);
      const std::string id(header, 4);
      const std::uint32_t arg = adb::readLe32(reinterpret_cast<unsigned char*>(header + 4));
      if (id == "DONE") {
        const timespec times[2] = {{static_cast<time_t>(arg), 0}, {static_cast<time_t>(arg), 0}};
        ::futimens(partial.fd, times);
        const int fd = partial.fd;
        partial.fd = -1;
        if (::close(fd) != 0) return failAfterData(path, "write failed: " + errnoText(errno));
        if (::rename(partial.path.c_str(), host.c_str()) != 0) {
          return failAfterData(path, "couldn't create file: " + errnoText(errno));
        }
        partial.path.clear();
        logLine(tag_ + "received " + path + " (" + std::to_string(bytes) + " bytes)");
        out_ += "OKAY";
        appendLe32(out_, 0);
        return true;
      }
      if (id != "DATA") {
        fail("invalid data message " + adb::printableBytes(std::string_view(header, 8)) +
             " while receiving " + path + " (expected DATA or DONE)");
        return false;
      }
      if (arg > adb::kSyncDataMax) {
        fail("oversize data message: " + std::to_string(arg) + " bytes while receiving " + path +
             " (the limit is " + std::to_string(adb::kSyncDataMax) + ")");
        return false;
      }
      int write_errno = 0;
      const bool got = in_.consume(arg, [&](std::string_view piece) {
        while (!piece.empty()) {
          const ssize_t n = ::write(partial.fd, piece.data(), piece.size());
          if (n < 0) {
            if (errno == EINTR) continue;
            write_errno = errno;
            return false;
          }
          piece.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
      });
      if (write_errno != 0) {
        // Like adbd: report the failure, then read (and drop) the rest up to DONE.
        fail("write failed: " + errnoText(write_errno));
        skipToDone(arg);
        return false;
      }
      if (!got) return interrupted(path, bytes);
      bytes += arg;
    }
  }

  // FAIL for a SEND that cannot be written, then read the file's data up to DONE so the host
  // reads the message instead of a broken stream.
  bool refuseSend(const std::string& path, const std::string& why) {
    fail(why.find(path) == std::string::npos ? path + ": " + why : why);
    skipToDone(0);
    return false;
  }

  bool failAfterData(const std::string& path, const std::string& why) {
    fail(path + ": " + why);
    return false;
  }

  bool interrupted(const std::string& path, std::uint64_t bytes) {
    logLine(tag_ + "stream ended while receiving " + path + " after " + std::to_string(bytes) +
            " bytes; the partial file is removed");
    return false;
  }

  // Drops DATA messages up to DONE; `pending` bytes of the current DATA are still unread.
  void skipToDone(std::size_t pending) {
    const auto drop = [](std::string_view) { return true; };
    if (pending > 0 && !in_.consume(pending, drop)) return;
    while (true) {
      char header[adb::kSyncHeaderBytes];
      if (!in_.readExactly(header, sizeof header)) return;
      const std::string id(header, 4);
      const std::uint32_t arg = adb::readLe32(reinterpret_cast<unsigned char*>(header + 4));
      if (id != "DATA" || arg > adb::kSyncDataMax) return;
      if (!in_.consume(arg, drop)) return;
    }
  }

  bool recv(const std::string& path) {
    std::string why;
    const fs::path host = resolve(path, &why);
    if (host.empty()) {
      fail(why);
      return false;
    }
    const int fd = ::open(host.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fail("open failed: " + errnoText(errno));
      return false;
    }
    std::uint64_t bytes = 0;
    while (true) {
      const std::size_t at = out_.size();
      out_.resize(at + adb::kSyncHeaderBytes + adb::kSyncDataMax);
      const ssize_t n =
          ::read(fd, out_.data() + at + adb::kSyncHeaderBytes, adb::kSyncDataMax);
      if (n < 0 && errno == EINTR) {
        out_.resize(at);
        continue;
      }
      if (n <= 0) {
        const int e = errno;
        out_.resize(at);
        ::close(fd);
        if (n < 0) {
          fail("read failed: " + errnoText(e));
          return false;
        }
        break;
      }
      std::string header = "DATA";
      appendLe32(header, static_cast<std::uint32_t>(n));
      out_.replace(at, header.size(), header);
      out_.resize(at + adb::kSyncHeaderBytes + static_cast<std::size_t>(n));
      bytes += static_cast<std::uint64_t>(n);
      if (out_.size() >= stream_.maxPayload() && !flushWhole()) {
        ::close(fd);
        logLine(tag_ + "stream ended while sending " + path);
        return false;
      }
    }
    out_ += "DONE";
    appendLe32(out_, 0);
    logLine(tag_ + "sent " + path + " (" + std::to_string(bytes) + " bytes)");
    return true;
  }

  void fail(const std::string& message) {
    logLine(tag_ + "FAIL " + message);
    out_ += "FAIL";
    appendLe32(out_, static_cast<std::uint32_t>(message.size()));
    out_ += message;
    flushAll();
  }

  // Sends whole max-payload messages and keeps the rest for later, so a transfer is not cut
  // into full and tiny WRTEs alternately.
  bool flushWhole() {
    const std::size_t max = stream_.maxPayload();
    const std::size_t whole = out_.size() / max * max;
    if (whole == 0) return true;
    const bool ok = stream_.write(std::string_view(out_).substr(0, whole));
    out_.erase(0, whole);
    return ok;
  }

  bool flushAll() {
    if (out_.empty()) return true;
    const bool ok = stream_.write(out_);
    out_.clear();
    return ok;
  }

  Stream& stream_;
  const Sandbox& sandbox_;
  StreamReader in_;
  std::string out_;
  const std::string tag_;
};

}  // namespace

void runSync(Stream& stream, const Sandbox& sandbox) { SyncSession(stream, sandbox).run(); }

}  // namespace darkroom::simphone

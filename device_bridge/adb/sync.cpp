// The sync service: push (SEND/DATA/DONE), pull (STAT then RECV) and stat (STAT v1).
// Push sends each 64 KiB DATA chunk with its header in one buffer and one send(), reading the
// file straight into that buffer; a small file goes out as SEND+DATA+DONE in a single write.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client_internal.h"
#include "darkroom/adb/client.h"

namespace darkroom::adb {

using namespace std::chrono_literals;
using detail::Connection;

namespace {

// How often (in chunks) a push looks for an early FAIL from the device, e.g. a full disk.
constexpr int kFailCheckEvery = 8;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errnoText(int err) { return std::strerror(err); }

void checkCancel(CancelFlag cancel, const std::string& what) {
  if (cancel != nullptr && cancel->load()) throw AdbCancelled(what + " was cancelled");
}

// After the sync header id "FAIL": its argument is the message length.
std::string readFailMessage(Connection& conn, std::uint32_t length) {
  if (length > kMaxRequestPayload) {
    throw ProtocolError("sync FAIL message of " + std::to_string(length) +
                        " bytes, over the limit of " + std::to_string(kMaxRequestPayload));
  }
  return conn.readExact(length);
}

Connection openSync(const ServerAddress& address, const ClientOptions& options,
                    const std::string& serial, const std::string& context) {
  Connection conn = detail::openService(address, options, serial, "sync:");
  conn.setContext(context);
  return conn;
}

// Ends the sync session politely; the device closes its side on QUIT.
void quitSync(Connection& conn) {
  try {
    conn.writeAll(encodeSyncHeader("QUIT", 0));
  } catch (const AdbError&) {
    // The answer we needed has arrived; a device gone by now changes nothing.
  }
}

void checkPathLength(const std::string& remote, std::size_t extra) {
  if (remote.size() + extra > kSyncPathMax) {
    throw AdbError("remote path of " + std::to_string(remote.size()) +
                   " bytes is too long for adb's sync service (at most " +
                   std::to_string(kSyncPathMax - extra) + "): " + printableBytes(remote, 80));
  }
}

}  // namespace

void Client::push(const std::string& serial, const std::filesystem::path& local,
                  const std::string& remote, const ProgressFn& progress, CancelFlag cancel,
                  std::uint32_t mode) {
  const std::string what = "push of " + local.string() + " to " + serial + ":" + remote;
  const std::uint32_t wire_mode = S_IFREG | (mode & 07777);
  checkPathLength(remote, 1 + std::to_string(wire_mode).size());

  Fd file;
  file.fd = ::open(local.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd < 0) throw AdbError("cannot push " + local.string() + ": " + errnoText(errno));
  struct stat st {};
  if (fstat(file.fd, &st) != 0) throw AdbError("cannot stat " + local.string() + ": " + errnoText(errno));
  if (!S_ISREG(st.st_mode)) throw AdbError("cannot push " + local.string() + ": not a regular file");
  const std::int64_t total = st.st_size;
#ifdef POSIX_FADV_SEQUENTIAL
  posix_fadvise(file.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif

  bool device_refused = false;  // adbd removes its partial file itself after a FAIL
  bool transfer_started = false;
  try {
    detail::translateProtocolErrors(what, [&] {
      checkCancel(cancel, what);
      Connection conn = openSync(address_, options_, serial, what);
      conn.setCancel(cancel);
      transfer_started = true;

      // Reads the device's answer and throws its FAIL message.
      auto readReply = [&](bool expect_okay) {
        const SyncHeader h = parseSyncHeader(conn.readExact(kSyncHeaderBytes));
        if (h.id == "FAIL") {
          device_refused = true;
          throw AdbError(what + " failed on the device: " + readFailMessage(conn, h.arg));
        }
        if (!expect_okay || h.id != "OKAY") {
          throw ProtocolError("expected OKAY or FAIL after the pushed file, received " +
                              printableBytes(h.id) + " (argument " + std::to_string(h.arg) + ")");
        }
      };
      // A send that fails because the device closed after a FAIL: report the FAIL instead.
      auto send = [&](std::string_view bytes) {
        try {
          conn.writeAll(bytes);
        } catch (const AdbCancelled&) {
          throw;
        } catch (const AdbTimeout&) {
          throw;
        } catch (const AdbError&) {
          if (conn.isOpen() && conn.readable()) readReply(false);
          throw;
        }
      };

      std::string buf = encodeSyncSend(remote, wire_mode);
      buf.reserve(buf.size() + kSyncHeaderBytes + kSyncDataMax + 2 * kSyncHeaderBytes);
      std::int64_t done = 0;
      int chunks = 0;
      for (;;) {
        checkCancel(cancel, what);
        const std::size_t header_at = buf.size();
        buf.resize(header_at + kSyncHeaderBytes + kSyncDataMax);
        ssize_t n;
        do {
          n = ::read(file.fd, buf.data() + header_at + kSyncHeaderBytes, kSyncDataMax);
        } while (n < 0 && errno == EINTR);
        if (n < 0) throw AdbError("reading " + local.string() + " failed: " + errnoText(errno));
        if (n == 0) {
          buf.resize(header_at);
          break;
        }
        const std::string header = encodeSyncHeader("DATA", static_cast<std::uint32_t>(n));
        std::memcpy(buf.data() + header_at, header.data(), kSyncHeaderBytes);
        buf.resize(header_at + kSyncHeaderBytes + static_cast<std::size_t>(n));
        done += n;
        if (done >= total) break;  // the file's last chunk goes out together with DONE
        send(buf);
        buf.clear();
        if (progress) progress(done, total);
        if (++chunks % kFailCheckEvery == 0 && conn.readable()) readReply(false);
      }
      if (done != total) {
        throw AdbError(local.string() + " changed size while being pushed (" +
                       std::to_string(total) + " bytes at the start, " + std::to_string(done) +
                       " read)");
      }
      buf += encodeSyncHeader("DONE", static_cast<std::uint32_t>(st.st_mtime));
      send(buf);
      readReply(true);
      quitSync(conn);
      if (progress) progress(total, total);
    });
  } catch (const AdbError&) {
    // Leave nothing half-written on the device. After a FAIL adbd has removed it already; after
    // a cancel, a timeout or a dropped connection, ask a fresh shell to remove it (this fails
    // quietly when the device is really gone: the original error is what matters).
    if (transfer_started && !device_refused) {
      try {
        ClientOptions quick = options_;
        quick.timeout = std::min<std::chrono::milliseconds>(options_.timeout, 5s);
        quick.start_server = false;
        Client(address_, quick).shell(serial, {"rm", "-f", remote}, quick.timeout);
      } catch (const std::exception&) {
      }
    }
    throw;
  }
}

void Client::pull(const std::string& serial, const std::string& remote,
                  const std::filesystem::path& local, const ProgressFn& progress,
                  CancelFlag cancel) {
  const std::string what = "pull of " + serial + ":" + remote + " to " + local.string();
  checkPathLength(remote, 0);
  std::filesystem::path partial = local;
  partial += ".partial";
  Fd out;
  try {
    detail::translateProtocolErrors(what, [&] {
      checkCancel(cancel, what);
      Connection conn = openSync(address_, options_, serial, what);
      conn.setCancel(cancel);

      // STAT first: a clear error for a missing file, and the total for progress.
      conn.writeAll(encodeSyncRequest("STAT", remote));
      const std::string id = conn.readExact(4);
      if (id != "STAT") {
        throw ProtocolError("expected a STAT reply, received " + printableBytes(id));
      }
      const SyncStat remote_stat = parseSyncStatV1(conn.readExact(12));
      if (remote_stat.mode == 0) {
        throw AdbError(what + " failed: no such file on the device");
      }
      const std::int64_t total = remote_stat.size;

      out.fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (out.fd < 0) {
        throw AdbError("cannot write " + partial.string() + ": " + errnoText(errno));
      }
      conn.writeAll(encodeSyncRequest("RECV", remote));
      std::vector<char> buf(kSyncDataMax);
      std::int64_t done = 0;
      for (;;) {
        checkCancel(cancel, what);
        const SyncHeader h = parseSyncHeader(conn.readExact(kSyncHeaderBytes));
        if (h.id == "DONE") break;
        if (h.id == "FAIL") {
          throw AdbError(what + " failed on the device: " + readFailMessage(conn, h.arg));
        }
        if (h.id != "DATA") {
          throw ProtocolError("expected DATA, DONE or FAIL while pulling, received " +
                              printableBytes(h.id));
        }
        if (h.arg > kSyncDataMax) {
          throw ProtocolError("sync DATA chunk of " + std::to_string(h.arg) +
                              " bytes, over the limit of " + std::to_string(kSyncDataMax));
        }
        conn.readExact(buf.data(), h.arg);
        std::size_t written = 0;
        while (written < h.arg) {
          const ssize_t w = ::write(out.fd, buf.data() + written, h.arg - written);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) {
            throw AdbError("writing " + partial.string() + " failed: " + errnoText(errno));
          }
          written += static_cast<std::size_t>(w);
        }
        done += h.arg;
        if (progress) progress(done, std::max(total, done));
      }
      quitSync(conn);
      const int fd = out.fd;
      out.fd = -1;
      if (::close(fd) != 0) {
        throw AdbError("writing " + partial.string() + " failed: " + errnoText(errno));
      }
      std::error_code ec;
      std::filesystem::rename(partial, local, ec);
      if (ec) {
        throw AdbError("cannot rename " + partial.string() + " to " + local.string() + ": " +
                       ec.message());
      }
      if (progress) progress(done, done);
    });
  } catch (...) {
    if (out.fd >= 0) {
      ::close(out.fd);
      out.fd = -1;
    }
    std::error_code ec;
    std::filesystem::remove(partial, ec);
    throw;
  }
}

RemoteStat Client::stat(const std::string& serial, const std::string& remote) {
  const std::string what = "stat of " + serial + ":" + remote;
  checkPathLength(remote, 0);
  return detail::translateProtocolErrors(what, [&] {
    Connection conn = openSync(address_, options_, serial, what);
    conn.writeAll(encodeSyncRequest("STAT", remote));
    const std::string id = conn.readExact(4);
    if (id == "FAIL") {
      const std::string len = conn.readExact(4);
      throw AdbError(what + " failed on the device: " +
                     readFailMessage(conn, readLe32(reinterpret_cast<const unsigned char*>(len.data()))));
    }
    if (id != "STAT") throw ProtocolError("expected a STAT reply, received " + printableBytes(id));
    const SyncStat s = parseSyncStatV1(conn.readExact(12));
    quitSync(conn);
    RemoteStat r;
    r.exists = s.mode != 0;
    r.mode = s.mode;
    r.size = s.size;
    r.mtime = s.mtime;
    return r;
  });
}

}  // namespace darkroom::adb

// A TCP connection to the adb server with a timeout on every connect, read and write, and a
// cancel flag checked between poll() slices of at most 200 ms. Internal to libdarkroom_adb.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "darkroom/adb/client.h"

namespace darkroom::adb::detail {

// Nothing listens on the port (ECONNREFUSED): the caller may start the server and retry.
struct ServerNotRunning : AdbError {
  using AdbError::AdbError;
};

class Connection {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects within `timeout`. Throws ServerNotRunning when the port refuses, AdbTimeout when
  // nothing answers, AdbError otherwise.
  static Connection open(const ServerAddress& address, std::chrono::milliseconds timeout);

  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Each wait for bytes (or for room to write) may last this long; zero or negative: forever
  // (the cancel flag and the deadline still apply).
  void setTimeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  // A bound on the whole exchange, on top of the per-read timeout.
  void setDeadline(std::optional<Clock::time_point> deadline) { deadline_ = deadline; }
  void setCancel(CancelFlag cancel) { cancel_ = cancel; }
  // Stop flag for trackDevices: like cancel, but the waits return false instead of throwing.
  void setStop(const std::atomic<bool>* stop) { stop_ = stop; }
  // What the connection is for ("host:devices-l", "sync: push of x"), used in error messages.
  void setContext(std::string context) { context_ = std::move(context); }
  const std::string& context() const { return context_; }

  void writeAll(std::string_view bytes);
  // Reads exactly n bytes. Throws AdbError when the peer closes first.
  void readExact(char* out, std::size_t n);
  std::string readExact(std::size_t n);
  // Reads whatever is available (at least one byte), up to max. Returns 0 at end of stream.
  std::size_t readSome(char* out, std::size_t max);
  // True when a byte can be read (or the peer closed) right now; never blocks.
  bool readable();
  // With a stop flag set: waits until bytes are buffered or the stop flag rises (returns false).
  bool waitReadable();

  // The reply to a request: OKAY, or FAIL with its message turned into AdbError.
  void readStatus(std::string_view request);
  // 4 hex digits, then that many bytes.
  std::string readLengthPrefixed(std::size_t limit = kMaxRequestPayload);

  void close();
  bool isOpen() const { return fd_ >= 0; }

 private:
  explicit Connection(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  // Waits for `events` on the socket in slices; returns false only when the stop flag rose.
  bool waitFor(short events, const char* doing);
  [[noreturn]] void throwGone(const std::string& doing, int err) const;
  // One recv() into out; waits when nothing is there. Returns 0 at end of stream.
  std::size_t receive(char* out, std::size_t max);

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::optional<Clock::time_point> deadline_;
  CancelFlag cancel_ = nullptr;
  const std::atomic<bool>* stop_ = nullptr;
  std::string context_;
  // Reads go through this buffer so small headers do not cost a syscall each.
  std::vector<char> buffer_;
  std::size_t buffer_start_ = 0;
  std::size_t buffer_end_ = 0;
};

}  // namespace darkroom::adb::detail

// Non-blocking TCP socket with poll(): every wait is cut into slices of at most 200 ms so a
// cancel or stop flag is noticed quickly, and the sum of the slices is bounded by the timeout.
// I/O is tried first and only waited for when the kernel says EAGAIN, which keeps bulk
// transfers at one syscall per buffer.
#include "socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace darkroom::adb::detail {

namespace {

constexpr std::chrono::milliseconds kSlice{200};
constexpr std::size_t kReadBuffer = 128 * 1024;

std::string describeTimeout(std::chrono::milliseconds t) {
  return std::to_string(t.count()) + " ms";
}

}  // namespace

Connection Connection::open(const ServerAddress& address, std::chrono::milliseconds timeout) {
  const std::string where = address.host + ":" + std::to_string(address.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (const int rc = getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw AdbError("cannot resolve the adb server address " + where + ": " + gai_strerror(rc));
  }
  std::string last_error = "no address";
  bool refused = false;
  bool timed_out = false;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int rc;
        do {
          rc = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(timeout.count(), 1)));
        } while (rc < 0 && errno == EINTR);
        if (rc == 0) {
          err = ETIMEDOUT;
          timed_out = true;
        } else {
          socklen_t len = sizeof err;
          if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        }
      }
    }
    if (err == 0) {
      freeaddrinfo(found);
      // Requests are written whole by the caller; without Nagle a small request is not held
      // back waiting for the ACK of the previous one.
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return Connection(fd, timeout);
    }
    if (err == ECONNREFUSED) refused = true;
    last_error = std::strerror(err);
    ::close(fd);
  }
  freeaddrinfo(found);
  if (refused) {
    throw ServerNotRunning("no adb server listens on " + where + " (connection refused)");
  }
  if (timed_out) {
    throw AdbTimeout("connecting to the adb server at " + where + " took longer than " +
                     describeTimeout(timeout));
  }
  throw AdbError("cannot connect to the adb server at " + where + ": " + last_error);
}

Connection::Connection(Connection&& other) noexcept { *this = std::move(other); }

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    other.fd_ = -1;
    timeout_ = other.timeout_;
    deadline_ = other.deadline_;
    cancel_ = other.cancel_;
    stop_ = other.stop_;
    context_ = std::move(other.context_);
    buffer_ = std::move(other.buffer_);
    buffer_start_ = other.buffer_start_;
    buffer_end_ = other.buffer_end_;
  }
  return *this;
}

Connection::~Connection() { close(); }

void Connection::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void Connection::throwGone(const std::string& doing, int err) const {
  std::string msg = "the adb server closed the connection while " + doing;
  if (!context_.empty()) msg += " (" + context_ + ")";
  if (err != 0) msg += ": " + std::string(std::strerror(err));
  msg += "; the server or the device went away (check `adb devices`)";
  throw AdbError(msg);
}

bool Connection::waitFor(short events, const char* doing) {
  if (fd_ < 0) throw AdbError("adb connection used after it was closed (" + context_ + ")");
  const auto start = Clock::now();
  for (;;) {
    if (cancel_ != nullptr && cancel_->load()) {
      throw AdbCancelled("cancelled while " + std::string(doing) +
                         (context_.empty() ? "" : " (" + context_ + ")"));
    }
    if (stop_ != nullptr && stop_->load()) return false;
    const auto now = Clock::now();
    auto slice = kSlice;
    if (timeout_.count() > 0) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(start + timeout_ - now);
      if (now >= start + timeout_) {
        throw AdbTimeout("no answer within " + describeTimeout(timeout_) + " while " + doing +
                         (context_.empty() ? "" : " (" + context_ + ")") +
                         "; the device may have hung or been unplugged");
      }
      slice = std::min(slice, left);
    }
    if (deadline_) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline_ - now);
      if (now >= *deadline_) {
        throw AdbTimeout("time limit reached while " + std::string(doing) +
                         (context_.empty() ? "" : " (" + context_ + ")"));
      }
      slice = std::min(slice, left);
    }
    pollfd p{fd_, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(slice.count(), 1)));
    if (rc > 0) return true;  // ready, or an error/hang-up that the next call reports
    if (rc < 0 && errno != EINTR) throwGone(doing, errno);
  }
}

void Connection::writeAll(std::string_view bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    if (cancel_ != nullptr && cancel_->load()) {
      throw AdbCancelled("cancelled while sending" + (context_.empty() ? "" : " (" + context_ + ")"));
    }
    if (fd_ < 0) throw AdbError("adb connection used after it was closed (" + context_ + ")");
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    const int err = errno;
    if (n < 0 && err == EINTR) continue;
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
      waitFor(POLLOUT, "sending");
      continue;
    }
    throwGone("sending", n < 0 ? err : 0);
  }
}

std::size_t Connection::receive(char* out, std::size_t max) {
  for (;;) {
    if (cancel_ != nullptr && cancel_->load()) {
      throw AdbCancelled("cancelled while reading" +
                         (context_.empty() ? "" : " (" + context_ + ")"));
    }
    if (fd_ < 0) throw AdbError("adb connection used after it was closed (" + context_ + ")");
    const ssize_t n = ::recv(fd_, out, max, 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (!waitFor(POLLIN, "reading")) return 0;  // only with a raised stop flag
      if (stop_ != nullptr && stop_->load()) return 0;
      continue;
    }
    throwGone("reading", err);
  }
}

std::size_t Connection::readSome(char* out, std::size_t max) {
  if (max == 0) return 0;
  if (buffer_start_ < buffer_end_) {
    const std::size_t n = std::min(max, buffer_end_ - buffer_start_);
    std::memcpy(out, buffer_.data() + buffer_start_, n);
    buffer_start_ += n;
    return n;
  }
  // Big reads go straight to the caller; small ones fill the buffer for the reads after them.
  if (max >= kReadBuffer / 2) return receive(out, max);
  if (buffer_.size() < kReadBuffer) buffer_.resize(kReadBuffer);
  buffer_start_ = 0;
  buffer_end_ = receive(buffer_.data(), buffer_.size());
  const std::size_t n = std::min(max, buffer_end_);
  std::memcpy(out, buffer_.data(), n);
  buffer_start_ = n;
  return n;
}

void Connection::readExact(char* out, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const std::size_t r = readSome(out + got, n - got);
    if (r == 0) {
      if (stop_ != nullptr && stop_->load()) {
        throw AdbCancelled("stopped while reading" +
                           (context_.empty() ? "" : " (" + context_ + ")"));
      }
      throwGone("reading (" + std::to_string(got) + " of " + std::to_string(n) +
                    " bytes had arrived)",
                0);
    }
    got += r;
  }
}

std::string Connection::readExact(std::size_t n) {
  std::string s(n, '\0');
  readExact(s.data(), n);
  return s;
}

bool Connection::readable() {
  if (buffer_start_ < buffer_end_) return true;
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

bool Connection::waitReadable() {
  if (buffer_start_ < buffer_end_) return true;
  return waitFor(POLLIN, "waiting for the next update");
}

void Connection::readStatus(std::string_view request) {
  const std::string status = readExact(4);
  if (parseStatus(status)) return;
  std::string message;
  try {
    message = readLengthPrefixed(0xffff);
  } catch (const AdbError&) {
    message = "(the server closed the connection before its message)";
  } catch (const ProtocolError& e) {
    message = std::string("(a malformed message: ") + e.what() + ")";
  }
  throw AdbError("adb server refused " + printableBytes(request, 200) + ": " + message);
}

std::string Connection::readLengthPrefixed(std::size_t limit) {
  const std::string prefix = readExact(4);
  const std::size_t n = parseLengthPrefix(prefix, limit);
  return readExact(n);
}

}  // namespace darkroom::adb::detail

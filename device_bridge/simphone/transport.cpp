#include "transport.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "darkroom/adb/protocol.h"
#include "log.h"

namespace darkroom::simphone {

// --- Stream ------------------------------------------------------------------------------------

Stream::Stream(Connection& connection, std::uint32_t local_id, std::uint32_t remote_id,
               std::string service)
    : connection_(connection),
      local_id_(local_id),
      remote_id_(remote_id),
      service_(std::move(service)) {}

std::size_t Stream::maxPayload() const { return connection_.maxPayload(); }

bool Stream::read(std::string& chunk) {
  bool ack = false;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !input_.empty() || closed_; });
    if (input_.empty()) return false;
    chunk = std::move(input_.front());
    input_.pop_front();
    input_bytes_ -= chunk.size();
    if (owe_okay_ && input_bytes_ < kInputWindow && !closed_) {
      owe_okay_ = false;
      ack = true;
    }
  }
  if (ack) connection_.send(kOkay, local_id_, remote_id_, {});
  return true;
}

bool Stream::write(std::string_view data) {
  const std::size_t max = connection_.maxPayload();
  while (!data.empty()) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return can_write_ || closed_; });
      if (closed_) return false;
      can_write_ = false;
    }
    const std::size_t n = std::min(data.size(), max);
    // Never under mutex_: a send blocked on a full socket must not stop the reader thread from
    // delivering the host's OKAYs.
    if (!connection_.send(kWrte, local_id_, remote_id_, data.substr(0, n))) return false;
    data.remove_prefix(n);
  }
  return true;
}

bool Stream::closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return closed_;
}

void Stream::finish() {
  bool send_close = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    finished_ = true;
    send_close = !closed_;
    closed_ = true;
  }
  cv_.notify_all();
  connection_.streamFinished(local_id_, remote_id_, send_close);
}

Stream::Delivery Stream::deliver(std::string payload) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (owe_okay_) return Delivery::Violation;
  if (closed_) return Delivery::AckLater;  // the service is gone; the CLSE is on its way
  input_bytes_ += payload.size();
  input_.push_back(std::move(payload));
  cv_.notify_all();
  if (input_bytes_ < kInputWindow) return Delivery::AckNow;
  owe_okay_ = true;
  return Delivery::AckLater;
}

void Stream::acknowledged() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    can_write_ = true;
  }
  cv_.notify_all();
}

void Stream::closeFromHost() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  cv_.notify_all();
}

// --- StreamReader ------------------------------------------------------------------------------

bool StreamReader::fill() {
  while (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
    if (!stream_.read(buffer_)) return false;
  }
  return true;
}

bool StreamReader::readExactly(char* out, std::size_t n) {
  while (n > 0) {
    if (!fill()) return false;
    const std::size_t take = std::min(n, buffer_.size() - pos_);
    std::memcpy(out, buffer_.data() + pos_, take);
    pos_ += take;
    out += take;
    n -= take;
  }
  return true;
}

bool StreamReader::consume(std::size_t n, const std::function<bool(std::string_view)>& sink) {
  while (n > 0) {
    if (!fill()) return false;
    const std::size_t take = std::min(n, buffer_.size() - pos_);
    const std::string_view piece(buffer_.data() + pos_, take);
    pos_ += take;
    n -= take;
    if (!sink(piece)) return false;
  }
  return true;
}

bool StreamReader::atEnd() { return !fill(); }

// --- Connection --------------------------------------------------------------------------------

Connection::Connection(int fd, std::string peer, std::string banner, ServiceLookup lookup)
    : fd_(fd), peer_(std::move(peer)), banner_(std::move(banner)), lookup_(std::move(lookup)) {}

Connection::~Connection() { ::close(fd_); }

void Connection::stop() {
  stopping_ = true;
  ::shutdown(fd_, SHUT_RDWR);
}

bool Connection::readExactly(void* out, std::size_t n) {
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    const ssize_t got = ::recv(fd_, p, n, 0);
    if (got > 0) {
      p += got;
      n -= static_cast<std::size_t>(got);
    } else if (got < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

bool Connection::send(std::uint32_t command, std::uint32_t arg0, std::uint32_t arg1,
                      std::string_view payload) {
  const bool checksum = version_.load() < kVersionSkipChecksum;
  const auto header = encodeHeader(command, arg0, arg1, payload, checksum);
  std::lock_guard<std::mutex> lock(write_mutex_);
  if (write_failed_) return false;
  iovec iov[2] = {{const_cast<unsigned char*>(header.data()), header.size()},
                  {const_cast<char*>(payload.data()), payload.size()}};
  int first = 0;
  const int count = payload.empty() ? 1 : 2;
  while (first < count) {
    msghdr msg{};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = static_cast<std::size_t>(count - first);
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!stopping_) {
        logLine("connection " + peer_ + ": sending " + commandName(command) + " failed: " +
                std::strerror(errno) + "; dropping the connection");
      }
      write_failed_ = true;
      ::shutdown(fd_, SHUT_RDWR);
      return false;
    }
    auto left = static_cast<std::size_t>(n);
    while (first < count && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (first < count) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return true;
}

void Connection::run() {
  logLine("connection " + peer_ + ": opened");
  std::string reason = "the host disconnected";
  while (true) {
    unsigned char raw[kHeaderBytes];
    if (!readExactly(raw, sizeof raw)) break;
    const Header header = decodeHeader(raw);
    const std::string problem = headerProblem(header, kMaxPayload);
    if (!problem.empty()) {
      reason = "garbage from the host (" + problem + "; header bytes " +
               adb::printableBytes(std::string_view(reinterpret_cast<char*>(raw), sizeof raw)) +
               ")";
      break;
    }
    std::string payload(header.data_length, '\0');
    if (header.data_length > 0 && !readExactly(payload.data(), payload.size())) {
      reason = "the host disconnected in the middle of a " + commandName(header.command) +
               " payload";
      break;
    }
    if (version_.load() < kVersionSkipChecksum && byteSum(payload) != header.data_crc32) {
      reason = "garbage from the host (" + commandName(header.command) +
               " payload checksum " + std::to_string(byteSum(payload)) +
               " does not match the header's " + std::to_string(header.data_crc32) + ")";
      break;
    }
    if (!handle(header, std::move(payload))) {
      reason.clear();  // handle() logged why
      break;
    }
  }
  if (stopping_) reason = "the phone is shutting down";
  if (!reason.empty()) logLine("connection " + peer_ + ": closing: " + reason);
  stopping_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  closeAllStreams();
  std::unique_lock<std::mutex> lock(services_mutex_);
  services_cv_.wait(lock, [&] { return running_services_ == 0; });
  logLine("connection " + peer_ + ": closed");
}

bool Connection::handle(const Header& header, std::string payload) {
  if (header.command == kCnxn) {
    handleConnect(header, payload);
    return !stopping_;
  }
  if (!online_) {
    logLine("connection " + peer_ + ": ignoring " + commandName(header.command) +
            " before the host's CNXN");
    return true;
  }
  switch (header.command) {
    case kAuth:
      logLine("connection " + peer_ + ": ignoring AUTH (this phone does not ask for one)");
      return true;
    case kOpen:
      return handleOpen(header, std::move(payload));
    case kOkay: {
      if (auto stream = findStream(header.arg1)) stream->acknowledged();
      return true;
    }
    case kWrte: {
      auto stream = findStream(header.arg1);
      if (!stream) return true;  // closed while the WRTE was on its way
      if (stream->remoteId() != header.arg0) {
        logLine("connection " + peer_ + ": WRTE for stream " + std::to_string(header.arg1) +
                " names host stream " + std::to_string(header.arg0) + " instead of " +
                std::to_string(stream->remoteId()) + "; dropping the connection");
        return false;
      }
      switch (stream->deliver(std::move(payload))) {
        case Stream::Delivery::AckNow:
          send(kOkay, stream->localId(), stream->remoteId(), {});
          break;
        case Stream::Delivery::AckLater:
          break;
        case Stream::Delivery::Violation:
          logLine("connection " + peer_ + ": the host sent a second WRTE on stream " +
                  std::to_string(header.arg1) + " before our OKAY; dropping the connection");
          return false;
      }
      return true;
    }
    case kClse: {
      std::shared_ptr<Stream> stream;
      {
        std::lock_guard<std::mutex> lock(streams_mutex_);
        auto it = streams_.find(header.arg1);
        if (it != streams_.end()) {
          stream = it->second;
          streams_.erase(it);
        }
      }
      if (stream) {
        logLine("stream " + std::to_string(stream->localId()) + ": closed by the host");
        stream->closeFromHost();
      }
      return true;
    }
    default:
      return true;  // headerProblem() let only known commands through
  }
}

void Connection::handleConnect(const Header& header, const std::string& payload) {
  if (header.arg0 < kVersionMin) {
    logLine("connection " + peer_ + ": host protocol version " + std::to_string(header.arg0) +
            " is older than the oldest one adb knows; dropping the connection");
    stop();
    return;
  }
  if (header.arg1 < kMaxPayloadV1) {
    logLine("connection " + peer_ + ": host accepts only " + std::to_string(header.arg1) +
            " bytes per message, below adb's minimum of 4096; dropping the connection");
    stop();
    return;
  }
  if (online_) {
    // A second CNXN means the host started over: its streams are gone (adbd does the same).
    logLine("connection " + peer_ + ": the host connected again; closing its old streams");
    closeAllStreams();
  }
  const std::string host_banner(payload.c_str());  // the banner may end with a NUL
  logLine("connection " + peer_ + ": CNXN from \"" + host_banner + "\"");
  // Our CNXN still carries a checksum: the host may check it until it has seen our version.
  send(kCnxn, kVersion, static_cast<std::uint32_t>(kMaxPayload), banner_);
  version_ = std::min(header.arg0, kVersion);
  max_payload_ = std::min<std::size_t>(header.arg1, kMaxPayload);
  online_ = true;
}

bool Connection::handleOpen(const Header& header, std::string payload) {
  if (header.arg0 == 0) {
    logLine("connection " + peer_ + ": OPEN with stream id 0; dropping the connection");
    return false;
  }
  while (!payload.empty() && payload.back() == '\0') payload.pop_back();
  ServiceFn service = lookup_(payload);
  if (!service) {
    logLine("connection " + peer_ + ": no service \"" + payload + "\" on this phone; refusing");
    send(kClse, 0, header.arg0, {});
    return true;
  }
  std::shared_ptr<Stream> stream;
  {
    std::lock_guard<std::mutex> lock(streams_mutex_);
    std::uint32_t id = next_id_;
    while (id == 0 || streams_.count(id) != 0) ++id;
    next_id_ = id + 1;
    stream = std::make_shared<Stream>(*this, id, header.arg0, payload);
    streams_[id] = stream;
  }
  logLine("stream " + std::to_string(stream->localId()) + ": open \"" + payload + "\"");
  send(kOkay, stream->localId(), stream->remoteId(), {});
  {
    std::lock_guard<std::mutex> lock(services_mutex_);
    ++running_services_;
  }
  try {
    std::thread([self = shared_from_this(), stream, service = std::move(service)] {
      service(*stream);
      stream->finish();
      std::lock_guard<std::mutex> lock(self->services_mutex_);
      --self->running_services_;
      self->services_cv_.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    logLine("stream " + std::to_string(stream->localId()) + ": cannot start a thread: " +
            e.what());
    {
      std::lock_guard<std::mutex> lock(services_mutex_);
      --running_services_;
    }
    stream->finish();
  }
  return true;
}

std::shared_ptr<Stream> Connection::findStream(std::uint32_t local_id) {
  std::lock_guard<std::mutex> lock(streams_mutex_);
  auto it = streams_.find(local_id);
  return it == streams_.end() ? nullptr : it->second;
}

void Connection::streamFinished(std::uint32_t local_id, std::uint32_t remote_id,
                                bool send_close) {
  {
    std::lock_guard<std::mutex> lock(streams_mutex_);
    streams_.erase(local_id);
  }
  if (send_close) send(kClse, local_id, remote_id, {});
}

void Connection::closeAllStreams() {
  std::map<std::uint32_t, std::shared_ptr<Stream>> streams;
  {
    std::lock_guard<std::mutex> lock(streams_mutex_);
    streams.swap(streams_);
  }
  for (auto& [id, stream] : streams) stream->closeFromHost();
}

}  // namespace darkroom::simphone

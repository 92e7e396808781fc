// One adb server connected to the simulated phone: the CNXN handshake, then OPEN/OKAY/WRTE/CLSE
// streams, each served by its own thread. Flow control is adbd's: at most one WRTE in flight per
// stream and direction until the other side answers OKAY. Data from the host is queued per
// stream and acknowledged at once while the queue holds less than kInputWindow bytes, later
// (when the service has read it) otherwise, so a slow service slows the host down instead of
// growing memory.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "amessage.h"

namespace darkroom::simphone {

class Connection;

constexpr std::size_t kInputWindow = 2 * kMaxPayload;

// One stream opened by the host. The service thread reads and writes; the connection's reader
// thread delivers the host's messages.
class Stream {
 public:
  Stream(Connection& connection, std::uint32_t local_id, std::uint32_t remote_id,
         std::string service);

  std::uint32_t localId() const { return local_id_; }
  std::uint32_t remoteId() const { return remote_id_; }
  const std::string& service() const { return service_; }
  std::size_t maxPayload() const;

  // --- for the service ---
  // The next bytes the host wrote. False once the stream is closed and nothing is left.
  bool read(std::string& chunk);
  // Sends `data` as WRTE messages of at most maxPayload() bytes, each after the host's OKAY
  // for the previous one. False when the stream or the connection closed first.
  bool write(std::string_view data);
  // Whether the host closed the stream (or the connection is gone).
  bool closed() const;
  // The service is done: CLSE to the host (unless it closed first) and wake every waiter.
  void finish();

  // --- for the connection ---
  enum class Delivery { AckNow, AckLater, Violation };
  Delivery deliver(std::string payload);
  void acknowledged();
  void closeFromHost();

 private:
  Connection& connection_;
  const std::uint32_t local_id_, remote_id_;
  const std::string service_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> input_;
  std::size_t input_bytes_ = 0;
  bool owe_okay_ = false;   // a WRTE from the host waits for its OKAY
  bool can_write_ = true;   // OPEN implies the host is ready for our first WRTE
  bool closed_ = false;     // by the host, the connection, or finish()
  bool finished_ = false;
};

// Reads a stream as a byte sequence (the sync protocol's messages span WRTE boundaries).
class StreamReader {
 public:
  explicit StreamReader(Stream& stream) : stream_(stream) {}
  // False when the stream ended first.
  bool readExactly(char* out, std::size_t n);
  // Hands the next n bytes to `sink` in pieces as they are buffered, without copying them;
  // false when the stream ended or `sink` returned false.
  bool consume(std::size_t n, const std::function<bool(std::string_view)>& sink);
  // True when the stream ended cleanly with nothing buffered (the host closed between messages).
  bool atEnd();

 private:
  bool fill();
  Stream& stream_;
  std::string buffer_;
  std::size_t pos_ = 0;
};

using ServiceFn = std::function<void(Stream&)>;
// The runner for a service name, or an empty function when the phone has no such service.
using ServiceLookup = std::function<ServiceFn(const std::string& name)>;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Takes ownership of the connected socket `fd`.
  Connection(int fd, std::string peer, std::string banner, ServiceLookup lookup);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Serves the host until it disconnects, sends something the protocol does not allow, or stop()
  // is called; then closes every stream and waits for their services to end.
  void run();
  // From any thread: makes run() return soon.
  void stop();

  // Sends one message; false (and the connection is stopped) when the socket fails.
  bool send(std::uint32_t command, std::uint32_t arg0, std::uint32_t arg1,
            std::string_view payload);
  std::size_t maxPayload() const { return max_payload_.load(); }
  const std::string& peer() const { return peer_; }

  // Called by Stream::finish.
  void streamFinished(std::uint32_t local_id, std::uint32_t remote_id, bool send_close);

 private:
  bool readExactly(void* out, std::size_t n);
  // False: drop the connection (the reason has been logged).
  bool handle(const Header& header, std::string payload);
  void handleConnect(const Header& header, const std::string& payload);
  bool handleOpen(const Header& header, std::string payload);
  void closeAllStreams();
  std::shared_ptr<Stream> findStream(std::uint32_t local_id);

  const int fd_;
  const std::string peer_;
  const std::string banner_;
  const ServiceLookup lookup_;

  std::mutex write_mutex_;
  bool write_failed_ = false;
  std::atomic<bool> stopping_{false};

  bool online_ = false;  // the host's CNXN has arrived (reader thread only)
  std::atomic<std::uint32_t> version_{kVersionMin};
  std::atomic<std::size_t> max_payload_{kMaxPayloadV1};

  std::mutex streams_mutex_;
  std::map<std::uint32_t, std::shared_ptr<Stream>> streams_;
  std::uint32_t next_id_ = 1;

  std::mutex services_mutex_;
  std::condition_variable services_cv_;
  int running_services_ = 0;
};

}  // namespace darkroom::simphone

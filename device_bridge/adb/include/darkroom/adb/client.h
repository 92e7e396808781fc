// A client of the adb server (the `adb` program's background process, 127.0.0.1:5037 or
// $ANDROID_ADB_SERVER_PORT). It speaks the server's smart-socket protocol directly: device list
// and tracking, transport selection by serial, shell protocol v2 and the sync service (push, pull,
// stat). When no server listens it starts one with the `adb` binary. No Qt.
//
// Every read has a timeout; transfers report progress and can be cancelled. Errors say what
// failed and how to fix it (AdbError); a FAIL reply from the server carries its message.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "darkroom/adb/protocol.h"

namespace darkroom::adb {

struct AdbError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// No byte arrived within the timeout (the device hung or the cable was pulled).
struct AdbTimeout : AdbError {
  using AdbError::AdbError;
};
// The caller's cancel flag was raised; a push removes its partial remote file before throwing.
struct AdbCancelled : AdbError {
  using AdbError::AdbError;
};

struct ServerAddress {
  std::string host = "127.0.0.1";
  int port = 5037;
  // $ANDROID_ADB_SERVER_PORT when set (as the adb program itself does), else 5037.
  static ServerAddress fromEnvironment();
};

struct ClientOptions {
  std::chrono::milliseconds timeout{10000};  // for every read and connect
  std::string adb_binary = "adb";            // used to start the server when none listens
  bool start_server = true;
};

struct ShellResult {
  std::string out;
  std::string err;
  int exit_code = 0;
};

struct RemoteStat {
  bool exists = false;
  std::uint32_t mode = 0;  // st_mode bits
  std::int64_t size = 0;
  std::int64_t mtime = 0;  // seconds since the epoch
};

// done and total are bytes; called at least once per 64 KiB chunk and once at the end.
using ProgressFn = std::function<void(std::int64_t done, std::int64_t total)>;
// A raised flag stops the operation at the next chunk (or next read) with AdbCancelled.
using CancelFlag = const std::atomic<bool>*;

class Client {
 public:
  explicit Client(ServerAddress address = ServerAddress::fromEnvironment(),
                  ClientOptions options = {});

  const ServerAddress& address() const { return address_; }
  const ClientOptions& options() const { return options_; }

  // Connects to the server, starting it with `adb -P PORT start-server` when nothing listens
  // (and options.start_server). Throws AdbError naming the port and the command to run.
  void ensureServer();
  int serverVersion();                                // host:version
  std::vector<DeviceEntry> devices();                 // host:devices-l
  // host:connect:HOST:PORT. Returns the server's text ("connected to ...", "already connected
  // to ..."); any other text (the server answers OKAY with "failed to connect ...") throws
  // AdbError carrying it.
  std::string connect(const std::string& host_port);
  std::string disconnect(const std::string& host_port);  // the server's text
  // host:track-devices-l: calls on_change with the whole list at once and on every change,
  // until `stop` is raised (checked at least every 200 ms) or the server goes away (AdbError).
  void trackDevices(const std::function<void(const std::vector<DeviceEntry>&)>& on_change,
                    const std::atomic<bool>& stop);

  // Runs argv on the device (each argument quoted with shellQuote) through shell,v2:, collecting
  // stdout, stderr and the exit code. `timeout` bounds the whole command (0: options.timeout per
  // read only).
  ShellResult shell(const std::string& serial, const std::vector<std::string>& argv,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds{0});
  // Streams: on_stdout / on_stderr get chunks as they arrive; returns the exit code. The
  // command line is passed as is (quote with shellCommand). A raised cancel flag closes the
  // stream (the device's shell gets SIGHUP) and throws AdbCancelled. Like every read, the wait
  // for the next output is bounded by options.timeout: a command silent for longer is taken as
  // hung (AdbTimeout).
  int shellStream(const std::string& serial, const std::string& command_line,
                  const std::function<void(std::string_view)>& on_stdout,
                  const std::function<void(std::string_view)>& on_stderr,
                  CancelFlag cancel = nullptr);
  // getprop, parsed: "[ro.product.model]: [Pixel 8]" -> {"ro.product.model", "Pixel 8"}.
  std::map<std::string, std::string> properties(const std::string& serial);

  // sync: SEND in 64 KiB DATA chunks with the file's mode and mtime. Throws AdbError when the
  // device refuses (its FAIL message), AdbCancelled / AdbTimeout otherwise; after a failure the
  // partial remote file is removed when the device is still reachable.
  void push(const std::string& serial, const std::filesystem::path& local,
            const std::string& remote, const ProgressFn& progress = {},
            CancelFlag cancel = nullptr, std::uint32_t mode = 0644);
  // sync: STAT (a missing file is an AdbError), then RECV into local.partial, renamed to local
  // when complete; the partial file is removed on any failure.
  void pull(const std::string& serial, const std::string& remote,
            const std::filesystem::path& local, const ProgressFn& progress = {},
            CancelFlag cancel = nullptr);
  RemoteStat stat(const std::string& serial, const std::string& remote);

 private:
  ServerAddress address_;
  ClientOptions options_;
};

// One literal argument for the device's /system/bin/sh: single-quoted, with ' as '\''. A file
// name with spaces, quotes, ';' or '$(...)' reaches the program as exactly one argument.
std::string shellQuote(const std::string& argument);
// argv joined with spaces, each argument quoted (the program name too).
std::string shellCommand(const std::vector<std::string>& argv);

}  // namespace darkroom::adb

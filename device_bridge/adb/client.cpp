// The adb server client: host services (version, devices, connect, track) and the device
// services that run commands (shell protocol v2). Push, pull and stat are in sync.cpp.
#include "darkroom/adb/client.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "client_internal.h"

extern char** environ;

namespace darkroom::adb {

using namespace std::chrono_literals;
using detail::Connection;

// --- server address and start-up ----------------------------------------------------------------

ServerAddress ServerAddress::fromEnvironment() {
  ServerAddress address;
  const char* env = std::getenv("ANDROID_ADB_SERVER_PORT");
  if (env != nullptr && *env != '\0') {
    char* end = nullptr;
    errno = 0;
    const long port = std::strtol(env, &end, 10);
    if (errno != 0 || *end != '\0' || port <= 0 || port > 65535) {
      throw AdbError("ANDROID_ADB_SERVER_PORT is \"" + std::string(env) +
                     "\"; it must be a port number from 1 to 65535 (or unset for 5037)");
    }
    address.port = static_cast<int>(port);
  }
  return address;
}

namespace {

std::string startCommandText(const ServerAddress& address, const ClientOptions& options) {
  return options.adb_binary + " -P " + std::to_string(address.port) + " start-server";
}

// Runs `adb -P PORT start-server`, which returns once the server listens. Its output goes to a
// temporary file (not a pipe: the server it forks may keep the descriptor open for its lifetime)
// and is quoted when it fails.
void startServer(const ServerAddress& address, const ClientOptions& options) {
  const std::string command = startCommandText(address, options);
  char log_path[] = "/tmp/darkroom-adb-start-XXXXXX";
  // Close-on-exec: the server and any other child forked meanwhile must not inherit it.
  const int log_fd = mkostemp(log_path, O_CLOEXEC);
  if (log_fd < 0) {
    throw AdbError("cannot create a temporary file to start the adb server: " +
                   std::string(std::strerror(errno)));
  }
  unlink(log_path);  // the descriptor keeps it readable; nothing is left behind
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
  const std::string port = std::to_string(address.port);
  std::vector<char*> argv = {const_cast<char*>(options.adb_binary.c_str()),
                             const_cast<char*>("-P"), const_cast<char*>(port.c_str()),
                             const_cast<char*>("start-server"), nullptr};
  pid_t pid = -1;
  const int rc =
      posix_spawnp(&pid, options.adb_binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ::close(log_fd);
    if (rc == ENOENT) {
      throw AdbError("adb not found: install the Debian package adb (no program \"" +
                     options.adb_binary + "\"" +
                     (options.adb_binary.find('/') == std::string::npos ? " on PATH" : "") +
                     "; needed to start the adb server on port " + port + ")");
    }
    throw AdbError("cannot run `" + command + "`: " + std::strerror(rc));
  }
  // Starting a server takes a second or two; allow more than the per-read timeout.
  const auto limit = std::max<std::chrono::milliseconds>(options.timeout, 30s);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      ::close(log_fd);
      throw AdbError("lost track of `" + command + "`: " + std::strerror(errno));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ::close(log_fd);
      throw AdbTimeout("`" + command + "` did not finish within " +
                       std::to_string(limit.count()) + " ms");
    }
    std::this_thread::sleep_for(20ms);
  }
  std::string output;
  {
    char buf[4096];
    ssize_t n;
    off_t offset = 0;
    while ((n = pread(log_fd, buf, sizeof buf, offset)) > 0 && output.size() < 16384) {
      output.append(buf, static_cast<std::size_t>(n));
      offset += n;
    }
    ::close(log_fd);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    throw AdbError("adb not found: install the Debian package adb (`" + command +
                   "` could not run the program: " + output + ")");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                              : "signal " + std::to_string(WTERMSIG(status));
    throw AdbError("`" + command + "` failed (" + how + ")" +
                   (output.empty() ? std::string() : ": " + output));
  }
}

}  // namespace

namespace detail {

Connection openServer(const ServerAddress& address, const ClientOptions& options) {
  try {
    return Connection::open(address, options.timeout);
  } catch (const ServerNotRunning& e) {
    if (!options.start_server) {
      throw AdbError(std::string(e.what()) + "; start it with `" +
                     startCommandText(address, options) + "`");
    }
  }
  startServer(address, options);
  // start-server returns once the server accepts connections; retry briefly in case it is
  // still binding (or a server started by someone else at the same time is).
  const auto deadline = std::chrono::steady_clock::now() + std::max<std::chrono::milliseconds>(
                                                                options.timeout, 5s);
  for (;;) {
    try {
      return Connection::open(address, options.timeout);
    } catch (const ServerNotRunning& e) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw AdbError(std::string(e.what()) + " even after `" +
                       startCommandText(address, options) + "` succeeded");
      }
      std::this_thread::sleep_for(50ms);
    }
  }
}

void request(Connection& conn, const std::string& payload) {
  conn.setContext(payload);
  conn.writeAll(encodeRequest(payload));
  conn.readStatus(payload);
}

Connection openService(const ServerAddress& address, const ClientOptions& options,
                       const std::string& serial, const std::string& service) {
  Connection conn = openServer(address, options);
  const std::string transport =
      serial.empty() ? std::string("host:transport-any") : "host:transport:" + serial;
  request(conn, transport);
  request(conn, service);
  conn.setContext(service + (serial.empty() ? std::string() : " on " + serial));
  return conn;
}

}  // namespace detail

// --- host services -----------------------------------------------------------------------------

Client::Client(ServerAddress address, ClientOptions options)
    : address_(std::move(address)), options_(std::move(options)) {}

void Client::ensureServer() { detail::openServer(address_, options_); }

int Client::serverVersion() {
  return detail::translateProtocolErrors("host:version", [&] {
    Connection conn = detail::openServer(address_, options_);
    detail::request(conn, "host:version");
    const std::string text = conn.readLengthPrefixed();
    // The version is itself 4 hex digits ("0029" for 41).
    return static_cast<int>(parseLengthPrefix(text, 0xffff));
  });
}

std::vector<DeviceEntry> Client::devices() {
  return detail::translateProtocolErrors("host:devices-l", [&] {
    Connection conn = detail::openServer(address_, options_);
    detail::request(conn, "host:devices-l");
    return parseDeviceList(conn.readLengthPrefixed());
  });
}

std::string Client::connect(const std::string& host_port) {
  const std::string payload = "host:connect:" + host_port;
  std::string text = detail::translateProtocolErrors(payload, [&] {
    Connection conn = detail::openServer(address_, options_);
    detail::request(conn, payload);
    return conn.readLengthPrefixed();
  });
  // The server says OKAY even when the connection failed; only its text tells.
  if (text.rfind("connected to", 0) != 0 && text.rfind("already connected to", 0) != 0) {
    throw AdbError("adb connect " + host_port + " failed: " + text);
  }
  return text;
}

std::string Client::disconnect(const std::string& host_port) {
  const std::string payload = "host:disconnect:" + host_port;
  return detail::translateProtocolErrors(payload, [&] {
    Connection conn = detail::openServer(address_, options_);
    detail::request(conn, payload);
    return conn.readLengthPrefixed();
  });
}

void Client::trackDevices(const std::function<void(const std::vector<DeviceEntry>&)>& on_change,
                          const std::atomic<bool>& stop) {
  detail::translateProtocolErrors("host:track-devices-l", [&] {
    Connection conn = detail::openServer(address_, options_);
    detail::request(conn, "host:track-devices-l");
    // Updates come only when something changes: no timeout between them, only the stop flag.
    conn.setTimeout(0ms);
    conn.setStop(&stop);
    try {
      while (conn.waitReadable()) {
        on_change(parseDeviceList(conn.readLengthPrefixed()));
        if (stop.load()) return;
      }
    } catch (const AdbCancelled&) {
      if (!stop.load()) throw;  // raised by the stop flag mid-message: a normal end
    }
  });
}

// --- shell -------------------------------------------------------------------------------------

namespace {

// Reads shell v2 packets until the exit packet; returns the exit code.
int runShellV2(Connection& conn, const std::function<void(std::string_view)>& on_stdout,
               const std::function<void(std::string_view)>& on_stderr) {
  // adbd waits for input until stdin is closed; nothing is sent, so close it at once so a
  // command that reads stdin sees end of file instead of hanging.
  conn.writeAll(encodeShellPacket(ShellPacketId::CloseStdin, {}));
  ShellPacketParser parser;
  std::vector<char> buf(64 * 1024);
  for (;;) {
    const std::size_t n = conn.readSome(buf.data(), buf.size());
    if (n == 0) {
      throw AdbError("the device closed the shell without an exit status (" + conn.context() +
                     "); the device went away or adbd was restarted");
    }
    parser.feed(std::string_view(buf.data(), n));
    while (auto packet = parser.next()) {
      switch (packet->id) {
        case ShellPacketId::Stdout:
          if (on_stdout) on_stdout(packet->data);
          break;
        case ShellPacketId::Stderr:
          if (on_stderr) on_stderr(packet->data);
          break;
        case ShellPacketId::Exit:
          if (packet->data.empty()) {
            throw ProtocolError("shell exit packet without an exit status byte");
          }
          return static_cast<unsigned char>(packet->data[0]);
        default:
          break;  // stdin-side packets have no meaning coming from the device
      }
    }
  }
}

std::string shellService(const std::string& command_line) {
  return "shell,v2,raw:" + command_line;
}

}  // namespace

ShellResult Client::shell(const std::string& serial, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout) {
  if (argv.empty()) throw AdbError("adb shell: no command given");
  const std::string command_line = shellCommand(argv);
  return detail::translateProtocolErrors("adb shell " + command_line, [&] {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    Connection conn =
        detail::openService(address_, options_, serial, shellService(command_line));
    if (timeout.count() > 0) conn.setDeadline(deadline);
    ShellResult result;
    try {
      result.exit_code = runShellV2(
          conn, [&](std::string_view s) { result.out.append(s); },
          [&](std::string_view s) { result.err.append(s); });
    } catch (const AdbTimeout& e) {
      if (timeout.count() > 0 && std::chrono::steady_clock::now() >= deadline) {
        throw AdbTimeout("`" + command_line + "` on " + serial + " did not finish within " +
                         std::to_string(timeout.count()) + " ms (it was stopped)");
      }
      throw;
    }
    return result;
  });
}

int Client::shellStream(const std::string& serial, const std::string& command_line,
                        const std::function<void(std::string_view)>& on_stdout,
                        const std::function<void(std::string_view)>& on_stderr,
                        CancelFlag cancel) {
  return detail::translateProtocolErrors("adb shell " + command_line, [&] {
    Connection conn =
        detail::openService(address_, options_, serial, shellService(command_line));
    conn.setCancel(cancel);
    // Leaving this scope by AdbCancelled closes the socket; adbd then hangs up the command.
    return runShellV2(conn, on_stdout, on_stderr);
  });
}

std::map<std::string, std::string> Client::properties(const std::string& serial) {
  const ShellResult r = shell(serial, {"getprop"});
  if (r.exit_code != 0) {
    throw AdbError("getprop on " + serial + " failed with exit status " +
                   std::to_string(r.exit_code) + ": " + r.err);
  }
  return detail::translateProtocolErrors("getprop on " + serial,
                                         [&] { return parseGetprop(r.out); });
}

}  // namespace darkroom::adb

// Test helpers for GoogleTest programs that need the real adb server (Debian's `adb`) and a
// simulated phone (darkroom-simphone). Header-only; include it and derive from AdbSimphoneTest:
//
//   class MyTest : public darkroom::test::AdbSimphoneTest {
//    protected:
//     MyTest() : AdbSimphoneTest(DARKROOM_SIMPHONE) {}
//   };
//   TEST_F(MyTest, Shell) {
//     auto r = phone().adb({"shell", "echo hi"});
//     EXPECT_EQ(r.code, 0) << r.err;
//   }
//
// Each test gets its own adb server on a private loopback port (never 5037), started as a child
// of the test, with ANDROID_ADB_SERVER_PORT set to that port for the test's process (so
// darkroom::adb::Client talks to it), and one simphone connected to it with `adb connect`. Both
// are gone after the test: simphone is stopped, the server gets `adb kill-server`. Without `adb`
// on PATH the test is skipped with a message saying what to install.
//
// The parts are usable alone: runHost() runs a program and captures its output, PrivateAdbServer
// is just the server (for tests that start phones their own way), SimphoneProcess one phone.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace darkroom::test {

using namespace std::chrono_literals;

// --- running host programs ---------------------------------------------------------------------

struct HostResult {
  int code = -1;  // exit status, or 128 + the signal that ended it
  std::string out, err;
  bool timed_out = false;  // killed after the timeout (code is then 128 + SIGKILL)
  std::string describe() const {
    return "exit " + std::to_string(code) + (timed_out ? " (timed out)" : "") + ", stdout \"" +
           out + "\", stderr \"" + err + "\"";
  }
};

namespace detail {

inline void closeFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

inline std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// fork + execvp in a new process group; stdin/stdout/stderr from the given descriptors (-1:
// /dev/null). Returns the pid or throws.
inline pid_t spawn(const std::vector<std::string>& argv, int in, int out, int err) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(in >= 0 ? in : null, 0);
    ::dup2(out >= 0 ? out : null, 1);
    ::dup2(err >= 0 ? err : null, 2);
    if (null > 2) ::close(null);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

inline int statusCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Waits up to `timeout` for pid to end; its exit code, or nullopt while it still runs.
inline std::optional<int> waitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return statusCode(status);
    if (r < 0) return -1;  // not our child any more
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

inline std::filesystem::path makeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    throw std::runtime_error("cannot make a temporary folder " + pattern + ": " +
                             std::strerror(errno));
  }
  return pattern;
}

}  // namespace detail

// Runs argv (argv[0] looked up in PATH, no shell) with `input` on its stdin (/dev/null when
// empty) and collects stdout and stderr. After `timeout` its whole process group is killed and
// timed_out is set. on_stdout, when given, sees each piece of stdout as it arrives.
inline HostResult runHost(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = 60s, const std::string& input = {},
                          const std::function<void(std::string_view)>& on_stdout = {}) {
  int out[2], err[2], in[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
      (!input.empty() && ::pipe2(in, O_CLOEXEC) != 0)) {
    throw std::runtime_error(std::string("pipe2 failed: ") + std::strerror(errno));
  }
  const pid_t pid = detail::spawn(argv, in[0], out[1], err[1]);
  detail::closeFd(out[1]);
  detail::closeFd(err[1]);
  detail::closeFd(in[0]);
  if (in[1] >= 0) ::fcntl(in[1], F_SETFL, O_NONBLOCK);

  HostResult result;
  std::size_t written = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[65536];
  while (out[0] >= 0 || err[0] >= 0) {
    std::vector<pollfd> fds;
    if (out[0] >= 0) fds.push_back({out[0], POLLIN, 0});
    if (err[0] >= 0) fds.push_back({err[0], POLLIN, 0});
    if (in[1] >= 0) fds.push_back({in[1], POLLOUT, 0});
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) {
      break;
    }
    for (const pollfd& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == in[1]) {
        const ssize_t n = ::write(in[1], input.data() + written, input.size() - written);
        if (n > 0) written += static_cast<std::size_t>(n);
        if (n < 0 && errno != EAGAIN) written = input.size();
        if (written == input.size()) detail::closeFd(in[1]);
        continue;
      }
      const ssize_t n = ::read(p.fd, buffer, sizeof buffer);
      const bool is_out = p.fd == out[0];
      if (n > 0) {
        (is_out ? result.out : result.err).append(buffer, static_cast<std::size_t>(n));
        if (is_out && on_stdout) on_stdout(std::string_view(buffer, static_cast<std::size_t>(n)));
      } else if (n == 0 || errno != EINTR) {
        detail::closeFd(is_out ? out[0] : err[0]);
      }
    }
  }
  detail::closeFd(out[0]);
  detail::closeFd(err[0]);
  detail::closeFd(in[1]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.code = detail::statusCode(status);
  return result;
}

// The full path of `program` in PATH, empty when it is not there.
inline std::string findOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// A loopback port nobody listens on right now (bound to port 0, then released).
inline int freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(std::string("cannot find a free loopback port: ") +
                             std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline bool loopbackAccepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

// --- the adb server ----------------------------------------------------------------------------

// The real adb server on a private port, as this process's child (`adb -P PORT nodaemon
// server`). Sets ANDROID_ADB_SERVER_PORT for this process while it lives. Throws
// std::runtime_error with the server's output when it does not come up.
class PrivateAdbServer {
 public:
  PrivateAdbServer() {
    dir_ = detail::makeTempDir("darkroom-adb-server");
    std::string failures;
    for (int attempt = 0; attempt < 3 && pid_ < 0; ++attempt) {
      port_ = freeLoopbackPort();
      const std::filesystem::path log = dir_ / "adb-server.log";
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      const pid_t pid = detail::spawn({"adb", "-P", std::to_string(port_), "nodaemon", "server"},
                                      -1, fd, fd);
      detail::closeFd(fd);
      const auto deadline = std::chrono::steady_clock::now() + 15s;
      while (std::chrono::steady_clock::now() < deadline) {
        if (loopbackAccepts(port_)) {
          // Someone answers, but with parallel tests it may be another test's server that took
          // the port first (ours then exits on the failed bind): only a live child counts.
          std::this_thread::sleep_for(100ms);
          if (!detail::waitFor(pid, 0ms)) pid_ = pid;
          break;
        }
        if (detail::waitFor(pid, 0ms)) break;  // it exited (port taken?): try another port
        std::this_thread::sleep_for(20ms);
      }
      if (pid_ < 0) {
        ::kill(pid, SIGKILL);
        detail::waitFor(pid, 5s);
        failures += "\n  port " + std::to_string(port_) + ": " + detail::readFile(log);
      }
    }
    if (pid_ < 0) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      throw std::runtime_error("the adb server did not start (`adb -P PORT nodaemon server`):" +
                               failures);
    }
    if (const char* old = std::getenv("ANDROID_ADB_SERVER_PORT")) old_port_env_ = old;
    ::setenv("ANDROID_ADB_SERVER_PORT", std::to_string(port_).c_str(), 1);
  }

  ~PrivateAdbServer() {
    runHost({"adb", "-P", std::to_string(port_), "kill-server"}, 10s);
    if (!detail::waitFor(pid_, 5s)) {
      ::kill(pid_, SIGKILL);
      detail::waitFor(pid_, 5s);
    }
    if (old_port_env_) {
      ::setenv("ANDROID_ADB_SERVER_PORT", old_port_env_->c_str(), 1);
    } else {
      ::unsetenv("ANDROID_ADB_SERVER_PORT");
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PrivateAdbServer(const PrivateAdbServer&) = delete;
  PrivateAdbServer& operator=(const PrivateAdbServer&) = delete;

  int port() const { return port_; }
  // `adb -P PORT args...`
  HostResult adb(const std::vector<std::string>& args,
                 std::chrono::milliseconds timeout = 60s) const {
    std::vector<std::string> argv{"adb", "-P", std::to_string(port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    return runHost(argv, timeout);
  }
  // What the server printed (its log), for failure messages.
  std::string log() const { return detail::readFile(dir_ / "adb-server.log"); }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::optional<std::string> old_port_env_;
};

// --- the simulated phone -----------------------------------------------------------------------

// darkroom-simphone as this process's child, connected to `server` and listed by it as
// "device". Its stderr goes to a log file (log()); the sandbox is a fresh temporary folder unless
// options.sandbox names one, and is removed afterwards when it was made here.
class SimphoneProcess {
 public:
  struct Options {
    std::filesystem::path sandbox;  // empty: a fresh temporary folder
    std::string model;              // empty: simphone's default
  };

  SimphoneProcess(const PrivateAdbServer& server, const std::filesystem::path& binary,
                  Options options = {})
      : server_(server) {
    dir_ = detail::makeTempDir("darkroom-simphone-test");
    sandbox_ = options.sandbox;
    if (sandbox_.empty()) {
      sandbox_ = dir_ / "sandbox";
      std::filesystem::create_directories(sandbox_);
    }
    std::vector<std::string> argv{binary.string(), "--port", "0", "--sandbox", sandbox_.string()};
    if (!options.model.empty()) {
      argv.push_back("--model");
      argv.push_back(options.model);
    }
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    const int log_fd =
        ::open((dir_ / "simphone.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = detail::spawn(argv, -1, out[1], log_fd);
    ::close(out[1]);
    ::close(log_fd);
    stdout_fd_ = out[0];
    port_ = readListeningPort();
    serial_ = "127.0.0.1:" + std::to_string(port_);

    const HostResult connected = server_.adb({"connect", serial_}, 20s);
    if (connected.code != 0 || connected.out.find("connected to") == std::string::npos) {
      fail("`adb connect " + serial_ + "` failed: " + connected.describe());
    }
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    std::string listing;
    while (std::chrono::steady_clock::now() < deadline) {
      listing = server_.adb({"devices"}, 10s).out;
      if (listing.find(serial_ + "\tdevice") != std::string::npos) return;
      std::this_thread::sleep_for(50ms);
    }
    fail("`adb devices` never listed " + serial_ + " as a device; last listing:\n" + listing);
  }

  ~SimphoneProcess() {
    stop(SIGTERM);
    detail::closeFd(stdout_fd_);
    // Only while the server is up: with none listening, adb would start a new one.
    if (loopbackAccepts(server_.port())) server_.adb({"disconnect", serial_}, 10s);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  SimphoneProcess(const SimphoneProcess&) = delete;
  SimphoneProcess& operator=(const SimphoneProcess&) = delete;

  const std::string& serial() const { return serial_; }  // "127.0.0.1:PORT", as adb names it
  int port() const { return port_; }
  const std::filesystem::path& sandbox() const { return sandbox_; }
  // The host path of a device path: sandbox() + device_path.
  std::filesystem::path hostPath(const std::string& device_path) const {
    return sandbox_ / std::filesystem::path(device_path).relative_path();
  }

  // `adb -P SERVERPORT -s SERIAL args...`
  HostResult adb(const std::vector<std::string>& args,
                 std::chrono::milliseconds timeout = 60s) const {
    std::vector<std::string> argv{"-s", serial_};
    argv.insert(argv.end(), args.begin(), args.end());
    return server_.adb(argv, timeout);
  }

  bool running() {
    if (pid_ < 0) return false;
    if (auto code = detail::waitFor(pid_, 0ms)) {
      exit_code_ = *code;
      pid_ = -1;
      return false;
    }
    return true;
  }
  // Sends `signal` and waits for the phone to end (SIGKILL: as if its cable was pulled); SIGKILL
  // after 10 s when another signal does not end it. Its exit code, or -1 when already gone.
  int stop(int signal = SIGKILL) {
    if (!running()) return exit_code_;
    ::kill(pid_, signal);
    auto code = detail::waitFor(pid_, 10s);
    if (!code) {
      ::kill(pid_, SIGKILL);
      code = detail::waitFor(pid_, 10s);
    }
    pid_ = -1;
    exit_code_ = code.value_or(-1);
    return exit_code_;
  }
  // What simphone wrote to stderr so far.
  std::string log() const { return detail::readFile(dir_ / "simphone.log"); }

 private:
  [[noreturn]] void fail(const std::string& message) {
    const std::string text =
        message + "\nsimphone log:\n" + log() + "\nadb server log:\n" + server_.log();
    stop(SIGKILL);
    detail::closeFd(stdout_fd_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw std::runtime_error(text);
  }

  int readListeningPort() {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{stdout_fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        fail("darkroom-simphone printed no \"listening\" line within 20 s");
      }
      char c[256];
      const ssize_t n = ::read(stdout_fd_, c, sizeof c);
      if (n <= 0) fail("darkroom-simphone ended before printing its \"listening\" line");
      line.append(c, static_cast<std::size_t>(n));
    }
    const std::string prefix = "listening 127.0.0.1:";
    if (line.compare(0, prefix.size(), prefix) != 0) {
      fail("darkroom-simphone's first line is not \"listening 127.0.0.1:PORT\": " + line);
    }
    return std::atoi(line.c_str() + prefix.size());
  }

  const PrivateAdbServer& server_;
  std::filesystem::path dir_, sandbox_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  std::string serial_;
};

// --- GoogleTest base ---------------------------------------------------------------------------

// A private adb server and one connected simphone per test; skipped when adb is not installed.
class AdbSimphoneTest : public ::testing::Test {
 protected:
  explicit AdbSimphoneTest(std::filesystem::path simphone_binary,
                           SimphoneProcess::Options options = {})
      : binary_(std::move(simphone_binary)), options_(std::move(options)) {}

  void SetUp() override {
    if (findOnPath("adb").empty()) {
      GTEST_SKIP() << "adb is not on PATH; install Debian's `adb` package (apt install adb) to "
                      "run the tests against the real adb server";
    }
    try {
      server_ = std::make_unique<PrivateAdbServer>();
      phone_ = std::make_unique<SimphoneProcess>(*server_, binary_, options_);
    } catch (const std::exception& e) {
      phone_.reset();
      server_.reset();
      FAIL() << e.what();
    }
  }

  void TearDown() override {
    // On failure the phone's log says what it saw; printed before it is removed.
    if (HasFailure() && phone_) std::cerr << "simphone log:\n" << phone_->log();
    phone_.reset();
    server_.reset();
  }

  PrivateAdbServer& server() { return *server_; }
  SimphoneProcess& phone() { return *phone_; }

 private:
  std::filesystem::path binary_;
  SimphoneProcess::Options options_;
  std::unique_ptr<PrivateAdbServer> server_;
  std::unique_ptr<SimphoneProcess> phone_;
};

}  // namespace darkroom::test

// darkroom-simphone as a child process: started in its own process group (so that killing the
// phone also kills whatever runs "on" it, like the agent), connected to the adb server with
// host:connect, and waited for until the server lists it as "device".
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "darkroom/device/session.h"
#include "session_internal.h"

namespace darkroom::device {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(15);
constexpr auto kOnlineTimeout = std::chrono::seconds(15);

// darkroom-simphone refuses sandbox paths that would need shell quoting (its command rewriting
// pastes them unquoted): a temp folder such as a CI's ".../job@2/tmp" gives way to /tmp.
fs::path freshSandbox() {
  std::string base = fs::temp_directory_path().string();
  auto plain = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._-+", c); };
  if (!std::all_of(base.begin(), base.end(), plain)) base = "/tmp";
  std::string pattern = base + "/darkroom-simphone-XXXXXX";
  if (!::mkdtemp(pattern.data()))
    throw DeviceError("cannot create a sandbox folder for darkroom-simphone in " + base + ": " +
                      std::strerror(errno));
  return pattern;
}

// The phone's commands run in sessions of their own (so that closing a stream can hang up the
// whole command), out of reach of a kill of the phone's process group, and the parent-death
// signal only covers their shells. They are found by the environment the phone gives every
// command (HOME is the sandbox, DARKROOM_SIMULATED=1) and killed, as a pulled cable would.
void killCommandsOf(const fs::path& sandbox) {
  std::error_code ec;
  const std::string home = "HOME=" + fs::canonical(sandbox, ec).string();
  if (ec) return;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream in(entry.path() / "environ", std::ios::binary);
    std::string variable;
    bool ours = false, simulated = false;
    while (std::getline(in, variable, '\0')) {
      ours = ours || variable == home;
      simulated = simulated || variable == "DARKROOM_SIMULATED=1";
    }
    if (ours && simulated) ::kill(static_cast<pid_t>(std::stol(name)), SIGKILL);
  }
}

std::string exitText(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "stopped";
}

// Waits for `pid` to end for up to `timeout`; true when it was reaped.
bool reap(int pid, std::chrono::milliseconds timeout, int* status_out = nullptr) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    int r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      if (status_out) *status_out = status;
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

SimulatedPhone::SimulatedPhone(adb::Client& client, Options options) : client_(client) {
  const auto binary = simphoneBinary();
  if (options.sandbox.empty()) {
    sandbox_ = freshSandbox();
    own_sandbox_ = true;
  } else {
    sandbox_ = options.sandbox;
    fs::create_directories(sandbox_);
  }
  try {
    start(binary, options);
    serial_ = "127.0.0.1:" + std::to_string(port_);
    client_.ensureServer();
    auto reply = client_.connect(serial_);
    connected_ = true;
    if (reply.find("connected to") == std::string::npos)
      throw DeviceError("the adb server on port " + std::to_string(client_.address().port) +
                        " could not connect to darkroom-simphone at " + serial_ + ": " + reply);
    waitOnline();
  } catch (...) {
    shutdown();
    throw;
  }
}

void SimulatedPhone::start(const fs::path& binary, const Options& options) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw DeviceError(std::string("cannot start darkroom-simphone: pipe: ") + std::strerror(errno));
  std::vector<std::string> args{binary.string(), "--sandbox", sandbox_.string(), "--model",
                                options.model};
  if (options.port > 0) args.insert(args.end(), {"--port", std::to_string(options.port)});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int log_fd = -1;
  if (!options.log.empty()) {
    log_fd = ::open(options.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      throw DeviceError("cannot open the simulated phone's log " + options.log.string() + ": " +
                        std::strerror(errno));
    }
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    if (log_fd >= 0) ::close(log_fd);
    throw DeviceError(std::string("cannot start darkroom-simphone: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Own process group: unplug() and the destructor end the phone and all it started. A phone
    // must not outlive the program that started it, even one that crashed.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(1);
    ::dup2(fds[1], STDOUT_FILENO);
    if (log_fd >= 0) ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    const char* msg = "darkroom-simphone: exec failed\n";
    (void)!::write(STDERR_FILENO, msg, std::strlen(msg));
    _exit(127);
  }
  ::setpgid(pid, pid);  // also here, so that it holds before either side runs on
  pid_ = pid;
  ::close(fds[1]);
  if (log_fd >= 0) ::close(log_fd);
  const std::string messages = options.log.empty()
                                   ? "its messages are on stderr"
                                   : "its messages are in " + options.log.string();
  out_fd_ = fds[0];

  // The phone prints "listening 127.0.0.1:PORT" once it accepts connections.
  std::string seen;
  const auto deadline = Clock::now() + kStartTimeout;
  for (;;) {
    auto nl = seen.find('\n');
    if (nl != std::string::npos) {
      const std::string line = seen.substr(0, nl);
      seen.erase(0, nl + 1);
      const std::string tag = "listening 127.0.0.1:";
      if (line.rfind(tag, 0) == 0) {
        port_ = std::atoi(line.c_str() + tag.size());
        if (port_ <= 0 || port_ > 65535)
          throw DeviceError("darkroom-simphone announced a bad port: '" + line + "'");
        break;
      }
      continue;  // some other line before it
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      throw DeviceError("darkroom-simphone (" + binary.string() + ") did not print 'listening "
                        "127.0.0.1:PORT' within " +
                        std::to_string(std::chrono::seconds(kStartTimeout).count()) + " s (" +
                        messages + ")");
    pollfd p{out_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int status = 0;
      std::string how = reap(pid_, std::chrono::milliseconds(2000), &status) ? exitText(status)
                                                                           : "closed its output";
      pid_ = -1;
      throw DeviceError("darkroom-simphone " + how + " before it was ready (" + binary.string() +
                        " --sandbox " + sandbox_.string() + "; " + messages + ")");
    }
    seen.append(buf, static_cast<std::size_t>(n));
  }
  // Keep reading what it prints afterwards, so that it never blocks on a full pipe.
  drain_ = std::thread([this] {
    char buf[4096];
    while (!stop_drain_) {
      pollfd p{out_fd_, POLLIN, 0};
      int r = ::poll(&p, 1, 100);
      if (r <= 0) continue;
      if (::read(out_fd_, buf, sizeof buf) <= 0) return;
    }
  });
}

void SimulatedPhone::waitOnline() {
  const auto deadline = Clock::now() + kOnlineTimeout;
  std::string state;
  for (;;) {
    state.clear();
    for (const auto& e : client_.devices())
      if (e.serial == serial_) state = e.state;
    if (state == "device") return;
    if (!running())
      throw DeviceError("darkroom-simphone at " + serial_ + " ended while the adb server was "
                        "connecting to it");
    if (Clock::now() >= deadline)
      throw DeviceError("the adb server did not bring darkroom-simphone at " + serial_ +
                        " online within " +
                        std::to_string(std::chrono::seconds(kOnlineTimeout).count()) +
                        " s (state: " + (state.empty() ? std::string("not listed") : state) + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool SimulatedPhone::running() const {
  if (pid_ <= 0) return false;
  siginfo_t info{};
  // WNOWAIT: look without reaping, so the pid stays ours until shutdown() waits for it.
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return false;
  return info.si_pid == 0;
}

void SimulatedPhone::unplug() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  reap(pid_, std::chrono::milliseconds(5000));
  killCommandsOf(sandbox_);
  pid_ = -1;
}

void SimulatedPhone::shutdown() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGTERM);
    if (!reap(pid_, std::chrono::milliseconds(2000))) {
      ::kill(-pid_, SIGKILL);
      reap(pid_, std::chrono::milliseconds(5000));
    }
    ::kill(-pid_, SIGKILL);  // anything it started that is still in its group
    killCommandsOf(sandbox_);
    pid_ = -1;
  }
  if (connected_) {
    try {
      client_.disconnect(serial_);
    } catch (const std::exception&) {
      // The server is gone too: nothing stays connected.
    }
    connected_ = false;
  }
  stop_drain_ = true;
  if (drain_.joinable()) drain_.join();
  if (out_fd_ >= 0) ::close(out_fd_);
  out_fd_ = -1;
  if (own_sandbox_) {
    std::error_code ec;
    fs::remove_all(sandbox_, ec);
  }
}

SimulatedPhone::~SimulatedPhone() { shutdown(); }

}  // namespace darkroom::device

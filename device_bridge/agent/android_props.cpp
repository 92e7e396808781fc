#include "android_props.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace darkroom::agent {
namespace fs = std::filesystem;

std::optional<fs::path> findGetprop() {
  if (::access("/system/bin/getprop", X_OK) == 0) return fs::path("/system/bin/getprop");
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / "getprop";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

bool reportedProperty(const std::string& key) {
  static const char* const kKeys[] = {
      "ro.product.manufacturer", "ro.product.brand",       "ro.product.model",
      "ro.product.device",       "ro.product.name",        "ro.product.cpu.abi",
      "ro.product.cpu.abilist",  "ro.build.fingerprint",   "ro.build.version.release",
      "ro.build.version.sdk",    "ro.build.type",          "ro.soc.manufacturer",
      "ro.soc.model",            "ro.board.platform",      "ro.hardware",
      "ro.hardware.chipname",    "ro.boot.hardware.sku",   "ro.kernel.qemu",
      "ro.product.first_api_level"};
  for (const char* k : kKeys)
    if (key == k) return true;
  return key.rfind("ro.darkroom.", 0) == 0;  // darkroom-simphone's own (ro.darkroom.simulated)
}

std::map<std::string, std::string> parseGetpropListing(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() < 7 || line.front() != '[' || line.back() != ']') continue;
    const auto mid = line.find("]: [");
    if (mid == std::string::npos) continue;
    out[line.substr(1, mid - 1)] = line.substr(mid + 4, line.size() - mid - 5);
  }
  return out;
}

AndroidProperties readAndroidProperties(const fs::path& getprop) {
  AndroidProperties props;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    props.error = std::string("pipe failed: ") + std::strerror(errno);
    return props;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    props.error = std::string("fork failed: ") + std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return props;
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, STDIN_FILENO);
      ::dup2(null, STDERR_FILENO);
    }
    const char* argv[] = {"getprop", nullptr};
    ::execv(getprop.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(fds[1]);
  // getprop answers in milliseconds; 5 s means it hangs (a broken property service).
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool timed_out = false;
  char buf[8192];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, int(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = ready == 0;
      break;
    }
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, std::size_t(n));
    if (out.size() > (4u << 20)) break;  // no property listing is this large
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    props.error = getprop.string() + " did not answer within 5 s";
    return props;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    props.error = getprop.string() + " failed (" +
                  (WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                     : std::string("killed by a signal")) +
                  ")";
    return props;
  }
  for (auto& [key, value] : parseGetpropListing(out))
    if (reportedProperty(key)) props.values[key] = value;
  return props;
}

}  // namespace darkroom::agent

// darkroom-simphone: a simulated Android phone on a loopback port. It speaks adbd's transport
// protocol, so the real adb server can `adb connect 127.0.0.1:PORT` to it; then adb shell, push
// and pull work against a sandbox folder on the host (see sandbox.h for what "simulated" means).
//
// Prints exactly one line on stdout, "listening 127.0.0.1:PORT", once it accepts connections;
// everything else (connections, streams, errors) goes to stderr. SIGTERM or SIGINT: closes every
// connection, hangs up running commands and exits 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "log.h"
#include "sandbox.h"
#include "services.h"
#include "transport.h"

namespace fs = std::filesystem;
using namespace darkroom::simphone;

namespace {

constexpr const char* kUsage =
    "usage: darkroom-simphone [--port N] [--sandbox DIR] [--model NAME] [--serial NAME]\n"
    "  --port N        loopback port to listen on (default 0: any free port)\n"
    "  --sandbox DIR   the phone's file system: device path /x is DIR/x (default: a fresh\n"
    "                  temporary folder, removed on exit)\n"
    "  --model NAME    ro.product.model (default \"Darkroom SimPhone\")\n"
    "  --serial NAME   ro.serialno (default simphone-PORT); adb itself names the phone\n"
    "                  127.0.0.1:PORT\n"
    "Prints \"listening 127.0.0.1:PORT\" on stdout when ready; then `adb connect 127.0.0.1:PORT`.\n";

struct Options {
  int port = 0;
  std::string sandbox;
  std::string model = "Darkroom SimPhone";
  std::string serial;
};

[[noreturn]] void usageError(const std::string& message) {
  std::fprintf(stderr, "darkroom-simphone: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg != "--port" && arg != "--sandbox" && arg != "--model" && arg != "--serial") {
      usageError("unknown argument '" + arg + "'");
    }
    if (i + 1 >= argc) usageError(arg + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--port") {
      char* end = nullptr;
      const long port = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || port < 0 || port > 65535) {
        usageError("--port wants a number from 0 to 65535, not '" + value + "'");
      }
      o.port = static_cast<int>(port);
    } else if (arg == "--sandbox") {
      o.sandbox = value;
    } else if (arg == "--model") {
      if (value.empty()) usageError("--model must not be empty");
      o.model = value;
    } else {
      if (value.empty()) usageError("--serial must not be empty");
      o.serial = value;
    }
  }
  return o;
}

int listenOn(int port, int& bound_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  bound_port = ntohs(addr.sin_port);
  return fd;
}

struct Served {
  std::shared_ptr<Connection> connection;
  std::thread thread;
  std::shared_ptr<std::atomic<bool>> done;
};

void joinFinished(std::list<Served>& served) {
  for (auto it = served.begin(); it != served.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = served.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parseOptions(argc, argv);

  // A host that disconnects must not kill the phone; writes report EPIPE instead.
  ::signal(SIGPIPE, SIG_IGN);
  // SIGTERM/SIGINT/SIGHUP arrive through a signalfd in the accept loop, so no thread is
  // interrupted in the middle of a message. Blocked before any thread starts, so all inherit it.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  const int signal_fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::fprintf(stderr, "darkroom-simphone: signalfd failed: %s\n", std::strerror(errno));
    return 1;
  }

  int port = 0;
  const int listen_fd = listenOn(options.port, port);
  if (listen_fd < 0) {
    std::fprintf(stderr,
                 "darkroom-simphone: cannot listen on 127.0.0.1:%d: %s (choose another --port, "
                 "or 0 for any free one)\n",
                 options.port, std::strerror(errno));
    return 1;
  }

  fs::path sandbox_root = options.sandbox;
  bool own_sandbox = false;
  if (sandbox_root.empty()) {
    // The sandbox path appears unquoted in rewritten shell commands (sandbox.cpp): a TMPDIR
    // such as a CI's ".../job@2/tmp" falls back to /tmp rather than failing.
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp && *tmp ? tmp : "/tmp";
    if (!std::all_of(base.begin(), base.end(), safeInCommand)) base = "/tmp";
    std::string pattern = base + "/darkroom-simphone-XXXXXX";
    if (!::mkdtemp(pattern.data())) {
      std::fprintf(stderr, "darkroom-simphone: cannot make a temporary sandbox %s: %s\n",
                   pattern.c_str(), std::strerror(errno));
      return 1;
    }
    sandbox_root = pattern;
    own_sandbox = true;
  }
  const auto removeOwnSandbox = [&] {
    std::error_code ec;
    if (own_sandbox) fs::remove_all(sandbox_root, ec);
  };

  PhoneIdentity identity;
  identity.model = options.model;
  identity.serial = options.serial.empty() ? "simphone-" + std::to_string(port) : options.serial;
  std::unique_ptr<Sandbox> sandbox;
  try {
    sandbox = std::make_unique<Sandbox>(sandbox_root, identity);
  } catch (const SandboxError& e) {
    std::fprintf(stderr, "darkroom-simphone: %s\n", e.what());
    removeOwnSandbox();
    return 1;
  }
  const std::string banner = sandbox->connectionBanner(kFeatures);
  const Sandbox& phone = *sandbox;
  const ServiceLookup lookup = [&phone](const std::string& name) {
    return lookupService(name, phone);
  };

  std::printf("listening 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  logLine("sandbox " + sandbox->root().string() + ", model \"" + identity.model + "\", serial " +
          identity.serial + ", banner \"" + banner + "\"");

  std::list<Served> served;
  int stop_signal = 0;
  while (stop_signal == 0) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (::poll(fds, 2, 1000) < 0 && errno != EINTR) {
      logLine(std::string("poll failed: ") + std::strerror(errno));
      break;
    }
    joinFinished(served);
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(signal_fd, &info, sizeof info) == sizeof info) {
        stop_signal = static_cast<int>(info.ssi_signo);
      }
      continue;
    }
    if (!(fds[0].revents & POLLIN)) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        logLine(std::string("accept failed: ") + std::strerror(errno));
      }
      continue;
    }
    // Small messages (OKAY, shell output) go out at once, as adbd's sockets do.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char address[INET_ADDRSTRLEN] = "?";
    ::inet_ntop(AF_INET, &peer.sin_addr, address, sizeof address);
    const std::string peer_name = std::string(address) + ":" + std::to_string(ntohs(peer.sin_port));
    auto connection = std::make_shared<Connection>(fd, peer_name, banner, lookup);
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread thread([connection, done] {
      connection->run();
      *done = true;
    });
    served.push_back({std::move(connection), std::move(thread), std::move(done)});
  }

  if (stop_signal != 0) logLine(std::string("shutting down on ") + ::strsignal(stop_signal));
  ::close(listen_fd);
  for (Served& s : served) s.connection->stop();
  for (Served& s : served) s.thread.join();
  served.clear();
  sandbox.reset();
  removeOwnSandbox();
  logLine("stopped");
  return 0;
}

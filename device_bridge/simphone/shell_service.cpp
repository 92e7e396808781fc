// The shell service: the command runs with the host's /bin/sh -c in the sandbox (device paths in
// its text rewritten, see Sandbox::rewriteCommand). With shell protocol v2 its stdout and stderr
// travel as separate packets, sent as soon as they are read (a program printing a line per second
// is seen a line per second), and an exit packet carries the exit code. When the host closes the
// stream first, the command's process group gets SIGHUP, then SIGKILL if it is still there a
// second later.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "darkroom/adb/protocol.h"
#include "log.h"
#include "process.h"
#include "services.h"

namespace darkroom::simphone {

namespace {

using adb::ShellPacketId;

// What the output thread and the input thread share about the child.
struct ChildState {
  std::mutex mutex;
  std::condition_variable cv;
  bool exited = false;       // waited for; its pid may not be signalled any more
  bool output_done = false;  // the exit packet is sent (or the stream is gone)
};

class ShellSession {
 public:
  ShellSession(Stream& stream, const ShellRequest& request, ChildProcess child)
      : stream_(stream), request_(request), child_(child), tag_(
            "stream " + std::to_string(stream.localId()) + ": ") {}

  void run() {
    if (::pipe2(wake_, O_CLOEXEC) != 0) {
      logLine(tag_ + "cannot make a pipe: " + std::strerror(errno) + "; killing the command");
      ::kill(-child_.pid, SIGKILL);
      wake_[0] = wake_[1] = -1;
    }
    // The input side must notice a closed stream while a child does not read its stdin.
    ::fcntl(child_.stdin_fd, F_SETFL, ::fcntl(child_.stdin_fd, F_GETFL) | O_NONBLOCK);
    std::thread output([this] { pumpOutput(); });
    pumpInput();
    bool done;
    {
      std::lock_guard<std::mutex> lock(state_.mutex);
      done = state_.output_done;
    }
    if (!done) hangUp();
    output.join();
    if (child_.stdin_fd >= 0 && child_.stdin_fd != child_.stdout_fd) ::close(child_.stdin_fd);
    ::close(child_.stdout_fd);
    if (child_.stderr_fd >= 0) ::close(child_.stderr_fd);
    for (int fd : wake_)
      if (fd >= 0) ::close(fd);
  }

 private:
  // Host -> command: stdin bytes (raw, or v2 packets with close-stdin and window sizes).
  void pumpInput() {
    adb::ShellPacketParser parser(kMaxPayload);
    std::string chunk;
    while (stream_.read(chunk)) {
      if (!request_.protocol_v2) {
        writeStdin(chunk);
        continue;
      }
      try {
        parser.feed(chunk);
        while (auto packet = parser.next()) handlePacket(*packet);
      } catch (const adb::ProtocolError& e) {
        logLine(tag_ + "bad shell packet from the host: " + e.what() + "; closing the stream");
        return;
      }
    }
  }

  void handlePacket(const adb::ShellPacket& packet) {
    switch (packet.id) {
      case ShellPacketId::Stdin:
        writeStdin(packet.data);
        break;
      case ShellPacketId::CloseStdin:
        // A terminal has one descriptor for both directions: it stays open, as on adbd.
        if (!child_.terminal && child_.stdin_fd >= 0) {
          ::close(child_.stdin_fd);
          child_.stdin_fd = -1;
        }
        break;
      case ShellPacketId::WindowSizeChange: {
        winsize ws{};
        int rows = 0, cols = 0, xpixels = 0, ypixels = 0;
        if (child_.terminal && std::sscanf(packet.data.c_str(), "%dx%d,%dx%d", &rows, &cols,
                                           &xpixels, &ypixels) == 4) {
          ws.ws_row = static_cast<unsigned short>(rows);
          ws.ws_col = static_cast<unsigned short>(cols);
          ws.ws_xpixel = static_cast<unsigned short>(xpixels);
          ws.ws_ypixel = static_cast<unsigned short>(ypixels);
          ::ioctl(child_.stdin_fd, TIOCSWINSZ, &ws);
        }
        break;
      }
      default:
        logLine(tag_ + "ignoring shell packet " +
                std::to_string(static_cast<int>(packet.id)) + " from the host");
    }
  }

  void writeStdin(std::string_view data) {
    while (!data.empty() && child_.stdin_fd >= 0) {
      const ssize_t n = ::write(child_.stdin_fd, data.data(), data.size());
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        pollfd p{child_.stdin_fd, POLLOUT, 0};
        ::poll(&p, 1, 200);
        if (stream_.closed()) return;
      } else {
        // The command closed its stdin or ended: the rest has nowhere to go, as on adbd.
        if (!child_.terminal) {
          ::close(child_.stdin_fd);
          child_.stdin_fd = -1;
        }
        return;
      }
    }
  }

  // Command -> host, as it arrives, until both outputs are closed; then the exit code.
  void pumpOutput() {
    const std::size_t overhead = request_.protocol_v2 ? 5 : 0;
    std::vector<char> buffer(stream_.maxPayload() - overhead);
    struct Source {
      int fd;
      ShellPacketId id;
    };
    std::vector<Source> sources{{child_.stdout_fd, ShellPacketId::Stdout}};
    if (child_.stderr_fd >= 0) sources.push_back({child_.stderr_fd, ShellPacketId::Stderr});
    bool host_gone = false, woken = false;
    while (!sources.empty() && !woken) {
      std::vector<pollfd> fds;
      for (const Source& s : sources) fds.push_back({s.fd, POLLIN, 0});
      fds.push_back({wake_[0], POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        logLine(tag_ + "poll failed: " + std::strerror(errno));
        break;
      }
      if (fds.back().revents != 0) woken = true;
      for (std::size_t i = sources.size(); i-- > 0;) {
        if (fds[i].revents == 0) continue;
        const ssize_t n = ::read(sources[i].fd, buffer.data(), buffer.size());
        if (n > 0) {
          if (host_gone) continue;  // keep draining so the command is not blocked
          const std::string_view data(buffer.data(), static_cast<std::size_t>(n));
          const bool sent = request_.protocol_v2
                                ? stream_.write(adb::encodeShellPacket(sources[i].id, data))
                                : stream_.write(data);
          host_gone = !sent;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
          continue;
        } else {
          // End of file, or EIO from a terminal whose other side is closed.
          sources.erase(sources.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
    }
    const int code = reap();
    logLine(tag_ + "command ended with exit code " + std::to_string(code));
    if (request_.protocol_v2 && !host_gone) {
      stream_.write(adb::encodeShellPacket(ShellPacketId::Exit,
                                           std::string(1, static_cast<char>(code & 0xff))));
    }
    {
      std::lock_guard<std::mutex> lock(state_.mutex);
      state_.output_done = true;
    }
    state_.cv.notify_all();
    stream_.finish();
  }

  // Waits for the child without reaping it first, so hangUp() never signals a recycled pid.
  int reap() {
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(child_.pid), &info, WEXITED | WNOWAIT) != 0 &&
           errno == EINTR) {
    }
    {
      std::lock_guard<std::mutex> lock(state_.mutex);
      state_.exited = true;
    }
    int status = 0;
    while (::waitpid(child_.pid, &status, 0) < 0 && errno == EINTR) {
    }
    return exitCodeOf(status);
  }

  void hangUp() {
    std::unique_lock<std::mutex> lock(state_.mutex);
    if (!state_.exited) {
      logLine(tag_ + "closed by the host: hanging up process group " +
              std::to_string(child_.pid));
      ::kill(-child_.pid, SIGHUP);
    }
    if (!state_.cv.wait_for(lock, std::chrono::seconds(1), [&] { return state_.output_done; })) {
      logLine(tag_ + "process group " + std::to_string(child_.pid) +
              " is still there a second after SIGHUP: SIGKILL");
      // The group may outlive its leader (a background job holding the pipes); kill it all.
      ::kill(-child_.pid, SIGKILL);
      lock.unlock();
      if (wake_[1] >= 0) {
        const char c = 1;
        [[maybe_unused]] const ssize_t n = ::write(wake_[1], &c, 1);
      }
    }
  }

  Stream& stream_;
  const ShellRequest& request_;
  ChildProcess child_;
  const std::string tag_;
  ChildState state_;
  int wake_[2] = {-1, -1};
};

}  // namespace

void runShell(Stream& stream, const ShellRequest& request, const Sandbox& sandbox) {
  const std::string tag = "stream " + std::to_string(stream.localId()) + ": ";
  const std::string command = sandbox.rewriteCommand(request.command);
  SpawnRequest spawn;
  spawn.argv = command.empty() ? std::vector<std::string>{"/bin/sh"}
                               : std::vector<std::string>{"/bin/sh", "-c", command};
  spawn.env = sandbox.shellEnvironment(request.term);
  spawn.cwd = sandbox.root().string();
  spawn.terminal = request.terminal;
  // Without shell protocol v2 there is one byte stream back to the host for both outputs.
  spawn.merge_stderr = !request.protocol_v2;
  ChildProcess child;
  try {
    child = spawnChild(spawn);
  } catch (const std::system_error& e) {
    const std::string message =
        std::string("darkroom-simphone: cannot start /bin/sh: ") + e.what() + "\n";
    logLine(tag + message.substr(0, message.size() - 1));
    if (request.protocol_v2) {
      stream.write(adb::encodeShellPacket(ShellPacketId::Stderr, message) +
                   adb::encodeShellPacket(ShellPacketId::Exit, std::string(1, '\x7f')));
    } else {
      stream.write(message);
    }
    return;
  }
  logLine(tag + "pid " + std::to_string(child.pid) + " runs " +
          (command.empty() ? std::string("an interactive shell")
                           : adb::printableBytes(command, 200)));
  ShellSession(stream, request, child).run();
}

}  // namespace darkroom::simphone

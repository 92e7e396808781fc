#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>

namespace darkroom::simphone {

namespace {

[[noreturn]] void throwErrno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void closeIf(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// The pseudo-terminal's master and slave, both close-on-exec (the child dup2s the slave).
void openTerminal(int& master, int& slave) {
  master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) throwErrno("posix_openpt");
  char name[128];
  if (::grantpt(master) != 0 || ::unlockpt(master) != 0 ||
      ::ptsname_r(master, name, sizeof name) != 0) {
    const int e = errno;
    ::close(master);
    errno = e;
    throwErrno("preparing the pseudo-terminal");
  }
  slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    const int e = errno;
    ::close(master);
    errno = e;
    throwErrno(std::string("opening ") + name);
  }
}

}  // namespace

ChildProcess spawnChild(const SpawnRequest& request) {
  // Everything the child needs is built before fork: after it, a multithreaded parent's child
  // may only make async-signal-safe calls.
  std::vector<char*> argv, envp;
  for (const auto& a : request.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : request.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  int master = -1, slave = -1;
  try {
    if (request.terminal) {
      openTerminal(master, slave);
    } else {
      if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throwErrno("pipe2");
      if (!request.merge_stderr && ::pipe2(err, O_CLOEXEC) != 0) throwErrno("pipe2");
    }
  } catch (...) {
    for (int* fd : {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1], &master, &slave})
      closeIf(*fd);
    throw;
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    for (int* fd : {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1], &master, &slave})
      closeIf(*fd);
    errno = e;
    throwErrno("fork");
  }
  if (pid == 0) {
    // The parent blocks SIGTERM/SIGINT for its signalfd and ignores SIGPIPE; both would be
    // inherited through exec.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::setsid();
    // A phone that dies (SIGKILL: the cable pulled) takes its commands with it, as a real
    // phone's would; the forking thread runs the session until the child ends, so the signal
    // cannot fire early.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(125);
    if (request.terminal) {
      ::ioctl(slave, TIOCSCTTY, 0);
      ::dup2(slave, 0);
      ::dup2(slave, 1);
      ::dup2(slave, 2);
    } else {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(request.merge_stderr ? out[1] : err[1], 2);
    }
    if (::chdir(request.cwd.c_str()) != 0) _exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }

  ChildProcess child;
  child.pid = pid;
  child.terminal = request.terminal;
  if (request.terminal) {
    ::close(slave);
    child.stdin_fd = master;
    child.stdout_fd = master;
  } else {
    ::close(in[0]);
    ::close(out[1]);
    closeIf(err[1]);
    child.stdin_fd = in[1];
    child.stdout_fd = out[0];
    child.stderr_fd = err[0];
  }
  return child;
}

int exitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 255;
}

}  // namespace darkroom::simphone

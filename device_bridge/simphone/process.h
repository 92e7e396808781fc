// Starting a shell command as the child of a simulated phone's service, in its own session and
// process group (so closing the stream can hang up everything it started), with pipes or a
// pseudo-terminal for its standard streams.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace darkroom::simphone {

struct ChildProcess {
  pid_t pid = -1;   // also the process group id
  int stdin_fd = -1;   // write end; with a terminal, the terminal's master (same as stdout_fd)
  int stdout_fd = -1;  // read end
  int stderr_fd = -1;  // read end; -1 when stderr goes with stdout (terminal or merged)
  bool terminal = false;
};

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is the program's path
  std::vector<std::string> env;   // "KEY=value"
  std::string cwd;
  bool terminal = false;      // a pseudo-terminal for stdin, stdout and stderr
  bool merge_stderr = false;  // without a terminal: stderr into the stdout pipe
};

// Throws std::system_error when a pipe, the terminal or fork fails. Every descriptor returned is
// close-on-exec, so children of other streams never hold this one's pipes open.
ChildProcess spawnChild(const SpawnRequest& request);

// 128 + the signal for a child ended by a signal, as a shell reports it.
int exitCodeOf(int wait_status);

}  // namespace darkroom::simphone

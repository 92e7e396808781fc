// The two ways a subcommand fails (docs/agent-protocol.md): bad arguments (exit code 2) and
// everything else (exit code 1). Both end the run with an `error` record.
#pragma once

#include <stdexcept>
#include <string>

namespace darkroom::agent {

// A flag or value the user must change. `flag` names it ("--sizes"), or is empty when the
// problem is not one flag (a missing subcommand).
struct UsageError : std::runtime_error {
  UsageError(std::string flag_name, const std::string& message)
      : std::runtime_error(message), flag(std::move(flag_name)) {}
  std::string flag;
};

// Anything else that stops a run: a file that cannot be created, a layout that does not parse,
// a back end that cannot run, a signal.
struct AgentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace darkroom::agent

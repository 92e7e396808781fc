// How darkroom-cli shows a running profile: darkroom-agent's records printed as they arrive, as
// a table whose columns suit the subcommand (info and result records as key/value lists), or as
// the agent's JSON lines themselves.
#pragma once

#include <functional>
#include <string>

#include "darkroom/device/session.h"

namespace darkroom::cli {

// A callback for runProfile's records; safe to call from the job's thread. `kind` is the agent
// subcommand.
std::function<void(const device::AgentRecord&)> livePrinter(std::string kind, bool json);

// "%.*f" of v.
std::string fixed(double v, int digits);

}  // namespace darkroom::cli

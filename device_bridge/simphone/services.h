// The services the simulated phone offers on a stream: "shell[,v2][,raw|,pty][,TERM=x]:CMD",
// "exec:CMD" and "sync:". Anything else is refused (the host sees the stream closed).
#pragma once

#include <string>

#include "sandbox.h"
#include "transport.h"

namespace darkroom::simphone {

// The device features this phone implements, for the CNXN banner. Only what the services below
// really do: adb then uses shell protocol v2, stat/list v2, and lets SEND create directories.
inline constexpr const char* kFeatures = "shell_v2,stat_v2,ls_v2,fixed_push_mkdir";

ServiceFn lookupService(const std::string& name, const Sandbox& sandbox);

// Implemented in shell_service.cpp and sync_service.cpp.
struct ShellRequest {
  bool protocol_v2 = false;  // stdout/stderr/exit packets instead of raw bytes
  bool terminal = false;     // a pseudo-terminal instead of pipes
  std::string term;          // TERM for the command, when the host sent one
  std::string command;       // empty: an interactive shell
};
void runShell(Stream& stream, const ShellRequest& request, const Sandbox& sandbox);
void runSync(Stream& stream, const Sandbox& sandbox);

}  // namespace darkroom::simphone

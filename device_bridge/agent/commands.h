// The subcommands (docs/agent-protocol.md). Each one reads its flags, writes its records and
// returns normally on success; it throws UsageError for bad arguments (exit code 2) and anything
// else for a failure (exit code 1). main.cpp turns both into the final `error` record.
#pragma once

#include <vector>

#include "args.h"
#include "record_writer.h"
#include "workdir.h"

namespace darkroom::agent {

struct CommandContext {
  const Args& args;
  RecordWriter& out;
  const WorkDir& workdir;
};

struct Command {
  const char* name;
  const char* summary;                 // one line for the usage text
  std::vector<FlagSpec> (*flags)();    // without --workdir and --help, which every one takes
  void (*run)(const CommandContext&);
};

// In the order the usage text lists them.
const std::vector<Command>& commands();

std::vector<FlagSpec> infoFlags();
void runInfo(const CommandContext& ctx);
std::vector<FlagSpec> flashSweepFlags();
void runFlashSweep(const CommandContext& ctx);
std::vector<FlagSpec> flashReplayFlags();
void runFlashReplay(const CommandContext& ctx);
std::vector<FlagSpec> kernelsFlags();
void runKernels(const CommandContext& ctx);
std::vector<FlagSpec> monitorFlags();
void runMonitor(const CommandContext& ctx);

}  // namespace darkroom::agent

// What every darkroom-cli subcommand receives, and the entry points of each command group.
#pragma once

#include <any>
#include <filesystem>
#include <functional>
#include <string>

#include "args.h"
#include "darkroom/jobs.h"
#include "darkroom/workspace.h"

namespace darkroom::cli {

struct Context {
  std::filesystem::path workspace;  // --workspace, or the default
  Workspace openWorkspace() const { return Workspace::open(workspace); }
};

// Runs `work` as a job with a progress bar on stderr; Ctrl-C cancels it. Returns its result or
// throws (JobCancelled when cancelled).
std::any runWithProgress(const std::string& title, JobFunction work);

int workspaceCommand(const Context& ctx, Args& args);
int runsCommand(const Context& ctx, Args& args);
int demoCommand(const Context& ctx, Args& args);
int infoCommand(const Context& ctx, Args& args);
int analyzeCommand(const Context& ctx, Args& args);
int modelCommand(const Context& ctx, Args& args);
int generateCommand(const Context& ctx, Args& args);
int finetuneCommand(const Context& ctx, Args& args);
int coactCommand(const Context& ctx, Args& args);    // coact_command.cpp
int placeCommand(const Context& ctx, Args& args);    // coact_command.cpp
int layoutCommand(const Context& ctx, Args& args);   // layout_command.cpp: layout write|verify
int exportCommand(const Context& ctx, Args& args);   // layout_command.cpp: export gguf
int iobenchCommand(const Context& ctx, Args& args);  // iobench_command.cpp
int quantizeCommand(const Context& ctx, Args& args); // quantize_command.cpp
int kbenchCommand(const Context& ctx, Args& args);   // quantize_command.cpp
int ttsCommand(const Context& ctx, Args& args);      // tts_command.cpp
// device_command.cpp: gets the raw words, since `device shell -- ARGS` passes everything after
// `--` to the phone untouched.
int deviceCommand(const Context& ctx, const std::vector<std::string>& words);

// Prints rows as an aligned text table.
void printTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
std::string formatTime(double unix_seconds);

}  // namespace darkroom::cli

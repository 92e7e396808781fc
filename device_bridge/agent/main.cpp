// darkroom-agent: the program pushed to phones. Subcommands print JSON lines on stdout
// (docs/agent-protocol.md); diagnostics for people go to stderr. Exit codes: 0 success, 2 bad
// arguments, 1 any other failure (the last stdout line is then an `error` record).
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "agent_error.h"
#include "args.h"
#include "commands.h"
#include "record_writer.h"
#include "stop_signal.h"
#include "workdir.h"

namespace darkroom::agent {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::vector<FlagSpec> commonFlags() {
  return {
      {"workdir", true, "DIR  the only directory the agent writes in (created when missing; "
                        "default /data/local/tmp/darkroom on Android, else the current one)"},
      {"help", false, "print this text"},
  };
}

std::string usage() {
  std::string text =
      "usage: darkroom-agent SUBCOMMAND [--workdir DIR] [flags]\n"
      "Prints one JSON object per line (docs/agent-protocol.md). Exit codes: 0 success,\n"
      "2 bad arguments, 1 any other failure (the last line is then an error record).\n\n"
      "subcommands:\n";
  for (const auto& c : commands()) {
    std::string name = "  " + std::string(c.name);
    name.resize(16, ' ');
    text += name + c.summary + "\n";
  }
  text += "\n`darkroom-agent SUBCOMMAND --help` lists a subcommand's flags.\n";
  return text;
}

std::string commandUsage(const Command& c) {
  auto specs = c.flags();
  for (auto& f : commonFlags()) specs.push_back(f);
  return "usage: darkroom-agent " + std::string(c.name) + " [flags]\n" + c.summary + "\n\n" +
         flagHelp(specs);
}

int run(int argc, char** argv) {
  installStopHandlers();
  const std::vector<std::string> words(argv + 1, argv + argc);
  const std::string name = words.empty() ? std::string() : words[0];
  RecordWriter out(name, stdout, simulatedFromEnvironment());

  auto usageFailure = [&](const UsageError& e, const std::string& help) {
    Json extra;
    extra["usage"] = true;
    if (!e.flag.empty()) extra["flag"] = e.flag;
    out.error(e.what(), extra);
    std::cerr << "darkroom-agent: " << e.what() << "\n\n" << help;
    return kExitUsage;
  };

  if (name == "help" || name == "--help" || name == "-h") {
    std::cout << usage();
    return 0;
  }
  const Command* command = nullptr;
  for (const auto& c : commands())
    if (name == c.name) command = &c;
  if (!command) {
    std::string message = name.empty() ? "no subcommand given"
                                       : "unknown subcommand \"" + name + "\"";
    message += " (subcommands:";
    for (const auto& c : commands()) message += std::string(" ") + c.name;
    message += ")";
    return usageFailure(UsageError({}, message), usage());
  }

  try {
    auto specs = command->flags();
    for (auto& f : commonFlags()) specs.push_back(f);
    const Args args(name, std::vector<std::string>(words.begin() + 1, words.end()), specs);
    if (args.flag("help")) {
      std::cout << commandUsage(*command);
      return 0;
    }
    const auto requested = args.text("workdir");
    if (requested && requested->empty())
      throw UsageError("--workdir", name + ": --workdir must name a directory");
    const WorkDir workdir = WorkDir::open(requested ? std::filesystem::path(*requested)
                                                    : defaultWorkDir());
    command->run(CommandContext{args, out, workdir});
    return out.broken() ? kExitFailure : 0;
  } catch (const UsageError& e) {
    return usageFailure(e, commandUsage(*command));
  } catch (const std::exception& e) {
    out.error(e.what());
    std::cerr << "darkroom-agent " << name << ": " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> list = {
      {"info", "describe the device: CPU, memory, storage, Android properties, back ends",
       infoFlags, runInfo},
      {"flash-sweep", "read throughput and latency of the storage: sizes × patterns × depths",
       flashSweepFlags, runFlashSweep},
      {"flash-replay", "replay an activation trace against a flash layout file",
       flashReplayFlags, runFlashReplay},
      {"kernels", "time the quantized GEMM, LUT softmax and attention kernels", kernelsFlags,
       runKernels},
      {"monitor", "sample CPU clocks, temperatures, memory and load", monitorFlags, runMonitor},
  };
  return list;
}

}  // namespace darkroom::agent

int main(int argc, char** argv) {
  try {
    return darkroom::agent::run(argc, argv);
  } catch (const std::exception& e) {  // a failure before the writer exists, or inside it
    std::cerr << "darkroom-agent: " << e.what() << "\n";
    return 1;
  }
}

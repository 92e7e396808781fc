#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/demo.h"

namespace darkroom::cli {

static const char* kDemoHelp = R"(usage: darkroom-cli [--workspace DIR] demo [--steps N] [--force] [--json]

Creates the workspace when missing and fills it with the built-in demo: small models trained by
Darkroom on synthetic data, recorded as runs of the "demo" experiment, and a report
(artifacts/demo/report.md). Cached: a second call reuses a finished demo unless --force.
)";

int demoCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kDemoHelp), 0;
  DemoOptions options;
  options.force = args.flag("--force");
  bool json = args.flag("--json");
  if (auto steps = args.option("--steps"))
    options.steps = static_cast<int>(parseId(*steps, "--steps"));
  args.finish();
  auto ws = Workspace::create(ctx.workspace);
  auto result = std::any_cast<DemoResult>(runWithProgress(
      "demo", [&](JobContext& job) -> std::any { return createDemo(ws, job, options); }));
  if (json) {
    nlohmann::ordered_json j;
    j["workspace"] = ws.root().string();
    j["runs"] = result.run_ids;
    j["report"] = result.report.string();
    j["reused"] = result.reused;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s demo in %s\nreport: %s\n", result.reused ? "reused the" : "created the",
                ws.root().c_str(), result.report.c_str());
  }
  return 0;
}

}  // namespace darkroom::cli

#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"

namespace darkroom::cli {

static const char* kWorkspaceHelp = R"(usage: darkroom-cli [--workspace DIR] workspace init [DIR]
       darkroom-cli [--workspace DIR] workspace info [--json]

init   create a workspace folder (darkroom.db + artifacts/); an existing one is left as it is
info   the workspace's path, schema version, and how many experiments, runs and metrics it holds
)";

int workspaceCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kWorkspaceHelp), 0;
  auto sub = args.required("subcommand (init or info); see `workspace --help`");
  if (sub == "init") {
    auto dir = args.next();
    args.finish();
    std::filesystem::path root = dir ? std::filesystem::path(*dir) : ctx.workspace;
    bool existed = Workspace::exists(root);
    auto ws = Workspace::create(root);
    std::printf("%s workspace %s\n", existed ? "existing" : "created", ws.root().c_str());
    return 0;
  }
  if (sub == "info") {
    bool json = args.flag("--json");
    args.finish();
    auto ws = ctx.openWorkspace();
    auto& store = ws.store();
    auto runs = store.runs();
    std::int64_t points = 0;
    std::map<std::string, int> by_status;
    for (const auto& r : runs) {
      points += store.metricCount(r.id);
      ++by_status[toString(r.status)];
    }
    if (json) {
      nlohmann::ordered_json j;
      j["path"] = ws.root().string();
      j["database"] = ws.dbPath().string();
      j["schema_version"] = store.schemaVersion();
      j["experiments"] = store.experiments().size();
      j["runs"] = runs.size();
      j["runs_by_status"] = by_status;
      j["metric_points"] = points;
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("workspace       %s\n", ws.root().c_str());
    std::printf("schema version  %d\n", store.schemaVersion());
    std::printf("experiments     %zu\n", store.experiments().size());
    std::printf("runs            %zu", runs.size());
    for (const auto& [status, n] : by_status) std::printf("  %s=%d", status.c_str(), n);
    std::printf("\nmetric points   %lld\n", static_cast<long long>(points));
    return 0;
  }
  throw UsageError("unknown workspace subcommand '" + sub + "' (init, info)");
}

}  // namespace darkroom::cli

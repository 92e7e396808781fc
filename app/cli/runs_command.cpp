#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/run_export.h"

namespace darkroom::cli {

static const char* kRunsHelp = R"(usage: darkroom-cli runs list [--experiment NAME] [--json]
       darkroom-cli runs show ID [--json]
       darkroom-cli runs export [ID ...] [--format json|csv] [--output FILE]

list    the runs of the workspace (or of one experiment)
show    one run: status, times, params, metric keys with their point counts, artifacts
export  runs with every metric point (all runs when no ID is given); JSON by default, CSV in
        long form (run_id,experiment,run,key,step,value,wall_time); to stdout or --output FILE
)";

static std::string duration(const RunInfo& r) {
  if (!r.end_time) return r.status == RunStatus::Running ? "running" : "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", *r.end_time - r.start_time);
  return buf;
}

static int list(const Context& ctx, Args& args) {
  auto experiment = args.option("--experiment");
  bool json = args.flag("--json");
  args.finish();
  auto ws = ctx.openWorkspace();
  auto& store = ws.store();
  std::vector<RunInfo> runs;
  for (const auto& r : store.runs())
    if (!experiment || r.experiment == *experiment) runs.push_back(r);
  if (json) {
    std::printf("[");
    for (std::size_t i = 0; i < runs.size(); ++i)
      std::printf("%s\n%s", i ? "," : "", runSummaryJson(store, runs[i], false, -1).c_str());
    std::printf("%s]\n", runs.empty() ? "" : "\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs)
    rows.push_back({std::to_string(r.id), r.experiment, r.name, r.kind, toString(r.status),
                    formatTime(r.start_time), duration(r),
                    std::to_string(store.metricCount(r.id))});
  printTable({"ID", "EXPERIMENT", "NAME", "KIND", "STATUS", "STARTED", "DURATION", "POINTS"},
             rows);
  return 0;
}

static int show(const Context& ctx, Args& args) {
  bool json = args.flag("--json");
  auto id = parseId(args.required("run ID"), "run ID");
  args.finish();
  auto ws = ctx.openWorkspace();
  auto& store = ws.store();
  auto run = store.run(id);
  if (!run) throw std::runtime_error("no run with id " + std::to_string(id));
  if (json) {
    std::printf("%s\n", runSummaryJson(store, *run, true, 2).c_str());
    return 0;
  }
  std::printf("run %lld  %s / %s  (%s)\n", static_cast<long long>(run->id),
              run->experiment.c_str(), run->name.c_str(), run->kind.c_str());
  std::printf("status   %s%s%s\n", toString(run->status), run->note.empty() ? "" : " — ",
              run->note.c_str());
  std::printf("started  %s\nended    %s\n", formatTime(run->start_time).c_str(),
              run->end_time ? formatTime(*run->end_time).c_str() : "-");
  std::printf("\nparams\n");
  for (const auto& [k, v] : store.params(id)) std::printf("  %-24s %s\n", k.c_str(), v.c_str());
  std::printf("\nmetrics (points, last value)\n");
  for (const auto& key : store.metricKeys(id)) {
    auto points = store.metrics(id, key);
    std::printf("  %-28s %6zu  %g\n", key.c_str(), points.size(),
                points.empty() ? 0.0 : points.back().value);
  }
  auto artifacts = store.artifacts(id);
  if (!artifacts.empty()) std::printf("\nartifacts\n");
  for (const auto& a : artifacts)
    std::printf("  %-10s %10lld B  %s\n", a.kind.c_str(), static_cast<long long>(a.bytes),
                a.path.c_str());
  return 0;
}

static int exportRunsCommand(const Context& ctx, Args& args) {
  auto format_name = args.option("--format", "json");
  auto output = args.option("--output");
  ExportFormat format;
  if (format_name == "json") format = ExportFormat::Json;
  else if (format_name == "csv") format = ExportFormat::Csv;
  else throw UsageError("--format must be json or csv, got '" + format_name + "'");
  std::vector<std::int64_t> ids;
  for (const auto& word : args.rest()) ids.push_back(parseId(word, "run ID"));
  args.finish();
  auto ws = ctx.openWorkspace();
  if (!output) {
    exportRuns(ws.store(), ids, format, std::cout);
    return 0;
  }
  exportRunsToFile(ws.store(), ids, format, *output);
  std::fprintf(stderr, "wrote %s\n", output->c_str());
  return 0;
}

int runsCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kRunsHelp), 0;
  auto sub = args.required("subcommand (list, show or export); see `runs --help`");
  if (sub == "list") return list(ctx, args);
  if (sub == "show") return show(ctx, args);
  if (sub == "export") return exportRunsCommand(ctx, args);
  throw UsageError("unknown runs subcommand '" + sub + "' (list, show, export)");
}

}  // namespace darkroom::cli

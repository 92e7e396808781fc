// The demo recipe: fills a fresh workspace with real, deterministic content so the first launch
// has something to show. For now: two small MLPs trained by LibTorch on a synthetic regression
// task, whose curves (loss, learning rate, gradient norm, per-example and batch-aggregated ReLU
// sparsity) land as runs of the "demo" experiment, and a Markdown report.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/workspace.h"

namespace darkroom {

struct DemoOptions {
  int steps = 400;       // training steps per run
  bool force = false;    // recreate even when a finished demo exists
  std::uint64_t seed = 1234;
};

struct DemoResult {
  std::vector<std::int64_t> run_ids;
  std::filesystem::path report;  // Markdown summary in the workspace
  bool reused = false;           // the demo was already there
};

DemoResult createDemo(Workspace& workspace, JobContext& ctx, const DemoOptions& options = {});

}  // namespace darkroom

// The demo recipe: fills a workspace with real, deterministic content so the first launch has
// something to show — the two demo models trained by Darkroom on the synthetic corpus (their
// training curves are runs), a sparsity analysis of each, and a Markdown report. Cached: what
// exists is reused unless forced.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/workspace.h"

namespace darkroom {

struct DemoOptions {
  int steps = 300;                     // training steps per demo model (~3 CPU minutes each)
  std::int64_t analysis_tokens = 2048; // calibration tokens per analysis
  bool force = false;                  // retrain and re-analyse
};

struct DemoResult {
  std::vector<std::int64_t> run_ids;  // the training and analysis runs, in id order
  std::filesystem::path report;       // Markdown summary in the workspace
  bool reused = false;                // everything was already there
};

DemoResult createDemo(Workspace& workspace, JobContext& ctx, const DemoOptions& options = {});

}  // namespace darkroom

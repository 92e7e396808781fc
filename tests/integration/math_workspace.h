// A workspace whose demo-math-s trained for a few steps only, for the end-to-end tests of the
// commands that reuse a trained math model as it is (quantize, tts): the real training path,
// kept short because the commands must work, not the model solve problems.
#pragma once

#include <gtest/gtest.h>

#include <any>
#include <filesystem>
#include <string>

#include "darkroom/demo_models.h"
#include "darkroom/jobs.h"
#include "darkroom/workspace.h"

namespace darkroom::test {

// Creates the workspace at `root` and trains its demo-math-s for 4 steps; fails the test (with
// the job's message) when training fails.
inline void trainMathModelBriefly(const std::filesystem::path& root) {
  auto ws = Workspace::create(root);
  JobQueue queue(1);
  std::string error;
  queue.setListener([&](const JobEvent& e) {
    if (e.state == JobState::Failed) error = e.message;
  });
  auto id = queue.submit("train", "demo-math-s", [&](JobContext& ctx) -> std::any {
    auto options = demoTrainDefaults("demo-math-s");
    options.steps = 4;
    trainDemoModel(ws, "demo-math-s", options, ctx);
    return {};
  });
  ASSERT_EQ(queue.wait(id), JobState::Succeeded) << error;
}

}  // namespace darkroom::test

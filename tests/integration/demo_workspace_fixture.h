// A workspace with a briefly trained demo-opt, shared by the tests of one suite (training it is
// the slow part). Each test also gets its own scratch folder for the CLI's output files.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli_process.h"

namespace darkroom::test {

class DemoWorkspaceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir;
    ws_ = (*tmp_ / "ws").string();
    auto demo = cli({"--workspace", ws_, "demo", "--steps", "2"}, tmp_->path());
    ASSERT_EQ(demo.code, 0) << demo.err;
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  // The arguments with --workspace of the shared workspace in front.
  static std::vector<std::string> in(std::vector<std::string> args) {
    args.insert(args.begin(), {"--workspace", ws_});
    return args;
  }

  static inline TempDir* tmp_ = nullptr;
  static inline std::string ws_;
  TempDir own_;  // this test's stdout/stderr files, inputs and outputs
};

}  // namespace darkroom::test

// darkroom-cli tts end to end: a sweep on a briefly trained demo-math-s whose points land in the
// store (and read back as the frontier), the table with its Pareto marks, and the usage errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_process.h"
#include "darkroom/scaling.h"
#include "math_workspace.h"
#include "test_util.h"

using namespace darkroom;
using nlohmann::json;
using test::cli;
using test::contains;
namespace fs = std::filesystem;

TEST(TtsCli, SweepsBudgetsAndStoresEveryPoint) {
  test::TempDir tmp;
  const auto ws = (tmp / "ws").string();
  test::trainMathModelBriefly(ws);

  auto run = cli({"--workspace", ws, "tts", "--models", "demo-math-s", "--n", "1,2",
                  "--problems", "3", "--max-new", "48", "--json"},
                 tmp.path());
  ASSERT_EQ(run.code, 0) << run.err;
  auto j = json::parse(run.out);
  ASSERT_EQ(j["points"].size(), 4u) << run.out;  // bon and beam, at N = 1 and 2
  ASSERT_EQ(j["runs"].size(), 2u) << run.out;
  for (const auto& p : j["points"]) {
    EXPECT_EQ(p["model"], "demo-math-s");
    EXPECT_EQ(p["weights"], "tile-q4_0");
    EXPECT_EQ(p["reward"], "verifier");
    EXPECT_EQ(p["problems"], 3);
    EXPECT_GE(p["accuracy"].get<double>(), 0.0);
    EXPECT_LE(p["accuracy"].get<double>(), 1.0);
    EXPECT_GT(p["tokens"].get<double>(), 0.0);
    // At most N rows decode at once, each up to 48 tokens, in at most 12 beam rounds.
    EXPECT_LE(p["tokens"].get<double>(), 48.0 * p["budget"].get<double>() * 12);
    EXPECT_GT(p["wall_s"].get<double>(), 0.0);
    EXPECT_GT(p["cpu_s"].get<double>(), 0.0);
    EXPECT_TRUE(p["pareto"].contains("tokens"));
  }

  // The points are stored: the frontier reads back every one of them.
  auto workspace = Workspace::open(ws);
  auto stored = loadFrontier(workspace);
  ASSERT_EQ(stored.size(), 4u);
  for (const auto& p : j["points"]) {
    bool found = false;
    for (const auto& s : stored)
      found |= s.run_id == p["run"].get<std::int64_t>() && s.budget == p["budget"].get<int>() &&
               s.method == p["method"].get<std::string>() &&
               s.accuracy == p["accuracy"].get<double>() && s.tokens == p["tokens"].get<double>();
    EXPECT_TRUE(found) << p.dump();
  }
  for (const auto& r : workspace.store().runs()) {
    if (r.kind == "tts") {
      EXPECT_EQ(r.status, RunStatus::Finished);
    }
  }

  // The table, float32 weights, beam search alone: one row per budget with its Pareto marks.
  auto table = cli({"--workspace", ws, "tts", "--models", "demo-math-s", "--weights", "float32",
                    "--method", "beam", "--n", "2", "--beam-width", "2", "--problems", "2",
                    "--max-new", "32"},
                   tmp.path());
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_TRUE(contains(table.out, "PARETO")) << table.out;
  EXPECT_TRUE(contains(table.out, "float32")) << table.out;
  EXPECT_TRUE(contains(table.out, "tok wall cpu")) << table.out;  // a single point beats none
  EXPECT_EQ(loadFrontier(workspace).size(), 5u);
}

TEST(TtsCli, BadArgumentsAreUsageErrors) {
  test::TempDir tmp;
  const auto ws = (tmp / "ws").string();
  const std::vector<std::vector<std::string>> bad = {
      {"--method", "greedy"},
      {"--method", "bon,"},
      {"--n", "0"},
      {"--n", "2,x"},
      {"--n", "1.5"},
      {"--problems", "0"},
      {"--temperature", "-1"},
      {"--top-p", "0"},
      {"--top-p", "1.5"},
      {"--beam-width", "0"},
      {"--max-new", "0"},
      {"--weights", "tile-q5"},
      {"--models", "no-such-model"},
      {"--models", ""},
      {"--reward", (tmp / "missing").string()},
      {"--seed"},
      {"--frobnicate"},
      {"extra"},
  };
  for (auto args : bad) {
    args.insert(args.begin(), {"--workspace", ws, "tts"});
    auto r = cli(args, tmp.path());
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    EXPECT_EQ(r.code, 2) << shown << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, "--help")) << shown << "\n" << r.err;
  }
  // Nothing was trained or stored for any of them.
  EXPECT_FALSE(fs::exists(tmp / "ws" / "models"));
  auto help = cli({"tts", "--help"}, tmp.path());
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(contains(help.out, "--beam-width"));
}

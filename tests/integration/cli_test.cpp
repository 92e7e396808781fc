// darkroom-cli end to end: a real process on a real workspace, its exit codes, and its JSON.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "darkroom/store.h"
#include "cli_process.h"
#include "test_util.h"

using namespace darkroom;
using nlohmann::json;
using test::cli;
using test::slurp;
using Result = test::CliResult;


TEST(Cli, InitDemoExportRoundTrips) {
  test::TempDir tmp;
  auto ws = (tmp / "my workspace").string();  // a space in the path, on purpose
  auto init = cli({"--workspace", ws, "workspace", "init"}, tmp);
  ASSERT_EQ(init.code, 0) << init.err;
  EXPECT_NE(init.out.find("created workspace"), std::string::npos);
  EXPECT_NE(cli({"workspace", "init", ws}, tmp).out.find("existing workspace"), std::string::npos);

  std::uniform_int_distribution<int> steps_dist(2, 6);  // real training: keep it short
  int steps = steps_dist(test::rng());
  auto demo = cli({"--workspace", ws, "demo", "--steps", std::to_string(steps), "--json"}, tmp);
  ASSERT_EQ(demo.code, 0) << demo.err;
  auto demo_json = json::parse(demo.out);
  EXPECT_FALSE(demo_json["reused"].get<bool>());
  EXPECT_TRUE(std::filesystem::exists(demo_json["report"].get<std::string>()));
  auto again = json::parse(cli({"--workspace", ws, "demo", "--json"}, tmp).out);
  EXPECT_TRUE(again["reused"].get<bool>());
  EXPECT_EQ(again["runs"], demo_json["runs"]);

  auto exported = cli({"--workspace", ws, "runs", "export", "--format", "json"}, tmp);
  ASSERT_EQ(exported.code, 0) << exported.err;
  auto doc = json::parse(exported.out);
  ASSERT_EQ(doc["runs"].size(), 4u);  // per demo model: its training and its analysis

  // Every exported point equals what the store holds.
  auto store = Store::open(std::filesystem::path(ws) / "darkroom.db");
  for (const auto& run : doc["runs"]) {
    auto id = run["id"].get<std::int64_t>();
    EXPECT_EQ(run["status"], "finished");
    auto keys = store.metricKeys(id);
    ASSERT_EQ(run["metrics"].size(), keys.size());
    for (const auto& key : keys) {
      auto points = store.metrics(id, key);
      const auto& exported_points = run["metrics"][key];
      ASSERT_EQ(exported_points.size(), points.size()) << key;
      for (std::size_t i = 0; i < points.size(); ++i) {
        EXPECT_EQ(exported_points[i]["step"].get<std::int64_t>(), points[i].step);
        EXPECT_EQ(exported_points[i]["value"].get<double>(), points[i].value);
        EXPECT_EQ(exported_points[i]["wall_time"].get<double>(), points[i].wall_time);
      }
    }
    auto show = json::parse(cli({"--workspace", ws, "runs", "show", std::to_string(id), "--json"}, tmp).out);
    if (run["kind"] == "pretrain") {
      EXPECT_EQ(run["params"]["steps"], std::to_string(steps));
      EXPECT_EQ(run["metrics"]["train/loss"].size(), std::size_t(steps));
      EXPECT_EQ(show["metric_points"]["train/loss"].get<int>(), steps);
    } else {
      EXPECT_EQ(run["kind"], "analysis");
      EXPECT_EQ(run["metrics"]["mlp/per_token"].size(), 4u);  // one point per layer
      ASSERT_EQ(run["artifacts"].size(), std::size_t(run == doc["runs"].back() ? 2 : 1));
      EXPECT_EQ(run["artifacts"][0]["kind"], "sparsity");
    }
  }

  // CSV to a file: one header line plus one line per point.
  auto csv_file = (tmp / "runs.csv").string();
  auto csv = cli({"--workspace", ws, "runs", "export", "--format=csv", "--output", csv_file}, tmp);
  ASSERT_EQ(csv.code, 0) << csv.err;
  std::ifstream in(csv_file);
  std::size_t lines = 0, expected = 1;
  for (std::string line; std::getline(in, line);) ++lines;
  for (const auto& run : doc["runs"])
    for (const auto& [key, points] : run["metrics"].items()) expected += points.size();
  EXPECT_EQ(lines, expected);
  EXPECT_FALSE(std::filesystem::exists(csv_file + ".partial"));

  auto list = json::parse(cli({"--workspace", ws, "runs", "list", "--json"}, tmp).out);
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0]["experiment"], "demo-models");
  EXPECT_EQ(list[1]["experiment"], "demo");
  auto info = json::parse(cli({"--workspace", ws, "workspace", "info", "--json"}, tmp).out);
  EXPECT_EQ(info["runs"], 4);
  EXPECT_EQ(info["schema_version"], Store::latestSchemaVersion());
}

TEST(Cli, ExitCodesForUsageAndFailure) {
  test::TempDir tmp;
  auto ws = (tmp / "ws").string();
  ASSERT_EQ(cli({"--workspace", ws, "workspace", "init"}, tmp).code, 0);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"--workspace", ws, "runs", "frob"},
           {"--workspace", ws, "runs", "show", "abc"},
           {"--workspace", ws, "runs", "list", "--bogus"},
           {"--workspace", ws, "runs", "export", "--format", "xml"},
           {"--workspace"}}) {
    auto r = cli(args, tmp);
    EXPECT_EQ(r.code, 2) << testing::PrintToString(args) << r.err;
    EXPECT_NE(r.err.find("--help"), std::string::npos) << r.err;
  }
  auto missing = cli({"--workspace", (tmp / "nope").string(), "runs", "list"}, tmp);
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("workspace init"), std::string::npos) << missing.err;
  auto failed_export = cli({"--workspace", ws, "runs", "export", "99", "--output", (tmp / "x.json").string()}, tmp);
  EXPECT_EQ(failed_export.code, 1);
  EXPECT_FALSE(std::filesystem::exists(tmp / "x.json.partial"));
  EXPECT_FALSE(std::filesystem::exists(tmp / "x.json"));
  auto no_run = cli({"--workspace", ws, "runs", "show", "99"}, tmp);
  EXPECT_EQ(no_run.code, 1);
  EXPECT_NE(no_run.err.find("no run with id 99"), std::string::npos);
  for (const auto& command : {"workspace", "runs", "demo", "info"}) {
    auto help = cli({command, "--help"}, tmp);
    EXPECT_EQ(help.code, 0) << command;
    EXPECT_NE(help.out.find("usage:"), std::string::npos) << command;
  }
  EXPECT_EQ(cli({"--help"}, tmp).code, 0);
}

TEST(Cli, CtrlCCancelsTheDemoAndTheRunIsKilled) {
  test::TempDir tmp;
  auto ws = (tmp / "ws").string();
  pid_t pid = fork();
  if (pid == 0) {
    freopen((tmp / "err.txt").c_str(), "w", stderr);
    freopen("/dev/null", "w", stdout);
    execl(DARKROOM_CLI, DARKROOM_CLI, "--workspace", ws.c_str(), "demo", "--steps", "100000000",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Whatever fails below, the child must not outlive the test.
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid};
  // Wait until the first run exists, then interrupt.
  auto db = std::filesystem::path(ws) / "darkroom.db";
  for (int i = 0; i < 400; ++i) {
    if (std::filesystem::exists(db) && Store::open(db).runs().size() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  reaper.pid = 0;
  ASSERT_TRUE(WIFEXITED(status)) << "darkroom-cli died of a signal instead of cancelling";
  EXPECT_EQ(WEXITSTATUS(status), 130) << slurp(tmp / "err.txt");
  auto runs = Store::open(db).runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, RunStatus::Killed);
  EXPECT_EQ(runs[0].note, "cancelled (by the user, or by a newer request)");
  EXPECT_GT(Store::open(db).metricCount(runs[0].id), 0);  // what it measured is kept
}

TEST(Cli, AnalyzeModelInfoAndGenerateOnADemoModel) {
  test::TempDir tmp;
  auto ws = (tmp / "ws").string();
  // A quickly trained demo model: the commands must work, not the model be good.
  ASSERT_EQ(cli({"--workspace", ws, "demo", "--steps", "2"}, tmp).code, 0);

  auto info = cli({"--workspace", ws, "model", "info", "demo-llama", "--json"}, tmp);
  ASSERT_EQ(info.code, 0) << info.err;
  auto j = json::parse(info.out);
  EXPECT_EQ(j["family"], "llama");
  EXPECT_EQ(j["vocab_size"], 259);
  EXPECT_EQ(j["tokenizer"], "bpe");
  EXPECT_GT(j["parameters"].get<std::int64_t>(), 1000000);

  std::uniform_int_distribution<int> seq(8, 40), batch(1, 5);
  int l = seq(test::rng()), b = batch(test::rng());
  auto analyze = cli({"--workspace", ws, "analyze", "--model", "demo-opt", "--tokens", "200", "--seq",
                      std::to_string(l), "--batch", std::to_string(b), "--block-p", "0.01,0.05",
                      "--json"}, tmp);
  ASSERT_EQ(analyze.code, 0) << analyze.err;
  auto a = json::parse(analyze.out);
  EXPECT_EQ(a["layers"].size(), 4u);
  int sequences = 200 / l;
  if (sequences >= b) sequences -= sequences % b;  // whole batches only
  EXPECT_EQ(a["tokens"].get<int>(), sequences * l);
  for (const auto& layer : a["layers"]) {
    EXPECT_LE(layer["mlp_aggregated_batch"].get<double>(), layer["mlp_per_token"].get<double>());
    EXPECT_EQ(layer["mlp_block_sparsity"].size(), 2u);
  }
  EXPECT_TRUE(std::filesystem::exists(a["arrays"].get<std::string>()));
  auto table = cli({"--workspace", ws, "analyze", "--model", "demo-llama", "--tokens", "64", "--seq", "32"}, tmp);
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("PER-TOKEN"), std::string::npos);

  auto gen = cli({"--workspace", ws, "generate", "--model", "demo-opt", "--prompt", "the cat ",
                  "--max-new", "12", "--greedy", "--json"}, tmp);
  ASSERT_EQ(gen.code, 0) << gen.err;
  auto g = json::parse(gen.out);
  EXPECT_EQ(g["prompt_ids"].size(), 8u);  // one byte per token, no BOS for the demo models
  EXPECT_LE(g["new_ids"].size(), 12u);
  auto again = json::parse(cli({"--workspace", ws, "generate", "--model", "demo-opt", "--prompt",
                                "the cat ", "--max-new", "12", "--greedy", "--json"}, tmp).out);
  EXPECT_EQ(again["new_ids"], g["new_ids"]);  // greedy is deterministic
  auto streamed = cli({"--workspace", ws, "generate", "--model", "demo-opt", "--prompt", "the cat ",
                       "--max-new", "12", "--greedy"}, tmp);
  EXPECT_EQ(streamed.out, g["text"].get<std::string>() + "\n");

  EXPECT_EQ(cli({"--workspace", ws, "generate", "--model", "demo-opt", "--prompt", "a", "--seed",
                 "0", "--max-new", "0"}, tmp).code, 0);
  EXPECT_EQ(cli({"--workspace", ws, "analyze", "--model", (tmp / "nope").string()}, tmp).code, 1);
  EXPECT_EQ(cli({"--workspace", ws, "analyze", "--block-p", "x"}, tmp).code, 2);
  EXPECT_EQ(cli({"--workspace", ws, "generate", "--model", "demo-opt"}, tmp).code, 2);
  auto runtime = json::parse(cli({"info", "--json"}, tmp).out);
  if (!runtime["torch_cuda"].get<bool>()) {
    auto cuda = cli({"--workspace", ws, "analyze", "--model", "demo-opt", "--device", "cuda"}, tmp);
    EXPECT_EQ(cuda.code, 1);
    EXPECT_NE(cuda.err.find("no CUDA"), std::string::npos) << cuda.err;
  }
  auto bad_dtype = cli({"--workspace", ws, "generate", "--model", "demo-opt", "--prompt", "a",
                        "--dtype", "int8"}, tmp);
  EXPECT_EQ(bad_dtype.code, 1);
  EXPECT_NE(bad_dtype.err.find("float32 or bfloat16"), std::string::npos) << bad_dtype.err;
  auto too_long = cli({"--workspace", ws, "analyze", "--model", "demo-opt", "--seq", "1500"}, tmp);
  EXPECT_EQ(too_long.code, 1);
  EXPECT_NE(too_long.err.find("max_position_embeddings"), std::string::npos) << too_long.err;
}

TEST(Cli, DemoModelsAreTrainedDeterministically) {
  test::TempDir tmp;
  for (const char* ws : {"a", "b"})
    ASSERT_EQ(cli({"--workspace", (tmp / ws).string(), "demo", "--steps", "2"}, tmp).code, 0);
  for (const char* model : {"demo-opt", "demo-llama"}) {
    auto a = slurp(tmp / "a" / "models" / model / "model.safetensors");
    auto b = slurp(tmp / "b" / "models" / model / "model.safetensors");
    EXPECT_GT(a.size(), 1000000u) << model;
    EXPECT_TRUE(a == b) << model << ": two trainings from the same seed differ";
  }
}

TEST(Cli, TwoDemosAtOnceOnOneWorkspaceBothSucceed) {
  test::TempDir tmp;
  auto ws = (tmp / "ws").string();
  Result second;
  std::thread other([&] { second = cli({"--workspace", ws, "demo", "--steps", "2"}, tmp); });
  test::TempDir own_logs;  // each call needs its own stdout/stderr files
  auto first = cli({"--workspace", ws, "demo", "--steps", "2"}, own_logs);
  other.join();
  EXPECT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(second.code, 0) << second.err;
  // Each model was trained once; the other process reused it.
  auto runs = Store::open(std::filesystem::path(ws) / "darkroom.db").runs();
  int trainings = 0;
  for (const auto& r : runs) trainings += r.kind == "pretrain";
  EXPECT_EQ(trainings, 2);
}

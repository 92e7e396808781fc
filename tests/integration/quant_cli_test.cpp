// darkroom-cli quantize and kbench end to end: a briefly trained demo-math-s quantized in both
// layouts (JSON and table output, the folder it writes, the runs it stores), the kernel benchmark
// on tiny shapes and a stored run shown again, and the usage errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_process.h"
#include "darkroom/corpus.h"
#include "darkroom/kernels/backend.h"
#include "darkroom/quant.h"
#include "math_workspace.h"
#include "test_util.h"

using namespace darkroom;
using nlohmann::json;
using test::cli;
using test::contains;
namespace fs = std::filesystem;

TEST(QuantCli, QuantizesABrieflyTrainedMathModel) {
  test::TempDir tmp;
  const auto ws = tmp / "ws";
  test::trainMathModelBriefly(ws);
  const auto text = tmp / "eval.txt";
  {
    std::ofstream out(text);
    for (const auto& p : wordProblems(test::rng()(), 40)) out << p.prompt() << p.solution();
  }

  auto run = cli({"--workspace", ws.string(), "quantize", "demo-math-s", "--eval-text",
                  text.string(), "--eval-tokens", "1024", "--eval-sequence", "128", "--json"},
                 tmp.path());
  ASSERT_EQ(run.code, 0) << run.err;
  auto j = json::parse(run.out);
  EXPECT_EQ(j["model"], "demo-math-s");
  EXPECT_EQ(j["layout"], "tile");
  EXPECT_EQ(j["codes"], "q4_0");
  const fs::path output = j["output"].get<std::string>();
  EXPECT_EQ(output, ws / "quantized" / "demo-math-s-tile-q4_0");
  for (const char* f : {"config.json", "tokenizer.json", "quantized.safetensors", "report.json"})
    EXPECT_TRUE(fs::exists(output / f)) << f;
  const auto config = demoModelConfig("demo-math-s");
  ASSERT_EQ(j["matrices"].size(), std::size_t(config.num_layers * 7));  // q k v o gate up down
  for (const auto& m : j["matrices"]) {
    const bool down = contains(m["name"], "down_proj");
    EXPECT_EQ(m["type"], down ? "q8_0" : "q4_0") << m["name"];
    EXPECT_GT(m["rel_frobenius"].get<double>(), 0);
    EXPECT_LT(m["rel_frobenius"].get<double>(), down ? 0.01 : 0.2) << m["name"];
    EXPECT_GE(m["worst_tile"].get<double>(), m["rel_frobenius"].get<double>() * 0.999);
  }
  const double bits = j["bits_per_weight"];
  EXPECT_GT(bits, 4.5);
  EXPECT_LT(bits, 8.5);
  ASSERT_EQ(j["perplexity"].size(), 2u);
  EXPECT_EQ(j["perplexity"][0]["source"], "built-in corpus");
  EXPECT_EQ(j["perplexity"][1]["source"], text.string());
  for (const auto& p : j["perplexity"]) {
    EXPECT_EQ(p["tokens"], 8 * 127);  // 1024 tokens: 8 windows of 128
    const double fp32 = p["fp32"], quantized = p["quantized"];
    EXPECT_GT(fp32, 1);
    EXPECT_NEAR(quantized / fp32, 1.0, 0.1) << p["source"];
  }
  const auto run_id = j["run"].get<std::int64_t>();
  EXPECT_EQ(loadQuantizeReport(output).run_id, run_id);

  // The other layout and codes, all 4-bit, as a table, into a folder of our own.
  const auto rows_dir = tmp / "rows";
  auto table = cli({"--workspace", ws.string(), "quantize", "demo-math-s", "--layout", "rows",
                    "--codes", "iq4_nl", "--q8", "none", "--out", rows_dir.string(),
                    "--eval-tokens", "512", "--eval-sequence", "128"},
                   tmp.path());
  ASSERT_EQ(table.code, 0) << table.err;
  for (const char* part : {"MATRIX", "REL ERROR", "WORST TILE", "model.layers.1.mlp.down_proj",
                           "iq4_nl", "perplexity on built-in corpus (508 tokens)", "rows-iq4_nl",
                           "bits/weight", rows_dir.c_str()})
    EXPECT_TRUE(contains(table.out, part)) << part << " in\n" << table.out;
  EXPECT_FALSE(contains(table.out, "q8_0")) << table.out;
  EXPECT_TRUE(isQuantizedModel(rows_dir));

  // Both are runs of the quantization experiment.
  auto workspace = Workspace::open(ws);
  int quantize_runs = 0;
  for (const auto& r : workspace.store().runs())
    if (r.kind == "quantize") {
      ++quantize_runs;
      EXPECT_EQ(r.experiment, "quantization");
      EXPECT_EQ(r.status, RunStatus::Finished);
    }
  EXPECT_EQ(quantize_runs, 2);
  EXPECT_EQ(workspace.store().params(run_id).at("layout"), "tile");
}

TEST(QuantCli, KbenchMeasuresAndShowsAStoredRun) {
  test::TempDir tmp;
  const auto ws = (tmp / "ws").string();
  auto run = cli({"--workspace", ws, "kbench", "--backend", "reference", "--shapes", "40x70,33x64",
                  "--batches", "1,3", "--kv", "45", "--seconds", "0.005", "--json"},
                 tmp.path());
  ASSERT_EQ(run.code, 0) << run.err;
  auto j = json::parse(run.out);
  EXPECT_EQ(j["backend"], "reference");
  EXPECT_GT(j["copy_gb_per_s"].get<double>(), 0);
  ASSERT_EQ(j["gemv"].size(), 2u * 2 * 5);
  for (const auto& p : j["gemv"]) EXPECT_GT(p["seconds"].get<double>(), 0);
  ASSERT_EQ(j["softmax"].size(), 2u);
  EXPECT_LT(j["softmax"][0]["max_abs_error"].get<double>(), 2e-3);

  // Shown again from the store, the same numbers.
  const auto id = std::to_string(j["run"].get<std::int64_t>());
  auto shown = cli({"--workspace", ws, "kbench", "show", id, "--json"}, tmp.path());
  ASSERT_EQ(shown.code, 0) << shown.err;
  EXPECT_EQ(json::parse(shown.out), j);

  // The table, on the fastest host back end.
  const std::string backend =
      kernels::bestHostBackend() == kernels::Backend::Cpu ? "cpu" : "reference";
  auto text = cli({"--workspace", ws, "kbench", "--backend", backend, "--shapes", "64x96",
                   "--batches", "1,16", "--kv", "300", "--seconds", "0.01"},
                  tmp.path());
  ASSERT_EQ(text.code, 0) << text.err;
  for (const char* part :
       {"copy", kernels::backendName(kernels::bestHostBackend()), "LUT-TILE", "UNPACK-ROWS", "FP32",
        "64x96", "decode attention", "LUT MAX ERR", "300", "run "})
    EXPECT_TRUE(contains(text.out, part)) << part << " in\n" << text.out;
}

TEST(QuantCli, BadArgumentsExitWithUsageErrors) {
  test::TempDir tmp;
  const auto ws = (tmp / "ws").string();
  auto usage = [&](std::vector<std::string> args, const std::string& message) {
    args.insert(args.begin(), {"--workspace", ws});
    auto r = cli(args, tmp.path());
    EXPECT_EQ(r.code, 2) << args[2] << " " << (args.size() > 3 ? args[3] : "") << ": " << r.err;
    EXPECT_TRUE(contains(r.err, message)) << r.err << " lacks " << message;
  };
  usage({"quantize"}, "missing MODEL");
  usage({"quantize", "demo-math-s", "--layout", "grid"}, "tile");
  usage({"quantize", "demo-math-s", "--codes", "q8_0"}, "q4_0 or iq4_nl");
  usage({"quantize", "demo-math-s", "--eval-tokens", "100"}, "--eval-sequence");
  usage({"quantize", "demo-math-s", "--eval-text", (tmp / "absent.txt").string()}, "absent.txt");
  usage({"quantize", "demo-math-s", "--bits", "3"}, "unexpected argument '--bits'");
  usage({"kbench", "--backend", "tpu"}, "cpu, reference or cuda");
  usage({"kbench", "--shapes", "4096"}, "ROWSxCOLS");
  usage({"kbench", "--seconds", "0"}, "--seconds");
  usage({"kbench", "show"}, "missing RUN");
  // None of them trained a model or made a run.
  EXPECT_FALSE(fs::exists(fs::path(ws) / "models"));

  // Not a model: a failure (exit 1) that says why.
  auto r = cli({"--workspace", ws, "quantize", (tmp / "nowhere").string()}, tmp.path());
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "not a model folder")) << r.err;
  auto help = cli({"kbench", "--help"}, tmp.path());
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(contains(help.out, "usage: darkroom-cli kbench")) << help.out;
}

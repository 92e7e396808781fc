#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/analysis.h"

namespace darkroom::cli {

static const char* kAnalyzeHelp = R"(usage: darkroom-cli analyze [--model DIR|demo-opt|demo-llama] [--text FILE | --corpus demo]
                            [--tokens N] [--batch B] [--seq L] [--dtype float32|bfloat16] [--device cpu|cuda]
                            [--epsilon E] [--mlp-block N] [--block-p P[,P...]]
                            [--attention-block N] [--attention-threshold T] [--json]

Records every layer's MLP activations and attention maps on calibration text and stores, as an
"analysis" run: per-token vs aggregated MLP sparsity, the Exposer block rule for each p, attention
blocks kept per head vs one shared layout, and neuron frequencies (arrays in
artifacts/run-N/sparsity.safetensors). A demo model is trained first if the workspace lacks it.
Defaults: demo-opt, the synthetic corpus, 4096 tokens, batch 8, sequence 128.
)";

int analyzeCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kAnalyzeHelp), 0;
  AnalysisRequest req;
  req.model = args.option("--model", req.model);
  if (auto text = args.option("--text")) req.text_file = *text;
  if (auto corpus = args.option("--corpus"); corpus && *corpus != "demo")
    throw UsageError("--corpus knows only 'demo' (the synthetic corpus); use --text FILE");
  if (auto v = args.option("--tokens")) req.tokens = parseId(*v, "--tokens");
  if (auto v = args.option("--batch")) req.batch = parseId(*v, "--batch");
  if (auto v = args.option("--seq")) req.sequence = parseId(*v, "--seq");
  req.dtype = args.option("--dtype", req.dtype);
  req.device = args.option("--device", req.device);
  if (auto v = args.option("--epsilon")) req.sparsity.epsilon = parseNumber(*v, "--epsilon");
  if (auto v = args.option("--mlp-block")) req.sparsity.mlp_block = parseId(*v, "--mlp-block");
  if (auto v = args.option("--block-p")) req.sparsity.block_p = parseNumbers(*v, "--block-p");
  if (auto v = args.option("--attention-block")) req.sparsity.attention_block = parseId(*v, "--attention-block");
  if (auto v = args.option("--attention-threshold"))
    req.sparsity.attention_threshold = parseNumber(*v, "--attention-threshold");
  bool json = args.flag("--json");
  args.finish();

  auto ws = Workspace::create(ctx.workspace);
  auto result = std::any_cast<AnalysisResult>(runWithProgress(
      "analyze", [&](JobContext& job) -> std::any { return analyzeSparsity(ws, req, job); }));
  const auto& a = result.analysis;
  if (json) {
    nlohmann::ordered_json j;
    j["run"] = result.run_id;
    j["model"] = req.model;
    j["arrays"] = result.arrays.string();
    j["sequences"] = a.sequences;
    j["tokens"] = a.tokens;
    j["seconds"] = result.seconds;
    j["block_p"] = a.options.block_p;
    j["layers"] = nlohmann::ordered_json::array();
    for (const auto& l : a.layers)
      j["layers"].push_back({{"layer", l.layer},
                             {"mlp_per_token", l.mlp_per_token},
                             {"mlp_aggregated_sequence", l.mlp_aggregated_sequence},
                             {"mlp_aggregated_batch", l.mlp_aggregated_batch},
                             {"mlp_block_sparsity", l.mlp_block_sparsity},
                             {"attention_kept_per_head", l.attention_kept_per_head},
                             {"attention_kept_shared", l.attention_kept_shared}});
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::vector<std::string> header = {"LAYER", "PER-TOKEN", "AGG-SEQ", "AGG-BATCH"};
  for (double p : a.options.block_p) {
    char h[32];
    std::snprintf(h, sizeof h, "BLOCKS p=%g%%", p * 100);
    header.push_back(h);
  }
  header.insert(header.end(), {"ATTN KEPT/HEAD", "ATTN SHARED"});
  std::vector<std::vector<std::string>> rows;
  auto fmt = [](double v) {
    char b[16];
    std::snprintf(b, sizeof b, "%.3f", v);
    return std::string(b);
  };
  for (const auto& l : a.layers) {
    std::vector<std::string> row = {std::to_string(l.layer), fmt(l.mlp_per_token),
                                    fmt(l.mlp_aggregated_sequence), fmt(l.mlp_aggregated_batch)};
    for (double b : l.mlp_block_sparsity) row.push_back(fmt(b));
    row.push_back(fmt(l.attention_kept_per_head));
    row.push_back(fmt(l.attention_kept_shared));
    rows.push_back(row);
  }
  printTable(header, rows);
  std::printf("\nrun %lld: %lld sequences, %lld tokens, %.1f s; arrays in %s\n",
              static_cast<long long>(result.run_id), static_cast<long long>(a.sequences),
              static_cast<long long>(a.tokens), result.seconds, result.arrays.c_str());
  return 0;
}

}  // namespace darkroom::cli

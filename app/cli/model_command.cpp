#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/analysis.h"
#include "darkroom/demo_models.h"
#include "darkroom/model.h"

namespace darkroom::cli {

static const char* kModelHelp = R"(usage: darkroom-cli model info DIR|demo-opt|demo-llama [--tensors] [--json]

The model's family, shapes, parameter count, dtypes and tokenizer, read from config.json and the
safetensors headers (the weights are not loaded). --tensors lists every stored tensor.
)";

static const char* kGenerateHelp = R"(usage: darkroom-cli generate --model DIR|demo-opt|demo-llama --prompt TEXT [--max-new N]
                             [--greedy | --temperature T --top-p P] [--seed S]
                             [--dtype float32|bfloat16] [--device cpu|cuda] [--json]

Streams the continuation of the prompt to stdout (KV-cache decoding). --json prints one object
with the prompt and new token ids, the text, and prefill/decode timings instead.
)";

// Demo names resolve to the workspace's trained copies; training (with a progress bar) happens
// on first use only.
static std::filesystem::path modelDir(const Context& ctx, const std::string& model) {
  if (!isDemoModelName(model)) return model;
  auto ws = Workspace::create(ctx.workspace);
  if (isDemoModelTrained(ws, model)) return demoModelDir(ws, model);
  return std::any_cast<std::filesystem::path>(runWithProgress(
      "train " + model, [&](JobContext& job) -> std::any { return resolveModel(ws, model, job); }));
}

int modelCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kModelHelp), 0;
  auto sub = args.required("subcommand (info); see `model --help`");
  if (sub != "info") throw UsageError("unknown model subcommand '" + sub + "' (info)");
  bool json = args.flag("--json"), tensors = args.flag("--tensors");
  auto model = args.required("a model folder or demo name");
  args.finish();
  auto info = describeModel(modelDir(ctx, model));
  const auto& c = info.config;
  if (json) {
    nlohmann::ordered_json j;
    j["dir"] = info.dir.string();
    j["family"] = toString(c.family);
    j["model_type"] = c.model_type;
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["layers"] = c.num_layers;
    j["heads"] = c.num_heads;
    j["kv_heads"] = c.num_kv_heads;
    j["intermediate_size"] = c.intermediate_size;
    j["activation"] = c.activation;
    j["max_positions"] = c.max_positions;
    j["tie_embeddings"] = c.tie_embeddings;
    j["parameters"] = info.parameters;
    j["bytes"] = info.bytes;
    j["tokenizer"] = info.tokenizer;
    j["tensors"] = nlohmann::ordered_json::array();
    for (const auto& t : info.tensors)
      j["tensors"].push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}});
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::map<std::string, std::int64_t> dtypes;
  for (const auto& t : info.tensors) ++dtypes[t.dtype];
  std::string dtype_text;
  for (const auto& [d, n] : dtypes) dtype_text += (dtype_text.empty() ? "" : ", ") + d + " ×" + std::to_string(n);
  std::printf("model        %s\n", info.dir.c_str());
  std::printf("family       %s (%s), activation %s\n", toString(c.family), c.model_type.c_str(), c.activation.c_str());
  std::printf("shape        %lld layers, hidden %lld, %lld heads (%lld kv), MLP %lld, vocab %lld\n",
              (long long)c.num_layers, (long long)c.hidden_size, (long long)c.num_heads,
              (long long)c.num_kv_heads, (long long)c.intermediate_size, (long long)c.vocab_size);
  std::printf("parameters   %lld (%.2f M), %.1f MiB on disk\n", (long long)info.parameters,
              info.parameters / 1e6, info.bytes / 1048576.0);
  std::printf("tensors      %zu: %s\n", info.tensors.size(), dtype_text.c_str());
  std::printf("tokenizer    %s\n", info.tokenizer.c_str());
  if (tensors) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : info.tensors) {
      std::string shape;
      for (auto d : t.shape) shape += (shape.empty() ? "" : " × ") + std::to_string(d);
      rows.push_back({t.name, t.dtype, shape});
    }
    std::printf("\n");
    printTable({"TENSOR", "DTYPE", "SHAPE"}, rows);
  }
  return 0;
}

int generateCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kGenerateHelp), 0;
  auto model = args.option("--model");
  auto prompt = args.option("--prompt");
  if (!model || !prompt) throw UsageError("generate needs --model and --prompt");
  GenerateOptions o;
  if (auto v = args.option("--max-new")) o.max_new_tokens = static_cast<int>(parseCount(*v, "--max-new"));
  o.greedy = args.flag("--greedy");
  if (auto v = args.option("--temperature")) o.temperature = parseNumber(*v, "--temperature");
  if (auto v = args.option("--top-p")) o.top_p = parseNumber(*v, "--top-p");
  if (auto v = args.option("--seed")) o.seed = static_cast<std::uint64_t>(parseCount(*v, "--seed"));
  o.dtype = args.option("--dtype", o.dtype);
  o.device = args.option("--device", o.device);
  bool json = args.flag("--json");
  args.finish();
  auto dir = modelDir(ctx, *model);
  auto result = generateText(dir, *prompt, o, json ? std::function<void(const std::string&)>{}
                                                   : [](const std::string& piece) {
                                                       std::fwrite(piece.data(), 1, piece.size(), stdout);
                                                       std::fflush(stdout);
                                                     });
  if (json) {
    nlohmann::ordered_json j;
    j["prompt_ids"] = result.prompt_ids;
    j["new_ids"] = result.new_ids;
    j["text"] = result.text;
    j["prefill_seconds"] = result.prefill_seconds;
    j["decode_seconds"] = result.decode_seconds;
    j["decode_tokens_per_s"] = result.decode_tokens_per_s;
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
    std::fprintf(stderr, "[%zu tokens, %.1f tokens/s decode]\n", result.new_ids.size(),
                 result.decode_tokens_per_s);
  }
  return 0;
}

}  // namespace darkroom::cli

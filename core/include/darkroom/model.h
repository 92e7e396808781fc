// Models as the CLI and the GUI see them: a description read from a folder's headers (no
// weights loaded), and text generation with the KV cache.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/model_config.h"

namespace darkroom {

struct TensorInfo {
  std::string name;
  std::string dtype;  // "F32", "BF16", ...
  std::vector<std::int64_t> shape;
};

struct ModelInfo {
  std::filesystem::path dir;
  ModelConfig config;
  std::vector<TensorInfo> tensors;  // as stored, over all shards
  std::int64_t parameters = 0;      // counted from the stored tensors
  std::uint64_t bytes = 0;          // of the weight files
  std::string tokenizer;            // "bpe", "sentencepiece", "bytes", or why none loads
};

// Reads config.json and the safetensors headers (the weights are mapped, not read).
ModelInfo describeModel(const std::filesystem::path& dir);

struct GenerateOptions {
  int max_new_tokens = 64;
  bool greedy = false;
  double temperature = 0.8;
  double top_p = 0.95;
  std::uint64_t seed = 0;
  std::string dtype = "float32";  // or "bfloat16"
  std::string device = "cpu";     // "cpu", "cuda", "cuda:N" (needs a CUDA LibTorch)
  bool stop_at_eos = true;
};

struct GenerateResult {
  std::vector<std::int32_t> prompt_ids, new_ids;
  std::string text;  // the new text only
  double prefill_seconds = 0, decode_seconds = 0;
  double decode_tokens_per_s = 0;
};

// Streams the new text through on_text as it is decoded (whole UTF-8 characters only).
// ctx, when given, gets progress per token and can cancel.
GenerateResult generateText(const std::filesystem::path& dir, const std::string& prompt,
                            const GenerateOptions& options,
                            const std::function<void(const std::string&)>& on_text = {},
                            JobContext* ctx = nullptr);

}  // namespace darkroom

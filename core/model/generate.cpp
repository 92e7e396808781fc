// Torch first: its headers use the identifier `slots`, which Qt would define as a macro.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "darkroom/model.h"
#include "darkroom/tokenizer.h"
#include "model/checkpoint.h"

namespace darkroom {
namespace {

// Greedy, or temperature + nucleus (top-p) sampling from one row of logits.
std::int64_t pickToken(const at::Tensor& logits, const GenerateOptions& o, at::Generator& gen) {
  if (o.greedy || o.temperature <= 0) return logits.argmax().item<std::int64_t>();
  auto probs = at::softmax(logits / o.temperature, -1);
  auto [sorted, order] = probs.sort(-1, /*descending=*/true);
  auto cumulative = sorted.cumsum(-1);
  // Keep the smallest prefix whose mass reaches top_p (always at least the best token).
  auto outside = (cumulative - sorted) >= o.top_p;
  sorted = sorted.masked_fill(outside, 0.0);
  auto choice = at::multinomial(sorted / sorted.sum(), 1, false, gen).item<std::int64_t>();
  return order[choice].item<std::int64_t>();
}

double secondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

GenerateResult generateText(const std::filesystem::path& dir, const std::string& prompt,
                            const GenerateOptions& o,
                            const std::function<void(const std::string&)>& on_text,
                            JobContext* ctx) {
  if (o.max_new_tokens < 0) throw std::invalid_argument("max new tokens must not be negative");
  if (o.top_p <= 0 || o.top_p > 1) throw std::invalid_argument("top-p must be in (0, 1]");
  auto model = model::loadCheckpointFor(dir, o.dtype, o.device);
  const auto& config = model.config();
  auto tokenizer = loadTokenizer(dir);
  GenerateResult result;
  if (model::addsBos(dir, config)) result.prompt_ids.push_back(std::int32_t(*config.bos_token_id));
  auto encoded = tokenizer->encode(prompt);
  result.prompt_ids.insert(result.prompt_ids.end(), encoded.begin(), encoded.end());
  if (result.prompt_ids.empty())
    throw std::invalid_argument("the prompt is empty and the model has no BOS token to start from");
  const std::int64_t limit = config.family == ModelFamily::Opt ? config.max_positions : INT64_MAX;
  if (std::int64_t(result.prompt_ids.size()) >= limit)
    throw std::invalid_argument("the prompt has " + std::to_string(result.prompt_ids.size()) +
                                " tokens; the model sees at most " + std::to_string(limit));

  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  at::NoGradGuard no_grad;
  model::KVCache cache;
  StreamDecoder stream(*tokenizer);
  auto start = std::chrono::steady_clock::now();
  auto logits = model.forward(
      at::tensor(std::vector<std::int64_t>(result.prompt_ids.begin(), result.prompt_ids.end()))
          .unsqueeze(0),
      &cache);
  result.prefill_seconds = secondsSince(start);
  auto decode_start = std::chrono::steady_clock::now();
  for (int i = 0; i < o.max_new_tokens && cache.length() < limit; ++i) {
    auto next = pickToken(logits[0][-1].cpu(), o, gen);  // the sampler's generator is a CPU one
    if (o.stop_at_eos && config.eos_token_id && next == *config.eos_token_id) break;
    result.new_ids.push_back(std::int32_t(next));
    auto piece = stream.push(std::int32_t(next));
    result.text += piece;
    if (on_text && !piece.empty()) on_text(piece);
    if (ctx) ctx->progress(double(i + 1) / o.max_new_tokens, std::to_string(i + 1) + " tokens");
    logits = model.forward(at::full({1, 1}, next, at::kLong), &cache);
  }
  auto rest = stream.finish();
  result.text += rest;
  if (on_text && !rest.empty()) on_text(rest);
  result.decode_seconds = secondsSince(decode_start);
  result.decode_tokens_per_s =
      result.new_ids.empty() ? 0 : double(result.new_ids.size()) / result.decode_seconds;
  return result;
}

}  // namespace darkroom

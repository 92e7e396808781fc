// Perplexity of a causal LM on a token stream cut into windows: exp of the mean negative
// log-likelihood of every token after the first of each window. Private to core (LibTorch).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "darkroom/jobs.h"
#include "model/transformer.h"

namespace darkroom::quant {

// Up to max_tokens tokens of `ids` as non-overlapping windows [n, sequence] (int64). With `bos`
// each window starts with it and holds sequence - 1 tokens of the stream. Throws
// std::invalid_argument when not one window fits.
at::Tensor perplexityWindows(const std::vector<std::int32_t>& ids, std::int64_t sequence,
                             std::int64_t max_tokens, std::optional<std::int32_t> bos);

struct PerplexityResult {
  double perplexity = 0;
  std::int64_t tokens = 0;  // tokens scored: windows · (sequence - 1)
};

// Runs the windows `batch` at a time. With hooks that replace cached attention (a quantized
// model), each batch runs through a fresh KV cache so that its attention is the decoder's own.
// Progress 0..1 per batch on ctx (which throws JobCancelled when cancelled).
PerplexityResult perplexity(const model::Transformer& model, const at::Tensor& windows,
                            const model::ForwardHooks* hooks, JobContext& ctx,
                            std::int64_t batch = 8);

}  // namespace darkroom::quant

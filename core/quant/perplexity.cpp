#include "quant/perplexity.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace darkroom::quant {

at::Tensor perplexityWindows(const std::vector<std::int32_t>& ids, std::int64_t sequence,
                             std::int64_t max_tokens, std::optional<std::int32_t> bos) {
  if (sequence < 2) throw std::invalid_argument("perplexity windows need at least 2 tokens");
  const std::int64_t text_per_window = bos ? sequence - 1 : sequence;
  const std::int64_t available = std::min<std::int64_t>(std::int64_t(ids.size()), max_tokens);
  const std::int64_t windows = available / text_per_window;
  if (windows < 1)
    throw std::invalid_argument(
        "perplexity needs at least " + std::to_string(text_per_window) + " tokens (one window of " +
        std::to_string(sequence) + "), the text has " + std::to_string(ids.size()) +
        (max_tokens < std::int64_t(ids.size()) ? " and the limit is " + std::to_string(max_tokens)
                                               : std::string()));
  auto out = at::empty({windows, sequence}, at::kLong);
  auto* p = out.data_ptr<std::int64_t>();
  std::size_t next = 0;
  for (std::int64_t w = 0; w < windows; ++w) {
    std::int64_t j = 0;
    if (bos) p[w * sequence + j++] = *bos;
    for (; j < sequence; ++j) p[w * sequence + j] = ids[next++];
  }
  return out;
}

PerplexityResult perplexity(const model::Transformer& model, const at::Tensor& windows,
                            const model::ForwardHooks* hooks, JobContext& ctx, std::int64_t batch) {
  if (windows.dim() != 2 || windows.size(1) < 2)
    throw std::invalid_argument("perplexity expects windows [n, sequence >= 2]");
  at::NoGradGuard no_grad;
  const std::int64_t n = windows.size(0), vocab = model.config().vocab_size;
  const bool decoder = hooks && hooks->cached_attention;
  double nll = 0;
  std::int64_t scored = 0;
  for (std::int64_t first = 0; first < n; first += batch) {
    auto x = windows.slice(0, first, std::min(n, first + batch));
    model::KVCache cache;
    auto logits = model.forward(x, decoder ? &cache : nullptr, nullptr, hooks);
    auto predicted = logits.slice(1, 0, x.size(1) - 1).reshape({-1, vocab});
    auto targets = x.slice(1, 1, x.size(1)).reshape(-1);
    nll += at::cross_entropy_loss(predicted, targets, {}, at::Reduction::Sum).item<double>();
    scored += targets.numel();
    ctx.progress(
        double(first + x.size(0)) / double(n),
        "perplexity: " + std::to_string(first + x.size(0)) + "/" + std::to_string(n) + " windows");
  }
  return {std::exp(nll / double(scored)), scored};
}

}  // namespace darkroom::quant

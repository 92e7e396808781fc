// Recording an activation trace: the Analyze path's model, tokenizer and calibration text, with
// an on_mlp observer that turns each token's activations into a bit row per layer.
#include <ATen/ATen.h>

#include <fstream>
#include <sstream>

#include "darkroom/analysis.h"
#include "darkroom/corpus.h"
#include "darkroom/neuralink/coact.h"
#include "darkroom/tokenizer.h"
#include "model/checkpoint.h"

namespace darkroom::neuralink {
namespace {

std::string readText(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw NeuralinkError(file + ": cannot open the calibration text");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr std::int64_t kBatch = 8;  // sequences per forward

// Appends the rows of activation [batch, length, neurons] (active: > threshold) to `layer`.
void appendRows(LayerTrace& layer, const at::Tensor& activation, double threshold) {
  const std::int64_t neurons = activation.size(-1);
  auto active = activation.reshape({-1, neurons}).gt(threshold).to(at::kByte).contiguous();
  const std::int64_t rows = active.size(0), words = layer.words();
  const std::uint8_t* data = active.data_ptr<std::uint8_t>();
  const std::size_t start = layer.bits.size();
  layer.bits.resize(start + std::size_t(rows * words), 0);
  for (std::int64_t r = 0; r < rows; ++r) {
    std::uint64_t* out = layer.bits.data() + start + std::size_t(r * words);
    const std::uint8_t* in = data + r * neurons;
    for (std::int64_t n = 0; n < neurons; ++n)
      out[n >> 6] |= std::uint64_t(in[n] != 0) << (n & 63);
  }
  layer.tokens += rows;
}

}  // namespace

ActivationTrace recordTrace(Workspace& workspace, const TraceRequest& req, JobContext& ctx) {
  if (req.tokens < 2 || req.sequence < 2)
    throw NeuralinkError("recording a trace needs tokens >= 2 and sequence >= 2");
  const auto dir = resolveModel(workspace, req.model, ctx);
  auto model = model::loadCheckpointFor(dir, "float32", "cpu");
  const auto& config = model.config();
  const std::int64_t sequence = std::min(req.sequence, req.tokens);
  if (config.family == ModelFamily::Opt && sequence > config.max_positions)
    throw NeuralinkError("sequence " + std::to_string(sequence) +
                         " exceeds the model's max_position_embeddings " +
                         std::to_string(config.max_positions));
  auto tokenizer = loadTokenizer(dir);
  const std::string text = req.text_file.empty()
                               ? syntheticCorpus(4242, std::size_t(req.tokens) * 8)
                               : readText(req.text_file);
  const auto ids = tokenizer->encode(text);
  const std::int64_t sequences =
      std::min<std::int64_t>(req.tokens / sequence, std::int64_t(ids.size()) / sequence);
  if (sequences < 1)
    throw NeuralinkError("the calibration text has " + std::to_string(ids.size()) +
                         " tokens, fewer than one sequence of " + std::to_string(sequence));
  auto all = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.begin() + sequences * sequence))
                 .view({sequences, sequence});

  ActivationTrace trace;
  trace.source = req.model + " on " +
                 (req.text_file.empty() ? std::string("the built-in corpus") : req.text_file) +
                 ", " + std::to_string(sequences * sequence) + " tokens, active: > " +
                 std::to_string(req.threshold);
  trace.layers.resize(std::size_t(config.num_layers));
  for (auto& l : trace.layers) l.neurons = config.intermediate_size;
  model::ForwardObserver observer;
  observer.on_mlp = [&](int layer, const at::Tensor& a) {
    appendRows(trace.layers.at(std::size_t(layer)), a.detach().to(at::kFloat), req.threshold);
  };
  at::NoGradGuard no_grad;
  for (std::int64_t first = 0; first < sequences; first += kBatch) {
    auto batch = all.slice(0, first, std::min(sequences, first + kBatch));
    model.forward(batch, nullptr, &observer);
    ctx.progress(0.5 + 0.5 * double(first + batch.size(0)) / double(sequences),
                 "recorded " + std::to_string((first + batch.size(0)) * sequence) + " tokens");
  }
  return trace;
}

}  // namespace darkroom::neuralink

// Torch first: its headers use the identifier `slots`, which Qt would define as a macro.
#include <ATen/ATen.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "darkroom/analysis.h"
#include "darkroom/corpus.h"
#include "darkroom/demo_models.h"
#include "darkroom/safetensors.h"
#include "darkroom/tokenizer.h"
#include "darkroom/run_outcome.h"
#include "model/checkpoint.h"
#include "sparsity/sparsity_accumulator.h"

namespace darkroom {
namespace fs = std::filesystem;
namespace {

constexpr const char* kArraysFile = "sparsity.safetensors";
constexpr int kFixedStats = 5;  // per_token, aggregated_sequence, aggregated_batch, kept x2

std::string readText(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file + ": cannot open the calibration text");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json optionsJson(const SparsityOptions& o) {
  return {{"epsilon", o.epsilon},
          {"mlp_block", o.mlp_block},
          {"block_inactive_fraction", o.block_inactive_fraction},
          {"block_p", o.block_p},
          {"attention_block", o.attention_block},
          {"attention_threshold", o.attention_threshold}};
}

void writeArrays(const fs::path& file, const SparsityAnalysis& a, const std::string& model) {
  const std::int64_t layers = std::int64_t(a.layers.size()), cols = kFixedStats + std::int64_t(a.options.block_p.size());
  std::vector<double> stats;
  for (const auto& l : a.layers) {
    stats.insert(stats.end(), {l.mlp_per_token, l.mlp_aggregated_sequence, l.mlp_aggregated_batch,
                               l.attention_kept_per_head, l.attention_kept_shared});
    stats.insert(stats.end(), l.mlp_block_sparsity.begin(), l.mlp_block_sparsity.end());
  }
  std::vector<float> mass;
  for (const auto& m : a.attention_mass) mass.insert(mass.end(), m.values.begin(), m.values.end());
  auto bytesOf = [](const auto& v) { return v.size() * sizeof(v[0]); };
  std::vector<TensorToWrite> tensors = {
      {"layer_stats", DType::F64, {layers, cols}, stats.data(), bytesOf(stats)},
      {"neuron_frequency", DType::F32, {a.neuron_frequency.rows, a.neuron_frequency.cols},
       a.neuron_frequency.values.data(), bytesOf(a.neuron_frequency.values)},
      {"sample_magnitude", DType::F32, {a.sample_magnitude.rows, a.sample_magnitude.cols},
       a.sample_magnitude.values.data(), bytesOf(a.sample_magnitude.values)},
      {"attention_mass", DType::F32,
       {std::int64_t(a.attention_mass.size()), a.attention_blocks, a.attention_blocks},
       mass.data(), bytesOf(mass)}};
  writeSafetensors(file, tensors,
                   {{"darkroom.kind", "sparsity-analysis"},
                    {"model", model},
                    {"options", optionsJson(a.options).dump()},
                    {"sequences", std::to_string(a.sequences)},
                    {"tokens", std::to_string(a.tokens)},
                    {"heads", std::to_string(a.heads)}});
}

void storeMetrics(Store& store, std::int64_t run, const SparsityAnalysis& a) {
  std::vector<MetricPoint> points;
  for (const auto& l : a.layers) {
    auto add = [&](const std::string& key, double v) { points.push_back({key, l.layer, v, 0}); };
    add("mlp/per_token", l.mlp_per_token);
    add("mlp/aggregated_sequence", l.mlp_aggregated_sequence);
    add("mlp/aggregated_batch", l.mlp_aggregated_batch);
    for (std::size_t i = 0; i < l.mlp_block_sparsity.size(); ++i) {
      char key[48];
      std::snprintf(key, sizeof key, "mlp/block_sparsity_p%g", a.options.block_p[i] * 100);
      add(key, l.mlp_block_sparsity[i]);
    }
    add("attention/kept_per_head", l.attention_kept_per_head);
    add("attention/kept_shared", l.attention_kept_shared);
  }
  store.appendMetrics(run, points);
}

}  // namespace

fs::path resolveModel(Workspace& ws, const std::string& model, JobContext& ctx) {
  if (isDemoModelName(model)) {
    auto training = ctx.slice(0, 0.5);
    return trainDemoModel(ws, model, demoTrainDefaults(model), training).dir;
  }
  if (!fs::is_directory(model))
    throw ModelError(model + ": not a model folder (config.json + model.safetensors) and not a "
                     "built-in model (demo-opt, demo-llama, demo-math-s, demo-math-m)");
  return model;
}

AnalysisResult analyzeSparsity(Workspace& ws, const AnalysisRequest& req, JobContext& ctx) {
  if (req.batch < 1 || req.sequence < 2 || req.tokens < req.sequence)
    throw std::invalid_argument("analysis needs batch >= 1, sequence >= 2 and tokens >= sequence");
  auto start = std::chrono::steady_clock::now();
  auto dir = resolveModel(ws, req.model, ctx);
  auto model = model::loadCheckpointFor(dir, req.dtype, req.device);
  const auto& config = model.config();
  if (config.family == ModelFamily::Opt && req.sequence > config.max_positions)
    throw std::invalid_argument("sequence " + std::to_string(req.sequence) +
                                " exceeds the model's max_position_embeddings " +
                                std::to_string(config.max_positions));
  auto tokenizer = loadTokenizer(dir);
  std::string text = req.text_file.empty() ? syntheticCorpus(4242, std::size_t(req.tokens) * 8)
                                           : readText(req.text_file);
  auto ids = tokenizer->encode(text);
  std::int64_t sequences = std::min<std::int64_t>(req.tokens / req.sequence,
                                                  std::int64_t(ids.size()) / req.sequence);
  // Whole batches only: the block rules and the attention threshold are per batch, and a
  // short last batch would weigh as much as a full one with a fraction of its tokens.
  if (sequences >= req.batch) sequences -= sequences % req.batch;
  if (sequences < 1)
    throw std::invalid_argument("the calibration text has " + std::to_string(ids.size()) +
                                " tokens, fewer than one sequence of " +
                                std::to_string(req.sequence));
  auto all = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.begin() + sequences * req.sequence))
                 .view({sequences, req.sequence});

  Store& store = ws.store();
  auto experiment = store.ensureExperiment(req.experiment, "Activation sparsity of models");
  Params params = {{"model", req.model},
                   {"model_dir", dir.string()},
                   {"text", req.text_file.empty() ? "synthetic corpus" : req.text_file},
                   {"tokens", std::to_string(sequences * req.sequence)},
                   {"batch", std::to_string(req.batch)},
                   {"sequence", std::to_string(req.sequence)},
                   {"dtype", req.dtype},
                   {"device", req.device},
                   {"sparsity", optionsJson(req.sparsity).dump()}};
  AnalysisResult result;
  result.run_id = store.createRun(experiment, "sparsity " + req.model, "analysis", params);
  recordRunOutcome(store, result.run_id, [&] {
    sparsity::SparsityAccumulator acc(static_cast<int>(config.num_layers), req.sparsity);
    model::ForwardObserver observer;
    observer.on_mlp = [&](int layer, const at::Tensor& a) { acc.addMlp(layer, a); };
    observer.on_attention = [&](int layer, const at::Tensor& p) { acc.addAttention(layer, p); };
    at::NoGradGuard no_grad;
    for (std::int64_t first = 0; first < sequences; first += req.batch) {
      auto batch = all.slice(0, first, std::min(sequences, first + req.batch));
      // The last batch may be shorter; the attention maps keep their shape.
      model.forward(batch, nullptr, &observer);
      ctx.progress(0.5 + 0.45 * double(first + batch.size(0)) / double(sequences),
                   "recorded " + std::to_string((first + batch.size(0)) * req.sequence) + " tokens");
    }
    result.analysis = acc.finish();
    result.arrays = ws.runDir(result.run_id) / kArraysFile;
    writeArrays(result.arrays, result.analysis, req.model);
    store.addArtifact(result.run_id, result.arrays, "sparsity");
    ctx.progress(1.0, "storing analysis run " + std::to_string(result.run_id));
    storeMetrics(store, result.run_id, result.analysis);
  });
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

SparsityAnalysis loadSparsityAnalysis(const Workspace& ws, std::int64_t run_id) {
  auto file = ws.artifactsDir() / ("run-" + std::to_string(run_id)) / kArraysFile;
  if (!fs::exists(file))
    throw std::runtime_error("run " + std::to_string(run_id) + " has no sparsity analysis (" +
                             file.string() + " is missing)");
  auto st = SafetensorsFile::open(file);
  SparsityAnalysis a;
  auto where = file.string() + ": ";
  try {
    auto options = nlohmann::json::parse(st.metadata().at("options"));
    a.options.epsilon = options.at("epsilon");
    a.options.mlp_block = options.at("mlp_block");
    a.options.block_inactive_fraction = options.at("block_inactive_fraction");
    a.options.block_p = options.at("block_p").get<std::vector<double>>();
    a.options.attention_block = options.at("attention_block");
    a.options.attention_threshold = options.at("attention_threshold");
    a.sequences = std::stoll(st.metadata().at("sequences"));
    a.tokens = std::stoll(st.metadata().at("tokens"));
    a.heads = std::stoll(st.metadata().at("heads"));
  } catch (const std::exception& e) {
    throw std::runtime_error(where + "metadata is incomplete: " + e.what());
  }
  auto matrix = [&](const char* name, std::size_t dims) {
    const auto& view = st.at(name);
    if (view.shape.size() != dims)
      throw std::runtime_error(where + name + " should have " + std::to_string(dims) + " dimensions");
    return view;
  };
  const auto& stats = matrix("layer_stats", 2);
  const std::int64_t cols = kFixedStats + std::int64_t(a.options.block_p.size());
  if (stats.shape[1] != cols) throw std::runtime_error(where + "layer_stats has the wrong width");
  auto s = toFloat32(stats);
  for (std::int64_t l = 0; l < stats.shape[0]; ++l) {
    const float* row = s.data() + l * cols;
    LayerSparsity ls;
    ls.layer = int(l);
    ls.mlp_per_token = row[0];
    ls.mlp_aggregated_sequence = row[1];
    ls.mlp_aggregated_batch = row[2];
    ls.attention_kept_per_head = row[3];
    ls.attention_kept_shared = row[4];
    ls.mlp_block_sparsity.assign(row + kFixedStats, row + cols);
    a.layers.push_back(ls);
  }
  auto toArray = [&](const TensorView& v) {
    Array2D out;
    out.rows = v.shape[0];
    out.cols = v.shape[1];
    out.values = toFloat32(v);
    return out;
  };
  a.neuron_frequency = toArray(matrix("neuron_frequency", 2));
  a.sample_magnitude = toArray(matrix("sample_magnitude", 2));
  a.sample_tokens = a.sample_magnitude.rows;
  const auto& mass = matrix("attention_mass", 3);
  a.attention_blocks = mass.shape[1];
  auto values = toFloat32(mass);
  const std::size_t per = std::size_t(mass.shape[1] * mass.shape[2]);
  for (std::int64_t i = 0; i < mass.shape[0]; ++i) {
    Array2D m{mass.shape[1], mass.shape[2], {}};
    m.values.assign(values.begin() + std::ptrdiff_t(i * per), values.begin() + std::ptrdiff_t((i + 1) * per));
    a.attention_mass.push_back(std::move(m));
  }
  return a;
}

}  // namespace darkroom

// Torch first: its headers use the identifier `slots`, which Qt would define as a macro.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adamw.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include "darkroom/corpus.h"
#include "darkroom/demo_models.h"
#include "darkroom/tokenizer.h"
#include "model/byte_tokenizer_json.h"
#include "darkroom/run_outcome.h"
#include "model/checkpoint.h"

namespace darkroom {
namespace fs = std::filesystem;

std::vector<std::string> demoModelNames() { return {"demo-opt", "demo-llama"}; }
std::vector<std::string> mathModelNames() { return {"demo-math-s", "demo-math-m"}; }

bool isMathModelName(const std::string& name) {
  return name == "demo-math-s" || name == "demo-math-m";
}

bool isDemoModelName(const std::string& name) {
  return name == "demo-opt" || name == "demo-llama" || isMathModelName(name);
}

DemoTrainOptions demoTrainDefaults(const std::string& name) {
  DemoTrainOptions o;
  if (isMathModelName(name)) {
    // A worked problem is ~110 bytes: windows of 256 hold two, and more of them per step teach
    // the arithmetic facts faster than long contexts would.
    o.sequence = 256;
    o.batch = 8;
    o.steps = 2000;
    o.lr = 3e-3;
  }
  return o;
}

ModelConfig demoModelConfig(const std::string& name) {
  ModelConfig c;
  c.vocab_size = byte_tokens::kVocabSize;
  c.hidden_size = 256;
  c.num_layers = 4;
  c.num_heads = 4;
  // Long enough for fine-tuning at sequence 1024; pretraining places its short windows at
  // random positions so that every learned position embedding is trained.
  c.max_positions = 1024;
  c.activation = "relu";
  // Trained on raw byte windows: no BOS in front (generation then adds none); EOS is known.
  c.eos_token_id = byte_tokens::kEos;
  c.torch_dtype = "float32";
  if (name == "demo-opt") {
    c.family = ModelFamily::Opt;
    c.model_type = "opt";
    c.num_kv_heads = c.num_heads;
    c.intermediate_size = 1024;
    c.word_embed_proj_dim = c.hidden_size;
    c.tie_embeddings = true;
  } else if (name == "demo-llama" || name == "demo-math-m") {
    c.family = ModelFamily::Llama;
    c.model_type = "llama";
    c.num_kv_heads = 2;
    c.intermediate_size = 768;
    c.norm_eps = 1e-5;
    c.tie_embeddings = true;
  } else if (name == "demo-math-s") {
    // The small one of the pair for test-time scaling: a quarter of demo-math-m's parameters in
    // its layers.
    c.family = ModelFamily::Llama;
    c.model_type = "llama";
    c.hidden_size = 128;
    c.num_kv_heads = 2;
    c.intermediate_size = 384;
    c.norm_eps = 1e-5;
    c.tie_embeddings = true;
  } else {
    throw ModelError("unknown demo model '" + name +
                     "' (demo-opt, demo-llama, demo-math-s, demo-math-m)");
  }
  // The math models see word problems only: short contexts.
  if (isMathModelName(name)) c.max_positions = 256;
  c.validate();
  return c;
}

fs::path demoModelDir(const Workspace& ws, const std::string& name) {
  return ws.root() / "models" / name;
}

namespace {

// GPT-2-style initialisation: N(0, 0.02) matrices, zero biases, unit norms. The generator is
// the trainer's own, so concurrent trainings do not interleave their random draws.
model::Weights initialWeights(const ModelConfig& config, at::Generator& gen) {
  model::Weights w;
  for (const auto& spec : model::expectedTensors(config)) {
    const auto& n = spec.name;
    bool is_norm = n.find("norm") != std::string::npos;
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".bias") == 0)
      w[n] = at::zeros(spec.shape);
    else if (is_norm)
      w[n] = at::ones(spec.shape);
    else
      w[n] = at::randn(spec.shape, gen) * 0.02;
  }
  return w;
}

double learningRate(int step, int steps, double peak) {
  int warmup = std::max(1, steps / 20);
  if (step < warmup) return peak * (step + 1) / warmup;
  double t = double(step - warmup) / std::max(1, steps - warmup);
  return peak * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * t)));
}

// `batch` random windows of sequence + 1 bytes: inputs and next-byte targets. With `anchors`,
// windows start only at those offsets.
std::pair<at::Tensor, at::Tensor> sampleBatch(const at::Tensor& corpus, int batch, int sequence,
                                              at::Generator& gen, const at::Tensor& anchors = {}) {
  auto starts = anchors.defined()
                    ? anchors.index_select(0, at::randint(anchors.size(0), {batch}, gen, at::kLong))
                    : at::randint(corpus.size(0) - sequence - 1, {batch}, gen, at::kLong);
  auto offsets = at::arange(sequence + 1, at::kLong);
  auto positions = (starts.unsqueeze(1) + offsets.unsqueeze(0)).reshape(-1);
  auto windows = corpus.index_select(0, positions).view({batch, sequence + 1});
  return {windows.slice(1, 0, sequence), windows.slice(1, 1, sequence + 1)};
}

// Offsets of the lines that start a word problem ("Q: ..."), leaving room for a whole window:
// a model that always sees the question learns to read it, where random windows would often
// cut it off and teach it to guess the clauses instead.
at::Tensor problemStarts(const std::string& text, int sequence) {
  std::vector<std::int64_t> starts;
  for (std::size_t i = 0; i + sequence + 1 < text.size(); i = text.find('\n', i) + 1) {
    if (text.compare(i, 3, "Q: ") == 0) starts.push_back(std::int64_t(i));
    if (text.find('\n', i) == std::string::npos) break;
  }
  return at::tensor(starts, at::kLong);
}

at::Tensor bytesTensor(const std::string& text) {
  auto t = at::empty({static_cast<std::int64_t>(text.size())}, at::kLong);
  auto* p = t.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < text.size(); ++i) p[i] = static_cast<unsigned char>(text[i]);
  return t;
}

// A trained copy of the current demo architecture (an older one, e.g. from before the demo
// models' context grew to 1024 positions, is trained again).
bool trainedCheckpointExists(const fs::path& dir, const std::string& name) {
  if (!fs::exists(dir / "config.json") || !fs::exists(dir / "model.safetensors") ||
      !fs::exists(dir / "tokenizer.json"))
    return false;
  try {
    return readModelConfig(dir / "config.json").max_positions == demoModelConfig(name).max_positions;
  } catch (const std::exception&) {
    return false;
  }
}

// An exclusive flock on models/<name>.lock for as long as it lives.
class TrainingLock {
 public:
  explicit TrainingLock(const fs::path& dir) {
    fs::create_directories(dir.parent_path());
    auto file = dir.parent_path() / (dir.filename().string() + ".lock");
    fd_ = ::open(file.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error(file.string() + ": cannot open the training lock");
    ::flock(fd_, LOCK_EX);
  }
  ~TrainingLock() { ::close(fd_); }  // closing releases the lock
  TrainingLock(const TrainingLock&) = delete;
  TrainingLock& operator=(const TrainingLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

bool isDemoModelTrained(const Workspace& ws, const std::string& name) {
  return trainedCheckpointExists(demoModelDir(ws, name), name);
}

DemoModelResult trainDemoModel(Workspace& ws, const std::string& name,
                               const DemoTrainOptions& opt, JobContext& ctx) {
  auto config = demoModelConfig(name);
  DemoModelResult result{name, demoModelDir(ws, name), 0, 0, false};
  TrainingLock lock(result.dir);
  if (!opt.force && trainedCheckpointExists(result.dir, name)) {
    result.reused = true;
    return result;
  }
  if (opt.steps < 1 || opt.batch < 1 || opt.sequence < 2 || opt.sequence > config.max_positions)
    throw std::invalid_argument("demo training needs steps >= 1, batch >= 1 and 2 <= sequence <= " +
                                std::to_string(config.max_positions));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(opt.seed);
  const bool math = isMathModelName(name);
  auto corpus = math ? wordProblemCorpus : syntheticCorpus;
  const auto train_text = corpus(opt.seed, math ? 2000000 : 400000);
  const auto eval_text = corpus(opt.seed + 1000, 20000);
  auto train = bytesTensor(train_text), eval = bytesTensor(eval_text);
  at::Tensor train_anchors, eval_anchors;
  if (math) {
    train_anchors = problemStarts(train_text, opt.sequence);
    eval_anchors = problemStarts(eval_text, opt.sequence);
  }
  auto weights = initialWeights(config, gen);
  std::vector<at::Tensor> params;
  for (auto& [n, t] : weights) params.push_back(t.requires_grad_());
  model::Transformer model(config, weights);
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(opt.lr).weight_decay(0.01));

  Store& store = ws.store();
  auto experiment = store.ensureExperiment(
      "demo-models", "The built-in demo models, trained by Darkroom on the synthetic corpus");
  Params params_row = {{"model", name},
                       {"family", toString(config.family)},
                       {"parameters", std::to_string(config.parameterCount())},
                       {"steps", std::to_string(opt.steps)},
                       {"batch", std::to_string(opt.batch)},
                       {"sequence", std::to_string(opt.sequence)},
                       {"lr", std::to_string(opt.lr)},
                       {"optimizer", "adamw"},
                       {"seed", std::to_string(opt.seed)},
                       {"corpus", math ? "word problems + grammar" : "synthetic grammar + arithmetic"}};
  result.run_id = store.createRun(experiment, "train " + name, "pretrain", params_row);
  recordRunOutcome(store, result.run_id, [&] {
    MetricBuffer metrics(store, result.run_id, 64);
    auto evalLoss = [&] {
      at::NoGradGuard no_grad;
      auto [x, y] = sampleBatch(eval, 8, opt.sequence, gen, eval_anchors);
      auto logits = model.forward(x);
      return at::cross_entropy_loss(logits.reshape({-1, config.vocab_size}), y.reshape(-1))
          .item<double>();
    };
    for (int step = 0; step < opt.steps; ++step) {
      auto t0 = std::chrono::steady_clock::now();
      double lr = learningRate(step, opt.steps, opt.lr);
      static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[0].options()).lr(lr);
      auto [x, y] = sampleBatch(train, opt.batch, opt.sequence, gen, train_anchors);
      model::ForwardHooks at_position;
      at_position.first_position =
          at::randint(config.max_positions - opt.sequence + 1, {1}, gen, at::kLong).item<std::int64_t>();
      auto logits = model.forward(x, nullptr, nullptr, &at_position);
      auto loss = at::cross_entropy_loss(logits.reshape({-1, config.vocab_size}), y.reshape(-1));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      result.final_loss = loss.item<double>();
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      metrics.add("train/loss", step, result.final_loss);
      metrics.add("train/lr", step, lr);
      metrics.add("train/tokens_per_s", step, opt.batch * opt.sequence / std::max(seconds, 1e-9));
      if (step % 50 == 0 || step == opt.steps - 1) metrics.add("eval/loss", step, evalLoss());
      ctx.progress(double(step + 1) / opt.steps,
                   name + ": step " + std::to_string(step + 1) + "/" + std::to_string(opt.steps) +
                       ", loss " + std::to_string(result.final_loss).substr(0, 5));
    }
    metrics.flush();
    for (auto& p : params) p.requires_grad_(false);
    model::saveCheckpoint(model, result.dir, {{"darkroom.demo", name}});
    writeByteTokenizerJson(result.dir / "tokenizer.json");
    store.addArtifact(result.run_id, result.dir / "model.safetensors", "checkpoint");
  });
  return result;
}

}  // namespace darkroom

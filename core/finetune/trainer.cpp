// The fine-tuning loop behind finetune() and resumeFinetune(): one code path for dense and
// sparse runs, which differ only in the forward's hooks (and sparse mode's calibration and
// predictor refreshes).
#include <ATen/autocast_mode.h>

#include <chrono>
#include <cmath>

#include "darkroom/analysis.h"
#include "darkroom/demo_models.h"
#include "darkroom/finetune.h"
#include "finetune/adamw.h"
#include "finetune/long_exposure.h"
#include "finetune/options.h"
#include "darkroom/run_outcome.h"
#include "model/checkpoint.h"

namespace darkroom {
namespace {

namespace fs = std::filesystem;
using namespace training;
using Clock = std::chrono::steady_clock;

// bf16 autocast on the forward's device for as long as it lives (thread-local state).
class Autocast {
 public:
  Autocast(bool on, at::Device device) : on_(on), cuda_(device.is_cuda()) {
    if (!on_) return;
    if (cuda_) {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
  }
  ~Autocast() {
    if (!on_) return;
    if (cuda_) at::autocast::set_enabled(false);
    else at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }

 private:
  bool on_, cuda_;
};

double learningRate(const FinetuneOptions& o, int step) {  // step counts from 0
  if (step < o.warmup_steps) return o.lr * (step + 1) / (o.warmup_steps + 1);
  const double t = double(step - o.warmup_steps) / std::max(1, o.steps - o.warmup_steps);
  return o.lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * t)));
}

double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// One run's model, data and trainable state.
struct Session {
  FinetuneOptions options;
  fs::path model_dir;
  model::Transformer model;
  Dataset data;
  at::Generator gen;
  Peft peft;
  AdamW optimizer;
  std::unique_ptr<LongExposure> sparse;

  Session(FinetuneOptions o, fs::path dir, model::Transformer m, Dataset d)
      : options(std::move(o)), model_dir(std::move(dir)), model(std::move(m)),
        data(std::move(d)), gen(at::make_generator<at::CPUGeneratorImpl>(options.seed)),
        peft(model, options.peft, gen), optimizer(peft.parameters(), options.weight_decay) {
    // The predictors draw from their own generator: dense and sparse runs from one seed must
    // see the same PEFT initialization and the same batches.
    if (options.mode == FinetuneMode::Sparse) {
      auto predictor_gen = at::make_generator<at::CPUGeneratorImpl>(options.seed + 0x9e3779b9);
      sparse = std::make_unique<LongExposure>(model, peft, options, predictor_gen);
    }
  }
};

std::unique_ptr<Session> openSession(Workspace& ws, const FinetuneOptions& o, JobContext& ctx) {
  validateOptions(o);
  auto dir = resolveModel(ws, o.model, ctx);
  auto model = model::loadCheckpointFor(dir, "float32", o.device);
  // Training updates nothing in the base model, but the mapped weights are read-only views:
  // cast-free contiguous copies keep every kernel's assumptions (and the file) safe.
  model = model.to(at::kFloat, model.device());
  if (model.config().family == ModelFamily::Opt && o.sequence > model.config().max_positions)
    throw FinetuneError("sequence " + std::to_string(o.sequence) + " exceeds the model's " +
                        std::to_string(model.config().max_positions) + " positions");
  std::unique_ptr<Tokenizer> tokenizer;
  try {
      tokenizer = loadTokenizer(dir);
    } catch (const std::exception& e) {
      throw FinetuneError(std::string("the model's tokenizer cannot be loaded: ") + e.what());
    }
    auto data =
        Dataset::load(o.dataset, *tokenizer, o.sequence, model::addsBos(dir, model.config()));
    return std::make_unique<Session>(o, dir, std::move(model), std::move(data));
  }

  fs::path checkpointPath(Workspace& ws, std::int64_t run) { return ws.runDir(run) / "checkpoint.safetensors"; }

  void saveCheckpoint(Workspace& ws, std::int64_t run, const Session& s, int steps_done) {
    model::TensorMap tensors;
    for (const auto& [name, t] : s.peft.parameters()) tensors["peft/" + name] = t;
    s.optimizer.save(tensors);
    tensors["rng"] = s.gen.get_state().to(at::kLong);
    std::map<std::string, std::string> meta = {{"steps_done", std::to_string(steps_done)}};
    if (s.sparse) s.sparse->save(tensors, meta);
    model::saveTensors(checkpointPath(ws, run), tensors, meta);
  }

  // Returns the steps the checkpoint had done.
  int loadCheckpoint(Workspace& ws, std::int64_t run, Session& s) {
    auto path = checkpointPath(ws, run);
    if (!fs::exists(path))
      throw FinetuneError("run " + std::to_string(run) + " has no checkpoint to resume from (it "
                          "stopped before its first one): start it again instead");
    model::LoadedTensors loaded;
  try {
      loaded = model::loadTensors(path);
    } catch (const std::exception& e) {
      throw FinetuneError(std::string("the checkpoint is unreadable: ") + e.what());
    }
    model::TensorMap peft;
    for (const auto& [name, t] : loaded.tensors)
      if (name.rfind("peft/", 0) == 0) peft[name.substr(5)] = t;
    s.peft.load(peft);
    s.optimizer.load(loaded.tensors);
    if (auto rng = loaded.tensors.find("rng"); rng != loaded.tensors.end())
      s.gen.set_state(rng->second.to(at::kByte));
    if (s.sparse) s.sparse->load(loaded.tensors, loaded.metadata);
    return std::stoi(loaded.metadata.at("steps_done"));
  }

  double evaluate(Session& s) {
    at::NoGradGuard no_grad;
    s.peft.setTraining(false);
    model::ForwardHooks hooks;
    hooks.linear = [&](const std::string& m, const at::Tensor& x, const at::Tensor& w,
                       const at::Tensor* b) { return s.peft.linear(m, x, w, b); };
    Autocast autocast(s.options.bf16, s.model.device());
    double total = 0;
    for (int i = 0; i < s.options.eval_batches; ++i) {
      auto b = s.data.evalBatch(i, s.options.batch);
      total += causalLoss(s.model.forward(b.inputs, nullptr, nullptr, &hooks), b.targets)
                   .item<double>();
    }
    s.peft.setTraining(true);
    return total / s.options.eval_batches;
  }

  void logMetrics(MetricBuffer& metrics, int step, const StepMetrics& values) {
    for (const auto& [key, value] : values) metrics.add(key, step, value);
  }

  // Trains from `first_step` (steps already done) to the end; checkpoints as it goes.
  FinetuneResult train(Workspace& ws, std::int64_t run, Session& s, int first_step,
                       JobContext& ctx) {
    const auto& o = s.options;
    FinetuneResult result;
    result.run_id = run;
    MetricBuffer metrics(ws.store(), run, 64);
    auto device = s.model.device();
    auto onDevice = [&](Batch b) {
      b.inputs = b.inputs.to(device);
      b.targets = b.targets.to(device);
      return b;
    };
    std::vector<double> recent_losses;
    double train_seconds = 0;
    int timed_steps = 0, completed = first_step, checkpointed = first_step;
    auto last_flush = Clock::now();
  try {
    for (int step = first_step; step < o.steps; ++step) {
      const int done = step + 1;  // metrics are logged at the count of optimizer steps done
      auto t0 = Clock::now();
      const double lr = learningRate(o, step);
      s.optimizer.zeroGrad();
      double loss_sum = 0;
      std::int64_t tokens = 0;
      for (int micro = 0; micro < o.grad_accumulation; ++micro) {
        auto batch = onDevice(s.data.trainBatch(o.batch, s.gen));
        tokens += batch.inputs.numel();
        model::ForwardHooks hooks;
        if (s.sparse) {
          if (step % o.predictor_refresh_every == 0 && micro == 0 && step > first_step)
            logMetrics(metrics, done, s.sparse->refresh(batch));
          hooks = s.sparse->hooks();
        } else {
          hooks.linear = [&](const std::string& m, const at::Tensor& x, const at::Tensor& w,
                             const at::Tensor* b) { return s.peft.linear(m, x, w, b); };
        }
        at::Tensor loss;
        {
          Autocast autocast(o.bf16, device);
          loss = causalLoss(s.model.forward(batch.inputs, nullptr, nullptr, &hooks), batch.targets);
        }
        (loss / o.grad_accumulation).backward();
        loss_sum += loss.item<double>();
        ctx.checkCancelled();
      }
      const double grad_norm = s.optimizer.clipGradients(o.max_grad_norm);
      s.optimizer.step(lr);
      const double loss = loss_sum / o.grad_accumulation, took = seconds(t0);
      if (!std::isfinite(loss))
        throw FinetuneError("the loss became " + std::to_string(loss) + " at step " +
                            std::to_string(done) + ": lower the learning rate");
      train_seconds += took;
      ++timed_steps;
      recent_losses.push_back(loss);
      metrics.add("train/loss", done, loss);
      metrics.add("train/lr", done, lr);
      metrics.add("train/grad_norm", done, grad_norm);
      metrics.add("train/step_time_s", done, took);
      metrics.add("train/tokens_per_s", done, double(tokens) / std::max(took, 1e-9));
      if (s.sparse) {
        auto st = s.sparse->stats();
        metrics.add("sparsity/mlp", done, 1 - st.mlp_density);
        metrics.add("sparsity/attention", done, 1 - st.attention_density);
        metrics.add("layout/dense_fallback_layers", done, st.dense_layers);
      }
      const bool last = done == o.steps;
      if ((o.eval_every > 0 && done % o.eval_every == 0) || last) {
        result.final_eval_loss = evaluate(s);
        metrics.add("eval/loss", done, result.final_eval_loss);
      }
      if ((o.checkpoint_every > 0 && done % o.checkpoint_every == 0) || last) {
        metrics.flush();  // the checkpoint never runs ahead of the stored curves
        saveCheckpoint(ws, run, s, done);
        checkpointed = done;
      }
      completed = done;
      // Live views poll the store: hand them the newest points at least twice a second.
      if (seconds(last_flush) > 0.5) {
        metrics.flush();
        last_flush = Clock::now();
      }
      ctx.progress(double(done) / o.steps,
                   "step " + std::to_string(done) + "/" + std::to_string(o.steps) + "  loss " +
                       std::to_string(loss).substr(0, 6));
    }
  } catch (const JobCancelled&) {
    // Stopped between steps: keep what the completed steps learned, so resuming loses nothing.
    metrics.flush();
    if (completed > checkpointed) saveCheckpoint(ws, run, s, completed);
    throw;
  }
  metrics.flush();
  const std::size_t tail = std::min<std::size_t>(10, recent_losses.size());
  for (std::size_t i = recent_losses.size() - tail; i < recent_losses.size(); ++i)
    result.final_loss += recent_losses[i] / double(tail);
  result.steps_done = o.steps;
  result.steps_per_second = timed_steps ? timed_steps / train_seconds : 0;
  result.adapter = ws.runDir(run) / "adapter";
  s.peft.save(result.adapter, s.model_dir.string());
  result.adapter /= "adapter.safetensors";
  return result;
}

std::vector<Batch> calibrationBatches(Session& s) {
  // Their own generator: calibration must not shift the training batches' random stream.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(s.options.seed + 0x5eed);
  std::vector<Batch> out;
  for (int i = 0; i < s.options.predictor_calibration_batches; ++i) {
    auto b = s.data.trainBatch(s.options.batch, gen);
    b.inputs = b.inputs.to(s.model.device());
    b.targets = b.targets.to(s.model.device());
    out.push_back(b);
  }
  return out;
}

// The share of a job's progress bar that loading takes: most of it when a demo model must be
// trained first (minutes), a sliver otherwise.
double setupShare(Workspace& ws, const std::string& model) {
  return isDemoModelName(model) && !isDemoModelTrained(ws, model) ? 0.6 : 0.05;
}

}  // namespace

FinetuneResult finetune(Workspace& ws, const FinetuneOptions& options, JobContext& ctx) {
  const double share = setupShare(ws, options.model);
  auto setup = ctx.slice(0, share);
  auto session = openSession(ws, options, setup);
  auto& store = ws.store();
  auto name = options.name.empty() ? options.model + " " + toString(options.peft.method) + " " +
                                         toString(options.mode)
                                   : options.name;
  auto params = optionsToParams(options);
  params["trainable_parameters"] = std::to_string(session->peft.parameterCount());
  params["dataset_size"] = session->data.describe();
  if (options.mode == FinetuneMode::Sparse)
    params["kernels"] = kernels::backendName(backendFor(session->model.device()));
  const auto run = store.createRun(store.ensureExperiment(options.experiment), name, "finetune",
                                   params);
  FinetuneResult result;
  recordRunOutcome(store, run, [&] {
    auto rest = ctx.slice(share, 1 - share);
    double train_from = 0;
    if (session->sparse) {
      train_from = 0.1;
      auto calibration = rest.slice(0, train_from);
      auto metrics = session->sparse->calibrate(calibrationBatches(*session),
                                                [&](double f, const std::string& m) {
                                                  calibration.progress(f, m);
                                                });
      store.setParams(run, {{"long_exposure", session->sparse->describe()}});
      MetricBuffer at_start(store, run);
      logMetrics(at_start, 0, metrics);
    }
    auto training = rest.slice(train_from, 1 - train_from);
    result = train(ws, run, *session, 0, training);
  });
  return result;
}

FinetuneResult resumeFinetune(Workspace& ws, std::int64_t run_id, JobContext& ctx) {
  auto info = ws.store().run(run_id);
  if (!info) throw FinetuneError("there is no run " + std::to_string(run_id));
  if (info->kind != "finetune")
    throw FinetuneError("run " + std::to_string(run_id) + " is a " + info->kind +
                        " run, not a finetune run");
  if (info->status == RunStatus::Running)
    throw FinetuneError("run " + std::to_string(run_id) + " is still running");
  if (info->status == RunStatus::Finished)
    throw FinetuneError("run " + std::to_string(run_id) + " already finished");
  auto options = finetuneOptionsOf(ws, run_id);
  const double share = setupShare(ws, options.model);
  auto setup = ctx.slice(0, share);
  auto session = openSession(ws, options, setup);
  const int done = loadCheckpoint(ws, run_id, *session);
  ws.store().reopenRun(run_id, done);
  FinetuneResult result;
  recordRunOutcome(ws.store(), run_id, [&] {
    auto rest = ctx.slice(share, 1 - share);
    result = train(ws, run_id, *session, done, rest);
  });
  return result;
}

FinetuneOptions finetuneOptionsOf(Workspace& ws, std::int64_t run_id) {
  return optionsFromParams(ws.store().params(run_id));
}

void exportMergedModel(Workspace& ws, std::int64_t run_id, const fs::path& out_dir,
                       JobContext& ctx) {
  auto options = finetuneOptionsOf(ws, run_id);
  if (options.peft.method != PeftMethod::Lora)
    throw FinetuneError(std::string("only LoRA runs can be merged into the model; run ") +
                        std::to_string(run_id) + " used " + toString(options.peft.method) +
                        " (its adapter is in the run's folder)");
  auto adapter = ws.runDir(run_id) / "adapter" / "adapter.safetensors";
  if (!fs::exists(adapter))
    throw FinetuneError("run " + std::to_string(run_id) + " has no saved adapter (" +
                        adapter.string() + "): it has not finished");
  auto dir = resolveModel(ws, options.model, ctx);
  auto model = model::loadCheckpoint(dir, at::kFloat);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  Peft peft(model, options.peft, gen);
  peft.load(model::loadTensors(adapter).tensors);
  ctx.progress(0.6, "merging");
  model::Transformer merged(model.config(), peft.merged(model.weights()));
  model::saveCheckpoint(merged, out_dir, {{"merged_from_run", std::to_string(run_id)}});
  for (const char* f : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                        "special_tokens_map.json", "generation_config.json"})
    if (fs::exists(dir / f)) fs::copy_file(dir / f, out_dir / f, fs::copy_options::overwrite_existing);
  ctx.progress(1, "written " + out_dir.string());
}

}  // namespace darkroom

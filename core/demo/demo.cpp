// Torch first: its headers use the identifier `slots`, which Qt would define as a macro.
#include <ATen/ATen.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "darkroom/demo.h"

namespace darkroom {
namespace {

constexpr const char* kExperiment = "demo";

struct DemoRunSpec {
  const char* name;
  int hidden;
};
constexpr DemoRunSpec kRuns[] = {{"mlp-relu-h64", 64}, {"mlp-relu-h256", 256}};
constexpr int kInputs = 16, kBatch = 64, kEvalEvery = 20;

// Learning rate: linear warm-up over the first 10% of steps, then cosine decay to 10%.
double learningRate(int step, int steps, double peak) {
  int warmup = std::max(1, steps / 10);
  if (step < warmup) return peak * (step + 1) / warmup;
  double t = double(step - warmup) / std::max(1, steps - warmup);
  return peak * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * t)));
}

// The target: a fixed random two-layer tanh network, so the task has structure to learn.
struct Task {
  at::Tensor w1, w2;
  at::Tensor sample(int n) const {
    return at::randn({n, kInputs});
  }
  at::Tensor target(const at::Tensor& x) const { return at::tanh(x.matmul(w1)).matmul(w2); }
};

struct Summary {
  std::string name;
  std::int64_t run_id;
  int hidden;
  double final_loss, final_eval, per_token_sparsity, aggregated_sparsity, seconds;
};

Summary trainOne(Store& store, std::int64_t experiment, const DemoRunSpec& spec, const Task& task,
                 const at::Tensor& eval_x, const DemoOptions& opt, JobContext& ctx,
                 double progress_from, double progress_span) {
  const double peak_lr = 3e-3;
  Params params = {{"model", "mlp"},           {"hidden", std::to_string(spec.hidden)},
                   {"inputs", std::to_string(kInputs)}, {"batch", std::to_string(kBatch)},
                   {"steps", std::to_string(opt.steps)}, {"optimizer", "adamw"},
                   {"lr", "0.003"},             {"schedule", "warmup10%+cosine"},
                   {"seed", std::to_string(opt.seed)}};
  auto run_id = store.createRun(experiment, spec.name, "demo", params);
  try {
    MetricBuffer metrics(store, run_id, 200);
    auto w1 = (at::randn({kInputs, spec.hidden}) / std::sqrt(double(kInputs))).requires_grad_();
    auto b1 = at::zeros({spec.hidden}).requires_grad_();
    auto w2 = (at::randn({spec.hidden, 1}) / std::sqrt(double(spec.hidden))).requires_grad_();
    auto b2 = at::zeros({1}).requires_grad_();
    torch::optim::AdamW optimizer({w1, b1, w2, b2},
                                  torch::optim::AdamWOptions(peak_lr).weight_decay(1e-4));
    auto eval_y = task.target(eval_x);
    Summary s{spec.name, run_id, spec.hidden, 0, 0, 0, 0, 0};
    auto start = std::chrono::steady_clock::now();
    for (int step = 0; step < opt.steps; ++step) {
      double lr = learningRate(step, opt.steps, peak_lr);
      static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[0].options()).lr(lr);
      auto x = task.sample(kBatch);
      auto hidden = at::relu(x.matmul(w1) + b1);
      auto loss = at::mse_loss(hidden.matmul(w2) + b2, task.target(x));
      optimizer.zero_grad();
      loss.backward();
      double grad_norm = 0;
      for (auto& p : {w1, b1, w2, b2}) grad_norm += p.grad().pow(2).sum().item<double>();
      optimizer.step();

      // Shadowy sparsity in miniature: each example leaves many ReLUs at zero, the batch as a
      // whole leaves far fewer silent.
      auto inactive = (hidden.detach() <= 0);
      s.per_token_sparsity = inactive.to(at::kFloat).mean().item<double>();
      s.aggregated_sparsity = inactive.all(0).to(at::kFloat).mean().item<double>();
      s.final_loss = loss.item<double>();
      metrics.add("train/loss", step, s.final_loss);
      metrics.add("train/lr", step, lr);
      metrics.add("train/grad_norm", step, std::sqrt(grad_norm));
      metrics.add("sparsity/mlp_per_token", step, s.per_token_sparsity);
      metrics.add("sparsity/mlp_aggregated", step, s.aggregated_sparsity);
      if (step % kEvalEvery == 0 || step == opt.steps - 1) {
        at::NoGradGuard no_grad;
        auto pred = at::relu(eval_x.matmul(w1) + b1).matmul(w2) + b2;
        s.final_eval = at::mse_loss(pred, eval_y).item<double>();
        metrics.add("eval/loss", step, s.final_eval);
      }
      if (step % 10 == 0)
        ctx.progress(progress_from + progress_span * step / opt.steps,
                     std::string(spec.name) + ": step " + std::to_string(step) + "/" +
                         std::to_string(opt.steps));
    }
    metrics.flush();
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    store.finishRun(run_id, RunStatus::Finished);
    return s;
  } catch (const JobCancelled&) {
    store.finishRun(run_id, RunStatus::Killed, "cancelled by the user");
    throw;
  } catch (const std::exception& e) {
    store.finishRun(run_id, RunStatus::Failed, e.what());
    throw;
  }
}

std::filesystem::path writeReport(Workspace& ws, const std::vector<Summary>& runs) {
  auto dir = ws.artifactsDir() / "demo";
  std::filesystem::create_directories(dir);
  auto file = dir / "report.md";
  auto tmp = dir / "report.md.tmp";
  {
    std::ofstream out(tmp);
    out << "# Darkroom demo workspace\n\n"
        << "Two ReLU MLPs trained by LibTorch on a synthetic regression task (the target is a "
           "fixed random tanh network). Sparsity is the fraction of hidden ReLUs at zero: per "
           "example, and aggregated over the batch (silent for every example). The gap between "
           "them is the shadowy sparsity Long Exposure exploits.\n\n"
        << "| run | id | hidden | train loss | eval loss | per-example sparsity | "
           "batch-aggregated sparsity | seconds |\n|---|---|---|---|---|---|---|---|\n"
        << std::fixed;
    for (const auto& r : runs)
      out << "| " << r.name << " | " << r.run_id << " | " << r.hidden << " | "
          << std::setprecision(4) << r.final_loss << " | " << r.final_eval << " | "
          << std::setprecision(3) << r.per_token_sparsity << " | " << r.aggregated_sparsity
          << " | " << std::setprecision(2) << r.seconds << " |\n";
    out << "\nOpen the workspace in the GUI (`scripts/run`) or list it with "
           "`darkroom-cli runs list`.\n";
    if (!out) throw std::runtime_error(tmp.string() + ": cannot write the demo report");
  }
  std::filesystem::rename(tmp, file);  // the previous report survives a failed write
  return file;
}

}  // namespace

DemoResult createDemo(Workspace& ws, JobContext& ctx, const DemoOptions& opt) {
  if (opt.steps < 1) throw std::invalid_argument("demo needs at least 1 step");
  Store& store = ws.store();
  auto experiment = store.ensureExperiment(
      kExperiment, "Built-in demo: small models trained by Darkroom to show the views");
  DemoResult result;
  result.report = ws.artifactsDir() / "demo" / "report.md";
  if (!opt.force) {
    for (const auto& r : store.runs(experiment))
      if (r.kind == "demo" && r.status == RunStatus::Finished) result.run_ids.push_back(r.id);
    if (result.run_ids.size() >= std::size(kRuns) && std::filesystem::exists(result.report)) {
      result.reused = true;
      ctx.progress(1.0, "demo workspace already present");
      return result;
    }
    result.run_ids.clear();
  }
  at::manual_seed(opt.seed);
  Task task{at::randn({kInputs, 32}), at::randn({32, 1}) / std::sqrt(32.0)};
  auto eval_x = task.sample(512);
  std::vector<Summary> summaries;
  const double span = 1.0 / std::size(kRuns);
  for (std::size_t i = 0; i < std::size(kRuns); ++i) {
    at::manual_seed(opt.seed + 1 + i);
    summaries.push_back(
        trainOne(store, experiment, kRuns[i], task, eval_x, opt, ctx, i * span, span));
    result.run_ids.push_back(summaries.back().run_id);
  }
  result.report = writeReport(ws, summaries);
  store.addArtifact(result.run_ids.back(), result.report, "report");
  ctx.progress(1.0, "demo ready: " + result.report.string());
  return result;
}

}  // namespace darkroom

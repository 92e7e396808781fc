#include "darkroom/demo.h"

#include <fstream>
#include <iomanip>

#include "darkroom/analysis.h"
#include "darkroom/demo_models.h"

namespace darkroom {
namespace {

struct ModelSummary {
  DemoModelResult trained;
  std::int64_t parameters = 0;
  std::int64_t analysis_run = 0;
  std::vector<LayerSparsity> layers;
};

std::filesystem::path writeReport(Workspace& ws, const std::vector<ModelSummary>& models) {
  auto dir = ws.artifactsDir() / "demo";
  std::filesystem::create_directories(dir);
  auto file = dir / "report.md", tmp = dir / "report.md.partial";
  {
    std::ofstream out(tmp);
    out << "# Darkroom demo workspace\n\n"
        << "Two small models, one per family, trained by Darkroom on its synthetic corpus "
           "(sentences from a grammar with nested clauses, and arithmetic facts), then analysed "
           "for activation sparsity on held-out text. Per-token sparsity is the fraction of MLP "
           "neurons silent for one token; aggregated is the fraction silent for every token of "
           "the sequence or batch. The gap is the shadowy sparsity of Long Exposure.\n\n"
        << std::fixed;
    for (const auto& m : models) {
      out << "## " << m.trained.name << "\n\n"
          << "- folder: `" << m.trained.dir.string() << "`\n"
          << "- parameters: " << m.parameters << "\n";
      if (!m.trained.reused)
        out << "- final training loss: " << std::setprecision(3) << m.trained.final_loss
            << " nats/byte (training run " << m.trained.run_id << ")\n";
      out << "- analysis run: " << m.analysis_run << "\n\n"
          << "| layer | per token | aggregated (sequence) | aggregated (batch) | blocks p=1% | "
             "attention kept per head | shared |\n|---|---|---|---|---|---|---|\n";
      for (const auto& l : m.layers)
        out << "| " << l.layer << " | " << std::setprecision(3) << l.mlp_per_token << " | "
            << l.mlp_aggregated_sequence << " | " << l.mlp_aggregated_batch << " | "
            << (l.mlp_block_sparsity.empty() ? 0.0 : l.mlp_block_sparsity[0]) << " | "
            << l.attention_kept_per_head << " | " << l.attention_kept_shared << " |\n";
      out << "\n";
    }
    out << "Open the workspace in the GUI (`scripts/run`) or list it with "
           "`darkroom-cli runs list`.\n";
    if (!out.flush()) throw std::runtime_error(tmp.string() + ": cannot write the demo report");
  }
  std::filesystem::rename(tmp, file);  // the previous report survives a failed write
  return file;
}

}  // namespace

DemoResult createDemo(Workspace& ws, JobContext& ctx, const DemoOptions& opt) {
  if (opt.steps < 1) throw std::invalid_argument("demo needs at least 1 training step");
  DemoResult result;
  result.report = ws.artifactsDir() / "demo" / "report.md";
  const auto names = demoModelNames();
  // Already complete: every model trained and analysed, and the report written.
  if (!opt.force && std::filesystem::exists(result.report)) {
    bool complete = true;
    for (const auto& name : names)
      complete = complete && isDemoModelTrained(ws, name);
    std::vector<std::int64_t> runs;
    std::size_t analyses = 0;
    for (const auto& r : ws.store().runs()) {
      if (r.status != RunStatus::Finished) continue;
      if (r.kind == "analysis" && r.experiment == "demo") ++analyses;
      if ((r.kind == "analysis" && r.experiment == "demo") ||
          (r.kind == "pretrain" && r.experiment == "demo-models"))
        runs.push_back(r.id);
    }
    if (complete && analyses >= names.size()) {
      result.reused = true;
      result.run_ids = runs;
      ctx.progress(1.0, "demo workspace already present");
      return result;
    }
  }
  std::vector<ModelSummary> summaries;
  const double share = 1.0 / double(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    ModelSummary s;
    DemoTrainOptions train;
    train.steps = opt.steps;
    train.force = opt.force;
    auto training = ctx.slice(i * share, share * 0.8);
    s.trained = trainDemoModel(ws, names[i], train, training);
    if (!s.trained.reused) result.run_ids.push_back(s.trained.run_id);
    s.parameters = demoModelConfig(names[i]).parameterCount();
    AnalysisRequest request;
    request.model = names[i];
    request.tokens = opt.analysis_tokens;
    request.experiment = "demo";
    auto analysing = ctx.slice(i * share + share * 0.8, share * 0.2);
    auto analysis = analyzeSparsity(ws, request, analysing);
    s.analysis_run = analysis.run_id;
    s.layers = analysis.analysis.layers;
    result.run_ids.push_back(analysis.run_id);
    summaries.push_back(std::move(s));
  }
  result.report = writeReport(ws, summaries);
  if (!result.run_ids.empty()) ws.store().addArtifact(result.run_ids.back(), result.report, "report");
  ctx.progress(1.0, "demo ready: " + result.report.string());
  return result;
}

}  // namespace darkroom

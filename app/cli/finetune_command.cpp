#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/finetune.h"

namespace darkroom::cli {

static const char* kFinetuneHelp = R"(usage: darkroom-cli finetune [--model DIR|demo-opt|demo-llama] [--dataset corpus|FILE.txt|FILE.jsonl]
                            [--method lora|adapter|bitfit]
                            [--rank N --alpha X --dropout X --targets q_proj,v_proj] [--bottleneck N]
                            [--mode dense|sparse] [--thresholds auto|P,ATT] [--tolerance X]
                            [--steps N --batch N --sequence N --accumulate N --lr X --warmup N]
                            [--eval-every N --checkpoint-every N --bf16 --seed N --device cpu|cuda]
                            [--experiment NAME] [--name NAME] [--json]
       darkroom-cli finetune resume RUN [--json]
       darkroom-cli finetune export RUN OUT_DIR

Parameter-efficient fine-tuning of a frozen model, recorded as a "finetune" run: loss, eval loss,
step time and tokens/s per step (and, in sparse mode, block sparsity and predictor recall), the
adapter and checkpoints in artifacts/run-N/. Ctrl-C stops the run as `killed`, keeping its
metrics and last checkpoint; `finetune resume RUN` continues it.

data     --dataset corpus (the built-in synthetic corpus, default), a plain UTF-8 text file, or
         a .jsonl file with {"prompt": ..., "completion": ...} per line (loss on completions)
method   lora (--rank 8 --alpha 16 --dropout 0 --targets q_proj,v_proj), adapter
         (--bottleneck 64) or bitfit (biases only)
mode     dense, or sparse (Long Exposure: predicted block layouts, block-sparse MLP and
         attention); --thresholds auto calibrates them within --tolerance (relative loss,
         default 0.01) of dense; --thresholds P,ATT sets the MLP p and the attention threshold
training defaults: 200 steps, batch 4, sequence 256, lr 1e-3 with 10 warm-up steps, evaluation
         and checkpoint every 25 steps (0: only at the end), seed 0, cpu
resume   continues a killed or failed run from its last checkpoint, with its own options
export   writes a LoRA run's model with the adapter merged in, as a Hugging Face folder
)";

namespace {

// The options of a new run, from the flags. Returns the training flags that were given, so
// `resume` (which takes a run's own options) can refuse them by name.
std::vector<std::string> parseOptions(Args& args, FinetuneOptions& o) {
  std::vector<std::string> given;
  auto take = [&](const char* name) {
    auto v = args.option(name);
    if (v) given.push_back(name);
    return v;
  };
  if (auto v = take("--model")) o.model = *v;
  if (auto v = take("--dataset")) {
    if (*v == "corpus") {
      o.dataset.kind = DatasetSpec::Kind::Corpus;
    } else {
      std::filesystem::path path(*v);
      o.dataset.kind = path.extension() == ".jsonl" ? DatasetSpec::Kind::Jsonl
                                                     : DatasetSpec::Kind::TextFile;
      o.dataset.path = path;
    }
  }
  if (auto v = take("--method")) {
    if (*v != "lora" && *v != "adapter" && *v != "bitfit")
      throw UsageError("--method must be lora, adapter or bitfit, got '" + *v + "'");
    o.peft.method = parsePeftMethod(*v);
  }
  const bool lora = o.peft.method == PeftMethod::Lora;
  auto only_for = [](bool allowed, const char* flag, const char* method) {
    if (!allowed) throw UsageError(std::string(flag) + " applies to --method " + method + " only");
  };
  if (auto v = take("--rank")) {
    only_for(lora, "--rank", "lora");
    o.peft.rank = static_cast<int>(parseId(*v, "--rank"));
  }
  if (auto v = take("--alpha")) {
    only_for(lora, "--alpha", "lora");
    o.peft.alpha = parseNumber(*v, "--alpha");
  }
  if (auto v = take("--dropout")) {
    only_for(lora, "--dropout", "lora");
    o.peft.dropout = parseNumber(*v, "--dropout");
  }
  if (auto v = take("--targets")) {
    only_for(lora, "--targets", "lora");
    o.peft.targets.clear();
    std::size_t start = 0;
    for (;;) {
      auto end = v->find(',', start);
      auto item = v->substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (item.empty())
        throw UsageError("--targets expects module names separated by commas, got '" + *v + "'");
      o.peft.targets.push_back(item);
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  if (auto v = take("--bottleneck")) {
    only_for(o.peft.method == PeftMethod::Adapter, "--bottleneck", "adapter");
    o.peft.bottleneck = static_cast<int>(parseId(*v, "--bottleneck"));
  }
  if (auto v = take("--mode")) {
    if (*v != "dense" && *v != "sparse")
      throw UsageError("--mode must be dense or sparse, got '" + *v + "'");
    o.mode = parseFinetuneMode(*v);
  }
  const bool sparse = o.mode == FinetuneMode::Sparse;
  if (auto v = take("--thresholds")) {
    if (!sparse) throw UsageError("--thresholds applies to --mode sparse only");
    if (*v == "auto") {
      o.thresholds.automatic = true;
    } else {
      auto numbers = parseNumbers(*v, "--thresholds");
      if (numbers.size() != 2)
        throw UsageError("--thresholds expects 'auto' or P,ATT (the MLP p and the attention "
                         "threshold, e.g. 0.03,10), got '" + *v + "'");
      o.thresholds.automatic = false;
      o.thresholds.mlp_p = numbers[0];
      o.thresholds.attention_threshold = numbers[1];
    }
  }
  if (auto v = take("--tolerance")) {
    if (!sparse || !o.thresholds.automatic)
      throw UsageError("--tolerance applies to --mode sparse with automatic thresholds only");
    o.thresholds.tolerance = parseNumber(*v, "--tolerance");
  }
  if (auto v = take("--steps")) o.steps = static_cast<int>(parseId(*v, "--steps"));
  if (auto v = take("--batch")) o.batch = static_cast<int>(parseId(*v, "--batch"));
  if (auto v = take("--sequence")) o.sequence = static_cast<int>(parseId(*v, "--sequence"));
  if (auto v = take("--accumulate"))
    o.grad_accumulation = static_cast<int>(parseId(*v, "--accumulate"));
  if (auto v = take("--lr")) o.lr = parseNumber(*v, "--lr");
  if (auto v = take("--warmup")) o.warmup_steps = static_cast<int>(parseCount(*v, "--warmup"));
  if (auto v = take("--eval-every")) o.eval_every = static_cast<int>(parseCount(*v, "--eval-every"));
  if (auto v = take("--checkpoint-every"))
    o.checkpoint_every = static_cast<int>(parseCount(*v, "--checkpoint-every"));
  if (args.flag("--bf16")) {
    o.bf16 = true;
    given.push_back("--bf16");
  }
  if (auto v = take("--seed")) o.seed = static_cast<std::uint64_t>(parseCount(*v, "--seed"));
  if (auto v = take("--device")) o.device = *v;
  if (auto v = take("--experiment")) o.experiment = *v;
  if (auto v = take("--name")) o.name = *v;
  return given;
}

void printResult(const FinetuneResult& r, const FinetuneOptions& o, bool json) {
  const bool has_eval = !std::isnan(r.final_eval_loss);
  if (json) {
    nlohmann::ordered_json j;
    j["run"] = r.run_id;
    j["model"] = o.model;
    j["method"] = toString(o.peft.method);
    j["mode"] = toString(o.mode);
    j["steps"] = r.steps_done;
    j["final_loss"] = r.final_loss;
    j["final_eval_loss"] = has_eval ? nlohmann::ordered_json(r.final_eval_loss) : nullptr;
    j["steps_per_second"] = r.steps_per_second;
    j["adapter"] = r.adapter.string();
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("run %lld: %s %s %s, %d steps\n", static_cast<long long>(r.run_id), o.model.c_str(),
              toString(o.peft.method), toString(o.mode), r.steps_done);
  std::printf("final loss   %.4f (mean of the last %d steps)\n", r.final_loss,
              std::min(10, r.steps_done));
  if (has_eval)
    std::printf("eval loss    %.4f\n", r.final_eval_loss);
  else
    std::printf("eval loss    -  (no evaluation ran)\n");
  std::printf("speed        %.2f steps/s\n", r.steps_per_second);
  std::printf("adapter      %s\n", r.adapter.c_str());
}

// Ctrl-C leaves the run killed but resumable: say which run, and how.
void reportStopped(std::int64_t run_id) {
  std::fprintf(stderr, "run %lld stopped with its metrics and last checkpoint; continue it with "
                       "`darkroom-cli finetune resume %lld`\n",
               static_cast<long long>(run_id), static_cast<long long>(run_id));
}

std::int64_t newestRunId(Workspace& ws) {
  std::int64_t newest = 0;
  for (const auto& run : ws.store().runs()) newest = std::max(newest, run.id);
  return newest;
}

int train(const Context& ctx, const FinetuneOptions& options, bool json) {
  auto ws = Workspace::create(ctx.workspace);
  const auto before = newestRunId(ws);
  try {
    auto result = std::any_cast<FinetuneResult>(runWithProgress(
        "finetune", [&](JobContext& job) -> std::any { return finetune(ws, options, job); }));
    printResult(result, options, json);
  } catch (const JobCancelled&) {
    // The run this call created is the newest finetune run after `before`.
    try {
      for (const auto& run : ws.store().runs())
        if (run.id > before && run.kind == "finetune") {
          reportStopped(run.id);
          break;
        }
    } catch (const std::exception&) {
      // the hint is a courtesy; main reports the cancellation itself
    }
    throw;
  }
  return 0;
}

int resume(const Context& ctx, std::int64_t run_id, bool json) {
  auto ws = ctx.openWorkspace();
  auto options = finetuneOptionsOf(ws, run_id);
  try {
    auto result = std::any_cast<FinetuneResult>(runWithProgress(
        "resume", [&](JobContext& job) -> std::any { return resumeFinetune(ws, run_id, job); }));
    printResult(result, options, json);
  } catch (const JobCancelled&) {
    reportStopped(run_id);
    throw;
  }
  return 0;
}

int exportMerged(const Context& ctx, std::int64_t run_id, const std::filesystem::path& out) {
  auto ws = ctx.openWorkspace();
  runWithProgress("export", [&](JobContext& job) -> std::any {
    exportMergedModel(ws, run_id, out, job);
    return {};
  });
  std::printf("wrote run %lld's merged model to %s\n", static_cast<long long>(run_id), out.c_str());
  return 0;
}

}  // namespace

int finetuneCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kFinetuneHelp), 0;
  bool json = args.flag("--json");
  FinetuneOptions options;
  auto given = parseOptions(args, options);
  {
    // An unknown flag is named as such, before its value could pass for a subcommand.
    Args probe = args;
    probe.rest();
    probe.finish();
  }
  auto sub = args.next();
  if (!sub) return train(ctx, options, json);
  if (*sub != "resume" && *sub != "export")
    throw UsageError("unknown finetune subcommand '" + *sub + "' (resume, export)");
  if (!given.empty())
    throw UsageError(given.front() + " cannot be used with finetune " + *sub +
                     ": the run keeps the options it was started with");
  auto run_id = parseId(args.required("run ID"), "run ID");
  if (*sub == "resume") {
    args.finish();
    return resume(ctx, run_id, json);
  }
  if (json) throw UsageError("finetune export has no --json output");
  auto out = args.required("output folder (OUT_DIR)");
  args.finish();
  return exportMerged(ctx, run_id, out);
}

}  // namespace darkroom::cli

#include "finetune/options.h"

#include <nlohmann/json.hpp>

namespace darkroom {

const char* toString(PeftMethod method) {
  switch (method) {
    case PeftMethod::Lora: return "lora";
    case PeftMethod::Adapter: return "adapter";
    case PeftMethod::BitFit: return "bitfit";
  }
  return "?";
}

const char* toString(FinetuneMode mode) { return mode == FinetuneMode::Dense ? "dense" : "sparse"; }

PeftMethod parsePeftMethod(const std::string& text) {
  for (auto m : {PeftMethod::Lora, PeftMethod::Adapter, PeftMethod::BitFit})
    if (text == toString(m)) return m;
  throw FinetuneError("unknown PEFT method '" + text + "' (lora, adapter, bitfit)");
}

FinetuneMode parseFinetuneMode(const std::string& text) {
  if (text == "dense") return FinetuneMode::Dense;
  if (text == "sparse") return FinetuneMode::Sparse;
  throw FinetuneError("unknown mode '" + text + "' (dense, sparse)");
}

namespace training {
namespace {

using nlohmann::json;

const char* kindName(DatasetSpec::Kind kind) {
  switch (kind) {
    case DatasetSpec::Kind::Corpus: return "corpus";
    case DatasetSpec::Kind::TextFile: return "text";
    case DatasetSpec::Kind::Jsonl: return "jsonl";
  }
  return "?";
}

DatasetSpec::Kind parseKind(const std::string& text) {
  if (text == "corpus") return DatasetSpec::Kind::Corpus;
  if (text == "text") return DatasetSpec::Kind::TextFile;
  if (text == "jsonl") return DatasetSpec::Kind::Jsonl;
  throw FinetuneError("unknown dataset kind '" + text + "'");
}

json toJson(const FinetuneOptions& o) {
  return {{"model", o.model},
          {"dataset", {{"kind", kindName(o.dataset.kind)}, {"path", o.dataset.path.string()}}},
          {"peft",
           {{"method", toString(o.peft.method)},
            {"rank", o.peft.rank},
            {"alpha", o.peft.alpha},
            {"dropout", o.peft.dropout},
            {"targets", o.peft.targets},
            {"bottleneck", o.peft.bottleneck}}},
          {"mode", toString(o.mode)},
          {"thresholds",
           {{"automatic", o.thresholds.automatic},
            {"mlp_p", o.thresholds.mlp_p},
            {"attention_threshold", o.thresholds.attention_threshold},
            {"tolerance", o.thresholds.tolerance}}},
          {"steps", o.steps},
          {"batch", o.batch},
          {"sequence", o.sequence},
          {"grad_accumulation", o.grad_accumulation},
          {"lr", o.lr},
          {"warmup_steps", o.warmup_steps},
          {"weight_decay", o.weight_decay},
          {"max_grad_norm", o.max_grad_norm},
          {"bf16", o.bf16},
          {"eval_every", o.eval_every},
          {"eval_batches", o.eval_batches},
          {"checkpoint_every", o.checkpoint_every},
          {"predictor_refresh_every", o.predictor_refresh_every},
          {"predictor_refresh_steps", o.predictor_refresh_steps},
          {"predictor_calibration_batches", o.predictor_calibration_batches},
          {"seed", o.seed},
          {"device", o.device},
          {"experiment", o.experiment},
          {"name", o.name}};
}

FinetuneOptions fromJson(const json& j) {
  FinetuneOptions o;
  o.model = j.at("model");
  o.dataset.kind = parseKind(j.at("dataset").at("kind"));
  o.dataset.path = j.at("dataset").at("path").get<std::string>();
  const auto& p = j.at("peft");
  o.peft.method = parsePeftMethod(p.at("method"));
  o.peft.rank = p.at("rank");
  o.peft.alpha = p.at("alpha");
  o.peft.dropout = p.at("dropout");
  o.peft.targets = p.at("targets").get<std::vector<std::string>>();
  o.peft.bottleneck = p.at("bottleneck");
  o.mode = parseFinetuneMode(j.at("mode"));
  const auto& t = j.at("thresholds");
  o.thresholds.automatic = t.at("automatic");
  o.thresholds.mlp_p = t.at("mlp_p");
  o.thresholds.attention_threshold = t.at("attention_threshold");
  o.thresholds.tolerance = t.at("tolerance");
  o.steps = j.at("steps");
  o.batch = j.at("batch");
  o.sequence = j.at("sequence");
  o.grad_accumulation = j.at("grad_accumulation");
  o.lr = j.at("lr");
  o.warmup_steps = j.at("warmup_steps");
  o.weight_decay = j.at("weight_decay");
  o.max_grad_norm = j.at("max_grad_norm");
  o.bf16 = j.at("bf16");
  o.eval_every = j.at("eval_every");
  o.eval_batches = j.at("eval_batches");
  o.checkpoint_every = j.at("checkpoint_every");
  o.predictor_refresh_every = j.at("predictor_refresh_every");
  o.predictor_refresh_steps = j.at("predictor_refresh_steps");
  o.predictor_calibration_batches = j.at("predictor_calibration_batches");
  o.seed = j.at("seed");
  o.device = j.at("device");
  o.experiment = j.at("experiment");
  o.name = j.at("name");
  return o;
}

}  // namespace

Params optionsToParams(const FinetuneOptions& o) {
  std::string targets;
  for (const auto& t : o.peft.targets) targets += (targets.empty() ? "" : ",") + t;
  Params p = {{"options", toJson(o).dump()},
              {"model", o.model},
              {"dataset", o.dataset.kind == DatasetSpec::Kind::Corpus ? "corpus"
                                                                      : o.dataset.path.string()},
              {"method", toString(o.peft.method)},
              {"mode", toString(o.mode)},
              {"steps", std::to_string(o.steps)},
              {"batch", std::to_string(o.batch)},
              {"sequence", std::to_string(o.sequence)},
              {"lr", std::to_string(o.lr)},
              {"seed", std::to_string(o.seed)},
              {"precision", o.bf16 ? "bf16" : "fp32"}};
  if (o.peft.method == PeftMethod::Lora) {
    p["lora_rank"] = std::to_string(o.peft.rank);
    p["lora_alpha"] = std::to_string(o.peft.alpha);
    p["lora_targets"] = targets;
  } else if (o.peft.method == PeftMethod::Adapter) {
    p["adapter_bottleneck"] = std::to_string(o.peft.bottleneck);
  }
  if (o.mode == FinetuneMode::Sparse)
    p["thresholds"] = o.thresholds.automatic
                          ? "auto (tolerance " + std::to_string(o.thresholds.tolerance) + ")"
                          : "p=" + std::to_string(o.thresholds.mlp_p) +
                                " attention=" + std::to_string(o.thresholds.attention_threshold);
  return p;
}

FinetuneOptions optionsFromParams(const Params& params) {
  auto it = params.find("options");
  if (it == params.end()) throw FinetuneError("this run has no fine-tuning options (not a finetune run)");
  try {
    return fromJson(json::parse(it->second));
  } catch (const json::exception& e) {
    throw FinetuneError(std::string("the run's stored options are unreadable: ") + e.what());
  }
}

void validateOptions(const FinetuneOptions& o) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw FinetuneError(what);
  };
  need(o.steps >= 1, "steps must be at least 1");
  need(o.batch >= 1, "batch must be at least 1");
  need(o.sequence >= 2, "sequence must be at least 2 tokens");
  need(o.grad_accumulation >= 1, "gradient accumulation must be at least 1");
  need(o.lr > 0, "the learning rate must be positive");
  need(o.warmup_steps >= 0, "warm-up steps cannot be negative");
  need(o.weight_decay >= 0, "weight decay cannot be negative");
  need(o.max_grad_norm >= 0, "max gradient norm cannot be negative (0 turns clipping off)");
  need(o.eval_every >= 0 && o.eval_batches >= 1, "eval_every >= 0 and eval_batches >= 1");
  need(o.checkpoint_every >= 0, "checkpoint_every cannot be negative");
  if (o.peft.method == PeftMethod::Lora) {
    need(o.peft.rank >= 1, "LoRA rank must be at least 1");
    need(o.peft.alpha > 0, "LoRA alpha must be positive");
    need(o.peft.dropout >= 0 && o.peft.dropout < 1, "LoRA dropout must be in [0, 1)");
    need(!o.peft.targets.empty(), "LoRA needs target modules, e.g. q_proj,v_proj");
  }
  if (o.peft.method == PeftMethod::Adapter)
    need(o.peft.bottleneck >= 1, "the adapter bottleneck must be at least 1");
  if (o.mode == FinetuneMode::Sparse) {
    need(o.thresholds.tolerance > 0, "the threshold search tolerance must be positive");
    need(o.thresholds.mlp_p >= 0 && o.thresholds.mlp_p < 1, "MLP threshold p must be in [0, 1)");
    need(o.thresholds.attention_threshold >= 0, "the attention threshold cannot be negative");
    need(o.predictor_refresh_every >= 1 && o.predictor_refresh_steps >= 1 &&
             o.predictor_calibration_batches >= 1,
         "predictor refresh interval, refresh steps and calibration batches must be at least 1");
  }
}

}  // namespace training
}  // namespace darkroom

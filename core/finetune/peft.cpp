#include "finetune/peft.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

namespace darkroom::training {
namespace {

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Every projection of the decoder layers ("...layers.3.self_attn.q_proj"), in a stable order,
// with its [out, in] shape.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> projections(
    const model::Transformer& model) {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
  for (const auto& spec : model::expectedTensors(model.config())) {
    if (spec.shape.size() != 2 || !endsWith(spec.name, ".weight") ||
        spec.name.find("layers.") == std::string::npos)
      continue;
    out.emplace_back(spec.name.substr(0, spec.name.size() - 7), spec.shape);
  }
  return out;
}

bool isBlockOutput(const std::string& module) {
  for (const char* tail : {".out_proj", ".o_proj", ".fc2", ".down_proj"})
    if (endsWith(module, tail)) return true;
  return false;
}

}  // namespace

std::string Peft::key(const std::string& module, const std::string& what) {
  return "base_model.model." + module + "." + what;
}

Peft::Peft(const model::Transformer& model, const PeftOptions& options, at::Generator& gen)
    : options_(options) {
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(model.device());
  auto uniform = [&](std::vector<std::int64_t> shape, double bound) {
    return (at::rand(shape, gen, at::kFloat) * 2 - 1).mul_(bound).to(model.device());
  };
  std::vector<std::string> names;
  for (const auto& [module, shape] : projections(model)) {
    names.push_back(module.substr(module.rfind('.') + 1));
    const std::int64_t out = shape[0], in = shape[1];
    switch (options.method) {
      case PeftMethod::Lora: {
        bool target = false;
        for (const auto& t : options.targets) target |= endsWith(module, "." + t);
        if (!target) break;
        // PEFT's initialization: A Kaiming-uniform, B zero.
        Lora l{uniform({options.rank, in}, 1.0 / std::sqrt(double(in))),
               at::zeros({out, options.rank}, f32), options.alpha / options.rank};
        params_[key(module, "lora_A.weight")] = l.a;
        params_[key(module, "lora_B.weight")] = l.b;
        lora_[module] = l;
        break;
      }
      case PeftMethod::BitFit: {
        auto it = model.weights().find(module + ".bias");
        auto b = it != model.weights().end() ? it->second.detach().to(at::kFloat).clone()
                                             : at::zeros({out}, f32);
        params_[key(module, "bias")] = b;
        bias_[module] = b;
        break;
      }
      case PeftMethod::Adapter: {
        if (!isBlockOutput(module)) break;
        const std::int64_t d = options.bottleneck;
        params_[key(module, "adapter_down.weight")] = uniform({d, out}, 1.0 / std::sqrt(double(out)));
        params_[key(module, "adapter_down.bias")] = at::zeros({d}, f32);
        params_[key(module, "adapter_up.weight")] = at::zeros({out, d}, f32);
        params_[key(module, "adapter_up.bias")] = at::zeros({out}, f32);
        adapted_.insert(module);
        break;
      }
    }
  }
  if (params_.empty()) {
    std::string known;
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    std::string targets;
    for (const auto& t : options.targets) targets += (targets.empty() ? "" : ",") + t;
    throw FinetuneError("LoRA targets '" + targets + "' match no layer of this model; its " +
                        "projections are: " + known);
  }
  for (auto& [name, t] : params_) t.requires_grad_(true);
}

std::vector<at::Tensor> Peft::parameterList() const {
  std::vector<at::Tensor> out;
  for (const auto& [name, t] : params_) out.push_back(t);
  return out;
}

std::int64_t Peft::parameterCount() const {
  std::int64_t n = 0;
  for (const auto& [name, t] : params_) n += t.numel();
  return n;
}

void Peft::load(const model::TensorMap& saved) {
  at::NoGradGuard no_grad;
  for (auto& [name, t] : params_) {
    auto it = saved.find(name);
    if (it == saved.end()) throw FinetuneError("the saved adapter has no tensor " + name);
    if (it->second.sizes() != t.sizes())
      throw FinetuneError("the saved adapter's " + name + " has another shape than this run's");
    t.copy_(it->second);
  }
}

at::Tensor Peft::loraInput(const at::Tensor& x) const {
  if (!training_ || options_.dropout <= 0) return x;
  return at::dropout(x, options_.dropout, true);
}

const Peft::Lora* Peft::lora(const std::string& module) const {
  auto it = lora_.find(module);
  return it == lora_.end() ? nullptr : &it->second;
}

const at::Tensor* Peft::bias(const std::string& module, const at::Tensor* model_bias) const {
  auto it = bias_.find(module);
  return it == bias_.end() ? model_bias : &it->second;
}

at::Tensor Peft::adapt(const std::string& module, const at::Tensor& y) const {
  if (!adapted_.count(module)) return y;
  auto p = [&](const char* what) -> const at::Tensor& { return params_.at(key(module, what)); };
  auto h = at::relu(at::linear(y, p("adapter_down.weight").to(y.scalar_type()),
                               p("adapter_down.bias").to(y.scalar_type())));
  return y + at::linear(h, p("adapter_up.weight").to(y.scalar_type()),
                        p("adapter_up.bias").to(y.scalar_type()));
}

at::Tensor Peft::linear(const std::string& module, const at::Tensor& x, const at::Tensor& weight,
                        const at::Tensor* model_bias) const {
  const at::Tensor* b = bias(module, model_bias);
  auto y = b ? at::linear(x, weight, *b) : at::linear(x, weight);
  if (const Lora* l = lora(module)) {
    auto low = at::linear(at::linear(loraInput(x), l->a), l->b);
    y = y + low * l->scale;
  }
  return adapt(module, y);
}

model::Weights Peft::merged(const model::Weights& base) const {
  if (options_.method != PeftMethod::Lora)
    throw FinetuneError(std::string("only LoRA adapters merge into the weights; this run used ") +
                        toString(options_.method));
  at::NoGradGuard no_grad;
  model::Weights out = base;
  for (const auto& [module, l] : lora_) {
    const auto& w = base.at(module + ".weight");
    out[module + ".weight"] =
        (w.to(at::kFloat) + at::matmul(l.b, l.a).to(w.device()) * l.scale).to(w.scalar_type());
  }
  return out;
}

void Peft::save(const std::filesystem::path& dir, const std::string& base_model) const {
  std::filesystem::create_directories(dir);
  model::saveTensors(dir / "adapter.safetensors", params_, {{"format", "pt"}});
  nlohmann::json config = {{"base_model_name_or_path", base_model},
                           {"peft_type", options_.method == PeftMethod::Lora      ? "LORA"
                                         : options_.method == PeftMethod::Adapter ? "ADAPTER"
                                                                                   : "BITFIT"}};
  if (options_.method == PeftMethod::Lora) {
    config["r"] = options_.rank;
    config["lora_alpha"] = options_.alpha;
    config["lora_dropout"] = options_.dropout;
    config["target_modules"] = options_.targets;
  } else if (options_.method == PeftMethod::Adapter) {
    config["bottleneck"] = options_.bottleneck;
  }
  auto tmp = dir / "adapter_config.json.partial";
  {
    std::ofstream out(tmp);
    out << config.dump(2) << "\n";
    if (!out.flush()) throw FinetuneError(tmp.string() + ": write failed");
  }
  std::filesystem::rename(tmp, dir / "adapter_config.json");
}

}  // namespace darkroom::training

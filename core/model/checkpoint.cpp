#include "model/checkpoint.h"

#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "darkroom/safetensors.h"

namespace darkroom::model {
namespace fs = std::filesystem;
namespace {

at::ScalarType scalarType(DType dtype, const std::string& where) {
  switch (dtype) {
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::F64: return at::kDouble;
    default:
      throw ModelError(where + ": dtype " + dtypeName(dtype) +
                       " is not a floating point weight type (F32, F16, BF16)");
  }
}

}  // namespace

std::vector<fs::path> checkpointFiles(const fs::path& dir) {
  if (fs::exists(dir / "model.safetensors")) return {dir / "model.safetensors"};
  auto index = dir / "model.safetensors.index.json";
  if (!fs::exists(index))
    throw ModelError(dir.string() + ": no model.safetensors or model.safetensors.index.json "
                     "(PyTorch .bin checkpoints are not read; convert them to safetensors)");
  std::ifstream in(index);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(index.string() + ": not valid JSON: " + e.what());
  }
  if (!j.contains("weight_map") || !j["weight_map"].is_object())
    throw ModelError(index.string() + ": missing the \"weight_map\" object");
  std::set<std::string> names;
  for (const auto& [tensor, file] : j["weight_map"].items()) {
    if (!file.is_string())
      throw ModelError(index.string() + ": weight_map[\"" + tensor + "\"] is not a file name");
    auto name = file.get<std::string>();
    if (name.find('/') != std::string::npos || name == "..")
      throw ModelError(index.string() + ": shard \"" + name + "\" is not a file in the folder");
    names.insert(name);
  }
  std::vector<fs::path> out;
  for (const auto& n : names) out.push_back(dir / n);
  return out;
}

namespace {

// OPT checkpoints exist with and without the "model." prefix; accept both.
std::string canonicalName(const std::string& name, const ModelConfig& config) {
  if (config.family == ModelFamily::Opt && name.rfind("decoder.", 0) == 0) return "model." + name;
  return name;
}

at::Tensor wrap(const TensorView& view, std::shared_ptr<SafetensorsFile> owner,
                const std::string& where) {
  auto type = scalarType(view.dtype, where);
  const auto element = dtypeSize(view.dtype);
  if (reinterpret_cast<std::uintptr_t>(view.data) % element == 0) {
    // The tensor keeps the mapping alive through the deleter's copy of `owner`.
    return at::from_blob(const_cast<std::uint8_t*>(view.data), view.shape,
                         [owner](void*) {}, at::TensorOptions().dtype(type));
  }
  auto t = at::empty(view.shape, at::TensorOptions().dtype(type));
  std::memcpy(t.data_ptr(), view.data, view.bytes);
  return t;
}

}  // namespace

Transformer loadCheckpoint(const fs::path& dir, std::optional<at::ScalarType> dtype) {
  auto config = readModelConfig(dir / "config.json");
  const auto target = dtype.value_or(at::kFloat);
  Weights weights;
  for (const auto& file : checkpointFiles(dir)) {
    std::shared_ptr<SafetensorsFile> mapped;
    try {
      mapped = std::make_shared<SafetensorsFile>(SafetensorsFile::open(file));
    } catch (const SafetensorsError& e) {
      throw ModelError(e.what());
    }
    for (const auto& view : mapped->tensors()) {
      auto name = canonicalName(view.name, config);
      if (weights.count(name))
        throw ModelError(file.string() + ": tensor " + name + " appears in two shards");
      weights[name] = wrap(view, mapped, file.string() + ": tensor " + view.name).to(target);
    }
  }
  try {
    return Transformer(config, std::move(weights));
  } catch (const ModelError& e) {
    throw ModelError(dir.string() + ": " + e.what());
  }
}

Transformer loadCheckpointFor(const fs::path& dir, const std::string& dtype,
                              const std::string& device) {
  if (dtype != "float32" && dtype != "bfloat16")
    throw std::invalid_argument("dtype must be float32 or bfloat16, got '" + dtype + "'");
  at::Device target(at::kCPU);
  try {
    target = at::Device(device);
  } catch (const std::exception&) {
    throw std::invalid_argument("device must be cpu, cuda or cuda:N, got '" + device + "'");
  }
  if (target.is_cuda() && !at::hasCUDA())
    throw std::invalid_argument("device " + device + " asked for, but this LibTorch has no CUDA "
                                "(Debian's is CPU-only: build with a CUDA LibTorch through "
                                "-DTorch_DIR=..., see README)");
  auto type = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  auto model = loadCheckpoint(dir, type);
  return target.is_cpu() ? model : model.to(type, target);
}

void saveCheckpoint(const Transformer& model, const fs::path& dir,
                    const std::map<std::string, std::string>& metadata) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw ModelError(dir.string() + ": cannot create: " + ec.message());
  std::vector<at::Tensor> keep;  // contiguous CPU copies the writer reads from
  std::vector<TensorToWrite> tensors;
  for (const auto& spec : expectedTensors(model.config())) {
    auto t = model.weights().at(spec.name).detach().cpu().contiguous();
    DType dtype = DType::F32;
    if (t.scalar_type() == at::kBFloat16) dtype = DType::BF16;
    else if (t.scalar_type() == at::kHalf) dtype = DType::F16;
    else t = t.to(at::kFloat);
    keep.push_back(t);
    tensors.push_back({spec.name, dtype, spec.shape, t.data_ptr(), t.nbytes()});
  }
  auto meta = metadata;
  meta.emplace("format", "pt");
  try {
    writeSafetensors(dir / "model.safetensors", tensors, meta);
  } catch (const SafetensorsError& e) {
    throw ModelError(e.what());
  }
  auto config = model.config();
  config.torch_dtype = tensors.empty() || tensors[0].dtype == DType::F32 ? "float32"
                       : tensors[0].dtype == DType::BF16                  ? "bfloat16"
                                                                          : "float16";
  auto tmp = dir / "config.json.partial";
  {
    std::ofstream out(tmp);
    out << modelConfigJson(config) << "\n";
    if (!out.flush()) throw ModelError(tmp.string() + ": write failed");
  }
  fs::rename(tmp, dir / "config.json");
}

// Whether prompts start with BOS, as the model's own tokenizer would do it:
// tokenizer_config.json's add_bos_token when it says, otherwise whenever config.json names a
// BOS id — except Qwen2, whose config names one its tokenizer never adds.
bool addsBos(const std::filesystem::path& dir, const ModelConfig& config) {
  if (!config.bos_token_id) return false;
  std::ifstream in(dir / "tokenizer_config.json");
  if (in) {
    auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("add_bos_token") && j["add_bos_token"].is_boolean())
      return j["add_bos_token"].get<bool>();
  }
  return config.model_type != "qwen2";
}

}  // namespace darkroom::model

#include "quant/quantized_model.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "darkroom/safetensors.h"

namespace darkroom::quant {
namespace fs = std::filesystem;
namespace {

constexpr const char* kWeightsFile = "quantized.safetensors";
constexpr const char* kKind = "quantized-model";

bool endsWith(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() &&
         text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

// The projections the transformer runs through ForwardHooks::linear, by their last name part.
const std::set<std::string>& projectionNames() {
  static const std::set<std::string> names = {"self_attn.q_proj",
                                              "self_attn.k_proj",
                                              "self_attn.v_proj",
                                              "self_attn.o_proj",
                                              "self_attn.out_proj",
                                              "fc1",
                                              "fc2",
                                              "mlp.gate_proj",
                                              "mlp.up_proj",
                                              "mlp.down_proj"};
  return names;
}

std::string moduleOf(const std::string& tensor) {
  return tensor.substr(0, tensor.size() - std::string(".weight").size());
}

// A zero-stride tensor of the weight's shape: the Transformer checks shapes, the hooks never
// read it.
at::Tensor placeholder(std::int64_t rows, std::int64_t cols) {
  return at::zeros({1, 1}, at::kFloat).expand({rows, cols});
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string s;
  for (auto d : shape) s += (s.empty() ? "" : ", ") + std::to_string(d);
  return "[" + s + "]";
}

// Building and loading accept the same back ends: those that run here on host memory.
void requireHostBackend(kernels::Backend backend) {
  if (backend == kernels::Backend::Cuda)
    throw kernels::KernelUnavailable(
        "a quantized model keeps its weights in host memory: run it on the reference or cpu back "
        "end");
  std::string why;
  if (!kernels::backendAvailable(backend, &why)) throw kernels::KernelUnavailable(why);
}

}  // namespace

QuantSpec parseQuantSpec(const std::string& text) {
  const auto dash = text.find('-');
  if (dash == std::string::npos)
    throw std::invalid_argument("quantization '" + text +
                                "' is not <layout>-<codes> (tile-q4_0, tile-iq4_nl, rows-q4_0, "
                                "rows-iq4_nl)");
  QuantSpec spec;
  spec.layout = kernels::parseQuantLayout(text.substr(0, dash));
  spec.codes = kernels::parseQuantType(text.substr(dash + 1));
  if (spec.codes == kernels::QuantType::Q8_0)
    throw std::invalid_argument("the codes of '" + text +
                                "' must be a 4-bit type (q4_0 or iq4_nl); Q8_0 is for the "
                                "modules listed as q8 modules");
  return spec;
}

bool isQ8Module(const QuantSpec& spec, const std::string& module) {
  for (const auto& suffix : spec.q8_modules)
    if (!suffix.empty() && (module == suffix || endsWith(module, "." + suffix))) return true;
  return false;
}

std::vector<std::string> quantizableTensors(const model::Transformer& model) {
  return quantizableTensors(model.config());
}

std::vector<std::string> quantizableTensors(const ModelConfig& config) {
  std::vector<std::string> out;
  for (const auto& spec : model::expectedTensors(config)) {
    if (!endsWith(spec.name, ".weight") || spec.shape.size() != 2) continue;
    const auto module = moduleOf(spec.name);
    for (const auto& p : projectionNames())
      if (endsWith(module, "." + p)) {
        out.push_back(spec.name);
        break;
      }
  }
  return out;
}

QuantizedModel::QuantizedModel(const model::Transformer& fp32, const QuantSpec& spec,
                               kernels::Backend backend, const MatrixCallback& on_matrix)
    : spec_(spec), backend_(backend) {
  requireHostBackend(backend);
  if (spec.codes == kernels::QuantType::Q8_0)
    throw std::invalid_argument("the codes must be a 4-bit type (q4_0 or iq4_nl)");
  model::Weights weights;
  for (const auto& [name, t] : fp32.weights()) weights[name] = t.to(at::kFloat).contiguous();
  for (const auto& name : quantizableTensors(fp32)) {
    const auto module = moduleOf(name);
    auto w = weights.at(name);
    const auto type = isQ8Module(spec, module) ? kernels::QuantType::Q8_0 : spec.codes;
    auto q = kernels::quantizeMatrix(w.data_ptr<float>(), w.size(0), w.size(1), type, spec.layout);
    if (on_matrix) on_matrix(name, w, q);
    weights[name] = placeholder(w.size(0), w.size(1));
    matrices_.emplace(module, std::move(q));
  }
  transformer_ = std::make_unique<model::Transformer>(fp32.config(), std::move(weights));
  buildHooks();
}

void QuantizedModel::buildHooks() {
  hooks_.linear = [this](const std::string& module, const at::Tensor& x, const at::Tensor& weight,
                         const at::Tensor* bias) -> at::Tensor {
    auto it = matrices_.find(module);
    if (it == matrices_.end())  // a projection kept in float32
      return bias ? at::linear(x, weight, *bias) : at::linear(x, weight);
    const auto& m = it->second;
    if (x.size(-1) != m.cols)
      throw ModelError(module + ": input has " + std::to_string(x.size(-1)) +
                       " features, the quantized weight takes " + std::to_string(m.cols));
    // Every row of x (all batch entries and positions) is one row of the kernel's batch.
    auto flat = x.to(at::kFloat).reshape({-1, m.cols}).contiguous();
    auto y = at::empty({flat.size(0), m.rows}, at::kFloat);
    if (flat.size(0) > 0)
      kernels::quantGemm(backend_, m.view(), flat.data_ptr<float>(), flat.size(0),
                         y.data_ptr<float>(), kernels::Dequant::Lut);
    if (bias) y.add_(bias->to(at::kFloat));
    auto shape = x.sizes().vec();
    shape.back() = m.rows;
    return y.view(shape);
  };
  hooks_.cached_attention = [this](int, const at::Tensor& q, const at::Tensor& k,
                                   const at::Tensor& v) -> at::Tensor {
    auto qc = q.to(at::kFloat).contiguous(), kc = k.to(at::kFloat).contiguous(),
         vc = v.to(at::kFloat).contiguous();
    kernels::AttentionShape shape;
    shape.batch = qc.size(0);
    shape.heads = qc.size(1);
    shape.queries = qc.size(2);
    shape.head_dim = qc.size(3);
    shape.kv_heads = kc.size(1);
    shape.keys = kc.size(2);
    auto out = at::empty_like(qc);
    if (qc.numel() > 0)
      kernels::cachedAttention(backend_, softmax_, shape, qc.data_ptr<float>(),
                               kc.data_ptr<float>(), vc.data_ptr<float>(),
                               float(1.0 / std::sqrt(double(shape.head_dim))),
                               out.data_ptr<float>());
    return out;
  };
}

model::Transformer QuantizedModel::dequantized() const {
  model::Weights weights = transformer_->weights();
  for (const auto& [module, m] : matrices_) {
    auto w = at::empty({m.rows, m.cols}, at::kFloat);
    kernels::dequantizeMatrix(m.view(), w.data_ptr<float>());
    weights[module + ".weight"] = w;
  }
  return model::Transformer(transformer_->config(), std::move(weights));
}

void QuantizedModel::save(const fs::path& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw ModelError(dir.string() + ": cannot create: " + ec.message());
  nlohmann::json matrices = nlohmann::json::object();
  std::vector<TensorToWrite> tensors;
  for (const auto& spec : model::expectedTensors(transformer_->config())) {
    const auto module = endsWith(spec.name, ".weight") ? moduleOf(spec.name) : std::string();
    auto it = matrices_.find(module);
    if (it != matrices_.end()) {
      const auto& m = it->second;
      matrices[spec.name] = {{"type", kernels::quantTypeName(m.type)},
                             {"layout", kernels::quantLayoutName(m.layout)},
                             {"rows", m.rows},
                             {"cols", m.cols}};
      tensors.push_back(
          {spec.name, DType::U8, {std::int64_t(m.data.size())}, m.data.data(), m.data.size()});
      continue;
    }
    const auto& t = transformer_->weights().at(spec.name);  // float32, contiguous (constructor)
    tensors.push_back({spec.name, DType::F32, spec.shape, t.data_ptr(), t.nbytes()});
  }
  std::string q8;
  for (const auto& m : spec_.q8_modules) q8 += (q8.empty() ? "" : ",") + m;
  try {
    writeSafetensors(dir / kWeightsFile, tensors,
                     {{"darkroom.kind", kKind},
                      {"quant.layout", kernels::quantLayoutName(spec_.layout)},
                      {"quant.codes", kernels::quantTypeName(spec_.codes)},
                      {"quant.q8_modules", q8},
                      {"quant.matrices", matrices.dump()}});
  } catch (const SafetensorsError& e) {
    throw ModelError(e.what());
  }
  auto config = transformer_->config();
  config.torch_dtype = "float32";
  auto tmp = dir / "config.json.partial";
  {
    std::ofstream out(tmp);
    out << modelConfigJson(config) << "\n";
    if (!out.flush()) throw ModelError(tmp.string() + ": cannot write");
  }
  fs::rename(tmp, dir / "config.json", ec);
  if (ec) throw ModelError((dir / "config.json").string() + ": cannot write: " + ec.message());
}

std::unique_ptr<QuantizedModel> QuantizedModel::load(const fs::path& dir,
                                                     kernels::Backend backend) {
  requireHostBackend(backend);
  const auto file = dir / kWeightsFile;
  if (!fs::is_regular_file(file))
    throw ModelError(dir.string() + ": no " + kWeightsFile +
                     " (not a quantized model folder; make one with `darkroom-cli quantize`)");
  auto config = readModelConfig(dir / "config.json");
  std::unique_ptr<QuantizedModel> out(new QuantizedModel());
  out->backend_ = backend;
  const std::string where = file.string() + ": ";
  try {
    auto st = SafetensorsFile::open(file);
    const auto& meta = st.metadata();
    auto field = [&](const std::string& key) -> const std::string& {
      auto it = meta.find(key);
      if (it == meta.end())
        throw ModelError(where + "metadata has no \"" + key + "\" (not written by quantizeModel)");
      return it->second;
    };
    if (field("darkroom.kind") != kKind)
      throw ModelError(where + "metadata darkroom.kind is \"" + field("darkroom.kind") +
                       "\", not \"" + kKind + "\"");
    try {
      out->spec_.layout = kernels::parseQuantLayout(field("quant.layout"));
      out->spec_.codes = kernels::parseQuantType(field("quant.codes"));
    } catch (const std::invalid_argument& e) {
      throw ModelError(where + e.what());
    }
    out->spec_.q8_modules.clear();
    std::string q8 = field("quant.q8_modules");
    for (std::size_t start = 0; start < q8.size();) {
      auto comma = q8.find(',', start);
      if (comma == std::string::npos) comma = q8.size();
      if (comma > start) out->spec_.q8_modules.push_back(q8.substr(start, comma - start));
      start = comma + 1;
    }
    nlohmann::json matrices;
    try {
      matrices = nlohmann::json::parse(field("quant.matrices"));
    } catch (const nlohmann::json::exception& e) {
      throw ModelError(where + "metadata quant.matrices is not valid JSON: " + e.what());
    }
    if (!matrices.is_object()) throw ModelError(where + "metadata quant.matrices is not an object");
    model::Weights weights;
    for (const auto& spec : model::expectedTensors(config)) {
      const std::string tensor = where + "tensor " + spec.name + ": ";
      const auto* view = st.find(spec.name);
      if (!view) throw ModelError(where + "missing tensor " + spec.name);
      if (matrices.contains(spec.name)) {
        const auto& entry = matrices[spec.name];
        kernels::QuantMatrix m;
        try {
          m.type = kernels::parseQuantType(entry.at("type").get<std::string>());
          m.layout = kernels::parseQuantLayout(entry.at("layout").get<std::string>());
          m.rows = entry.at("rows").get<std::int64_t>();
          m.cols = entry.at("cols").get<std::int64_t>();
        } catch (const std::exception& e) {
          throw ModelError(tensor + "bad quant.matrices entry: " + e.what());
        }
        if (spec.shape.size() != 2 || m.rows != spec.shape[0] || m.cols != spec.shape[1])
          throw ModelError(tensor + "quantized as " + std::to_string(m.rows) + "x" +
                           std::to_string(m.cols) + ", the config needs " + shapeText(spec.shape));
        if (view->dtype != DType::U8)
          throw ModelError(tensor + "dtype " + dtypeName(view->dtype) + ", packed weights are U8");
        const auto want = kernels::packedBytes(m.type, m.layout, m.rows, m.cols);
        if (view->bytes != want)
          throw ModelError(tensor + "holds " + std::to_string(view->bytes) + " bytes, " +
                           kernels::quantTypeName(m.type) + " " +
                           kernels::quantLayoutName(m.layout) + " " + std::to_string(m.rows) + "x" +
                           std::to_string(m.cols) + " needs " + std::to_string(want));
        m.data.assign(view->data, view->data + view->bytes);
        const auto module = moduleOf(spec.name);
        weights[spec.name] = placeholder(m.rows, m.cols);
        out->matrices_.emplace(module, std::move(m));
        continue;
      }
      if (view->dtype != DType::F32)
        throw ModelError(tensor + "dtype " + dtypeName(view->dtype) + ", expected F32");
      if (view->shape != spec.shape)
        throw ModelError(tensor + "shape " + shapeText(view->shape) + ", the config needs " +
                         shapeText(spec.shape));
      auto t = at::empty(spec.shape, at::kFloat);
      std::memcpy(t.data_ptr(), view->data, view->bytes);
      weights[spec.name] = t;
    }
    for (const auto& [name, entry] : matrices.items())
      if (!out->matrices_.count(endsWith(name, ".weight") ? moduleOf(name) : name))
        throw ModelError(where + "quant.matrices names " + name +
                         ", which is no weight of this config");
    out->transformer_ = std::make_unique<model::Transformer>(config, std::move(weights));
  } catch (const SafetensorsError& e) {
    throw ModelError(e.what());
  }
  out->buildHooks();
  return out;
}

}  // namespace darkroom::quant

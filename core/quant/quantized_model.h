// A model whose projections run on packed quantized weights through the LUT kernels, as a
// Transformer plus ForwardHooks: hooks.linear multiplies with kernels::quantGemm for every
// quantized projection, and hooks.cached_attention decodes with kernels::cachedAttention (LUT
// softmax). Private to core (LibTorch inside).
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "darkroom/kernels/backend.h"
#include "darkroom/kernels/lut_softmax.h"
#include "darkroom/kernels/quant_gemm.h"
#include "model/transformer.h"

namespace darkroom::quant {

struct QuantSpec {
  kernels::QuantLayout layout = kernels::QuantLayout::Tile;
  kernels::QuantType codes = kernels::QuantType::Q4_0;
  std::vector<std::string> q8_modules = {"mlp.down_proj", "fc2"};
};
// "tile-q4_0", "rows-iq4_nl", ... (QuantizeOptions' layout and codes joined by '-'). Throws
// std::invalid_argument listing the valid names; the codes must be a 4-bit type.
QuantSpec parseQuantSpec(const std::string& text);
// Whether `module` ("model.layers.0.mlp.down_proj") is one of spec.q8_modules: equal to one, or
// ending in "." + one.
bool isQ8Module(const QuantSpec& spec, const std::string& module);

// Every projection weight the quantizer packs: attention q/k/v/o and the MLP's, by tensor name
// ("...fc1.weight"); embeddings, norms and the head stay float32.
std::vector<std::string> quantizableTensors(const model::Transformer& model);
std::vector<std::string> quantizableTensors(const ModelConfig& config);

class QuantizedModel {
 public:
  // Called after each matrix is packed, with its tensor name, its float32 weights and the packed
  // form (for progress, error statistics and cancellation: an exception it throws stops the
  // quantization and leaves the constructor).
  using MatrixCallback = std::function<void(const std::string& tensor, const at::Tensor& fp32,
                                            const kernels::QuantMatrix& packed)>;
  // Quantizes a float32 model in memory. The back end must work on host memory (Reference or
  // Cpu); Cuda, or one this CPU cannot run, throws KernelUnavailable.
  QuantizedModel(const model::Transformer& fp32, const QuantSpec& spec,
                 kernels::Backend backend = kernels::bestHostBackend(),
                 const MatrixCallback& on_matrix = {});
  // Loads a folder written by quantizeModel (quantized.safetensors + config.json). Throws
  // ModelError naming the file and the tensor for anything truncated or inconsistent.
  static std::unique_ptr<QuantizedModel> load(const std::filesystem::path& dir,
                             kernels::Backend backend = kernels::bestHostBackend());
  // Writes config.json and quantized.safetensors (packed bytes as U8 tensors, with their type,
  // layout and shape in the header's metadata) into `dir`.
  void save(const std::filesystem::path& dir) const;
  // The hooks point at this object: it neither copies nor moves.
  QuantizedModel(const QuantizedModel&) = delete;
  QuantizedModel& operator=(const QuantizedModel&) = delete;

  // Float32 for the unquantized tensors; each quantized weight is a zero-stride placeholder of
  // its shape (never read: the hooks use the packed form).
  const model::Transformer& transformer() const { return *transformer_; }
  // linear: quantGemm (LUT dequantization) over all rows of x, bias added after; projections
  // that are not quantized run dense. cached_attention: cachedAttention with the softmax below,
  // scale 1/sqrt(head_dim), so a forward with a KVCache (even an empty one) decodes as the NPU
  // would.
  const model::ForwardHooks& hooks() const { return hooks_; }
  const std::map<std::string, kernels::QuantMatrix>& matrices() const { return matrices_; }
  const QuantSpec& spec() const { return spec_; }
  // The softmax the decoder's attention uses (Lut by default; Float to compare).
  void setSoftmax(kernels::SoftmaxExp mode) { softmax_ = mode; }

  // A float32 Transformer with every quantized weight dequantized (for perplexity with ATen).
  model::Transformer dequantized() const;

 private:
  QuantizedModel() = default;
  void buildHooks();

  QuantSpec spec_;
  kernels::Backend backend_ = kernels::Backend::Reference;
  kernels::SoftmaxExp softmax_ = kernels::SoftmaxExp::Lut;
  std::unique_ptr<model::Transformer> transformer_;
  std::map<std::string, kernels::QuantMatrix> matrices_;  // by module name ("...fc1")
  model::ForwardHooks hooks_;
};

}  // namespace darkroom::quant

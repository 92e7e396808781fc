// Parameter-efficient fine-tuning of a frozen Transformer: LoRA, Adapter or BitFit. Holds the
// trainable tensors under Hugging Face PEFT-style names ("base_model.model.<module>.lora_A.weight")
// and supplies the forward's linear hook.
#pragma once

#include <ATen/ATen.h>

#include <set>

#include "darkroom/finetune.h"
#include "model/tensor_file.h"
#include "model/transformer.h"

namespace darkroom::training {

class Peft {
 public:
  // Creates freshly initialized parameters for `model` (LoRA B and Adapter up start at zero, so
  // step 0 computes the base model). Throws FinetuneError when the targets match no layer.
  Peft(const model::Transformer& model, const PeftOptions& options, at::Generator& gen);

  const PeftOptions& options() const { return options_; }
  const model::TensorMap& parameters() const { return params_; }
  std::vector<at::Tensor> parameterList() const;
  std::int64_t parameterCount() const;
  // Replaces the values (same names and shapes) from a saved adapter; throws FinetuneError on a
  // mismatch.
  void load(const model::TensorMap& saved);
  void setTraining(bool training) { training_ = training; }

  // The whole projection with PEFT applied: the forward's ForwardHooks::linear.
  at::Tensor linear(const std::string& module, const at::Tensor& x, const at::Tensor& weight,
                    const at::Tensor* bias) const;

  // Pieces for operators that compute the base product themselves (the sparse MLP):
  struct Lora {
    at::Tensor a;  // [rank, in]
    at::Tensor b;  // [out, rank]
    double scale;
  };
  const Lora* lora(const std::string& module) const;  // nullptr when not a target
  // The bias to use for `module`: BitFit's trainable one, else the model's (may be nullptr).
  const at::Tensor* bias(const std::string& module, const at::Tensor* model_bias) const;
  // LoRA's input after dropout (identity when not training or dropout is 0).
  at::Tensor loraInput(const at::Tensor& x) const;
  // y with the Adapter after `module` applied (identity for other modules and methods).
  at::Tensor adapt(const std::string& module, const at::Tensor& y) const;

  // The model's weights with LoRA merged in (W + scale · B A), for export.
  model::Weights merged(const model::Weights& base) const;
  // adapter.safetensors and adapter_config.json (PEFT's file names) in `dir`.
  void save(const std::filesystem::path& dir, const std::string& base_model) const;

 private:
  static std::string key(const std::string& module, const std::string& what);
  PeftOptions options_;
  model::TensorMap params_;
  std::map<std::string, Lora> lora_;
  std::map<std::string, at::Tensor> bias_;
  std::set<std::string> adapted_;
  bool training_ = true;
};

}  // namespace darkroom::training

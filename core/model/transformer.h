// Decoder-only transformers with the numerics of their Hugging Face reference implementations,
// as functional code over a name → tensor map (the checkpoint's own names). Private to core:
// LibTorch stays out of public headers.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "darkroom/model_config.h"

namespace darkroom::model {

// Canonical Hugging Face names: "model.decoder.layers.0.fc1.weight" (OPT),
// "model.layers.0.mlp.gate_proj.weight" (Llama family), "lm_head.weight" when untied.
using Weights = std::map<std::string, at::Tensor>;

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};
// Every tensor a checkpoint of this config must hold, in a stable order.
std::vector<TensorSpec> expectedTensors(const ModelConfig& config);

// Keys and values seen so far, per layer: [batch, kv_heads, length, head_dim].
struct KVCache {
  std::vector<at::Tensor> keys, values;
  std::int64_t length() const { return keys.empty() || !keys[0].defined() ? 0 : keys[0].size(2); }
};

// Taps into a forward for activation recording. Tensors are detached, on the forward's device.
struct ForwardObserver {
  // [batch, length, intermediate]: after the activation (times up_proj for gated MLPs), the
  // input of the down projection.
  std::function<void(int layer, const at::Tensor& activation)> on_mlp;
  // [batch, heads, length, keys]: softmax probabilities, causal.
  std::function<void(int layer, const at::Tensor& probabilities)> on_attention;
};

// Overrides for training (PEFT and Long Exposure's sparse operators). Each is optional; an unset
// hook means the dense computation.
struct ForwardHooks {
  // Replaces x · weightᵀ + bias for the projection `module` (its name without ".weight", e.g.
  // "model.decoder.layers.0.self_attn.q_proj"). bias is null when the model has none.
  std::function<at::Tensor(const std::string& module, const at::Tensor& x,
                           const at::Tensor& weight, const at::Tensor* bias)>
      linear;
  // Replaces a whole MLP block: x is its (normalized) input [batch, length, hidden]; `prefix` is
  // the layer's name prefix ("model.decoder.layers.0."). Returns an undefined tensor to run the
  // dense MLP after all.
  std::function<at::Tensor(int layer, const std::string& prefix, const at::Tensor& x)> mlp;
  // Replaces softmax(q kᵀ / √d, causal) · v for a layer without a KV cache: q, k, v are
  // [batch, heads, length, head_dim] after rotary and GQA expansion. Returns [batch, heads,
  // length, head_dim], or an undefined tensor for the dense path.
  std::function<at::Tensor(int layer, const at::Tensor& q, const at::Tensor& k,
                           const at::Tensor& v)>
      attention;
  // Replaces the attention of a forward that extends a KV cache (decoding): q is [batch, heads,
  // queries, head_dim], k and v the whole cache [batch, kv_heads, keys, head_dim] before GQA
  // expansion; query i sits at position keys - queries + i. Returns [batch, heads, queries,
  // head_dim], or an undefined tensor for the dense path. (The quantized decoder's LUT softmax.)
  std::function<at::Tensor(int layer, const at::Tensor& q, const at::Tensor& k,
                           const at::Tensor& v)>
      cached_attention;
  // Position of the first token (learned positions and rotary), for training on windows of a
  // long context without a cache.
  std::int64_t first_position = 0;
};

// LayerNorm and RMSNorm in float32, as the reference implementations do for half inputs.
at::Tensor layerNorm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                     double eps);
at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps);

class Transformer {
 public:
  // Checks that every expected tensor is present with its shape; throws ModelError naming the
  // first one that is not. Unused extra tensors are ignored.
  Transformer(ModelConfig config, Weights weights);

  const ModelConfig& config() const { return config_; }
  const Weights& weights() const { return weights_; }
  at::ScalarType dtype() const;
  at::Device device() const;
  // A copy with weights cast/moved (bf16 on CPU, or CUDA when the LibTorch build has it).
  Transformer to(at::ScalarType dtype, at::Device device) const;

  // tokens: [batch, length] int64. Without a cache the whole sequence is processed; with one,
  // the tokens continue after what the cache holds and the cache is extended. Returns float32
  // logits [batch, length, vocab].
  at::Tensor forward(const at::Tensor& tokens, KVCache* cache = nullptr,
                     const ForwardObserver* observer = nullptr,
                     const ForwardHooks* hooks = nullptr) const;

  // Layer i's name prefix: "model.decoder.layers.i." (OPT) or "model.layers.i.".
  std::string layerPrefix(int layer) const;
  // The MLP's activation function by its config name ("relu", "silu", "gelu_new", ...).
  at::Tensor activate(const at::Tensor& x) const;
  // x · weightᵀ + bias for `module`, through hooks->linear when set.
  at::Tensor project(const std::string& module, const at::Tensor& x,
                     const ForwardHooks* hooks) const;

 private:
  const at::Tensor& w(const std::string& name) const;
  struct Pass {  // what one forward carries through its layers
    std::int64_t past;
    KVCache* cache;
    const ForwardObserver* observer;
    const ForwardHooks* hooks;
  };
  at::Tensor attention(int layer, const std::string& prefix, const at::Tensor& x,
                       const Pass& pass) const;
  at::Tensor mlp(int layer, const std::string& prefix, const at::Tensor& x,
                 const Pass& pass) const;

  ModelConfig config_;
  Weights weights_;
};

}  // namespace darkroom::model

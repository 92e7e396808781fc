#include "model/transformer.h"

#include <cmath>

namespace darkroom::model {
namespace {

std::string layerPrefix(const ModelConfig& c, int i) {
  return (c.family == ModelFamily::Opt ? "model.decoder.layers." : "model.layers.") +
         std::to_string(i) + ".";
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor* bias) {
  return bias ? at::linear(x, weight, *bias) : at::linear(x, weight);
}

at::Tensor activate(const std::string& name, const at::Tensor& x) {
  if (name == "relu") return at::relu(x);
  if (name == "silu") return at::silu(x);
  if (name == "gelu_new") return at::gelu(x, "tanh");
  return at::gelu(x);
}

// Rotary embeddings, "rotate half" convention: dims [0, d/2) pair with [d/2, d).
at::Tensor rotary(const at::Tensor& x, std::int64_t past, double theta) {
  const std::int64_t length = x.size(2), dim = x.size(3);
  auto opts = at::TensorOptions().dtype(at::kFloat).device(x.device());
  auto inv_freq = 1.0 / at::pow(theta, at::arange(0, dim, 2, opts) / double(dim));
  auto positions = at::arange(past, past + length, opts);
  auto freqs = at::outer(positions, inv_freq);
  auto emb = at::cat({freqs, freqs}, -1);
  auto cos = emb.cos().to(x.scalar_type()), sin = emb.sin().to(x.scalar_type());
  auto halves = x.chunk(2, -1);
  auto rotated = at::cat({-halves[1], halves[0]}, -1);
  return x * cos + rotated * sin;
}

}  // namespace

at::Tensor layerNorm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps) {
  auto y = at::layer_norm(x.to(at::kFloat), {x.size(-1)}, w.to(at::kFloat), b.to(at::kFloat), eps);
  return y.to(x.scalar_type());
}

at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& w, double eps) {
  auto xf = x.to(at::kFloat);
  auto y = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return w * y.to(x.scalar_type());
}

std::vector<TensorSpec> expectedTensors(const ModelConfig& c) {
  const std::int64_t h = c.hidden_size, f = c.intermediate_size, v = c.vocab_size;
  std::vector<TensorSpec> out;
  if (c.family == ModelFamily::Opt) {
    const std::int64_t e = c.word_embed_proj_dim > 0 ? c.word_embed_proj_dim : h;
    out.push_back({"model.decoder.embed_tokens.weight", {v, e}});
    out.push_back({"model.decoder.embed_positions.weight", {c.max_positions + 2, h}});
    if (e != h) {
      out.push_back({"model.decoder.project_in.weight", {h, e}});
      out.push_back({"model.decoder.project_out.weight", {e, h}});
    }
    if (c.layer_norm_before) {
      out.push_back({"model.decoder.final_layer_norm.weight", {h}});
      out.push_back({"model.decoder.final_layer_norm.bias", {h}});
    }
    for (int i = 0; i < c.num_layers; ++i) {
      auto p = model::layerPrefix(c, i);
      for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
        out.push_back({p + "self_attn." + proj + ".weight", {h, h}});
        out.push_back({p + "self_attn." + proj + ".bias", {h}});
      }
      for (const char* norm : {"self_attn_layer_norm", "final_layer_norm"}) {
        out.push_back({p + norm + ".weight", {h}});
        out.push_back({p + norm + ".bias", {h}});
      }
      out.push_back({p + "fc1.weight", {f, h}});
      out.push_back({p + "fc1.bias", {f}});
      out.push_back({p + "fc2.weight", {h, f}});
      out.push_back({p + "fc2.bias", {h}});
    }
    if (!c.tie_embeddings) out.push_back({"lm_head.weight", {v, e}});
    return out;
  }
  const std::int64_t kv = c.num_kv_heads * c.headDim();
  out.push_back({"model.embed_tokens.weight", {v, h}});
  for (int i = 0; i < c.num_layers; ++i) {
    auto p = model::layerPrefix(c, i);
    out.push_back({p + "input_layernorm.weight", {h}});
    out.push_back({p + "self_attn.q_proj.weight", {h, h}});
    out.push_back({p + "self_attn.k_proj.weight", {kv, h}});
    out.push_back({p + "self_attn.v_proj.weight", {kv, h}});
    if (c.qkv_bias) {
      out.push_back({p + "self_attn.q_proj.bias", {h}});
      out.push_back({p + "self_attn.k_proj.bias", {kv}});
      out.push_back({p + "self_attn.v_proj.bias", {kv}});
    }
    out.push_back({p + "self_attn.o_proj.weight", {h, h}});
    out.push_back({p + "post_attention_layernorm.weight", {h}});
    out.push_back({p + "mlp.gate_proj.weight", {f, h}});
    out.push_back({p + "mlp.up_proj.weight", {f, h}});
    out.push_back({p + "mlp.down_proj.weight", {h, f}});
  }
  out.push_back({"model.norm.weight", {h}});
  if (!c.tie_embeddings) out.push_back({"lm_head.weight", {v, h}});
  return out;
}

Transformer::Transformer(ModelConfig config, Weights weights)
    : config_(std::move(config)), weights_(std::move(weights)) {
  config_.validate();
  for (const auto& spec : expectedTensors(config_)) {
    auto it = weights_.find(spec.name);
    if (it == weights_.end()) throw ModelError("missing tensor " + spec.name);
    if (it->second.sizes().vec() != spec.shape) {
      std::string want, got;
      for (auto d : spec.shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : it->second.sizes()) got += (got.empty() ? "" : ", ") + std::to_string(d);
      throw ModelError("tensor " + spec.name + " has shape [" + got + "], the config needs [" +
                       want + "]");
    }
  }
}

const at::Tensor& Transformer::w(const std::string& name) const { return weights_.at(name); }

at::ScalarType Transformer::dtype() const { return weights_.begin()->second.scalar_type(); }
at::Device Transformer::device() const { return weights_.begin()->second.device(); }

Transformer Transformer::to(at::ScalarType dtype, at::Device device) const {
  Weights moved;
  for (const auto& [name, t] : weights_) moved[name] = t.to(device, dtype).contiguous();
  return Transformer(config_, std::move(moved));
}

std::string Transformer::layerPrefix(int layer) const { return model::layerPrefix(config_, layer); }

at::Tensor Transformer::activate(const at::Tensor& x) const {
  return model::activate(config_.activation, x);
}

at::Tensor Transformer::project(const std::string& module, const at::Tensor& x,
                                const ForwardHooks* hooks) const {
  auto bias = weights_.find(module + ".bias");
  const at::Tensor* b = bias != weights_.end() ? &bias->second : nullptr;
  const auto& weight = w(module + ".weight");
  if (hooks && hooks->linear) return hooks->linear(module, x, weight, b);
  return linear(x, weight, b);
}

at::Tensor Transformer::attention(int layer, const std::string& p, const at::Tensor& x,
                                  const Pass& pass) const {
  const auto& c = config_;
  const std::int64_t batch = x.size(0), length = x.size(1), d = c.headDim(), past = pass.past;
  const std::int64_t first = past + (pass.hooks ? pass.hooks->first_position : 0);
  const bool opt = c.family == ModelFamily::Opt;
  auto heads = [&](const at::Tensor& t, std::int64_t n) {
    return t.view({batch, length, n, d}).transpose(1, 2);  // [B, n, L, d]
  };
  auto q = heads(project(p + "self_attn.q_proj", x, pass.hooks), c.num_heads);
  auto k = heads(project(p + "self_attn.k_proj", x, pass.hooks), c.num_kv_heads);
  auto v = heads(project(p + "self_attn.v_proj", x, pass.hooks), c.num_kv_heads);
  if (!opt) {
    q = rotary(q, first, c.rope_theta);
    k = rotary(k, first, c.rope_theta);
  }
  if (pass.cache) {
    auto& ck = pass.cache->keys[static_cast<std::size_t>(layer)];
    auto& cv = pass.cache->values[static_cast<std::size_t>(layer)];
    ck = ck.defined() ? at::cat({ck, k}, 2) : k;
    cv = cv.defined() ? at::cat({cv, v}, 2) : v;
    k = ck;
    v = cv;
  }
  at::Tensor out;
  if (pass.cache && pass.hooks && pass.hooks->cached_attention)
    out = pass.hooks->cached_attention(layer, q, k, v);
  const std::int64_t keys = k.size(2), groups = c.num_heads / c.num_kv_heads;
  if (groups > 1 && !out.defined()) {
    k = k.repeat_interleave(groups, 1);
    v = v.repeat_interleave(groups, 1);
  }
  if (!pass.cache && pass.hooks && pass.hooks->attention) out = pass.hooks->attention(layer, q, k, v);
  if (!out.defined()) {
    auto scores =
        at::matmul(q.to(at::kFloat), k.to(at::kFloat).transpose(2, 3)) / std::sqrt(double(d));
    // Query i sits at position past + i and sees keys 0 .. past + i.
    auto opts = at::TensorOptions().dtype(at::kLong).device(x.device());
    auto future =
        at::arange(keys, opts).unsqueeze(0) > (at::arange(length, opts) + past).unsqueeze(1);
    scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
    auto probs = at::softmax(scores, -1);
    if (pass.observer && pass.observer->on_attention)
      pass.observer->on_attention(layer, probs.detach());
    out = at::matmul(probs.to(v.scalar_type()), v);  // [B, H, L, d]
  }
  out = out.to(x.scalar_type()).transpose(1, 2).reshape({batch, length, c.hidden_size});
  return project(p + (opt ? "self_attn.out_proj" : "self_attn.o_proj"), out, pass.hooks);
}

at::Tensor Transformer::mlp(int layer, const std::string& p, const at::Tensor& x,
                            const Pass& pass) const {
  if (pass.hooks && pass.hooks->mlp) {
    auto out = pass.hooks->mlp(layer, p, x);
    if (out.defined()) return out;
  }
  const auto* observer = pass.observer;
  at::Tensor act;
  if (config_.family == ModelFamily::Opt) {
    act = activate(project(p + "fc1", x, pass.hooks));
    if (observer && observer->on_mlp) observer->on_mlp(layer, act.detach());
    return project(p + "fc2", act, pass.hooks);
  }
  act = activate(project(p + "mlp.gate_proj", x, pass.hooks)) *
        project(p + "mlp.up_proj", x, pass.hooks);
  if (observer && observer->on_mlp) observer->on_mlp(layer, act.detach());
  return project(p + "mlp.down_proj", act, pass.hooks);
}

at::Tensor Transformer::forward(const at::Tensor& tokens, KVCache* cache,
                                const ForwardObserver* observer,
                                const ForwardHooks* hooks) const {
  const auto& c = config_;
  if (tokens.dim() != 2) throw ModelError("forward expects tokens of shape [batch, length]");
  if (tokens.numel() > 0 && (tokens.min().item<std::int64_t>() < 0 ||
                             tokens.max().item<std::int64_t>() >= c.vocab_size))
    throw ModelError("a token id is outside the vocabulary (size " +
                     std::to_string(c.vocab_size) + ")");
  if (cache && cache->keys.empty()) {
    cache->keys.resize(static_cast<std::size_t>(c.num_layers));
    cache->values.resize(static_cast<std::size_t>(c.num_layers));
  }
  const std::int64_t past = cache ? cache->length() : 0, length = tokens.size(1);
  const std::int64_t first = past + (hooks ? hooks->first_position : 0);
  const Pass pass{past, cache, observer, hooks};
  if (c.family == ModelFamily::Opt && first + length > c.max_positions)
    throw ModelError("sequence of " + std::to_string(first + length) +
                     " tokens exceeds max_position_embeddings " + std::to_string(c.max_positions));
  auto ids = tokens.to(device(), at::kLong);
  const bool opt = c.family == ModelFamily::Opt;
  at::Tensor x;
  if (opt) {
    x = at::embedding(w("model.decoder.embed_tokens.weight"), ids);
    if (weights_.count("model.decoder.project_in.weight"))
      x = at::linear(x, w("model.decoder.project_in.weight"));
    // OPT's learned positions are offset by 2 (a quirk of its fairseq origin).
    auto positions = at::arange(first, first + length, ids.options()) + 2;
    x = x + at::embedding(w("model.decoder.embed_positions.weight"), positions).unsqueeze(0);
  } else {
    x = at::embedding(w("model.embed_tokens.weight"), ids);
  }
  for (int i = 0; i < c.num_layers; ++i) {
    auto p = model::layerPrefix(c, i);
    if (opt) {
      auto ln = [&](const char* name, const at::Tensor& t) {
        return layerNorm(t, w(p + name + ".weight"), w(p + name + ".bias"), c.norm_eps);
      };
      if (c.layer_norm_before) {
        x = x + attention(i, p, ln("self_attn_layer_norm", x), pass);
        x = x + mlp(i, p, ln("final_layer_norm", x), pass);
      } else {
        x = ln("self_attn_layer_norm", x + attention(i, p, x, pass));
        x = ln("final_layer_norm", x + mlp(i, p, x, pass));
      }
    } else {
      x = x + attention(i, p, rmsNorm(x, w(p + "input_layernorm.weight"), c.norm_eps), pass);
      x = x + mlp(i, p, rmsNorm(x, w(p + "post_attention_layernorm.weight"), c.norm_eps), pass);
    }
  }
  if (opt) {
    if (c.layer_norm_before)
      x = layerNorm(x, w("model.decoder.final_layer_norm.weight"),
                    w("model.decoder.final_layer_norm.bias"), c.norm_eps);
    if (weights_.count("model.decoder.project_out.weight"))
      x = at::linear(x, w("model.decoder.project_out.weight"));
  } else {
    x = rmsNorm(x, w("model.norm.weight"), c.norm_eps);
  }
  const auto& head = c.tie_embeddings
                         ? w(opt ? "model.decoder.embed_tokens.weight" : "model.embed_tokens.weight")
                         : w("lm_head.weight");
  return at::linear(x, head).to(at::kFloat);
}

}  // namespace darkroom::model

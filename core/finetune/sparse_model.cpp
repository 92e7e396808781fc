#include "finetune/sparse_model.h"

#include "finetune/exposer.h"

namespace darkroom::training {
namespace {

bool isDownProjection(const std::string& module) {
  auto tail = module.substr(module.rfind('.') + 1);
  return tail == "fc2" || tail == "down_proj";
}

}  // namespace

SparseModel::SparseModel(const model::Transformer& model, const Peft& peft,
                         std::vector<MlpPredictor>& mlp,
                         std::vector<AttentionPredictor>& attention, CostModel cost)
    : model_(model), peft_(peft), mlp_predictors_(mlp), attention_predictors_(attention),
      cost_(cost) {
  // Pack the frozen MLP weights once so that every active block is a contiguous slab of rows.
  const bool opt = model.config().family == ModelFamily::Opt;
  for (int i = 0; i < model.config().num_layers; ++i) {
    auto p = model.layerPrefix(i);
    for (const char* m : opt ? std::vector<const char*>{"fc1", "fc2"}
                             : std::vector<const char*>{"mlp.gate_proj", "mlp.up_proj",
                                                        "mlp.down_proj"}) {
      std::string module = p + m;
      auto w = model.weights().at(module + ".weight").to(at::kFloat);
      weights_[module] = (isDownProjection(module) ? w.t() : w).contiguous();
    }
  }
  mlp_density_.assign(static_cast<std::size_t>(model.config().num_layers), 1.0);
  attention_density_.assign(static_cast<std::size_t>(model.config().num_layers), 1.0);
}

model::ForwardHooks SparseModel::hooks() {
  dense_layers_ = 0;
  model::ForwardHooks h;
  h.linear = [this](const std::string& module, const at::Tensor& x, const at::Tensor& w,
                    const at::Tensor* b) { return peft_.linear(module, x, w, b); };
  h.mlp = [this](int layer, const std::string& prefix, const at::Tensor& x) {
    return mlp(layer, prefix, x);
  };
  h.attention = [this](int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    return attention(layer, q, k, v);
  };
  return h;
}

void SparseModel::fixLayouts(std::vector<at::Tensor> mlp_active,
                             std::vector<at::Tensor> attention_keep) {
  fixed_mlp_ = std::move(mlp_active);
  fixed_attention_ = std::move(attention_keep);
}

LayoutStats SparseModel::stats() const {
  LayoutStats s;
  for (double d : mlp_density_) s.mlp_density += d / double(mlp_density_.size());
  for (double d : attention_density_) s.attention_density += d / double(attention_density_.size());
  s.dense_layers = dense_layers_;
  return s;
}

const at::Tensor* SparseModel::bias(const std::string& module) const {
  auto it = model_.weights().find(module + ".bias");
  return peft_.bias(module, it != model_.weights().end() ? &it->second : nullptr);
}

// x · W[active]ᵀ + bias[active] + LoRA restricted to the active output columns.
at::Tensor SparseModel::gatherProjection(const std::string& module, const at::Tensor& x,
                                         const MlpLayout& layout) const {
  auto h = gatherColumns(x, weights_.at(module), layout);
  if (const at::Tensor* b = bias(module)) h = h + b->to(at::kFloat).index_select(0, layout.columns);
  if (const auto* l = peft_.lora(module))
    h = h + at::linear(at::linear(peft_.loraInput(x), l->a), l->b.index_select(0, layout.columns)) *
                l->scale;
  return h;
}

// Hc · Wᵀ[active] + bias + LoRA whose input columns are the active ones, then the Adapter.
at::Tensor SparseModel::scatterProjection(const std::string& module, const at::Tensor& hc,
                                          const MlpLayout& layout) const {
  auto y = scatterRows(hc, weights_.at(module), layout);
  if (const at::Tensor* b = bias(module)) y = y + b->to(at::kFloat);
  if (const auto* l = peft_.lora(module))
    y = y + at::linear(at::linear(peft_.loraInput(hc), l->a.index_select(1, layout.columns)), l->b) *
                l->scale;
  return peft_.adapt(module, y);
}

at::Tensor SparseModel::sparseMlp(const std::string& p, const at::Tensor& x,
                                  const MlpLayout& layout) const {
  auto flat = x.reshape({-1, x.size(-1)}).to(at::kFloat);
  at::Tensor y;
  if (model_.config().family == ModelFamily::Opt) {
    auto act = model_.activate(gatherProjection(p + "fc1", flat, layout));
    y = scatterProjection(p + "fc2", act, layout);
  } else {
    auto act = model_.activate(gatherProjection(p + "mlp.gate_proj", flat, layout)) *
               gatherProjection(p + "mlp.up_proj", flat, layout);
    y = scatterProjection(p + "mlp.down_proj", act, layout);
  }
  return y.view(x.sizes()).to(x.scalar_type());
}

at::Tensor SparseModel::mlp(int layer, const std::string& prefix, const at::Tensor& x) {
  auto& density = mlp_density_[static_cast<std::size_t>(layer)];
  const bool fixed = !fixed_mlp_.empty();
  auto active = fixed ? fixed_mlp_[static_cast<std::size_t>(layer)]
                      : mlp_predictors_[static_cast<std::size_t>(layer)].predict(x.detach());
  auto layout = mlpLayoutFromMask(active, model_.config().intermediate_size, kMlpBlock, x.device());
  if (!fixed && layout.density() >= cost_.mlp_break_even) {
    density = 1.0;
    ++dense_layers_;
    return {};
  }
  density = layout.density();
  return sparseMlp(prefix, x, layout);
}

at::Tensor SparseModel::attention(int layer, const at::Tensor& q, const at::Tensor& k,
                                  const at::Tensor& v) {
  auto& density = attention_density_[static_cast<std::size_t>(layer)];
  const bool fixed = !fixed_attention_.empty();
  auto keep = fixed ? fixed_attention_[static_cast<std::size_t>(layer)]
                    : attention_predictors_[static_cast<std::size_t>(layer)].predict(q.detach(),
                                                                                      k.detach());
  auto layout = attentionLayoutFromMask(keep, q.size(2), kAttentionBlock, q.device());
  if (!fixed && layout.density() >= cost_.attention_break_even) {
    density = 1.0;
    ++dense_layers_;
    return {};
  }
  density = layout.density();
  return blockSparseAttention(q, k, v, layout).to(q.scalar_type());
}

}  // namespace darkroom::training

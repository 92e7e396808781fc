// Long Exposure's sparse forward: hooks that, layer by layer, ask the predictors for this batch's
// layouts and run the MLP and attention through the block-sparse operators when the cost model
// says that pays, with the PEFT parameters applied around them.
#pragma once

#include "finetune/cost_model.h"
#include "finetune/peft.h"
#include "finetune/predictor.h"
#include "finetune/sparse_ops.h"

namespace darkroom::training {

struct LayoutStats {  // over the layers of the last forward
  double mlp_density = 0;        // mean share of MLP neurons computed (1 for dense layers)
  double attention_density = 0;  // mean share of causal attention blocks computed
  int dense_layers = 0;          // MLPs and attentions the cost model ran dense
};

class SparseModel {
 public:
  SparseModel(const model::Transformer& model, const Peft& peft,
              std::vector<MlpPredictor>& mlp, std::vector<AttentionPredictor>& attention,
              CostModel cost);
  // Hooks for Transformer::forward; stats() describes the forward they last served.
  model::ForwardHooks hooks();
  LayoutStats stats() const;
  void setCost(const CostModel& cost) { cost_ = cost; }
  // Use these layouts (per layer: active MLP blocks [blocks], kept attention blocks
  // [heads, nb, nb]) instead of the predictors and the cost model, e.g. the Exposer's true ones
  // during the threshold search; empty vectors go back to predicting.
  void fixLayouts(std::vector<at::Tensor> mlp_active, std::vector<at::Tensor> attention_keep);

  // The MLP of one layer restricted to `layout` (public for tests: with every block active it is
  // the dense MLP).
  at::Tensor sparseMlp(const std::string& prefix, const at::Tensor& x,
                       const MlpLayout& layout) const;

 private:
  at::Tensor mlp(int layer, const std::string& prefix, const at::Tensor& x);
  at::Tensor attention(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
  const at::Tensor* bias(const std::string& module) const;  // BitFit's, else the model's
  at::Tensor gatherProjection(const std::string& module, const at::Tensor& x,
                              const MlpLayout& layout) const;
  at::Tensor scatterProjection(const std::string& module, const at::Tensor& hc,
                               const MlpLayout& layout) const;

  const model::Transformer& model_;
  const Peft& peft_;
  std::vector<MlpPredictor>& mlp_predictors_;
  std::vector<AttentionPredictor>& attention_predictors_;
  CostModel cost_;
  std::map<std::string, at::Tensor> weights_;  // float32 contiguous; down projections transposed
  std::vector<at::Tensor> fixed_mlp_, fixed_attention_;
  std::vector<double> mlp_density_, attention_density_;
  int dense_layers_ = 0;
};

}  // namespace darkroom::training

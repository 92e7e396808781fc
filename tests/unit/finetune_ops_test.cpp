// Long Exposure's sparse operators as LibTorch autograd functions, against the dense computation
// masked to the same layout: outputs and the gradients of inputs and PEFT parameters.
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include "finetune/cost_model.h"
#include "finetune/exposer.h"
#include "finetune/sparse_model.h"
#include "finetune/sparse_ops.h"
#include "test_util.h"

using namespace darkroom;
using namespace darkroom::training;

namespace {

at::Generator gen() {
  return at::make_generator<at::CPUGeneratorImpl>(darkroom::test::rng()());
}

void expectClose(const at::Tensor& a, const at::Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double scale = std::max(1.0, b.abs().max().item<double>());
  EXPECT_LE((a - b).abs().max().item<double>(), tol * scale) << what;
}

// Random values for every PEFT parameter (LoRA B starts at zero), so that gradients flow
// through all of them.
void randomize(const Peft& peft, at::Generator& g) {
  at::NoGradGuard no_grad;
  for (const auto& [name, t] : peft.parameters()) const_cast<at::Tensor&>(t).normal_(0, 0.1, g);
}

// y and ref agree in their gradients for `inputs` (x followed by the PEFT parameters), where
// `ref_x` stands in for x on the reference side.
void expectSameGradients(const at::Tensor& y, const at::Tensor& ref, const at::Tensor& x,
                         const at::Tensor& ref_x, const Peft& peft, const std::string& what) {
  auto dy = at::randn_like(ref);
  auto params = peft.parameterList();
  std::vector<at::Tensor> inputs_s = {x}, inputs_d = {ref_x};
  inputs_s.insert(inputs_s.end(), params.begin(), params.end());
  inputs_d.insert(inputs_d.end(), params.begin(), params.end());
  auto gs = torch::autograd::grad({y}, inputs_s, {dy}, true, false, true);
  auto gd = torch::autograd::grad({ref}, inputs_d, {dy}, true, false, true);
  for (std::size_t i = 0; i < gs.size(); ++i) {
    auto a = gs[i].defined() ? gs[i] : at::zeros_like(inputs_s[i]);
    auto b = gd[i].defined() ? gd[i] : at::zeros_like(inputs_d[i]);
    expectClose(a, b, 1e-4, what + " gradient " + std::to_string(i));
  }
}

// A small random OPT model whose MLP width is not a multiple of the 128-neuron block.
model::Transformer tinyOpt(at::Generator& g, std::int64_t ffn) {
  ModelConfig c;
  c.family = ModelFamily::Opt;
  c.model_type = "opt";
  c.vocab_size = 50;
  c.hidden_size = 48;
  c.num_layers = 2;
  c.num_heads = 3;
  c.num_kv_heads = 3;
  c.intermediate_size = ffn;
  c.max_positions = 128;
  c.word_embed_proj_dim = 48;
  c.activation = "relu";
  c.tie_embeddings = true;
  model::Weights w;
  for (const auto& spec : model::expectedTensors(c)) w[spec.name] = at::randn(spec.shape, g) * 0.2;
  return model::Transformer(c, w);
}

TEST(SparseOps, MlpMatchesDenseMaskedForwardAndBackward) {
  auto g = gen();
  for (std::int64_t ffn : {128, 200, 300, 515}) {
    auto model = tinyOpt(g, ffn);
    PeftOptions po;
    po.method = PeftMethod::Lora;
    po.targets = {"fc1", "fc2"};
    po.rank = 3;
    Peft peft(model, po, g);
    randomize(peft, g);
    std::vector<MlpPredictor> mlp;
    std::vector<AttentionPredictor> attention;
    SparseModel sparse(model, peft, mlp, attention, CostModel{});
    const std::int64_t blocks = (ffn + kMlpBlock - 1) / kMlpBlock;
    for (int pattern = 0; pattern < 3; ++pattern) {
      auto active = pattern == 0 ? at::ones({blocks}, at::kBool)
                  : pattern == 1 ? at::zeros({blocks}, at::kBool)
                                 : at::rand({blocks}, g) < 0.5;
      auto layout = mlpLayoutFromMask(active, ffn, kMlpBlock, at::kCPU);
      const std::string p = model.layerPrefix(1);
      auto x = at::randn({2, 7, 48}, g).requires_grad_(true);
      auto y = sparse.sparseMlp(p, x, layout);
      // Dense reference: the full MLP with the inactive neurons zeroed before fc2.
      auto x2 = x.detach().clone().requires_grad_(true);
      auto mask = at::zeros({ffn});
      mask.index_fill_(0, layout.columns, 1.0);
      auto h = model.activate(peft.linear(p + "fc1", x2, model.weights().at(p + "fc1.weight"),
                                          &model.weights().at(p + "fc1.bias"))) * mask;
      auto ref = peft.linear(p + "fc2", h, model.weights().at(p + "fc2.weight"),
                             &model.weights().at(p + "fc2.bias"));
      std::string what = "ffn " + std::to_string(ffn) + " pattern " + std::to_string(pattern);
      expectClose(y, ref, 1e-4, what + " forward");
      expectSameGradients(y, ref, x, x2, peft, what);
    }
  }
}

// The gated MLP of the Llama family: act(gate) · up on the active neurons, then down.
TEST(SparseOps, GatedMlpMatchesDenseMaskedForwardAndBackward) {
  auto g = gen();
  ModelConfig c;
  c.family = ModelFamily::Llama;
  c.model_type = "llama";
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.num_layers = 1;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.intermediate_size = 300;
  c.max_positions = 64;
  c.activation = "silu";
  c.tie_embeddings = true;
  model::Weights w;
  for (const auto& spec : model::expectedTensors(c)) w[spec.name] = at::randn(spec.shape, g) * 0.2;
  model::Transformer model(c, w);
  PeftOptions po;
  po.method = PeftMethod::BitFit;  // zero biases added to bias-free projections, trainable
  Peft peft(model, po, g);
  randomize(peft, g);
  std::vector<MlpPredictor> mlp;
  std::vector<AttentionPredictor> attention;
  SparseModel sparse(model, peft, mlp, attention, CostModel{});
  auto layout = mlpLayoutFromMask(at::tensor({1, 0, 1}).to(at::kBool), 300, kMlpBlock, at::kCPU);
  const std::string p = model.layerPrefix(0);
  auto x = at::randn({2, 5, 32}, g).requires_grad_(true);
  auto y = sparse.sparseMlp(p, x, layout);
  auto mask = at::zeros({300});
  mask.index_fill_(0, layout.columns, 1.0);
  auto proj = [&](const std::string& m, const at::Tensor& in) {
    return peft.linear(p + m, in, model.weights().at(p + m + ".weight"), nullptr);
  };
  auto h = model.activate(proj("mlp.gate_proj", x)) * proj("mlp.up_proj", x) * mask;
  auto ref = proj("mlp.down_proj", h);
  expectClose(y, ref, 1e-4, "forward");
  expectSameGradients(y, ref, x, x, peft, "gated");
}

TEST(SparseOps, AttentionMatchesDenseMaskedForwardAndBackward) {
  auto g = gen();
  for (std::int64_t length : {1, 16, 17, 45, 64}) {
    const std::int64_t batch = 2, heads = 3, dim = 8, nb = (length + 15) / 16;
    auto q = at::randn({batch, heads, length, dim}, g).requires_grad_(true);
    auto k = at::randn({batch, heads, length, dim}, g).requires_grad_(true);
    auto v = at::randn({batch, heads, length, dim}, g).requires_grad_(true);
    for (int pattern = 0; pattern < 3; ++pattern) {
      auto keep = pattern == 0 ? at::ones({heads, nb, nb}, at::kBool)
                : pattern == 1 ? at::zeros({heads, nb, nb}, at::kBool)
                               : at::rand({heads, nb, nb}, g) < 0.5;
      auto layout = attentionLayoutFromMask(keep, length, 16, at::kCPU);
      auto o = blockSparseAttention(q, k, v, layout);
      // Dense reference: causal softmax with the dropped blocks masked out.
      auto kept = ((keep | at::eye(nb, at::kBool)) & at::ones({nb, nb}, at::kBool).tril())
                      .repeat_interleave(16, 1).repeat_interleave(16, 2)
                      .slice(1, 0, length).slice(2, 0, length);
      auto allowed = kept & at::ones({length, length}, at::kBool).tril();
      auto scores = at::matmul(q, k.transpose(2, 3)) / std::sqrt(double(dim));
      auto ref = at::matmul(at::softmax(scores.masked_fill(~allowed, -INFINITY), -1), v);
      std::string what = "length " + std::to_string(length) + " pattern " + std::to_string(pattern);
      expectClose(o, ref, 1e-4, what + " forward");
      auto d_o = at::randn_like(o);
      auto gs = torch::autograd::grad({o}, {q, k, v}, {d_o});
      auto gd = torch::autograd::grad({ref}, {q, k, v}, {d_o});
      for (int i = 0; i < 3; ++i) expectClose(gs[i], gd[i], 1e-4, what + " gradient " + std::to_string(i));
    }
  }
}

TEST(SparseOps, LayoutsFromMasks) {
  auto layout = mlpLayoutFromMask(at::tensor({1, 0, 1}).to(at::kBool), 300, 128, at::kCPU);
  EXPECT_EQ(layout.blocks.numel(), 2);
  EXPECT_EQ(layout.columns.numel(), 128 + 44);
  EXPECT_NEAR(layout.density(), 172.0 / 300.0, 1e-12);
  // Diagonal always kept, the future never: 2 heads, 3 block rows.
  auto keep = at::ones({2, 3, 3}, at::kBool);
  keep[1].fill_(false);
  auto attention = attentionLayoutFromMask(keep, 40, 16, at::kCPU);
  EXPECT_EQ(attention.nnz, 6 + 3);
  EXPECT_NEAR(attention.density(), 9.0 / 12.0, 1e-12);
}

TEST(Exposer, ThresholdsOrderTheLayouts) {
  auto g = gen();
  auto peak = at::rand({515}, g);
  auto loose = mlpActiveBlocks(peak, 0.01), strict = mlpActiveBlocks(peak, 0.9);
  EXPECT_TRUE((strict & ~loose).sum().item<int>() == 0) << "a stricter p never adds blocks";
  auto mass = at::rand({2, 4, 4}, g) * 20;
  auto few = attentionKeep(mass, 15), many = attentionKeep(mass, 1);
  EXPECT_TRUE((few & ~many).sum().item<int>() == 0);
  EXPECT_TRUE(few.diagonal(0, 1, 2).all().item<bool>());
  EXPECT_FALSE(many.triu(1).any().item<bool>());
}

}  // namespace

namespace {

TEST(CostModel, MeasuresBothOperatorsAndPredictsMonotoneTimes) {
  ModelConfig c;
  c.hidden_size = 64;
  c.num_heads = 2;
  c.num_kv_heads = 2;
  c.intermediate_size = 384;
  auto cost = measureCostModel(c, 2, 96, at::kCPU);
  EXPECT_GT(cost.mlp_dense_ms, 0);
  EXPECT_GT(cost.attention_dense_ms, 0);
  EXPECT_EQ(cost.mlp_tokens, 2 * 96);
  for (double b : {cost.mlp_break_even, cost.attention_break_even}) {
    EXPECT_GE(b, 0);
    EXPECT_LE(b, 1);
  }
  // Past the break-even point the prediction is the dense time.
  if (cost.mlp_break_even < 1) {
    EXPECT_DOUBLE_EQ(cost.mlpMs(1.0), cost.mlp_dense_ms);
  }
  if (cost.attention_break_even < 1) {
    EXPECT_DOUBLE_EQ(cost.attentionMs(1.0), cost.attention_dense_ms);
  }
  // Below it, sparse is predicted no slower than dense (that is what break-even means).
  EXPECT_LE(cost.mlpMs(0.0), cost.mlp_dense_ms + 1e-9);
  EXPECT_LE(cost.attentionMs(0.0), cost.attention_dense_ms + 1e-9);
  EXPECT_FALSE(cost.describe().empty());
}

}  // namespace

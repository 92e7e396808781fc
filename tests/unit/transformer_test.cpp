// The LibTorch transformer against the plain-loop reference, for every family variant, with and
// without the KV cache, in float32 and bfloat16.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model/transformer.h"
#include "reference_transformer.h"
#include "test_util.h"

using namespace darkroom;
using darkroom::model::Transformer;

namespace {

ModelConfig variant(const std::string& name) {
  ModelConfig c;
  c.vocab_size = 41;
  c.num_layers = 2;
  c.max_positions = 32;
  if (name.rfind("opt", 0) == 0) {
    c.family = ModelFamily::Opt;
    c.model_type = "opt";
    c.hidden_size = 12;
    c.num_heads = c.num_kv_heads = 3;
    c.intermediate_size = 20;
    c.activation = "relu";
    c.tie_embeddings = true;
    c.word_embed_proj_dim = 12;
    if (name == "opt-post-ln-proj") {  // the OPT-350m shape: post-LN, 8-wide embeddings
      c.layer_norm_before = false;
      c.word_embed_proj_dim = 8;
    }
    return c;
  }
  c.family = ModelFamily::Llama;
  c.model_type = name == "qwen2" ? "qwen2" : "llama";
  c.hidden_size = 16;
  c.num_heads = 4;
  c.num_kv_heads = name == "llama-mha" ? 4 : 2;
  c.intermediate_size = 24;
  c.activation = name == "llama-relu" ? "relu" : "silu";
  c.qkv_bias = name == "qwen2";
  c.tie_embeddings = name == "qwen2";
  c.rope_theta = name == "qwen2" ? 1e6 : 10000.0;
  return c;
}

model::Weights randomWeights(const ModelConfig& c) {
  model::Weights w;
  for (const auto& spec : model::expectedTensors(c)) {
    bool norm = spec.name.find("norm") != std::string::npos;
    bool bias = spec.name.find(".bias") != std::string::npos;
    auto t = at::randn(spec.shape) * (norm && !bias ? 0.1 : 0.3);
    if (norm && !bias) t += 1.0;
    w[spec.name] = t;
  }
  return w;
}

test::RefWeights toReference(const model::Weights& w) {
  test::RefWeights out;
  for (const auto& [name, t] : w) {
    auto d = t.to(at::kDouble).contiguous();
    out[name] = {t.sizes().vec(), test::Vec(d.data_ptr<double>(), d.data_ptr<double>() + d.numel())};
  }
  return out;
}

double maxRelativeError(const at::Tensor& got, const std::vector<test::Vec>& want) {
  double worst = 0, scale = 1e-6;
  for (const auto& row : want)
    for (double v : row) scale = std::max(scale, std::abs(v));
  for (std::size_t p = 0; p < want.size(); ++p)
    for (std::size_t v = 0; v < want[p].size(); ++v)
      worst = std::max(worst, std::abs(got[std::int64_t(p)][std::int64_t(v)].item<double>() - want[p][v]) / scale);
  return worst;
}

class Families : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(Families, LogitsMatchThePlainReference) {
  at::manual_seed(static_cast<std::uint64_t>(test::rng()()));
  auto config = variant(GetParam());
  auto weights = randomWeights(config);
  Transformer model(config, weights);
  std::uniform_int_distribution<int> len(1, 9);
  const std::int64_t length = len(test::rng());
  auto tokens = at::randint(config.vocab_size, {2, length}, at::kLong);
  auto logits = model.forward(tokens);
  ASSERT_EQ(logits.sizes().vec(), (std::vector<std::int64_t>{2, length, config.vocab_size}));
  auto ref = toReference(weights);
  for (std::int64_t b = 0; b < 2; ++b) {
    std::vector<std::int64_t> seq(tokens[b].data_ptr<std::int64_t>(),
                                  tokens[b].data_ptr<std::int64_t>() + length);
    EXPECT_LT(maxRelativeError(logits[b], test::referenceForward(config, ref, seq)), 1e-4)
        << GetParam() << " batch " << b << " length " << length;
  }
}

TEST_P(Families, KvCacheDecodingMatchesTheFullForward) {
  at::manual_seed(static_cast<std::uint64_t>(test::rng()()));
  auto config = variant(GetParam());
  Transformer model(config, randomWeights(config));
  std::uniform_int_distribution<int> len(2, 12);
  const std::int64_t length = len(test::rng());
  std::uniform_int_distribution<std::int64_t> split_at(1, length - 1);
  const std::int64_t prompt = split_at(test::rng());
  auto tokens = at::randint(config.vocab_size, {3, length}, at::kLong);
  auto full = model.forward(tokens);

  model::KVCache cache;
  std::vector<at::Tensor> pieces{model.forward(tokens.slice(1, 0, prompt), &cache)};
  for (std::int64_t t = prompt; t < length; ++t)
    pieces.push_back(model.forward(tokens.slice(1, t, t + 1), &cache));
  EXPECT_EQ(cache.length(), length);
  auto stepped = at::cat(pieces, 1);
  EXPECT_TRUE(at::allclose(stepped, full, 1e-4, 1e-4))
      << GetParam() << ": max diff " << (stepped - full).abs().max().item<double>();
}

TEST_P(Families, Bfloat16StaysCloseToFloat32) {
  at::manual_seed(static_cast<std::uint64_t>(test::rng()()));
  auto config = variant(GetParam());
  Transformer model(config, randomWeights(config));
  auto tokens = at::randint(config.vocab_size, {2, 7}, at::kLong);
  auto fp32 = model.forward(tokens);
  auto bf16 = model.to(at::kBFloat16, at::kCPU).forward(tokens);
  EXPECT_EQ(bf16.scalar_type(), at::kFloat);
  // The norm of the difference, not its largest element: with 8 significant bits per value,
  // single logits of these random models stray by up to ~10% while the whole stays within ~4%
  // (the worst of 160 seeds).
  double rel = ((bf16 - fp32).norm() / fp32.norm()).item<double>();
  EXPECT_LT(rel, 0.08) << GetParam();
}

TEST_P(Families, ObserverSeesEveryLayersActivationsAndCausalAttention) {
  auto config = variant(GetParam());
  Transformer model(config, randomWeights(config));
  auto tokens = at::randint(config.vocab_size, {2, 5}, at::kLong);
  std::vector<at::Tensor> mlp(config.num_layers), attention(config.num_layers);
  model::ForwardObserver observer;
  observer.on_mlp = [&](int layer, const at::Tensor& a) { mlp[layer] = a; };
  observer.on_attention = [&](int layer, const at::Tensor& p) { attention[layer] = p; };
  model.forward(tokens, nullptr, &observer);
  for (int l = 0; l < config.num_layers; ++l) {
    ASSERT_TRUE(mlp[l].defined());
    EXPECT_EQ(mlp[l].sizes().vec(), (std::vector<std::int64_t>{2, 5, config.intermediate_size}));
    EXPECT_EQ(attention[l].sizes().vec(), (std::vector<std::int64_t>{2, config.num_heads, 5, 5}));
    EXPECT_TRUE(at::allclose(attention[l].sum(-1), at::ones({2, config.num_heads, 5})));
    EXPECT_EQ(at::triu(attention[l], 1).abs().max().item<float>(), 0.0f);  // nothing from the future
  }
}

INSTANTIATE_TEST_SUITE_P(Model, Families,
                         ::testing::Values("opt", "opt-post-ln-proj", "llama", "llama-mha",
                                           "llama-relu", "qwen2"));

TEST(Transformer, MissingOrMisshapenTensorsAreNamed) {
  auto config = variant("llama");
  auto weights = randomWeights(config);
  auto missing = weights;
  missing.erase("model.layers.1.mlp.up_proj.weight");
  try {
    Transformer m(config, missing);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.mlp.up_proj.weight"), std::string::npos);
  }
  weights["model.norm.weight"] = at::ones({3});
  try {
    Transformer m(config, weights);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("[3], the config needs [16]"), std::string::npos) << e.what();
  }
}

TEST(Transformer, TokensOutsideTheVocabularyAreRejected) {
  auto config = variant("opt");
  Transformer model(config, randomWeights(config));
  EXPECT_THROW(model.forward(at::full({1, 3}, config.vocab_size, at::kLong)), ModelError);
  EXPECT_THROW(model.forward(at::zeros({1, config.max_positions + 1}, at::kLong)), ModelError);
}

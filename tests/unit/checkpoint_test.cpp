// Hugging Face model folders written by the test: whole, sharded, half precision, and broken in
// each way a real download can be broken.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "darkroom/demo_models.h"
#include "darkroom/model.h"
#include "darkroom/safetensors.h"
#include "darkroom/tokenizer.h"
#include "model/byte_tokenizer_json.h"
#include "model/checkpoint.h"
#include "test_util.h"

using namespace darkroom;
using model::Transformer;

namespace {

ModelConfig smallConfig(ModelFamily family) {
  ModelConfig c;
  c.family = family;
  c.model_type = family == ModelFamily::Opt ? "opt" : "qwen2";
  c.vocab_size = 53;
  c.hidden_size = 16;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = family == ModelFamily::Opt ? 4 : 2;
  c.intermediate_size = 40;
  c.max_positions = 64;
  c.activation = family == ModelFamily::Opt ? "relu" : "silu";
  c.tie_embeddings = family == ModelFamily::Opt;
  c.qkv_bias = family == ModelFamily::Llama;
  c.word_embed_proj_dim = 16;
  return c;
}

Transformer randomModel(const ModelConfig& c) {
  model::Weights w;
  for (const auto& spec : model::expectedTensors(c)) w[spec.name] = at::randn(spec.shape) * 0.2;
  return Transformer(c, w);
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// Writes the model's tensors split over two shard files plus the index, with names as given.
void writeSharded(const Transformer& m, const std::filesystem::path& dir,
                  const std::function<std::string(const std::string&)>& rename) {
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "config.json") << modelConfigJson(m.config()); }
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> parts[2];
  nlohmann::json index;
  int i = 0;
  for (const auto& [name, t] : m.weights()) {
    keep.push_back(t.contiguous());
    int shard = i++ % 2;
    parts[shard].push_back({rename(name), DType::F32, t.sizes().vec(), keep.back().data_ptr(), keep.back().nbytes()});
    index["weight_map"][rename(name)] = "model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors";
  }
  for (int s = 0; s < 2; ++s)
    writeSafetensors(dir / ("model-0000" + std::to_string(s + 1) + "-of-00002.safetensors"), parts[s]);
  std::ofstream(dir / "model.safetensors.index.json") << index.dump();
}

class Checkpoints : public ::testing::TestWithParam<ModelFamily> {};

}  // namespace

TEST_P(Checkpoints, SaveThenLoadGivesTheSameLogits) {
  at::manual_seed(static_cast<std::uint64_t>(test::rng()()));
  test::TempDir dir;
  auto model = randomModel(smallConfig(GetParam()));
  model::saveCheckpoint(model, dir / "m");
  auto loaded = model::loadCheckpoint(dir / "m");
  auto tokens = at::randint(53, {2, 9}, at::kLong);
  EXPECT_TRUE(at::equal(loaded.forward(tokens), model.forward(tokens)));
  EXPECT_EQ(modelConfigJson(loaded.config()), modelConfigJson(model.config()));
  auto info = describeModel(dir / "m");
  EXPECT_EQ(info.parameters, model.config().parameterCount());
  EXPECT_EQ(info.tensors.size(), model::expectedTensors(model.config()).size());
}

TEST_P(Checkpoints, ShardedCheckpointLoads) {
  test::TempDir dir;
  auto model = randomModel(smallConfig(GetParam()));
  // OPT checkpoints often lack the "model." prefix: store them that way.
  writeSharded(model, dir / "m", [&](const std::string& n) {
    return GetParam() == ModelFamily::Opt ? n.substr(6) : n;
  });
  auto loaded = model::loadCheckpoint(dir / "m");
  auto tokens = at::randint(53, {1, 5}, at::kLong);
  EXPECT_TRUE(at::equal(loaded.forward(tokens), model.forward(tokens)));
}

TEST_P(Checkpoints, HalfPrecisionWeightsLoadAsFloat32OrBfloat16) {
  test::TempDir dir;
  auto model = randomModel(smallConfig(GetParam()));
  model::saveCheckpoint(model.to(at::kBFloat16, at::kCPU), dir / "bf16");
  auto as_float = model::loadCheckpoint(dir / "bf16");
  EXPECT_EQ(as_float.dtype(), at::kFloat);
  auto as_bf16 = model::loadCheckpoint(dir / "bf16", at::kBFloat16);
  EXPECT_EQ(as_bf16.dtype(), at::kBFloat16);
  auto tokens = at::randint(53, {1, 6}, at::kLong);
  auto ref = model.forward(tokens);
  EXPECT_LT(((as_float.forward(tokens) - ref).abs().max() / ref.abs().max()).item<double>(), 0.05);
  EXPECT_EQ(readModelConfig(dir / "bf16" / "config.json").torch_dtype, "bfloat16");
}

INSTANTIATE_TEST_SUITE_P(Family, Checkpoints, ::testing::Values(ModelFamily::Opt, ModelFamily::Llama));

TEST(CheckpointErrors, EachBrokenFolderSaysWhatIsWrong) {
  test::TempDir dir;
  auto model = randomModel(smallConfig(ModelFamily::Llama));
  model::saveCheckpoint(model, dir / "good");
  auto copy = [&](const std::string& name) {
    std::filesystem::copy(dir / "good", dir / name, std::filesystem::copy_options::recursive);
    return dir / name;
  };
  EXPECT_NE(errorOf([&] { model::loadCheckpoint(dir / "nothing"); }).find("config.json"), std::string::npos);

  auto no_weights = copy("no-weights");
  std::filesystem::remove(no_weights / "model.safetensors");
  EXPECT_NE(errorOf([&] { model::loadCheckpoint(no_weights); }).find("no model.safetensors"), std::string::npos);

  auto truncated = copy("truncated");
  std::filesystem::resize_file(truncated / "model.safetensors",
                               std::filesystem::file_size(truncated / "model.safetensors") - 100);
  EXPECT_NE(errorOf([&] { model::loadCheckpoint(truncated); }).find("truncated"), std::string::npos);

  auto wrong_shape = copy("wrong-shape");
  {
    auto config = nlohmann::json::parse(std::ifstream(wrong_shape / "config.json"));
    config["intermediate_size"] = 41;
    std::ofstream(wrong_shape / "config.json") << config.dump();
  }
  auto msg = errorOf([&] { model::loadCheckpoint(wrong_shape); });
  EXPECT_NE(msg.find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[40, 16], the config needs [41, 16]"), std::string::npos) << msg;

  auto unknown = copy("unknown-type");
  std::ofstream(unknown / "config.json") << R"({"model_type": "gpt_neox", "vocab_size": 5})";
  EXPECT_NE(errorOf([&] { model::loadCheckpoint(unknown); }).find("gpt_neox"), std::string::npos);

  auto missing = copy("missing-tensor");
  {
    auto st = SafetensorsFile::open(dir / "good" / "model.safetensors");
    std::vector<TensorToWrite> keep;
    for (const auto& t : st.tensors())
      if (t.name != "model.norm.weight") keep.push_back({t.name, t.dtype, t.shape, t.data, t.bytes});
    writeSafetensors(missing / "model.safetensors", keep);
  }
  EXPECT_NE(errorOf([&] { model::loadCheckpoint(missing); }).find("missing tensor model.norm.weight"), std::string::npos);

  auto ints = copy("int-weights");
  {
    auto st = SafetensorsFile::open(dir / "good" / "model.safetensors");
    std::vector<TensorToWrite> all;
    std::vector<std::int32_t> zeros(16, 0);
    for (const auto& t : st.tensors())
      if (t.name == "model.norm.weight")
        all.push_back({t.name, DType::I32, t.shape, zeros.data(), zeros.size() * 4});
      else
        all.push_back({t.name, t.dtype, t.shape, t.data, t.bytes});
    writeSafetensors(ints / "model.safetensors", all);
  }
  EXPECT_NE(errorOf([&] { model::loadCheckpoint(ints); }).find("not a floating point"), std::string::npos);

  auto bad_index = dir / "bad-index";
  writeSharded(model, bad_index, [](const std::string& n) { return n; });
  std::filesystem::remove(bad_index / "model-00002-of-00002.safetensors");
  EXPECT_NE(errorOf([&] { model::loadCheckpoint(bad_index); }).find("model-00002-of-00002"), std::string::npos);
}

TEST(DemoModels, ConfigsAreSmallAndByteLevel) {
  for (const auto& name : demoModelNames()) {
    auto c = demoModelConfig(name);
    EXPECT_EQ(c.vocab_size, 259);
    EXPECT_GT(c.parameterCount(), 1'000'000) << name;
    EXPECT_LT(c.parameterCount(), 10'000'000) << name;
  }
  EXPECT_THROW(demoModelConfig("demo-gpt"), ModelError);
}

TEST(DemoModels, TheirTokenizerJsonMapsBytesToTheirIds) {
  test::TempDir dir;
  writeByteTokenizerJson(dir / "tokenizer.json");
  auto tok = loadTokenizer(dir.path());
  std::string text = "the cat that the dog saw ran . 3 plus 4 is 7 .\n\xff\x01";
  auto ids = tok->encode(text);
  ASSERT_EQ(ids.size(), text.size());
  for (std::size_t i = 0; i < text.size(); ++i) EXPECT_EQ(ids[i], static_cast<unsigned char>(text[i]));
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_EQ(tok->eosId(), byte_tokens::kEos);
}

// LibTorch and libsentencepiece in one process: the tokenizer is reached through the bridge
// module (a direct link crashes while loading).
TEST(SentencePieceInATorchProcess, LoadsEncodesAndDecodes) {
  auto tok = loadSentencePieceTokenizer(DARKROOM_SPM_FIXTURE);
  EXPECT_EQ(tok->name(), "sentencepiece");
  EXPECT_EQ(tok->bosId(), 1);
  EXPECT_EQ(tok->eosId(), 2);
  std::string text = "the quiet fox that the owl saw ran . 12 plus 7 is 19 .";
  auto ids = tok->encode(text);
  EXPECT_LT(ids.size(), text.size());  // merges happened
  EXPECT_EQ(tok->decode(ids), text);
  auto logits = at::ones({2, 2}).sum();  // and LibTorch still works beside it
  EXPECT_EQ(logits.item<float>(), 4.0f);
  EXPECT_THROW(loadSentencePieceTokenizer(std::string(DARKROOM_SPM_FIXTURE) + ".missing"), TokenizerError);
}

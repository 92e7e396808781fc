// Flash layout files (round trip, corruption, truncation), the FFN permutation that placement
// applies (the model's logits do not change) and the GGUF export of a permuted model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <fstream>
#include <numeric>

#include "darkroom/neuralink/flash_layout.h"
#include "darkroom/neuralink/gguf.h"
#include "darkroom/neuralink/trace.h"
#include "model/checkpoint.h"
#include "neuralink/crc32c.h"
#include "neuralink/ffn_permute.h"
#include "test_util.h"

using namespace darkroom;
using namespace darkroom::neuralink;
namespace fs = std::filesystem;

namespace {

// Runs `work` as a job (the only way to get a JobContext) and rethrows what it threw.
template <typename F>
void runJob(F work) {
  JobQueue queue(1);
  std::exception_ptr error;
  auto id = queue.submit("test", "test", [&](JobContext& ctx) -> std::any {
    try {
      work(ctx);
    } catch (...) {
      error = std::current_exception();
    }
    return {};
  });
  queue.wait(id);
  if (error) std::rethrow_exception(error);
}

at::Generator gen() { return at::make_generator<at::CPUGeneratorImpl>(darkroom::test::rng()()); }

ModelConfig tinyConfig(ModelFamily family, std::int64_t ffn) {
  ModelConfig c;
  c.family = family;
  c.vocab_size = 61;
  c.hidden_size = 48;
  c.num_layers = 3;
  c.num_heads = 4;
  c.intermediate_size = ffn;
  c.max_positions = 64;
  if (family == ModelFamily::Opt) {
    c.model_type = "opt";
    c.num_kv_heads = 4;
    c.word_embed_proj_dim = 32;  // project_in / project_out exist
    c.activation = "relu";
    c.tie_embeddings = true;
  } else {
    c.model_type = "llama";
    c.num_kv_heads = 2;  // grouped-query attention
    c.activation = "silu";
    c.rope_theta = 10000.0;
    c.norm_eps = 1e-6;
    c.tie_embeddings = false;  // output.weight is written
  }
  return c;
}

model::Transformer tinyModel(ModelFamily family, std::int64_t ffn, at::Generator& g,
                             at::ScalarType dtype = at::kFloat) {
  auto c = tinyConfig(family, ffn);
  model::Weights w;
  for (const auto& spec : model::expectedTensors(c))
    w[spec.name] = (at::randn(spec.shape, g) * 0.3).to(dtype);
  return model::Transformer(c, w);
}

Placement randomPlacement(std::int64_t layers, std::int64_t neurons) {
  Placement p;
  p.method = PlacementMethod::Greedy;
  for (std::int64_t l = 0; l < layers; ++l) {
    LayerPlacement lp;
    lp.order.resize(std::size_t(neurons));
    std::iota(lp.order.begin(), lp.order.end(), 0);
    std::shuffle(lp.order.begin(), lp.order.end(), darkroom::test::rng());
    p.layers.push_back(lp);
  }
  return p;
}

std::vector<unsigned char> readBytes(const fs::path& path, std::uint64_t offset, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(std::streamoff(offset));
  std::vector<unsigned char> out(n);
  in.read(reinterpret_cast<char*>(out.data()), std::streamsize(n));
  EXPECT_TRUE(in.good()) << path << " at " << offset;
  return out;
}

void flipByte(const fs::path& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(std::streamoff(offset));
  char c = 0;
  f.read(&c, 1);
  c = char(c ^ 0x5A);
  f.seekp(std::streamoff(offset));
  f.write(&c, 1);
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

// The bytes of a bundle as the format defines it, straight from the model's tensors.
std::vector<unsigned char> expectedBundle(const model::Transformer& m, int layer,
                                          std::int32_t neuron) {
  const auto& w = m.weights();
  const auto p = m.layerPrefix(layer);
  at::Tensor b;
  if (m.config().family == ModelFamily::Opt)
    b = at::cat({w.at(p + "fc1.weight")[neuron], w.at(p + "fc1.bias")[neuron].reshape({1}),
                 w.at(p + "fc2.weight").select(1, neuron)});
  else
    b = at::cat({w.at(p + "mlp.gate_proj.weight")[neuron], w.at(p + "mlp.up_proj.weight")[neuron],
                 w.at(p + "mlp.down_proj.weight").select(1, neuron)});
  b = b.contiguous();
  auto data = static_cast<const unsigned char*>(b.data_ptr());
  return std::vector<unsigned char>(data, data + b.nbytes());
}

}  // namespace

TEST(Crc32c, KnownValuesAndPieces) {
  const char* text = "123456789";
  EXPECT_EQ(crc32c(text, 9), 0xE3069283u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  std::vector<unsigned char> zeros(32, 0);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  // Any split gives the same result, at any alignment.
  std::vector<unsigned char> data(1000);
  for (auto& b : data) b = static_cast<unsigned char>(darkroom::test::rng()());
  const auto whole = crc32c(data.data() + 3, 997);
  for (std::size_t cut : {0, 1, 7, 8, 100, 997}) {
    auto c = crc32c(data.data() + 3, cut);
    c = crc32c(c, data.data() + 3 + cut, 997 - cut);
    EXPECT_EQ(c, whole) << cut;
    c = crc32cPortable(0, data.data() + 3, cut);
    c = crc32cPortable(c, data.data() + 3 + cut, 997 - cut);
    EXPECT_EQ(c, whole) << cut << " (portable)";
  }
  EXPECT_EQ(crc32cPortable(0, text, 9), 0xE3069283u);
}

TEST(FlashLayout, SyntheticRoundTrip) {
  test::TempDir dir;
  const std::vector<std::int64_t> neurons = {100, 37, 300};
  Placement p;
  p.method = PlacementMethod::HotCold;
  for (auto n : neurons) p.layers.push_back(randomPlacement(1, n).layers[0]);
  auto path = dir / "synthetic.layout";
  writeSyntheticLayout(neurons, 1000, p, path);
  EXPECT_FALSE(fs::exists(dir / "synthetic.layout.partial"));
  auto layout = readFlashLayout(path);
  EXPECT_EQ(layout.model_type, "synthetic");
  EXPECT_EQ(layout.dtype, "u8");
  EXPECT_EQ(layout.bundle, "opaque");
  EXPECT_EQ(layout.placement, "hot-cold");
  EXPECT_EQ(layout.file_bytes, fs::file_size(path));
  EXPECT_EQ(layout.file_bytes % 4096, 0u);
  ASSERT_EQ(layout.layers.size(), neurons.size());
  std::uint64_t previous_end = 0;
  for (std::size_t l = 0; l < neurons.size(); ++l) {
    const auto& L = layout.layers[l];
    EXPECT_EQ(L.neurons, neurons[l]);
    EXPECT_EQ(L.bundle_bytes, 1000);
    EXPECT_EQ(L.data_offset % 4096, 0u);
    EXPECT_GE(L.data_offset, previous_end);
    previous_end = L.data_offset + std::uint64_t(L.neurons * L.bundle_bytes);
    EXPECT_EQ(L.order, p.layers[l].order);
    for (std::int32_t k = 0; k < L.neurons; ++k) {
      EXPECT_EQ(L.slot[std::size_t(L.order[std::size_t(k)])], k);
      EXPECT_EQ(L.offsetOf(L.order[std::size_t(k)]), L.data_offset + std::uint64_t(k) * 1000);
    }
  }
  runJob([&](JobContext& ctx) { verifyFlashLayout(path, ctx); });

  // An empty placement is the identity.
  writeSyntheticLayout({5}, 7, Placement{}, dir / "identity.layout");
  auto identity = readFlashLayout(dir / "identity.layout");
  EXPECT_EQ(identity.layers[0].order, (std::vector<std::int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(identity.placement, "identity");

  // A placement that is not a permutation is refused, naming the layer, and leaves no file.
  p.layers[1].order[3] = p.layers[1].order[4];
  auto error = errorOf([&] { writeSyntheticLayout(neurons, 1000, p, dir / "bad.layout"); });
  EXPECT_NE(error.find("layer 1"), std::string::npos) << error;
  EXPECT_NE(error.find("twice"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir / "bad.layout"));
  EXPECT_FALSE(fs::exists(dir / "bad.layout.partial"));
}

TEST(FlashLayout, ModelRoundTripBundlesInPlacementOrder) {
  auto g = gen();
  struct Case {
    ModelFamily family;
    std::int64_t ffn;
    at::ScalarType dtype;
    const char* name;
  };
  for (const auto& c : {Case{ModelFamily::Opt, 70, at::kFloat, "f32"},
                        Case{ModelFamily::Llama, 129, at::kFloat, "f32"},
                        Case{ModelFamily::Llama, 64, at::kBFloat16, "bf16"},
                        Case{ModelFamily::Opt, 33, at::kHalf, "f16"}}) {
    SCOPED_TRACE(std::string(toString(c.family)) + " " + c.name);
    test::TempDir dir;
    auto m = tinyModel(c.family, c.ffn, g, c.dtype);
    model::saveCheckpoint(m, dir / "model");
    auto placement = randomPlacement(m.config().num_layers, c.ffn);
    auto path = dir / "model.layout";
    runJob([&](JobContext& ctx) { writeFlashLayout(dir / "model", placement, path, ctx); });
    auto layout = readFlashLayout(path);
    EXPECT_EQ(layout.model_type, m.config().model_type);
    EXPECT_EQ(layout.dtype, c.name);
    EXPECT_EQ(layout.bundle, c.family == ModelFamily::Opt ? "opt" : "gated");
    EXPECT_EQ(layout.hidden_size, 48);
    EXPECT_EQ(layout.placement, "greedy");
    ASSERT_EQ(std::int64_t(layout.layers.size()), m.config().num_layers);
    const std::int64_t element = c.dtype == at::kFloat ? 4 : 2;
    for (int l = 0; l < int(layout.layers.size()); ++l) {
      const auto& L = layout.layers[std::size_t(l)];
      EXPECT_EQ(L.neurons, c.ffn);
      EXPECT_EQ(L.bundle_bytes, (c.family == ModelFamily::Opt ? 2 * 48 + 1 : 3 * 48) * element);
      EXPECT_EQ(L.order, placement.layers[std::size_t(l)].order);
      // Every bundle is where offsetOf says, holding that neuron's weights; consecutive slots
      // are contiguous in placement order.
      auto all = readBytes(path, L.data_offset, std::size_t(L.neurons * L.bundle_bytes));
      for (std::int32_t k = 0; k < L.neurons; ++k) {
        const auto neuron = L.order[std::size_t(k)];
        auto want = expectedBundle(m, l, neuron);
        ASSERT_EQ(std::int64_t(want.size()), L.bundle_bytes);
        ASSERT_EQ(L.offsetOf(neuron), L.data_offset + std::uint64_t(k * L.bundle_bytes));
        ASSERT_EQ(0, std::memcmp(all.data() + k * L.bundle_bytes, want.data(), want.size()))
            << "layer " << l << " slot " << k << " neuron " << neuron;
      }
    }
    runJob([&](JobContext& ctx) { verifyFlashLayout(path, ctx); });
  }
}

TEST(FlashLayout, FlippedByteNamesTheLayer) {
  auto g = gen();
  test::TempDir dir;
  auto m = tinyModel(ModelFamily::Llama, 90, g);
  model::saveCheckpoint(m, dir / "model");
  auto path = dir / "model.layout";
  runJob([&](JobContext& ctx) {
    writeFlashLayout(dir / "model", randomPlacement(3, 90), path, ctx);
  });
  auto layout = readFlashLayout(path);
  const auto& L = layout.layers[2];
  std::uniform_int_distribution<std::int64_t> pick(0, L.neurons * L.bundle_bytes - 1);
  flipByte(path, L.data_offset + std::uint64_t(pick(darkroom::test::rng())));
  EXPECT_NO_THROW(readFlashLayout(path));  // the header and tables are intact
  std::vector<LayerCheck> checks;
  runJob([&](JobContext& ctx) { checks = checkFlashLayout(path, ctx); });
  ASSERT_EQ(checks.size(), 3u);
  EXPECT_TRUE(checks[0].ok);
  EXPECT_TRUE(checks[1].ok);
  EXPECT_FALSE(checks[2].ok);
  auto error = errorOf([&] { runJob([&](JobContext& ctx) { verifyFlashLayout(path, ctx); }); });
  EXPECT_NE(error.find("layer 2"), std::string::npos) << error;
  EXPECT_NE(error.find("checksum"), std::string::npos) << error;

  // A flipped byte in layer 1's order array: reading refuses it, naming layer 1.
  runJob([&](JobContext& ctx) {
    writeFlashLayout(dir / "model", randomPlacement(3, 90), path, ctx);
  });
  {
    std::ifstream in(path, std::ios::binary);
    unsigned char entry[64];
    in.seekg(128 + 64);
    in.read(reinterpret_cast<char*>(entry), 64);
    std::uint64_t order_offset = 0;
    std::memcpy(&order_offset, entry + 32, 8);
    in.close();
    flipByte(path, order_offset + 5);
  }
  error = errorOf([&] { readFlashLayout(path); });
  EXPECT_NE(error.find("layer 1"), std::string::npos) << error;
  EXPECT_NE(error.find("order checksum"), std::string::npos) << error;

  // A flipped byte in the header or table: refused as such.
  runJob([&](JobContext& ctx) {
    writeFlashLayout(dir / "model", randomPlacement(3, 90), path, ctx);
  });
  flipByte(path, 128 + 64 * 2 + 8);  // layer 2's bundle size
  error = errorOf([&] { readFlashLayout(path); });
  EXPECT_NE(error.find("checksum"), std::string::npos) << error;
}

TEST(FlashLayout, TruncatedOrForeignFileIsRefused) {
  test::TempDir dir;
  auto path = dir / "t.layout";
  writeSyntheticLayout({64, 64}, 300, Placement{}, path);
  const auto size = fs::file_size(path);
  for (std::uint64_t keep : {size - 1, size - 4096, std::uint64_t(200), std::uint64_t(50),
                             std::uint64_t(0)}) {
    fs::copy_file(path, dir / "cut.layout", fs::copy_options::overwrite_existing);
    fs::resize_file(dir / "cut.layout", keep);
    auto error = errorOf([&] { readFlashLayout(dir / "cut.layout"); });
    EXPECT_NE(error.find("truncated"), std::string::npos) << keep << ": " << error;
    EXPECT_NE(error.find("cut.layout"), std::string::npos) << error;
    error = errorOf([&] { runJob([&](JobContext& ctx) { verifyFlashLayout(dir / "cut.layout", ctx); }); });
    EXPECT_NE(error.find("truncated"), std::string::npos) << keep << ": " << error;
  }
  {
    std::ofstream out(dir / "foreign.layout", std::ios::binary);
    out << std::string(8192, 'x');
  }
  auto error = errorOf([&] { readFlashLayout(dir / "foreign.layout"); });
  EXPECT_NE(error.find("not a Darkroom flash layout"), std::string::npos) << error;
  error = errorOf([&] { readFlashLayout(dir / "missing.layout"); });
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
}

namespace {

at::Tensor tokensFor(const model::Transformer& m, at::Generator& g) {
  return at::randint(m.config().vocab_size, {2, 11}, g, at::kLong);
}

// convert_hf_to_gguf's LLaMA q/k row order, written here independently of the exporter.
at::Tensor interleaveHeads(const at::Tensor& w, std::int64_t heads) {
  const auto rows = w.size(0), d = rows / heads;
  auto out = at::empty_like(w);
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t i = 0; i < d / 2; ++i) {
      out[h * d + 2 * i] = w[h * d + i];
      out[h * d + 2 * i + 1] = w[h * d + d / 2 + i];
    }
  return out;
}
at::Tensor deinterleaveHeads(const at::Tensor& w, std::int64_t heads) {
  const auto rows = w.size(0), d = rows / heads;
  auto out = at::empty_like(w);
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t i = 0; i < d / 2; ++i) {
      out[h * d + i] = w[h * d + 2 * i];
      out[h * d + d / 2 + i] = w[h * d + 2 * i + 1];
    }
  return out;
}

}  // namespace

TEST(FfnPermutation, LeavesLogitsUnchanged) {
  auto g = gen();
  for (auto family : {ModelFamily::Opt, ModelFamily::Llama}) {
    SCOPED_TRACE(toString(family));
    auto m = tinyModel(family, 77, g);
    auto placement = randomPlacement(m.config().num_layers, 77);
    auto orders = placementOrders(placement, m.config().num_layers, 77);
    auto permuted = model::Transformer(m.config(), permuteFfn(m, orders));
    // The FFN weights did move (the test would otherwise prove nothing).
    const auto p = m.layerPrefix(1);
    const auto up = family == ModelFamily::Opt ? "fc1.weight" : "mlp.up_proj.weight";
    EXPECT_FALSE(at::equal(m.weights().at(p + up), permuted.weights().at(p + up)));
    EXPECT_TRUE(at::equal(m.weights().at(p + up)[orders[1][5]], permuted.weights().at(p + up)[5]));
    at::NoGradGuard no_grad;
    auto tokens = tokensFor(m, g);
    auto a = m.forward(tokens), b = permuted.forward(tokens);
    EXPECT_LE((a - b).abs().max().item<double>(), 1e-4 * std::max(1.0, a.abs().max().item<double>()));
  }
  // A placement of the wrong shape is refused, naming the layer.
  auto m = tinyModel(ModelFamily::Opt, 20, g);
  auto bad = randomPlacement(3, 20);
  bad.layers[2].order.pop_back();
  auto error = errorOf([&] { placementOrders(bad, 3, 20); });
  EXPECT_NE(error.find("layer 2"), std::string::npos) << error;
  EXPECT_NE(errorOf([&] { placementOrders(randomPlacement(2, 20), 3, 20); }).find("2 layers"),
            std::string::npos);
}

TEST(Gguf, ExportParsesAndMatchesThePermutedModel) {
  auto g = gen();
  struct Case {
    ModelFamily family;
    at::ScalarType dtype;
  };
  for (const auto& c : {Case{ModelFamily::Opt, at::kFloat}, Case{ModelFamily::Llama, at::kFloat},
                        Case{ModelFamily::Llama, at::kHalf}}) {
    SCOPED_TRACE(std::string(toString(c.family)) + (c.dtype == at::kHalf ? " f16" : " f32"));
    test::TempDir dir;
    auto m = tinyModel(c.family, 72, g, c.dtype);
    const auto& config = m.config();
    model::saveCheckpoint(m, dir / "model");
    auto placement = randomPlacement(config.num_layers, 72);
    auto path = dir / "model.gguf";
    runJob([&](JobContext& ctx) { exportGguf(dir / "model", placement, path, ctx); });
    EXPECT_FALSE(fs::exists(dir / "model.gguf.partial"));
    auto file = readGguf(path);
    EXPECT_EQ(file.version, 3u);
    EXPECT_EQ(file.alignment, 32u);
    EXPECT_EQ(file.data_offset % 32, 0u);
    const bool opt = c.family == ModelFamily::Opt;
    const std::string arch = opt ? "opt" : "llama";
    EXPECT_EQ(file.at("general.architecture").asString(), arch);
    EXPECT_EQ(file.at("general.name").asString(), "model");
    EXPECT_EQ(file.at(arch + ".block_count").asUint(), 3u);
    EXPECT_EQ(file.at(arch + ".embedding_length").asUint(), 48u);
    EXPECT_EQ(file.at(arch + ".feed_forward_length").asUint(), 72u);
    EXPECT_EQ(file.at(arch + ".context_length").asUint(), 64u);
    EXPECT_EQ(file.at(arch + ".attention.head_count").asUint(), 4u);
    EXPECT_EQ(file.at(arch + ".attention.head_count_kv").asUint(), opt ? 4u : 2u);
    if (!opt) {
      EXPECT_FLOAT_EQ(float(file.at("llama.rope.freq_base").asDouble()), 10000.0f);
      EXPECT_FLOAT_EQ(float(file.at("llama.attention.layer_norm_rms_epsilon").asDouble()), 1e-6f);
      EXPECT_EQ(file.at("llama.rope.dimension_count").asUint(), 12u);
    }
    EXPECT_EQ(file.at("darkroom.placement.method").asString(), "greedy");
    const auto& stored_order = file.at("darkroom.placement.order.2").asArray();
    ASSERT_EQ(stored_order.size(), 72u);
    for (std::size_t k = 0; k < 72; ++k)
      EXPECT_EQ(std::int32_t(stored_order[k].asDouble()), placement.layers[2].order[k]);

    // The tensor table: one entry per checkpoint tensor under its llama.cpp-style name, dims
    // reversed, holding the FFN-permuted (and, for LLaMA, rope-reordered) weights.
    auto orders = placementOrders(placement, config.num_layers, 72);
    auto expected = permuteFfn(m, orders);
    const auto specs = model::expectedTensors(config);
    ASSERT_EQ(file.tensors.size(), specs.size());
    model::Weights back;  // the model rebuilt from the GGUF file
    for (const auto& t : file.tensors) {
      // Map back to the Hugging Face name.
      std::string hf;
      if (t.name.rfind("blk.", 0) == 0) {
        auto dot = t.name.find('.', 4);
        const auto layer = std::stoi(t.name.substr(4, dot - 4));
        auto rest = t.name.substr(dot + 1);
        static const std::map<std::string, std::string> opt_map = {
            {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"},
            {"attn_v", "self_attn.v_proj"}, {"attn_output", "self_attn.out_proj"},
            {"attn_norm", "self_attn_layer_norm"}, {"ffn_norm", "final_layer_norm"},
            {"ffn_up", "fc1"}, {"ffn_down", "fc2"}};
        static const std::map<std::string, std::string> llama_map = {
            {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"},
            {"attn_v", "self_attn.v_proj"}, {"attn_output", "self_attn.o_proj"},
            {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"},
            {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"}, {"ffn_down", "mlp.down_proj"}};
        auto dot2 = rest.find('.');
        const auto& table = opt ? opt_map : llama_map;
        ASSERT_TRUE(table.count(rest.substr(0, dot2))) << t.name;
        hf = m.layerPrefix(layer) + table.at(rest.substr(0, dot2)) + rest.substr(dot2);
      } else {
        static const std::map<std::string, std::string> top_opt = {
            {"token_embd.weight", "model.decoder.embed_tokens.weight"},
            {"position_embd.weight", "model.decoder.embed_positions.weight"},
            {"proj_in.weight", "model.decoder.project_in.weight"},
            {"proj_out.weight", "model.decoder.project_out.weight"},
            {"output_norm.weight", "model.decoder.final_layer_norm.weight"},
            {"output_norm.bias", "model.decoder.final_layer_norm.bias"},
            {"output.weight", "lm_head.weight"}};
        static const std::map<std::string, std::string> top_llama = {
            {"token_embd.weight", "model.embed_tokens.weight"},
            {"output_norm.weight", "model.norm.weight"},
            {"output.weight", "lm_head.weight"}};
        const auto& table = opt ? top_opt : top_llama;
        ASSERT_TRUE(table.count(t.name)) << t.name;
        hf = table.at(t.name);
      }
      ASSERT_TRUE(expected.count(hf)) << t.name << " -> " << hf;
      ASSERT_FALSE(back.count(hf)) << hf << " twice";
      const auto& want = expected.at(hf);
      ASSERT_EQ(t.shape(), want.sizes().vec()) << t.name;
      ASSERT_EQ(t.dims.front(), std::uint64_t(want.size(want.dim() - 1))) << t.name;
      const std::uint32_t want_type =
          want.dim() == 1 ? kGgmlF32 : c.dtype == at::kHalf ? kGgmlF16 : kGgmlF32;
      EXPECT_EQ(t.type, want_type) << t.name;
      auto values = readGgufTensor(file, t);
      auto got = at::from_blob(values.data(), t.shape(), at::kFloat).clone();
      at::Tensor reference = want.to(at::kFloat);
      const bool q = t.name.find(".attn_q.") != std::string::npos;
      const bool k = t.name.find(".attn_k.") != std::string::npos;
      if (!opt && (q || k)) {
        const auto heads = q ? config.num_heads : config.num_kv_heads;
        reference = interleaveHeads(reference, heads);
        EXPECT_TRUE(at::equal(got, reference)) << t.name << " (rope row order)";
        got = deinterleaveHeads(got, heads);
      } else {
        EXPECT_TRUE(at::equal(got, reference)) << t.name;
      }
      back[hf] = got;
    }
    EXPECT_EQ(back.size(), specs.size());
    // The model read back from the file computes what the original does.
    model::Transformer from_gguf(config, back);
    auto original = m.to(at::kFloat, at::kCPU);
    at::NoGradGuard no_grad;
    auto tokens = tokensFor(m, g);
    auto a = original.forward(tokens), b = from_gguf.forward(tokens);
    EXPECT_LE((a - b).abs().max().item<double>(), 1e-4 * std::max(1.0, a.abs().max().item<double>()));
  }
}

TEST(Gguf, ReaderRefusesDamagedFiles) {
  auto g = gen();
  test::TempDir dir;
  auto m = tinyModel(ModelFamily::Llama, 40, g);
  model::saveCheckpoint(m, dir / "model");
  auto path = dir / "model.gguf";
  runJob([&](JobContext& ctx) { exportGguf(dir / "model", Placement{}, path, ctx); });
  auto file = readGguf(path);
  EXPECT_EQ(file.at("darkroom.placement.method").asString(), "identity");
  const auto size = fs::file_size(path);
  for (std::uint64_t keep : {size - 1, file.data_offset, std::uint64_t(100), std::uint64_t(10)}) {
    fs::copy_file(path, dir / "cut.gguf", fs::copy_options::overwrite_existing);
    fs::resize_file(dir / "cut.gguf", keep);
    auto error = errorOf([&] { readGguf(dir / "cut.gguf"); });
    EXPECT_NE(error.find("truncated"), std::string::npos) << keep << ": " << error;
    EXPECT_NE(error.find("cut.gguf"), std::string::npos) << error;
  }
  // A huge string length in the first key.
  fs::copy_file(path, dir / "bad.gguf", fs::copy_options::overwrite_existing);
  flipByte(dir / "bad.gguf", 24 + 6);
  auto error = errorOf([&] { readGguf(dir / "bad.gguf"); });
  EXPECT_NE(error.find("too long"), std::string::npos) << error;
  {
    std::ofstream out(dir / "foreign.gguf", std::ios::binary);
    out << std::string(100, 'x');
  }
  error = errorOf([&] { readGguf(dir / "foreign.gguf"); });
  EXPECT_NE(error.find("not a GGUF file"), std::string::npos) << error;
}

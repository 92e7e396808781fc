// A decoder-only transformer's shape, as read from a Hugging Face config.json. Plain data: the
// GUI and the CLI use it to describe a model without touching LibTorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

namespace darkroom {

class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// OPT: learned positions, LayerNorm, MHA with biases, fc1/fc2 MLP.
// Llama: RMSNorm, rotary positions, grouped-query attention, gated gate/up/down MLP; also
// Qwen2 (q/k/v biases) and Mistral.
enum class ModelFamily { Opt, Llama };
const char* toString(ModelFamily family);

struct ModelConfig {
  ModelFamily family = ModelFamily::Llama;
  std::string model_type;  // as in config.json: "opt", "llama", "qwen2", "mistral"
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;  // == num_heads without GQA
  std::int64_t intermediate_size = 0;
  std::int64_t max_positions = 0;
  std::string activation = "silu";  // "relu", "silu", "gelu", "gelu_new"
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;       // Llama family
  bool tie_embeddings = false;
  bool qkv_bias = false;             // Qwen2; OPT has biases everywhere
  bool layer_norm_before = true;     // OPT: false for the post-LN OPT-350m
  std::int64_t word_embed_proj_dim = 0;  // OPT: != hidden_size means project_in/out exist
  std::optional<std::int64_t> bos_token_id, eos_token_id;
  std::string torch_dtype;           // what the checkpoint says it holds

  std::int64_t headDim() const { return hidden_size / num_heads; }
  // Throws ModelError when the numbers cannot describe a model (zero sizes, heads not
  // dividing the hidden size, kv heads not dividing heads).
  void validate() const;
  std::int64_t parameterCount() const;
};

// Reads and validates config.json; errors name the file and the field.
ModelConfig readModelConfig(const std::filesystem::path& config_json);
std::string modelConfigJson(const ModelConfig& config);  // the same fields back as config.json

}  // namespace darkroom

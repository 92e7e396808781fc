#include "darkroom/model_config.h"

#include <fstream>
#include <nlohmann/json.hpp>

namespace darkroom {

using nlohmann::json;

const char* toString(ModelFamily family) { return family == ModelFamily::Opt ? "opt" : "llama"; }

void ModelConfig::validate() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw ModelError("config: " + what);
  };
  need(vocab_size > 0, "vocab_size must be positive");
  need(hidden_size > 0, "hidden_size must be positive");
  need(num_layers > 0, "num_hidden_layers must be positive");
  need(num_heads > 0 && hidden_size % num_heads == 0,
       "num_attention_heads must divide hidden_size");
  need(num_kv_heads > 0 && num_heads % num_kv_heads == 0,
       "num_key_value_heads must divide num_attention_heads");
  need(intermediate_size > 0, "intermediate_size (ffn_dim) must be positive");
  need(headDim() % 2 == 0 || family == ModelFamily::Opt, "rotary embeddings need an even head dim");
  need(activation == "relu" || activation == "silu" || activation == "gelu" ||
           activation == "gelu_new",
       "activation '" + activation + "' is not supported (relu, silu, gelu, gelu_new)");
}

std::int64_t ModelConfig::parameterCount() const {
  const std::int64_t h = hidden_size, f = intermediate_size, kv = num_kv_heads * headDim();
  std::int64_t per_layer, embed;
  if (family == ModelFamily::Opt) {
    std::int64_t e = word_embed_proj_dim > 0 ? word_embed_proj_dim : h;
    per_layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 4 * h;
    embed = vocab_size * e + (max_positions + 2) * h + 2 * h + (e != h ? 2 * e * h : 0);
  } else {
    per_layer = h * h + 2 * h * kv + h * h + 3 * h * f + 2 * h + (qkv_bias ? h + 2 * kv : 0);
    embed = vocab_size * h * (tie_embeddings ? 1 : 2) + h;
  }
  return num_layers * per_layer + embed;
}

namespace {

std::int64_t getInt(const json& j, const char* key, const std::filesystem::path& file) {
  if (!j.contains(key)) throw ModelError(file.string() + ": missing \"" + key + "\"");
  if (!j[key].is_number_integer())
    throw ModelError(file.string() + ": \"" + key + "\" must be an integer");
  return j[key].get<std::int64_t>();
}

template <typename T>
T getOr(const json& j, const char* key, T fallback) {
  return j.contains(key) && !j[key].is_null() ? j[key].get<T>() : fallback;
}

std::optional<std::int64_t> tokenId(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number_integer()) return std::nullopt;  // may be a list
  return j[key].get<std::int64_t>();
}

}  // namespace

ModelConfig readModelConfig(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw ModelError(file.string() + ": cannot open (a model folder needs config.json)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw ModelError(file.string() + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw ModelError(file.string() + ": not a JSON object");
  ModelConfig c;
  try {
    c.model_type = getOr<std::string>(j, "model_type", "");
    if (c.model_type == "opt") {
      c.family = ModelFamily::Opt;
      c.hidden_size = getInt(j, "hidden_size", file);
      c.num_layers = getInt(j, "num_hidden_layers", file);
      c.num_heads = getInt(j, "num_attention_heads", file);
      c.num_kv_heads = c.num_heads;
      c.intermediate_size = getInt(j, "ffn_dim", file);
      c.max_positions = getInt(j, "max_position_embeddings", file);
      c.activation = getOr<std::string>(j, "activation_function", "relu");
      c.layer_norm_before = getOr<bool>(j, "do_layer_norm_before", true);
      c.word_embed_proj_dim = getOr<std::int64_t>(j, "word_embed_proj_dim", c.hidden_size);
      c.tie_embeddings = getOr<bool>(j, "tie_word_embeddings", true);
      c.norm_eps = 1e-5;
    } else if (c.model_type == "llama" || c.model_type == "qwen2" || c.model_type == "mistral") {
      c.family = ModelFamily::Llama;
      c.hidden_size = getInt(j, "hidden_size", file);
      c.num_layers = getInt(j, "num_hidden_layers", file);
      c.num_heads = getInt(j, "num_attention_heads", file);
      c.num_kv_heads = getOr<std::int64_t>(j, "num_key_value_heads", c.num_heads);
      c.intermediate_size = getInt(j, "intermediate_size", file);
      c.max_positions = getOr<std::int64_t>(j, "max_position_embeddings", 2048);
      c.activation = getOr<std::string>(j, "hidden_act", "silu");
      c.norm_eps = getOr<double>(j, "rms_norm_eps", 1e-6);
      c.rope_theta = getOr<double>(j, "rope_theta", 10000.0);
      c.tie_embeddings = getOr<bool>(j, "tie_word_embeddings", false);
      c.qkv_bias = getOr<bool>(j, "attention_bias", c.model_type == "qwen2");
      if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
        throw ModelError(file.string() + ": rope_scaling " + j["rope_scaling"].dump() +
                         " is not supported yet (plain rotary embeddings only)");
      if (j.contains("head_dim") && j["head_dim"].is_number_integer() &&
          j["head_dim"].get<std::int64_t>() * c.num_heads != c.hidden_size)
        throw ModelError(file.string() + ": head_dim × num_attention_heads != hidden_size is "
                         "not supported");
    } else {
      throw ModelError(file.string() + ": model_type \"" + c.model_type +
                       "\" is not supported (opt, llama, qwen2, mistral)");
    }
    c.vocab_size = getInt(j, "vocab_size", file);
    c.bos_token_id = tokenId(j, "bos_token_id");
    c.eos_token_id = tokenId(j, "eos_token_id");
    c.torch_dtype = getOr<std::string>(j, "torch_dtype", "float32");
  } catch (const json::exception& e) {
    throw ModelError(file.string() + ": a field has the wrong type: " + e.what());
  }
  try {
    c.validate();
  } catch (const ModelError& e) {
    throw ModelError(file.string() + ": " + e.what());
  }
  return c;
}

std::string modelConfigJson(const ModelConfig& c) {
  json j;
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["max_position_embeddings"] = c.max_positions;
  j["torch_dtype"] = c.torch_dtype.empty() ? "float32" : c.torch_dtype;
  j["tie_word_embeddings"] = c.tie_embeddings;
  if (c.bos_token_id) j["bos_token_id"] = *c.bos_token_id;
  if (c.eos_token_id) j["eos_token_id"] = *c.eos_token_id;
  if (c.family == ModelFamily::Opt) {
    j["ffn_dim"] = c.intermediate_size;
    j["activation_function"] = c.activation;
    j["do_layer_norm_before"] = c.layer_norm_before;
    j["word_embed_proj_dim"] = c.word_embed_proj_dim > 0 ? c.word_embed_proj_dim : c.hidden_size;
  } else {
    j["num_key_value_heads"] = c.num_kv_heads;
    j["intermediate_size"] = c.intermediate_size;
    j["hidden_act"] = c.activation;
    j["rms_norm_eps"] = c.norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["attention_bias"] = c.qkv_bias;
  }
  return j.dump(2);
}

}  // namespace darkroom

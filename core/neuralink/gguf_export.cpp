// GGUF v3 export of a model with its FFN neurons in placement order (docs/flash-layout.md,
// "GGUF export"): llama.cpp's tensor names and metadata keys for the Llama family, the same
// pattern under the architecture "opt" for OPT (llama.cpp has no OPT architecture).
#include <ATen/ATen.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "darkroom/neuralink/flash_layout.h"
#include "darkroom/neuralink/gguf.h"
#include "darkroom/neuralink/trace.h"
#include "neuralink/ffn_permute.h"

namespace darkroom::neuralink {
namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kGgufVersion = 3;
constexpr std::uint64_t kAlignment = 32;

class Bytes {
 public:
  void raw(const void* p, std::size_t n) {
    auto b = static_cast<const unsigned char*>(p);
    data_.insert(data_.end(), b, b + n);
  }
  template <typename T>
  void number(T v) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little-endian host (checked)
    raw(b, sizeof(T));
  }
  void string(const std::string& s) {
    number<std::uint64_t>(s.size());
    raw(s.data(), s.size());
  }
  void pad(std::uint64_t alignment) {
    while (data_.size() % alignment) data_.push_back(0);
  }
  const std::vector<unsigned char>& data() const { return data_; }

 private:
  std::vector<unsigned char> data_;
};

class Metadata {
 public:
  void u32(const std::string& key, std::uint64_t v) {
    head(key, GgufType::U32);
    bytes_.number<std::uint32_t>(static_cast<std::uint32_t>(v));
  }
  void f32(const std::string& key, double v) {
    head(key, GgufType::F32);
    bytes_.number<float>(static_cast<float>(v));
  }
  void boolean(const std::string& key, bool v) {
    head(key, GgufType::Bool);
    bytes_.number<std::uint8_t>(v ? 1 : 0);
  }
  void str(const std::string& key, const std::string& v) {
    head(key, GgufType::String);
    bytes_.string(v);
  }
  void i32s(const std::string& key, const std::vector<std::int32_t>& v) {
    head(key, GgufType::Array);
    bytes_.number<std::uint32_t>(std::uint32_t(GgufType::I32));
    bytes_.number<std::uint64_t>(v.size());
    for (auto x : v) bytes_.number<std::int32_t>(x);
  }
  std::uint64_t count() const { return count_; }
  const Bytes& bytes() const { return bytes_; }

 private:
  void head(const std::string& key, GgufType type) {
    bytes_.string(key);
    bytes_.number<std::uint32_t>(std::uint32_t(type));
    ++count_;
  }
  Bytes bytes_;
  std::uint64_t count_ = 0;
};

// The GGUF name of a checkpoint tensor; empty for tensors the export leaves out.
std::string ggufName(const ModelConfig& c, const std::string& name) {
  const bool opt = c.family == ModelFamily::Opt;
  if (opt) {
    if (name == "model.decoder.embed_tokens.weight") return "token_embd.weight";
    if (name == "model.decoder.embed_positions.weight") return "position_embd.weight";
    if (name == "model.decoder.project_in.weight") return "proj_in.weight";
    if (name == "model.decoder.project_out.weight") return "proj_out.weight";
    if (name == "model.decoder.final_layer_norm.weight") return "output_norm.weight";
    if (name == "model.decoder.final_layer_norm.bias") return "output_norm.bias";
  } else {
    if (name == "model.embed_tokens.weight") return "token_embd.weight";
    if (name == "model.norm.weight") return "output_norm.weight";
  }
  if (name == "lm_head.weight") return "output.weight";
  const std::string layers = opt ? "model.decoder.layers." : "model.layers.";
  if (name.rfind(layers, 0) != 0) return {};
  const auto dot = name.find('.', layers.size());
  if (dot == std::string::npos) return {};
  const std::string index = name.substr(layers.size(), dot - layers.size());
  const std::string rest = name.substr(dot + 1);
  static const std::vector<std::pair<std::string, std::string>> opt_parts = {
      {"self_attn.q_proj.", "attn_q."},         {"self_attn.k_proj.", "attn_k."},
      {"self_attn.v_proj.", "attn_v."},         {"self_attn.out_proj.", "attn_output."},
      {"self_attn_layer_norm.", "attn_norm."},  {"final_layer_norm.", "ffn_norm."},
      {"fc1.", "ffn_up."},                      {"fc2.", "ffn_down."}};
  static const std::vector<std::pair<std::string, std::string>> llama_parts = {
      {"self_attn.q_proj.", "attn_q."},          {"self_attn.k_proj.", "attn_k."},
      {"self_attn.v_proj.", "attn_v."},          {"self_attn.o_proj.", "attn_output."},
      {"input_layernorm.", "attn_norm."},        {"post_attention_layernorm.", "ffn_norm."},
      {"mlp.gate_proj.", "ffn_gate."},           {"mlp.up_proj.", "ffn_up."},
      {"mlp.down_proj.", "ffn_down."}};
  for (const auto& [hf, gg] : opt ? opt_parts : llama_parts)
    if (rest.rfind(hf, 0) == 0) return "blk." + index + "." + gg + rest.substr(hf.size());
  return {};
}

// llama.cpp's LLaMA architecture applies rotary embedding to interleaved pairs (x0, x1), (x2,
// x3), ...; Hugging Face rotates halves (x_i, x_{i+d/2}). convert_hf_to_gguf.py reorders the
// rows of q_proj and k_proj per head to match; so does this export.
at::Tensor ropePermute(const at::Tensor& w, std::int64_t heads) {
  auto shape = w.sizes().vec();
  std::vector<std::int64_t> split = {heads, 2, w.size(0) / heads / 2};
  for (std::size_t i = 1; i < shape.size(); ++i) split.push_back(shape[i]);
  return w.reshape(split).transpose(1, 2).reshape(shape).contiguous();
}

}  // namespace

void exportGguf(const fs::path& model_dir, const Placement& placement, const fs::path& path,
                JobContext& ctx) {
  {
    const std::uint32_t one = 1;
    unsigned char b;
    std::memcpy(&b, &one, 1);
    if (b != 1) throw NeuralinkError("GGUF files are little-endian; this host is not");
  }
  ctx.progress(0, "loading " + model_dir.string());
  auto model = loadInOwnDtype(model_dir);
  const auto& c = model.config();
  const auto orders = placementOrders(placement, c.num_layers, c.intermediate_size);
  auto weights = permuteFfn(model, orders);
  const bool opt = c.family == ModelFamily::Opt;
  const std::string arch = opt ? "opt" : c.model_type == "qwen2" ? "qwen2" : "llama";
  const bool rope_permute = arch == "llama";

  const auto dtype = model.dtype();
  const std::uint32_t matrix_type = dtype == at::kHalf       ? kGgmlF16
                                    : dtype == at::kBFloat16 ? kGgmlBF16
                                                             : kGgmlF32;
  Metadata meta;
  meta.str("general.architecture", arch);
  auto name = fs::absolute(model_dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(model_dir).lexically_normal().parent_path().filename().string();
  meta.str("general.name", name);
  meta.u32("general.alignment", kAlignment);
  meta.u32("general.file_type", matrix_type == kGgmlF16 ? 1 : matrix_type == kGgmlBF16 ? 32 : 0);
  meta.u32(arch + ".vocab_size", std::uint64_t(c.vocab_size));
  meta.u32(arch + ".context_length", std::uint64_t(c.max_positions));
  meta.u32(arch + ".embedding_length", std::uint64_t(c.hidden_size));
  meta.u32(arch + ".block_count", std::uint64_t(c.num_layers));
  meta.u32(arch + ".feed_forward_length", std::uint64_t(c.intermediate_size));
  meta.u32(arch + ".attention.head_count", std::uint64_t(c.num_heads));
  meta.u32(arch + ".attention.head_count_kv", std::uint64_t(c.num_kv_heads));
  if (opt) {
    meta.f32("opt.attention.layer_norm_epsilon", 1e-5);
    meta.str("opt.activation", c.activation);
    meta.boolean("opt.layer_norm_before", c.layer_norm_before);
    meta.u32("opt.word_embed_proj_dim",
             std::uint64_t(c.word_embed_proj_dim > 0 ? c.word_embed_proj_dim : c.hidden_size));
    meta.u32("opt.position_offset", 2);  // OPT's learned positions start at row 2
  } else {
    meta.f32(arch + ".rope.freq_base", c.rope_theta);
    meta.u32(arch + ".rope.dimension_count", std::uint64_t(c.headDim()));
    meta.f32(arch + ".attention.layer_norm_rms_epsilon", c.norm_eps);
  }
  if (c.bos_token_id) meta.u32("tokenizer.ggml.bos_token_id", std::uint64_t(*c.bos_token_id));
  if (c.eos_token_id) meta.u32("tokenizer.ggml.eos_token_id", std::uint64_t(*c.eos_token_id));
  meta.str("darkroom.source_model_type", c.model_type);
  meta.boolean("darkroom.rope_permuted", rope_permute);
  meta.str("darkroom.placement.method",
           toString(placement.layers.empty() ? PlacementMethod::Identity : placement.method));
  for (std::size_t l = 0; l < orders.size(); ++l)
    meta.i32s("darkroom.placement.order." + std::to_string(l), orders[l]);

  // Tensors in the checkpoint's canonical order.
  struct Entry {
    std::string gguf, hf;
    std::uint32_t type;
    std::uint64_t offset, bytes;
  };
  std::vector<Entry> entries;
  std::uint64_t offset = 0;
  for (const auto& spec : model::expectedTensors(c)) {
    auto gg = ggufName(c, spec.name);
    if (gg.empty()) throw NeuralinkError("no GGUF name for tensor " + spec.name);
    const auto& t = weights.at(spec.name);
    const std::uint32_t type = t.dim() == 1 ? kGgmlF32 : matrix_type;  // norms, biases: F32
    const std::uint64_t bytes = std::uint64_t(t.numel()) * (type == kGgmlF32 ? 4 : 2);
    entries.push_back({gg, spec.name, type, offset, bytes});
    offset = (offset + bytes + kAlignment - 1) / kAlignment * kAlignment;
  }
  Bytes head;
  head.raw("GGUF", 4);
  head.number<std::uint32_t>(kGgufVersion);
  head.number<std::uint64_t>(entries.size());
  head.number<std::uint64_t>(meta.count());
  head.raw(meta.bytes().data().data(), meta.bytes().data().size());
  for (const auto& e : entries) {
    const auto& t = weights.at(e.hf);
    head.string(e.gguf);
    head.number<std::uint32_t>(std::uint32_t(t.dim()));
    for (std::int64_t d = t.dim() - 1; d >= 0; --d) head.number<std::uint64_t>(t.size(d));
    head.number<std::uint32_t>(e.type);
    head.number<std::uint64_t>(e.offset);
  }
  head.pad(kAlignment);

  auto partial = path;
  partial += ".partial";
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::FILE* f = std::fopen(partial.c_str(), "wb");
  if (!f) throw NeuralinkError(partial.string() + ": cannot create: " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    if (f) std::fclose(f);
    f = nullptr;
    std::error_code ec;
    fs::remove(partial, ec);
    return NeuralinkError(partial.string() + ": " + what);
  };
  try {
    auto write = [&](const void* p, std::size_t n) {
      if (n && std::fwrite(p, 1, n, f) != n) throw fail(std::string("write failed: ") + std::strerror(errno));
    };
    write(head.data().data(), head.data().size());
    std::uint64_t at = 0;
    const unsigned char zeros[kAlignment] = {};
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      write(zeros, std::size_t(e.offset - at));
      at = e.offset;
      at::Tensor t = weights.at(e.hf);
      if (rope_permute && e.gguf.find(".attn_q.") != std::string::npos)
        t = ropePermute(t, c.num_heads);
      if (rope_permute && e.gguf.find(".attn_k.") != std::string::npos)
        t = ropePermute(t, c.num_kv_heads);
      const auto st = e.type == kGgmlF32 ? at::kFloat : e.type == kGgmlF16 ? at::kHalf : at::kBFloat16;
      t = t.to(at::kCPU, st).contiguous();
      if (std::uint64_t(t.nbytes()) != e.bytes) throw fail("tensor " + e.hf + ": size mismatch");
      write(t.data_ptr(), t.nbytes());
      at += e.bytes;
      ctx.progress(0.1 + 0.9 * double(i + 1) / double(entries.size()), "writing " + e.gguf);
    }
    if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0)
      throw fail(std::string("flush failed: ") + std::strerror(errno));
    std::fclose(f);
    f = nullptr;
    fs::rename(partial, path);
  } catch (...) {
    if (f) {
      std::fclose(f);
      std::error_code ec;
      fs::remove(partial, ec);
    }
    throw;
  }
}

}  // namespace darkroom::neuralink

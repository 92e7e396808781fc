// Bit-packed activation traces and their safetensors form.
#include "darkroom/neuralink/trace.h"

#include <cstring>
#include <map>

#include "darkroom/safetensors.h"

namespace darkroom::neuralink {
namespace fs = std::filesystem;

void LayerTrace::addToken(const std::vector<std::int32_t>& active_neurons) {
  const std::int64_t w = words();
  const std::size_t start = bits.size();
  bits.resize(start + std::size_t(w), 0);
  std::uint64_t* r = bits.data() + start;
  for (std::int32_t n : active_neurons) {
    if (n < 0 || n >= neurons) {
      bits.resize(start);
      throw NeuralinkError("neuron " + std::to_string(n) + " is outside a layer of " +
                           std::to_string(neurons) + " neurons");
    }
    r[n >> 6] |= std::uint64_t{1} << (n & 63);
  }
  ++tokens;
}

std::vector<std::int32_t> LayerTrace::activeNeurons(std::int64_t token) const {
  std::vector<std::int32_t> out;
  const std::uint64_t* r = row(token);
  for (std::int64_t w = 0; w < words(); ++w)
    for (std::uint64_t b = r[w]; b; b &= b - 1)
      out.push_back(std::int32_t(w * 64 + __builtin_ctzll(b)));
  return out;
}

void ActivationTrace::save(const fs::path& path) const {
  std::vector<std::string> names(layers.size());
  std::vector<TensorToWrite> tensors;
  std::map<std::string, std::string> metadata = {{"darkroom.kind", "activation-trace"},
                                                 {"source", source},
                                                 {"layers", std::to_string(layers.size())}};
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& layer = layers[l];
    if (layer.neurons < 0 || layer.tokens < 0 ||
        layer.bits.size() != std::size_t(layer.tokens * layer.words()))
      throw NeuralinkError(path.string() + ": layer " + std::to_string(l) +
                           " has a bit array that does not match its tokens and neurons");
    if (layer.tokens != layers[0].tokens)
      throw NeuralinkError(path.string() + ": layer " + std::to_string(l) + " has " +
                           std::to_string(layer.tokens) + " tokens, layer 0 has " +
                           std::to_string(layers[0].tokens));
    names[l] = "layer." + std::to_string(l);
    tensors.push_back({names[l], DType::U8, {layer.tokens, layer.words() * 8},
                       layer.bits.data(), layer.bits.size() * sizeof(std::uint64_t)});
    metadata["neurons." + std::to_string(l)] = std::to_string(layer.neurons);
  }
  try {
    writeSafetensors(path, tensors, metadata);
  } catch (const SafetensorsError& e) {
    throw NeuralinkError(e.what());
  }
}

ActivationTrace ActivationTrace::load(const fs::path& path) {
  const std::string where = path.string() + ": ";
  ActivationTrace trace;
  try {
    auto file = SafetensorsFile::open(path);
    const auto& meta = file.metadata();
    auto get = [&](const std::string& key) -> const std::string& {
      auto it = meta.find(key);
      if (it == meta.end()) throw NeuralinkError(where + "metadata lacks \"" + key + "\"");
      return it->second;
    };
    auto number = [&](const std::string& key, std::int64_t max) {
      const std::string& text = get(key);
      std::size_t used = 0;
      long long v = -1;
      try {
        v = std::stoll(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != text.size() || v < 0 || v > max)
        throw NeuralinkError(where + "metadata \"" + key + "\" is not a count up to " +
                             std::to_string(max) + ": \"" + text + "\"");
      return std::int64_t(v);
    };
    if (auto it = meta.find("source"); it != meta.end()) trace.source = it->second;
    const std::int64_t layers = number("layers", 1 << 20);
    for (std::int64_t l = 0; l < layers; ++l) {
      const std::string name = "layer." + std::to_string(l);
      LayerTrace layer;
      layer.neurons = number("neurons." + std::to_string(l), std::int64_t{1} << 31);
      const TensorView* view = file.find(name);
      if (!view) throw NeuralinkError(where + "missing tensor " + name);
      if (view->dtype != DType::U8 || view->shape.size() != 2 ||
          view->shape[1] != layer.words() * 8)
        throw NeuralinkError(where + name + " should be U8 [tokens, " +
                             std::to_string(layer.words() * 8) + "] for " +
                             std::to_string(layer.neurons) + " neurons");
      layer.tokens = view->shape[0];
      if (l > 0 && layer.tokens != trace.layers[0].tokens)
        throw NeuralinkError(where + name + " has " + std::to_string(layer.tokens) +
                             " tokens, layer.0 has " + std::to_string(trace.layers[0].tokens));
      layer.bits.resize(view->bytes / 8);
      if (view->bytes) std::memcpy(layer.bits.data(), view->data, view->bytes);
      // Bits past the last neuron must be clear, or counts would see phantom neurons.
      if (layer.neurons % 64 != 0) {
        const std::uint64_t tail = ~std::uint64_t{0} << (layer.neurons % 64);
        for (std::int64_t t = 0; t < layer.tokens; ++t)
          if (layer.row(t)[layer.words() - 1] & tail)
            throw NeuralinkError(where + name + ": token " + std::to_string(t) +
                                 " marks a neuron past the layer's " +
                                 std::to_string(layer.neurons));
      }
      trace.layers.push_back(std::move(layer));
    }
  } catch (const SafetensorsError& e) {
    throw NeuralinkError(e.what());
  }
  return trace;
}

}  // namespace darkroom::neuralink

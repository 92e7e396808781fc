// Which FFN neurons each token activated, per layer: the input of co-activation counting (coact)
// and of the I/O engine's replays (io). Bit-packed: one row of ceil(neurons / 64) words per token.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace darkroom::neuralink {

class NeuralinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LayerTrace {
  std::int64_t neurons = 0;
  std::int64_t tokens = 0;
  std::vector<std::uint64_t> bits;  // [tokens][words()] row-major; bit j of word w = neuron 64w+j

  std::int64_t words() const { return (neurons + 63) / 64; }
  const std::uint64_t* row(std::int64_t token) const { return bits.data() + token * words(); }
  bool active(std::int64_t token, std::int64_t neuron) const {
    return (row(token)[neuron >> 6] >> (neuron & 63)) & 1u;
  }
  void addToken(const std::vector<std::int32_t>& active_neurons);  // appends one row
  std::vector<std::int32_t> activeNeurons(std::int64_t token) const;  // ascending
};

struct ActivationTrace {
  std::string source;             // "demo-opt on the built-in corpus", "synthetic 7B power-law"
  std::vector<LayerTrace> layers;  // all with the same token count

  // Safetensors: one U8 tensor "layer.N" [tokens, words * 8] per layer (little-endian words),
  // metadata "source" and "neurons.N". Errors name the file.
  void save(const std::filesystem::path& path) const;
  static ActivationTrace load(const std::filesystem::path& path);
};

}  // namespace darkroom::neuralink

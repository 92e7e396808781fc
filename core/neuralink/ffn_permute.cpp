#include "neuralink/ffn_permute.h"

#include <string>

#include "darkroom/neuralink/trace.h"
#include "darkroom/safetensors.h"
#include "model/checkpoint.h"
#include "neuralink/layout_writer.h"

namespace darkroom::neuralink {
namespace fs = std::filesystem;

model::Transformer loadInOwnDtype(const fs::path& model_dir) {
  at::ScalarType type = at::kFloat;
  bool found = false;
  for (const auto& file : model::checkpointFiles(model_dir)) {
    auto st = SafetensorsFile::open(file);
    for (const auto& view : st.tensors()) {
      const auto& n = view.name;
      auto ends = [&](const std::string& tail) {
        return n.size() >= tail.size() && n.compare(n.size() - tail.size(), tail.size(), tail) == 0;
      };
      if (ends("fc1.weight") || ends("mlp.gate_proj.weight")) {
        if (view.dtype == DType::F16) type = at::kHalf;
        if (view.dtype == DType::BF16) type = at::kBFloat16;
        found = true;
        break;
      }
    }
    if (found) break;
  }
  return model::loadCheckpoint(model_dir, type);
}

std::vector<std::vector<std::int32_t>> placementOrders(const Placement& placement,
                                                       std::int64_t layers, std::int64_t neurons) {
  if (!placement.layers.empty() && std::int64_t(placement.layers.size()) != layers)
    throw NeuralinkError("the placement has " + std::to_string(placement.layers.size()) +
                         " layers, the model " + std::to_string(layers));
  std::vector<std::vector<std::int32_t>> orders;
  for (std::int64_t l = 0; l < layers; ++l) {
    const LayerPlacement* layer =
        placement.layers.empty() ? nullptr : &placement.layers[std::size_t(l)];
    try {
      orders.push_back(checkedLayerOrder(layer, neurons));
    } catch (const NeuralinkError& e) {
      throw NeuralinkError("placement layer " + std::to_string(l) + ": " + e.what());
    }
  }
  return orders;
}

model::Weights permuteFfn(const model::Transformer& model,
                          const std::vector<std::vector<std::int32_t>>& orders) {
  const auto& c = model.config();
  model::Weights w = model.weights();
  for (int l = 0; l < c.num_layers; ++l) {
    const auto& order = orders.at(std::size_t(l));
    auto idx = at::tensor(std::vector<std::int64_t>(order.begin(), order.end()), at::kLong)
                   .to(model.device());
    const std::string p = model.layerPrefix(l);
    auto rows = [&](const std::string& name) {
      w[p + name] = w.at(p + name).index_select(0, idx).contiguous();
    };
    auto columns = [&](const std::string& name) {
      w[p + name] = w.at(p + name).index_select(1, idx).contiguous();
    };
    if (c.family == ModelFamily::Opt) {
      rows("fc1.weight");
      rows("fc1.bias");
      columns("fc2.weight");  // fc2.bias is per output, not per neuron
    } else {
      rows("mlp.gate_proj.weight");
      rows("mlp.up_proj.weight");
      columns("mlp.down_proj.weight");
    }
  }
  return w;
}

}  // namespace darkroom::neuralink

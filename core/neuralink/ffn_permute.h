// What the flash layout writer and the GGUF exporter share: loading a checkpoint in its own
// dtype, checking a placement against a model, and permuting every FFN's neurons.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "darkroom/neuralink/placement.h"
#include "model/transformer.h"

namespace darkroom::neuralink {

// The checkpoint with its FFN weights' own dtype (float32, float16 or bfloat16; anything else
// becomes float32), mapped rather than copied where possible.
model::Transformer loadInOwnDtype(const std::filesystem::path& model_dir);

// One order (slot -> neuron) per layer: the placement's, checked to be permutations of the
// layer's `neurons`, or the identity for every layer when the placement is empty. Errors
// (NeuralinkError) name the layer.
std::vector<std::vector<std::int32_t>> placementOrders(const Placement& placement,
                                                       std::int64_t layers, std::int64_t neurons);


// The model's weights with each layer's FFN neurons in `orders` order: OPT fc1 rows, fc1 bias and
// fc2 columns; Llama family gate and up rows and down columns. Other tensors are shared.
model::Weights permuteFfn(const model::Transformer& model,
                          const std::vector<std::vector<std::int32_t>>& orders);

}  // namespace darkroom::neuralink

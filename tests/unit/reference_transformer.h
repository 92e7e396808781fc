// An independent, deliberately plain implementation of the two model families (loops over
// std::vector, one token at a time), written from the Hugging Face modelling code's maths, to
// check core's LibTorch transformer against.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "darkroom/model_config.h"

namespace darkroom::test {

using Vec = std::vector<double>;
// Weights as row-major doubles with their shape.
struct RefTensor {
  std::vector<std::int64_t> shape;
  Vec data;
};
using RefWeights = std::map<std::string, RefTensor>;

// Logits [length][vocab] for one sequence.
std::vector<Vec> referenceForward(const ModelConfig& config, const RefWeights& weights,
                                  const std::vector<std::int64_t>& tokens);

}  // namespace darkroom::test

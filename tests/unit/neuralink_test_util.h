// Shared by the Neuralink tests: random activation masks.
#pragma once

#include <random>

#include "darkroom/neuralink/trace.h"
#include "test_util.h"

namespace darkroom::test {

// Each neuron fires independently with probability `density` for each token.
inline neuralink::LayerTrace randomLayer(std::int64_t neurons, std::int64_t tokens,
                                         double density) {
  std::bernoulli_distribution fire(density);
  neuralink::LayerTrace layer;
  layer.neurons = neurons;
  for (std::int64_t t = 0; t < tokens; ++t) {
    std::vector<std::int32_t> active;
    for (std::int64_t n = 0; n < neurons; ++n)
      if (fire(rng())) active.push_back(std::int32_t(n));
    layer.addToken(active);
  }
  return layer;
}

}  // namespace darkroom::test

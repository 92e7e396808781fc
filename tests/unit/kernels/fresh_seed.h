// The kernel tests' random inputs: one fresh seed per run of kernel_tests, the same for every
// test of the run, printed with each failure so that the inputs can be replayed.
#pragma once

#include <cstdint>
#include <random>

namespace darkroom::kernels {

inline std::uint32_t freshSeed() {
  static const std::uint32_t seed = std::random_device{}();
  return seed;
}

}  // namespace darkroom::kernels

// How large the kernel tests' inputs are. Natively every case runs. Under an emulator (the
// aarch64 build's kernel_tests run under qemu on the host: kernels.aarch64 in
// cmake/DarkroomAarch64.cmake) the scalar reference is tens of times slower, so
// DARKROOM_KERNEL_TEST_SIZES=small keeps every awkward case (vector tails, partial blocks, row
// blocks and K passes, threads, key splits) and drops only the largest repeats of them.
#pragma once

#include <cstdlib>
#include <cstring>

namespace darkroom::kernels {

inline bool smallTestSizes() {
  const char* sizes = std::getenv("DARKROOM_KERNEL_TEST_SIZES");
  return sizes && std::strcmp(sizes, "small") == 0;
}

}  // namespace darkroom::kernels

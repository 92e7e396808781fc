// The Cpu back end is the build's own instruction set: its name, its availability, and that it
// answers for every kernel (no kernel quietly runs the reference in its place).
#include <gtest/gtest.h>

#include <string>

#include "darkroom/kernels/backend.h"
#include "darkroom/kernels/quant_gemm.h"

namespace darkroom::kernels {
namespace {

TEST(Backend, CpuIsNamedForTheBuildsInstructionSet) {
#if defined(__aarch64__)
  EXPECT_STREQ(backendName(Backend::Cpu), "cpu-neon");
  EXPECT_STREQ(quantGemmCpuIsa(), "neon");
#elif defined(__x86_64__)
  EXPECT_STREQ(backendName(Backend::Cpu), "cpu-avx2");
  const std::string isa = quantGemmCpuIsa();
  EXPECT_TRUE(isa == "avx2" || isa == "avx512" || isa == "avx512-bf16") << isa;
#else
  EXPECT_STREQ(backendName(Backend::Cpu), "cpu");
#endif
  EXPECT_STREQ(backendName(Backend::Reference), "reference");
  EXPECT_STREQ(backendName(Backend::Cuda), "cuda");
}

// Advanced SIMD is part of every AArch64 core: the NEON back end is always there.
TEST(Backend, NeonIsAvailableOnEveryAarch64Cpu) {
#if !defined(__aarch64__)
  GTEST_SKIP() << "not an aarch64 build";
#else
  std::string why = "unchanged";
  EXPECT_TRUE(backendAvailable(Backend::Cpu, &why)) << why;
  EXPECT_EQ(why, "unchanged");  // no reason is written when the answer is yes
  EXPECT_EQ(bestHostBackend(), Backend::Cpu);
  EXPECT_NO_THROW(requireBackend(Backend::Cpu, "test"));
#endif
}

// When the Cpu back end cannot run, the reason says what to use instead, and requireBackend
// throws with it.
TEST(Backend, UnavailableCpuSaysWhyAndThrows) {
  std::string why;
  if (backendAvailable(Backend::Cpu, &why)) GTEST_SKIP() << "the Cpu back end runs here";
  EXPECT_NE(why.find("reference"), std::string::npos) << why;
  EXPECT_THROW(requireBackend(Backend::Cpu, "test"), KernelUnavailable);
  EXPECT_EQ(bestHostBackend(), Backend::Reference);
}

}  // namespace
}  // namespace darkroom::kernels

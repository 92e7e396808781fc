#include "darkroom/kernels/backend.h"

#include <iterator>

#if defined(DARKROOM_CPU_NEON)
#include <sys/auxv.h>  // getauxval, and HWCAP_ASIMD through bits/hwcap.h
#endif

#include "darkroom/kernels/cuda_device.h"

namespace darkroom::kernels {

const char* backendName(Backend backend) {
  switch (backend) {
    case Backend::Reference: return "reference";
    case Backend::Cpu:
#if defined(DARKROOM_CPU_NEON)
      return "cpu-neon";
#elif defined(DARKROOM_CPU_AVX2)
      return "cpu-avx2";
#else
      return "cpu";
#endif
    case Backend::Cuda: return "cuda";
  }
  return "unknown";
}

bool backendAvailable(Backend backend, std::string* why) {
  auto no = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  switch (backend) {
    case Backend::Reference:
      return true;
    case Backend::Cpu:
#if defined(DARKROOM_CPU_AVX2)
      __builtin_cpu_init();
      if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return no("this CPU has no AVX2/FMA; use the reference back end");
      return true;
#elif defined(DARKROOM_CPU_NEON)
      // Advanced SIMD is mandatory in AArch64, but the kernel's word is what counts (an emulator
      // or a stripped-down core could leave it out).
      if (!(getauxval(AT_HWCAP) & HWCAP_ASIMD))
        return no("this CPU reports no Advanced SIMD (ASIMD in AT_HWCAP); use the reference "
                  "back end");
      return true;
#else
      return no("this build has no SIMD kernels for its processor (only x86-64 with AVX2 and "
                "aarch64 with NEON have them); use the reference back end");
#endif
    case Backend::Cuda: {
      auto devices = cudaDevices();
      if (!devices.built) return no("this build has no CUDA kernels (nvcc was not found)");
      if (devices.count == 0) return no(devices.status);
      return true;
    }
  }
  return no("unknown back end");
}

void requireBackend(Backend backend, const char* what) {
  struct Answer {
    bool ok;
    std::string why;
  };
  auto ask = [](Backend b) {
    Answer answer{};
    answer.ok = backendAvailable(b, &answer.why);
    return answer;
  };
  static const Answer answers[] = {ask(Backend::Reference), ask(Backend::Cpu), ask(Backend::Cuda)};
  const auto index = static_cast<std::size_t>(backend);
  if (index >= std::size(answers)) throw KernelUnavailable(std::string(what) + ": unknown back end");
  if (!answers[index].ok)
    throw KernelUnavailable(std::string(what) + " (" + backendName(backend) + "): " +
                            answers[index].why);
}

Backend bestHostBackend() {
  return backendAvailable(Backend::Cpu) ? Backend::Cpu : Backend::Reference;
}

}  // namespace darkroom::kernels

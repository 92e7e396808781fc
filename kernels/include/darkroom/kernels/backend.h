// Which implementation of a kernel runs. Every kernel has a scalar reference; the CPU back end is
// SIMD with threads: AVX2+FMA on x86-64 (named "cpu-avx2", needs a CPU that has them), NEON on
// aarch64 ("cpu-neon"); CUDA needs a build with nvcc and a GPU.
// Asking for a back end that cannot run throws KernelUnavailable: nothing falls back silently.
#pragma once

#include <stdexcept>
#include <string>

namespace darkroom::kernels {

enum class Backend { Reference, Cpu, Cuda };

struct KernelUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* backendName(Backend backend);
// Whether `backend` can run in this process, and if not, why ("this CPU has no AVX2", ...).
// Every kernel has a version for every back end of the build, so the answer holds for all of them.
bool backendAvailable(Backend backend, std::string* why = nullptr);
// Throws KernelUnavailable "<what> (<back end>): <why>" when `backend` cannot run here. Each
// back end is asked once per process: its answer cannot change, and CUDA's query is not free.
void requireBackend(Backend backend, const char* what);
// The fastest back end for host memory: Cpu when available, else Reference.
Backend bestHostBackend();

}  // namespace darkroom::kernels

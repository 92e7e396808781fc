#include <cuda_runtime.h>

#include <string>

#include "darkroom/kernels/cuda_device.h"

namespace darkroom::kernels {

CudaDevices cudaDevices() {
  CudaDevices out;
  out.built = true;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    out.status = std::string("CUDA kernels built, but no GPU is usable: ") +
                 cudaGetErrorString(err);
    return out;
  }
  out.count = count;
  out.status = std::to_string(count) + " GPU(s)";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) == cudaSuccess)
      out.status += std::string(i == 0 ? ": " : ", ") + prop.name + " (sm_" +
                    std::to_string(prop.major) + std::to_string(prop.minor) + ")";
  }
  return out;
}

}  // namespace darkroom::kernels

// Whether Darkroom's CUDA kernels can run here. Built from cuda/ when nvcc was found at configure
// time, otherwise from a translation unit that says so: never a silent CPU substitute.
#pragma once

#include <string>

namespace darkroom::kernels {

struct CudaDevices {
  bool built = false;  // CUDA kernels compiled into this build
  int count = 0;       // usable GPUs
  std::string status;  // "2 GPU(s): NVIDIA H100 ..." or why none can be used
};

CudaDevices cudaDevices();

}  // namespace darkroom::kernels

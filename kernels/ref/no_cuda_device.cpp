#include "darkroom/kernels/cuda_device.h"

namespace darkroom::kernels {

CudaDevices cudaDevices() {
  return {false, 0,
          "built without CUDA: nvcc was not found at configure time (install the CUDA Toolkit, "
          "or pass -DCMAKE_CUDA_COMPILER=/path/to/nvcc, and reconfigure)"};
}

}  // namespace darkroom::kernels

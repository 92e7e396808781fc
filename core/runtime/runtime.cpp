#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "darkroom/kernels/cuda_device.h"
#include "darkroom/runtime.h"

namespace darkroom {

RuntimeInfo runtimeInfo() {
  RuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  info.intra_op_threads = at::get_num_threads();
  info.torch_cuda = torch::cuda::is_available();
  info.torch_cuda_devices = info.torch_cuda ? static_cast<int>(torch::cuda::device_count()) : 0;
  auto cuda = kernels::cudaDevices();
  info.kernels_cuda_built = cuda.built;
  info.kernels_cuda_status = cuda.status;
  return info;
}

}  // namespace darkroom

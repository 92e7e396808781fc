// What the compute runtime behind the engine offers on this machine.
#pragma once

#include <string>

namespace darkroom {

struct RuntimeInfo {
  std::string torch_version;
  int intra_op_threads = 0;
  bool torch_cuda = false;      // the linked LibTorch was built with CUDA and sees a GPU
  int torch_cuda_devices = 0;
  bool kernels_cuda_built = false;  // Darkroom's own CUDA kernels were compiled in
  std::string kernels_cuda_status;  // device count, or why CUDA cannot be used here
};

RuntimeInfo runtimeInfo();

}  // namespace darkroom

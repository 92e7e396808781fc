#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/runtime.h"

namespace darkroom::cli {

static const char* kInfoHelp = R"(usage: darkroom-cli info [--json]

The compute runtime of this machine: LibTorch version and threads, whether LibTorch sees a GPU,
and whether Darkroom's own CUDA kernels were built and can run.
)";

int infoCommand(const Context&, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kInfoHelp), 0;
  bool json = args.flag("--json");
  args.finish();
  auto info = runtimeInfo();
  if (json) {
    nlohmann::ordered_json j;
    j["torch_version"] = info.torch_version;
    j["intra_op_threads"] = info.intra_op_threads;
    j["torch_cuda"] = info.torch_cuda;
    j["torch_cuda_devices"] = info.torch_cuda_devices;
    j["kernels_cuda_built"] = info.kernels_cuda_built;
    j["kernels_cuda_status"] = info.kernels_cuda_status;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("LibTorch       %s, %d intra-op threads\n", info.torch_version.c_str(),
              info.intra_op_threads);
  std::printf("LibTorch CUDA  %s\n", info.torch_cuda
                                         ? (std::to_string(info.torch_cuda_devices) + " GPU(s)").c_str()
                                         : "not available (CPU-only LibTorch or no GPU)");
  std::printf("CUDA kernels   %s\n", info.kernels_cuda_status.c_str());
  return 0;
}

}  // namespace darkroom::cli

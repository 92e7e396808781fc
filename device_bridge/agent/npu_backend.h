// The NPU as a plug-in back end of `kernels`: an interface a vendor runtime (Qualcomm QNN HTP,
// Hexagon FastRPC, MediaTek NeuroPilot) would implement, and the loader that looks for one.
//
// No NPU kernel exists in this agent yet, and the agent is a static binary, which cannot load a
// vendor's shared runtime reliably. So the back end the loader returns always reports itself
// unavailable, with the reason (which libraries it found where, and why it cannot use them);
// `info` lists that reason and `kernels --backend npu` ends with an error record naming it. It
// never runs something else in its place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "darkroom/kernels/quant_matrix.h"

namespace darkroom::agent {

class NpuBackend {
 public:
  virtual ~NpuBackend() = default;
  virtual std::string name() const = 0;  // "npu"
  // Whether gemv can run; `reason` says why not.
  virtual bool available(std::string* reason) const = 0;
  // y[b, n] = Σ_k x[b, k] · W[n, k] for Q4_0 tile-layout W (kernels/quant_matrix.h) on the NPU.
  // Throws kernels::KernelUnavailable when !available().
  virtual void gemv(const kernels::QuantMatrixView& w, const float* x, std::int64_t batch,
                    float* y) = 0;
};

// A vendor runtime library the loader knows, and the symbol that marks its API.
struct VendorRuntime {
  std::string library;     // "libQnnHtp.so"
  std::string vendor;      // "Qualcomm QNN HTP"
  std::string entry_point; // "QnnInterface_getProviders"
};
const std::vector<VendorRuntime>& knownVendorRuntimes();

// Where vendor libraries live on Android (/vendor/lib64, ...); DARKROOM_NPU_LIB_DIRS
// (colon-separated) is searched first, so tests and odd devices can point elsewhere.
std::vector<std::filesystem::path> npuSearchDirs();

// Whether this binary is statically linked (it then cannot dlopen vendor libraries).
bool staticBinary();

// Probes for the known runtimes and returns the back end that describes what it found.
std::unique_ptr<NpuBackend> loadNpuBackend();

}  // namespace darkroom::agent

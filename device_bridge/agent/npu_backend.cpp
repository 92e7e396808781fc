#include "npu_backend.h"

#include <unistd.h>

#include <cstdlib>
#include <sstream>

#if !DARKROOM_AGENT_STATIC
#include <dlfcn.h>
#endif

#include "darkroom/kernels/backend.h"

namespace darkroom::agent {
namespace fs = std::filesystem;
namespace {

struct Found {
  VendorRuntime runtime;
  fs::path path;
};

// The back end this agent can offer: a description of what the loader found, never a runner.
class UnavailableNpu : public NpuBackend {
 public:
  explicit UnavailableNpu(std::string reason) : reason_(std::move(reason)) {}
  std::string name() const override { return "npu"; }
  bool available(std::string* reason) const override {
    if (reason) *reason = reason_;
    return false;
  }
  void gemv(const kernels::QuantMatrixView&, const float*, std::int64_t, float*) override {
    throw kernels::KernelUnavailable("npu: " + reason_);
  }

 private:
  std::string reason_;
};

std::string joinPaths(const std::vector<fs::path>& dirs) {
  std::string out;
  for (const auto& d : dirs) out += (out.empty() ? "" : ", ") + d.string();
  return out;
}

#if !DARKROOM_AGENT_STATIC
// A dynamically linked agent (a host build against a shared runtime) can open the library and
// check for its entry point; it still has no kernel to run there.
std::string probeLoaded(const Found& f) {
  void* handle = ::dlopen(f.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = ::dlerror();
    return "found " + f.path.string() + " (" + f.runtime.vendor + ") but could not load it: " +
           (e ? e : "unknown error");
  }
  const bool has_entry = ::dlsym(handle, f.runtime.entry_point.c_str()) != nullptr;
  ::dlclose(handle);
  if (!has_entry)
    return "loaded " + f.path.string() + " but it has no " + f.runtime.entry_point +
           ", so it is not the " + f.runtime.vendor + " runtime this agent knows";
  return "loaded " + f.path.string() + " (" + f.runtime.vendor +
         "), but this agent has no NPU kernels for that runtime yet: nothing would run on the NPU";
}
#endif

}  // namespace

const std::vector<VendorRuntime>& knownVendorRuntimes() {
  static const std::vector<VendorRuntime> runtimes = {
      {"libQnnHtp.so", "Qualcomm QNN HTP", "QnnInterface_getProviders"},
      {"libcdsprpc.so", "Qualcomm Hexagon FastRPC", "remote_handle64_open"},
      {"libneuron_adapter.so", "MediaTek NeuroPilot", "NeuronModel_create"},
  };
  return runtimes;
}

std::vector<fs::path> npuSearchDirs() {
  std::vector<fs::path> dirs;
  if (const char* extra = std::getenv("DARKROOM_NPU_LIB_DIRS")) {
    std::istringstream in(extra);
    std::string d;
    while (std::getline(in, d, ':'))
      if (!d.empty()) dirs.emplace_back(d);
  }
  for (const char* d : {"/vendor/lib64", "/system/vendor/lib64", "/odm/lib64", "/system/lib64"})
    dirs.emplace_back(d);
  return dirs;
}

bool staticBinary() { return DARKROOM_AGENT_STATIC != 0; }

std::unique_ptr<NpuBackend> loadNpuBackend() {
  const auto dirs = npuSearchDirs();
  std::vector<Found> found;
  for (const auto& dir : dirs)
    for (const auto& rt : knownVendorRuntimes()) {
      const fs::path p = dir / rt.library;
      if (::access(p.c_str(), R_OK) == 0) found.push_back({rt, p});
    }
  if (found.empty()) {
    std::string names;
    for (const auto& rt : knownVendorRuntimes())
      names += (names.empty() ? "" : ", ") + rt.library;
    return std::make_unique<UnavailableNpu>("no NPU vendor runtime library found (looked for " +
                                            names + " in " + joinPaths(dirs) + ")");
  }
#if DARKROOM_AGENT_STATIC
  // dlopen from a static glibc binary needs that same glibc's shared libraries at run time, and
  // Android's vendor libraries are built against bionic: loading them cannot work reliably.
  std::string list;
  for (const auto& f : found)
    list += (list.empty() ? "" : ", ") + f.path.string() + " (" + f.runtime.vendor + ")";
  return std::make_unique<UnavailableNpu>(
      "found " + list +
      ", but darkroom-agent is a static binary and cannot load a vendor's shared runtime "
      "reliably (static glibc's dlopen needs glibc's own shared libraries, and Android's vendor "
      "libraries are built for bionic); no NPU kernels run");
#else
  std::string reasons;
  for (const auto& f : found) reasons += (reasons.empty() ? "" : "; ") + probeLoaded(f);
  return std::make_unique<UnavailableNpu>(reasons);
#endif
}

}  // namespace darkroom::agent

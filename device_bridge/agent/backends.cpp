#include "backends.h"

#include "darkroom/kernels/backend.h"
#include "npu_backend.h"

namespace darkroom::agent {

Json backendList() {
  namespace k = darkroom::kernels;
  Json list = Json::array();
  auto add = [&](const std::string& name, bool available, const std::string& reason) {
    Json b;
    b["name"] = name;
    b["available"] = available;
    b["reason"] = available ? std::string() : reason;
    list.push_back(b);
  };
  for (k::Backend b : {k::Backend::Cpu, k::Backend::Reference}) {
    std::string why;
    const bool ok = k::backendAvailable(b, &why);
    add(k::backendName(b), ok, why);
  }
  auto npu = loadNpuBackend();
  std::string why;
  const bool ok = npu->available(&why);
  add(npu->name(), ok, why);
  return list;
}

}  // namespace darkroom::agent

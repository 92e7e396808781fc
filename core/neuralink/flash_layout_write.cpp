// Writing a model's flash layout: the FFN bundles gathered with ATen in placement order, then
// written by the shared layout writer (flash_layout.cpp). Stays in darkroom_core because of
// LibTorch; everything else about layout files is in darkroom_flashio.
#include <ATen/ATen.h>

#include <cstring>

#include "darkroom/neuralink/flash_layout.h"
#include "darkroom/neuralink/trace.h"
#include "neuralink/ffn_permute.h"
#include "neuralink/layout_writer.h"

namespace darkroom::neuralink {
namespace fs = std::filesystem;
namespace lf = layout_format;

void writeFlashLayout(const fs::path& model_dir, const Placement& placement, const fs::path& path,
                      JobContext& ctx) {
  ctx.progress(0, "loading " + model_dir.string());
  auto model = loadInOwnDtype(model_dir);
  const auto& c = model.config();
  LayoutPlan plan;
  plan.model_type = c.model_type;
  plan.placement = toString(placement.layers.empty() ? PlacementMethod::Identity
                                                          : placement.method);
  plan.orders = placementOrders(placement, c.num_layers, c.intermediate_size);
  plan.hidden = std::uint64_t(c.hidden_size);
  const auto type = model.dtype();
  plan.dtype = type == at::kHalf ? lf::kF16 : type == at::kBFloat16 ? lf::kBF16 : lf::kF32;
  const bool opt = c.family == ModelFamily::Opt;
  plan.bundle = opt ? lf::kOpt : lf::kGated;
  const std::uint64_t element = layoutDtypeBytes(plan.dtype);
  const std::uint64_t bundle_bytes =
      (opt ? 2 * plan.hidden + 1 : 3 * plan.hidden) * element;
  plan.bundle_bytes.assign(plan.orders.size(), bundle_bytes);
  const auto& w = model.weights();
  auto produce = [&](int layer, std::int64_t first, std::int64_t count, unsigned char* out) {
    const auto& order = plan.orders[std::size_t(layer)];
    auto idx = at::tensor(std::vector<std::int64_t>(order.begin() + first,
                                                    order.begin() + first + count),
                          at::kLong);
    const std::string p = model.layerPrefix(layer);
    at::Tensor bundles;
    if (opt) {
      bundles = at::cat({w.at(p + "fc1.weight").index_select(0, idx),
                         w.at(p + "fc1.bias").index_select(0, idx).unsqueeze(1),
                         w.at(p + "fc2.weight").index_select(1, idx).t()},
                        1);
    } else {
      bundles = at::cat({w.at(p + "mlp.gate_proj.weight").index_select(0, idx),
                         w.at(p + "mlp.up_proj.weight").index_select(0, idx),
                         w.at(p + "mlp.down_proj.weight").index_select(1, idx).t()},
                        1);
    }
    bundles = bundles.to(at::kCPU, type).contiguous();
    if (std::uint64_t(bundles.nbytes()) != std::uint64_t(count) * bundle_bytes)
      throw NeuralinkError("layer " + std::to_string(layer) + ": bundle size mismatch");
    std::memcpy(out, bundles.data_ptr(), bundles.nbytes());
  };
  auto writing = ctx.slice(0.05, 0.95);
  writeLayoutFile(plan, produce, path, &writing);
}

}  // namespace darkroom::neuralink

#include "model/tensor_file.h"

#include <cstring>

#include "darkroom/model_config.h"
#include "darkroom/safetensors.h"

namespace darkroom::model {

void saveTensors(const std::filesystem::path& path, const TensorMap& tensors,
                 const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;  // contiguous CPU copies the writer reads from
  std::vector<TensorToWrite> out;
  keep.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.detach().cpu().contiguous();
    DType dtype = DType::F32;
    if (t.scalar_type() == at::kBFloat16) dtype = DType::BF16;
    else if (t.scalar_type() == at::kHalf) dtype = DType::F16;
    else if (t.scalar_type() == at::kLong) dtype = DType::I64;
    else t = t.to(at::kFloat).contiguous();
    keep.push_back(t);
    out.push_back({name, dtype, t.sizes().vec(), t.data_ptr(), t.nbytes()});
  }
  try {
    writeSafetensors(path, out, metadata);
  } catch (const SafetensorsError& e) {
    throw ModelError(e.what());
  }
}

LoadedTensors loadTensors(const std::filesystem::path& path) {
  LoadedTensors loaded;
  try {
    auto file = SafetensorsFile::open(path);
    loaded.metadata = file.metadata();
    for (const auto& view : file.tensors()) {
      at::ScalarType type;
      switch (view.dtype) {
        case DType::F32: type = at::kFloat; break;
        case DType::BF16: type = at::kBFloat16; break;
        case DType::F16: type = at::kHalf; break;
        case DType::I64: type = at::kLong; break;
        default:
          throw ModelError(path.string() + ": tensor " + view.name + " has dtype " +
                           dtypeName(view.dtype) + ", expected F32, BF16, F16 or I64");
      }
      auto t = at::empty(view.shape, at::TensorOptions().dtype(type));
      std::memcpy(t.data_ptr(), view.data, view.bytes);
      loaded.tensors[view.name] = t;
    }
  } catch (const SafetensorsError& e) {
    throw ModelError(e.what());
  }
  return loaded;
}

}  // namespace darkroom::model

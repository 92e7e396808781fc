#include "darkroom/model.h"
#include "darkroom/safetensors.h"
#include "darkroom/tokenizer.h"
#include "model/checkpoint.h"

namespace darkroom {

ModelInfo describeModel(const std::filesystem::path& dir) {
  ModelInfo info;
  info.dir = dir;
  info.config = readModelConfig(dir / "config.json");
  for (const auto& file : model::checkpointFiles(dir)) {
    auto st = SafetensorsFile::open(file);
    info.bytes += std::filesystem::file_size(file);
    for (const auto& t : st.tensors()) {
      info.tensors.push_back({t.name, dtypeName(t.dtype), t.shape});
      info.parameters += t.numel();
    }
  }
  try {
    info.tokenizer = loadTokenizer(dir)->name();
  } catch (const std::exception& e) {
    info.tokenizer = std::string("none: ") + e.what();
  }
  return info;
}

}  // namespace darkroom

// Named tensors to and from one safetensors file (adapters, optimizer state, predictors).
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>

namespace darkroom::model {

using TensorMap = std::map<std::string, at::Tensor>;

// float32 (bf16/f16 kept as they are), written atomically; errors name the file.
void saveTensors(const std::filesystem::path& path, const TensorMap& tensors,
                 const std::map<std::string, std::string>& metadata = {});

struct LoadedTensors {
  TensorMap tensors;  // owned CPU copies, in the file's dtype
  std::map<std::string, std::string> metadata;
};
// Throws ModelError naming the file when it is missing, truncated or not safetensors.
LoadedTensors loadTensors(const std::filesystem::path& path);

}  // namespace darkroom::model

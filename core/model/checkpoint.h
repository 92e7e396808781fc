// Hugging Face model folders: config.json + model.safetensors, or a sharded
// model.safetensors.index.json. Loading maps the files and wraps the mapped bytes as tensors
// without copying them when the dtype already matches (the weights are then read-only: a model
// that trains must copy them first, as Transformer::to() with another dtype does).
#pragma once

#include <filesystem>
#include <optional>

#include "model/transformer.h"

namespace darkroom::model {

// The weight files of a model folder: model.safetensors, or the shards the index names.
std::vector<std::filesystem::path> checkpointFiles(const std::filesystem::path& dir);

// dtype: what the weights become (float32 by default); errors name the file and tensor.
Transformer loadCheckpoint(const std::filesystem::path& dir,
                           std::optional<at::ScalarType> dtype = std::nullopt);

// The same, with the dtype and device spelled as users do: dtype "float32" or "bfloat16",
// device "cpu", "cuda" or "cuda:N". Errors say what is accepted, and why CUDA is missing.
Transformer loadCheckpointFor(const std::filesystem::path& dir, const std::string& dtype,
                              const std::string& device);

// Writes config.json and model.safetensors (float32, or the weights' own dtype when it is
// float16/bfloat16) into dir, creating it; each file is replaced atomically.
void saveCheckpoint(const Transformer& model, const std::filesystem::path& dir,
                    const std::map<std::string, std::string>& metadata = {});

// Whether text for this model starts with BOS, as its own tokenizer would do it:
// tokenizer_config.json's add_bos_token when it says, otherwise whenever config.json names a
// BOS id, except for Qwen2, whose config names one its tokenizer never adds.
bool addsBos(const std::filesystem::path& dir, const ModelConfig& config);

}  // namespace darkroom::model

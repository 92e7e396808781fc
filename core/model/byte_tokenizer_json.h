// The demo models' byte vocabulary written as a Hugging Face tokenizer.json (byte-level BPE
// with no merges, ids 0-255 = bytes, then <bos>, <eos>, <pad>), so the demo folders load in any
// tool that reads Hugging Face models, and in Darkroom through the same loader as real ones.
#pragma once

#include <filesystem>

namespace darkroom {

void writeByteTokenizerJson(const std::filesystem::path& file);

}  // namespace darkroom

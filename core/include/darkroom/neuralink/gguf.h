// A small GGUF (v2/v3) reader: the header, metadata and tensor table of a file, every length and
// offset checked against the file before use. Enough to check what exportGguf wrote (tests,
// `darkroom-cli layout verify model.gguf`); it reads the F32, F16 and BF16 tensors Darkroom
// writes and lists the others without decoding them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace darkroom::neuralink {

// GGUF metadata value types (gguf_type) and the ggml tensor types Darkroom writes.
enum class GgufType : std::uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12
};
inline constexpr std::uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlBF16 = 30;
const char* ggmlTypeName(std::uint32_t type);  // "F32", "F16", "BF16", "type 12"

struct GgufValue {
  GgufType type = GgufType::U32;
  GgufType element = GgufType::U8;  // for arrays
  // Integers (any width, bools) as int64/uint64, floats as double, strings, arrays of those.
  std::variant<std::uint64_t, std::int64_t, double, std::string, std::vector<GgufValue>> value;

  std::uint64_t asUint() const;  // throws NeuralinkError when not a non-negative integer
  double asDouble() const;       // any number
  const std::string& asString() const;
  const std::vector<GgufValue>& asArray() const;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<std::uint64_t> dims;  // GGUF order: dims[0] is the fastest-varying (PyTorch reversed)
  std::uint32_t type = kGgmlF32;
  std::uint64_t offset = 0;  // absolute file offset of the data
  std::uint64_t bytes = 0;   // 0 for types this reader does not size
  std::uint64_t elements() const;
  std::vector<std::int64_t> shape() const;  // row-major (PyTorch) order
};

struct GgufFile {
  std::filesystem::path path;
  std::uint32_t version = 0;
  std::uint64_t alignment = 32;
  std::uint64_t data_offset = 0;  // start of the tensor data section
  std::map<std::string, GgufValue> metadata;
  std::vector<std::string> metadata_order;  // keys as they appear in the file
  std::vector<GgufTensorInfo> tensors;      // in file order

  const GgufValue& at(const std::string& key) const;  // throws naming the key
  const GgufTensorInfo* find(const std::string& name) const;
};

// Parses the header, metadata and tensor table; checks that every tensor lies in the data
// section, aligned, without overlapping another. Throws NeuralinkError naming the file, the
// offset and what was wrong.
GgufFile readGguf(const std::filesystem::path& path);
// A tensor's elements as float32 (F32, F16 and BF16 tensors).
std::vector<float> readGgufTensor(const GgufFile& file, const GgufTensorInfo& tensor);

}  // namespace darkroom::neuralink

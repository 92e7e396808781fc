// Reading and writing safetensors files (Hugging Face's tensor format) without torch.
//
// A file is an 8-byte little-endian length N, N bytes of UTF-8 JSON header, then the data
// section. The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data section) and may hold "__metadata__", an object of strings.
//
// Every failure throws SafetensorsError; its message names the file, the tensor when there is
// one, and what was wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace darkroom {

class SafetensorsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The largest header open() accepts: real headers are a few MB at most, and the parsed JSON
// costs a multiple of its size in memory.
inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = std::uint64_t{100} << 20;

// The element types Darkroom reads and writes. Other safetensors dtypes (F8_*, U16, U32, U64)
// are rejected as unknown.
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

std::size_t dtypeSize(DType dtype);                         // bytes per element
const char* dtypeName(DType dtype);                         // the file's spelling: "F32", "BOOL"
std::optional<DType> dtypeFromName(std::string_view name);  // nullopt for anything else

// One tensor of an open file. `data` points into the file's read-only mapping, so it lives as
// long as the SafetensorsFile, and it is only as aligned as the file made it: read it through
// memcpy (or toFloat32) unless you have checked. Elements are little-endian, row-major.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;  // empty for a scalar
  const std::uint8_t* data = nullptr;
  std::size_t bytes = 0;  // numel() * dtypeSize(dtype)
  std::int64_t numel() const;
};

// A safetensors file mapped read-only. open() checks the whole header up front (sizes, offsets,
// overlaps, duplicates), so every view it hands out lies inside the file. The file must not be
// truncated while open (touching a vanished page would fault); writeSafetensors never does
// that, it replaces files by rename.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;  // a moved-from file is empty
  ~SafetensorsFile();

  const std::vector<TensorView>& tensors() const { return tensors_; }  // in header order
  const TensorView* find(std::string_view name) const;                 // nullptr if absent
  const TensorView& at(std::string_view name) const;  // throws "missing tensor" if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Mapping;
  SafetensorsFile();

  std::filesystem::path path_;
  std::unique_ptr<Mapping> mapping_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t bytes = 0;  // must equal numel * dtypeSize(dtype)
};

// Writes `tensors` (header entries in the given order) and `metadata` to `path`.
//
// All arguments are checked before the disk is touched. The file is written to PATH.partial,
// fsynced and renamed over PATH, so a failed write leaves the previous file as it was (and
// removes the partial one). Only one writer per path at a time.
//
// Layout: the header is padded with spaces so the data section starts 8-aligned, and the data
// is packed without gaps, largest element size first, so every tensor is aligned to its element
// size. The reference reader rejects gaps between tensors, which is why they are not each padded
// to 8 bytes.
void writeSafetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// IEEE half and bfloat16 conversions. To the narrow type rounds to nearest, ties to even;
// overflow gives infinity and NaN stays NaN (quiet).
float fp16ToFloat(std::uint16_t bits);
std::uint16_t floatToFp16(float value);
float bf16ToFloat(std::uint16_t bits);
std::uint16_t floatToBf16(float value);

// The elements of an F32, F16, BF16 or F64 tensor as floats (F64 rounds to nearest); any other
// dtype throws.
std::vector<float> toFloat32(const TensorView& tensor);

}  // namespace darkroom

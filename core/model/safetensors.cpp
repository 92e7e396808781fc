#include "darkroom/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

// Tensor bytes are handed out exactly as stored, and the format is little-endian.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp assumes a little-endian host"
#endif
static_assert(std::numeric_limits<float>::is_iec559, "fp16/bf16 conversion assumes IEEE floats");

namespace darkroom {
namespace {

namespace fs = std::filesystem;
// ordered_json keeps the header's key order, which is the order tensors() promises.
using Json = nlohmann::ordered_json;

constexpr const char* kMetadataKey = "__metadata__";

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8},   {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},   {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
    {DType::Bool, "BOOL", 1},
};

const DTypeInfo& info(DType dtype) {
  for (const auto& i : kDTypes)
    if (i.dtype == dtype) return i;
  throw SafetensorsError("invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw SafetensorsError(file.string() + ": " + what);
}

[[noreturn]] void failTensor(const fs::path& file, const std::string& tensor,
                             const std::string& what) {
  fail(file, "tensor \"" + tensor + "\": " + what);
}

std::string errnoText() { return std::strerror(errno); }

std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string rangeText(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

// Bytes a tensor of `shape` (dims already known to be >= 0) occupies, or nullopt when the
// element count overflows int64 or the byte count overflows size_t: a hostile header would use
// the wrap-around to pass the size check with a tiny byte range.
std::optional<std::size_t> tensorBytes(const std::vector<std::int64_t>& shape, DType dtype) {
  std::uint64_t numel = 1;
  const auto maxNumel = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  for (std::int64_t d : shape) {
    const auto dim = static_cast<std::uint64_t>(d);
    if (dim != 0 && numel > maxNumel / dim) return std::nullopt;
    numel *= dim;
  }
  const std::size_t size = dtypeSize(dtype);
  if (numel > std::numeric_limits<std::size_t>::max() / size) return std::nullopt;
  return static_cast<std::size_t>(numel) * size;
}

// Parses the header, refusing duplicate keys (the JSON parser would silently keep the last one)
// and nesting deeper than a safetensors header has: a hostile header of a million '[' would
// otherwise build a huge tree before any other check ran.
Json parseHeader(const fs::path& file, const char* begin, const char* end) {
  std::set<std::string> names;   // top-level keys: tensor names and __metadata__
  std::set<std::string> fields;  // keys of the entry being parsed
  std::string entry;
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    const bool opens =
        event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start;
    // Depth counts enclosing containers: the header is 0, an entry 1, its shape 2.
    if (opens && depth > 2) fail(file, "header nests deeper than a safetensors header can");
    if (event == Json::parse_event_t::key && depth == 1) {
      entry = parsed.get<std::string>();
      if (!names.insert(entry).second) fail(file, "duplicate tensor name \"" + entry + "\"");
      fields.clear();
    } else if (event == Json::parse_event_t::key && depth == 2) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!fields.insert(key).second)
        fail(file, "duplicate key \"" + key + "\" in \"" + entry + "\"");
    }
    return true;
  };
  try {
    return Json::parse(begin, end, check);
  } catch (const Json::exception& e) {
    fail(file, std::string("header is not valid JSON: ") + e.what());
  }
}

std::map<std::string, std::string> readMetadata(const fs::path& file, const Json& json) {
  if (!json.is_object()) fail(file, "__metadata__ is not an object");
  std::map<std::string, std::string> metadata;
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (!it.value().is_string())
      fail(file, "__metadata__ value of \"" + it.key() + "\" is not a string");
    metadata[it.key()] = it.value().get<std::string>();
  }
  return metadata;
}

const Json& field(const fs::path& file, const std::string& tensor, const Json& entry,
                  const char* name) {
  auto it = entry.find(name);
  if (it == entry.end()) failTensor(file, tensor, std::string("missing \"") + name + "\"");
  return *it;
}

// A checked header entry: its view (still without `data`) and its range in the data section.
struct Entry {
  TensorView view;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

// Checks one header entry against a data section of `dataBytes` bytes.
Entry readEntry(const fs::path& file, const std::string& name, const Json& json,
                std::uint64_t dataBytes) {
  if (!json.is_object()) failTensor(file, name, "entry is not an object");
  Entry e;
  e.view.name = name;

  const Json& dtype = field(file, name, json, "dtype");
  if (!dtype.is_string()) failTensor(file, name, "dtype is not a string");
  const auto parsedDType = dtypeFromName(dtype.get_ref<const std::string&>());
  if (!parsedDType) failTensor(file, name, "unknown dtype \"" + dtype.get<std::string>() + "\"");
  e.view.dtype = *parsedDType;

  const Json& shape = field(file, name, json, "shape");
  if (!shape.is_array()) failTensor(file, name, "shape is not an array");
  for (const Json& dim : shape) {
    if (dim.is_number_unsigned()) {
      const auto d = dim.get<std::uint64_t>();
      if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        failTensor(file, name, "shape overflows: dimension " + std::to_string(d) + " is too large");
      e.view.shape.push_back(static_cast<std::int64_t>(d));
    } else if (dim.is_number_integer()) {
      failTensor(file, name,
                 "shape has a negative dimension " + std::to_string(dim.get<std::int64_t>()));
    } else {
      failTensor(file, name, "shape must be an array of integers");
    }
  }
  const auto bytes = tensorBytes(e.view.shape, e.view.dtype);
  if (!bytes) failTensor(file, name, "shape " + shapeText(e.view.shape) + " overflows");

  const Json& offsets = field(file, name, json, "data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    failTensor(file, name, "data_offsets must be two non-negative integers [begin, end]");
  e.begin = offsets[0].get<std::uint64_t>();
  e.end = offsets[1].get<std::uint64_t>();
  if (e.begin > e.end)
    failTensor(file, name, "data_offsets " + rangeText(e.begin, e.end) + " are decreasing");
  if (e.end > dataBytes)
    fail(file, "truncated: tensor \"" + name + "\" needs bytes " + rangeText(e.begin, e.end) +
                   " but the data section has only " + std::to_string(dataBytes) + " bytes");
  if (e.end - e.begin != *bytes)
    failTensor(file, name,
               "shape " + shapeText(e.view.shape) + " of " + dtypeName(e.view.dtype) + " needs " +
                   std::to_string(*bytes) + " bytes but data_offsets " + rangeText(e.begin, e.end) +
                   " hold " + std::to_string(e.end - e.begin));
  e.view.bytes = *bytes;
  return e;
}

// Tensors must not share bytes (a writer through one would corrupt another). Empty tensors own
// no bytes, so they may sit anywhere.
void checkOverlaps(const fs::path& file, const std::vector<Entry>& entries) {
  std::vector<const Entry*> sorted;
  for (const auto& e : entries)
    if (e.begin != e.end) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  // Sorted by begin, the ranges are disjoint iff each ends before the next begins.
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    const Entry& a = *sorted[i - 1];
    const Entry& b = *sorted[i];
    if (b.begin < a.end)
      fail(file, "tensors \"" + a.view.name + "\" " + rangeText(a.begin, a.end) + " and \"" +
                     b.view.name + "\" " + rangeText(b.begin, b.end) + " overlap");
  }
}

// The file descriptor of an open file, closed on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// PATH.partial while it is being written: deleted again unless commit() renamed it over PATH.
class PartialFile {
 public:
  explicit PartialFile(const fs::path& target) : target_(target), partial_(target) {
    partial_ += ".partial";
    // A partial file left by a crashed writer is stale; removing it first (rather than
    // truncating) also means a symlink planted there is never followed.
    ::unlink(partial_.c_str());
    fd_ = ::open(partial_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0) fail(partial_, "cannot create: " + errnoText());
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;
  ~PartialFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(partial_.c_str());
  }

  void write(const void* data, std::size_t size) {
    // Linux writes at most ~2 GiB per call; bigger tensors go in pieces.
    constexpr std::size_t kChunk = std::size_t{1} << 30;
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, std::min(size, kChunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail(partial_, "cannot write: " + (n < 0 ? errnoText() : "no progress"));
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) fail(partial_, "cannot sync: " + errnoText());
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) fail(partial_, "cannot close: " + errnoText());
    if (::rename(partial_.c_str(), target_.c_str()) != 0)
      fail(target_, "cannot rename " + partial_.string() + " over it: " + errnoText());
    committed_ = true;
    // Make the rename itself durable. The data is already synced, and some filesystems cannot
    // sync a folder, so this is best effort rather than a failure after the file is in place.
    const fs::path dir = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
    Fd dirFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dirFd.get() >= 0) ::fsync(dirFd.get());
  }

 private:
  fs::path target_;
  fs::path partial_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

std::size_t dtypeSize(DType dtype) { return info(dtype).size; }

const char* dtypeName(DType dtype) { return info(dtype).name; }

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const auto& i : kDTypes)
    if (name == i.name) return i.dtype;
  return std::nullopt;
}

std::int64_t TensorView::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

struct SafetensorsFile::Mapping {
  void* address = nullptr;
  std::size_t size = 0;
  ~Mapping() { ::munmap(address, size); }
};

SafetensorsFile::SafetensorsFile() = default;
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

SafetensorsFile SafetensorsFile::open(const fs::path& path) {
  // O_NONBLOCK so that a FIFO fails the regular-file check below instead of blocking here; it
  // does nothing to a regular file.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) fail(path, "cannot open: " + errnoText());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail(path, "cannot stat: " + errnoText());
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  const auto fileBytes = static_cast<std::uint64_t>(st.st_size);
  if (fileBytes < 8)
    fail(path, "file is shorter than 8 bytes (" + std::to_string(fileBytes) +
                   "), too short for a safetensors header length");
  if (fileBytes > std::numeric_limits<std::size_t>::max()) fail(path, "file too large to map");

  SafetensorsFile file;
  file.path_ = path;
  void* address =
      ::mmap(nullptr, static_cast<std::size_t>(fileBytes), PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (address == MAP_FAILED) fail(path, "cannot map: " + errnoText());
  file.mapping_ = std::make_unique<Mapping>();
  file.mapping_->address = address;
  file.mapping_->size = static_cast<std::size_t>(fileBytes);
  const auto* bytes = static_cast<const std::uint8_t*>(address);

  std::uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i) headerBytes = headerBytes << 8 | bytes[i];
  if (headerBytes > kSafetensorsMaxHeaderBytes)
    fail(path, "header too large: " + std::to_string(headerBytes) + " bytes (the limit is " +
                   std::to_string(kSafetensorsMaxHeaderBytes) + ")");
  if (headerBytes > fileBytes - 8)
    fail(path, "truncated: the header needs " + std::to_string(headerBytes) +
                   " bytes but the file has only " + std::to_string(fileBytes - 8) +
                   " after the length");
  const std::uint64_t dataStart = 8 + headerBytes;
  const std::uint64_t dataBytes = fileBytes - dataStart;

  const auto* headerText = reinterpret_cast<const char*>(bytes + 8);
  const Json header = parseHeader(path, headerText, headerText + headerBytes);
  if (!header.is_object()) fail(path, "header is not a JSON object");

  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == kMetadataKey)
      file.metadata_ = readMetadata(path, it.value());
    else
      entries.push_back(readEntry(path, it.key(), it.value(), dataBytes));
  }
  checkOverlaps(path, entries);

  file.tensors_.reserve(entries.size());
  for (auto& e : entries) {
    e.view.data = bytes + dataStart + e.begin;  // within the mapping: end <= dataBytes
    file.index_.emplace(e.view.name, file.tensors_.size());
    file.tensors_.push_back(std::move(e.view));
  }
  return file;
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& SafetensorsFile::at(std::string_view name) const {
  if (const TensorView* view = find(name)) return *view;
  fail(path_, "missing tensor \"" + std::string(name) + "\"");
}

void writeSafetensors(const fs::path& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Everything is checked before the disk is touched, so a bad call leaves no trace.
  std::set<std::string_view> names;
  for (const auto& t : tensors) {
    if (t.name == kMetadataKey) failTensor(path, t.name, "the name is reserved for metadata");
    if (!names.insert(t.name).second) fail(path, "duplicate tensor name \"" + t.name + "\"");
    if (std::any_of(t.shape.begin(), t.shape.end(), [](std::int64_t d) { return d < 0; }))
      failTensor(path, t.name, "shape " + shapeText(t.shape) + " has a negative dimension");
    const auto bytes = tensorBytes(t.shape, t.dtype);
    if (!bytes) failTensor(path, t.name, "shape " + shapeText(t.shape) + " overflows");
    if (*bytes != t.bytes)
      failTensor(path, t.name,
                 "shape " + shapeText(t.shape) + " of " + dtypeName(t.dtype) + " needs " +
                     std::to_string(*bytes) + " bytes but " + std::to_string(t.bytes) +
                     " were given");
    if (t.bytes > 0 && t.data == nullptr) failTensor(path, t.name, "data is null");
  }

  // Largest element size first, packed: every tensor starts aligned to its element size.
  std::vector<std::size_t> layout(tensors.size());
  for (std::size_t i = 0; i < layout.size(); ++i) layout[i] = i;
  std::stable_sort(layout.begin(), layout.end(), [&](std::size_t a, std::size_t b) {
    return dtypeSize(tensors[a].dtype) > dtypeSize(tensors[b].dtype);
  });
  std::vector<std::uint64_t> begins(tensors.size());
  std::uint64_t offset = 0;
  for (std::size_t i : layout) {
    begins[i] = offset;
    offset += tensors[i].bytes;
  }

  Json header = Json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    header[t.name] = {{"dtype", dtypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", Json::array({begins[i], begins[i] + t.bytes})}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {
    fail(path, std::string("tensor names and metadata must be valid UTF-8: ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // 8 + size is then a multiple of 8

  std::uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(text.size() >> (8 * i));

  PartialFile out(path);
  out.write(length, sizeof length);
  out.write(text.data(), text.size());
  for (std::size_t i : layout) out.write(tensors[i].data, tensors[i].bytes);
  out.commit();
}

float fp16ToFloat(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  std::uint32_t out;
  if (exponent == 0x1f)
    out = sign | 0x7f800000u | (mantissa << 13);  // infinity, or NaN with its payload
  else
    out = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  float f;
  std::memcpy(&f, &out, sizeof f);
  return f;
}

std::uint16_t floatToFp16(float value) {
  std::uint32_t x;
  std::memcpy(&x, &value, sizeof x);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude > 0x7f800000u)  // NaN: quiet, keeping the top of the payload
    return static_cast<std::uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  // 65520 is halfway between the largest half (65504) and 2^16; ties go to the even 2^16,
  // which is out of range: infinity.
  if (magnitude >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (magnitude >= 0x38800000u) {  // >= 2^-14: a normal half
    const std::uint32_t rebiased = magnitude - ((127u - 15u) << 23);
    // Round the 13 dropped bits to nearest even; a carry correctly bumps the exponent.
    const std::uint32_t rounded = rebiased + 0xfffu + ((rebiased >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | (rounded >> 13));
  }
  // A subnormal half counts units of 2^-24. The float is (2^23 | fraction) * 2^(e - 150), which
  // is (2^23 | fraction) >> (126 - e) such units.
  const std::uint32_t e = magnitude >> 23;
  if (e < 102) return sign;  // below half the smallest subnormal: rounds to zero
  const std::uint32_t full = (magnitude & 0x7fffffu) | 0x800000u;
  const std::uint32_t shift = 126 - e;  // 14 ... 24
  std::uint32_t units = full >> shift;
  const std::uint32_t rest = full & ((1u << shift) - 1);
  const std::uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (units & 1u))) ++units;  // may reach the smallest normal
  return static_cast<std::uint16_t>(sign | units);
}

float bf16ToFloat(std::uint16_t bits) {
  const std::uint32_t x = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

std::uint16_t floatToBf16(float value) {
  std::uint32_t x;
  std::memcpy(&x, &value, sizeof x);
  // NaN: keep the top bits and force the quiet bit, so a payload only in the dropped half
  // cannot turn into infinity.
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x0040u);
  // Round the dropped half to nearest even; a carry bumps the exponent, up to infinity.
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}

std::vector<float> toFloat32(const TensorView& tensor) {
  const std::size_t n = tensor.bytes / dtypeSize(tensor.dtype);
  std::vector<float> out(n);
  // memcpy per element: the mapped data need not be aligned for its type.
  auto convert = [&](auto sample, auto toFloat) {
    for (std::size_t i = 0; i < n; ++i) {
      std::memcpy(&sample, tensor.data + i * sizeof sample, sizeof sample);
      out[i] = toFloat(sample);
    }
  };
  switch (tensor.dtype) {
    case DType::F32:
      if (n > 0) std::memcpy(out.data(), tensor.data, n * sizeof(float));
      break;
    case DType::F64:
      convert(double{}, [](double d) { return static_cast<float>(d); });
      break;
    case DType::F16:
      convert(std::uint16_t{}, fp16ToFloat);
      break;
    case DType::BF16:
      convert(std::uint16_t{}, bf16ToFloat);
      break;
    default:
      throw SafetensorsError("tensor \"" + tensor.name + "\": dtype " + dtypeName(tensor.dtype) +
                             " is not a floating-point type");
  }
  return out;
}

}  // namespace darkroom

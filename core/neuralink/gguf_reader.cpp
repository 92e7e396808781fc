// GGUF reader: header, metadata, tensor table; lengths and offsets checked before use.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "darkroom/neuralink/gguf.h"
#include "darkroom/neuralink/trace.h"

namespace darkroom::neuralink {
namespace fs = std::filesystem;

const char* ggmlTypeName(std::uint32_t type) {
  switch (type) {
    case kGgmlF32: return "F32";
    case kGgmlF16: return "F16";
    case kGgmlBF16: return "BF16";
  }
  static thread_local char buffer[32];
  std::snprintf(buffer, sizeof buffer, "type %u", type);
  return buffer;
}

std::uint64_t GgufValue::asUint() const {
  if (auto u = std::get_if<std::uint64_t>(&value)) return *u;
  if (auto i = std::get_if<std::int64_t>(&value); i && *i >= 0) return std::uint64_t(*i);
  throw NeuralinkError("GGUF value is not a non-negative integer");
}
double GgufValue::asDouble() const {
  if (auto u = std::get_if<std::uint64_t>(&value)) return double(*u);
  if (auto i = std::get_if<std::int64_t>(&value)) return double(*i);
  if (auto d = std::get_if<double>(&value)) return *d;
  throw NeuralinkError("GGUF value is not a number");
}
const std::string& GgufValue::asString() const {
  if (auto s = std::get_if<std::string>(&value)) return *s;
  throw NeuralinkError("GGUF value is not a string");
}
const std::vector<GgufValue>& GgufValue::asArray() const {
  if (auto a = std::get_if<std::vector<GgufValue>>(&value)) return *a;
  throw NeuralinkError("GGUF value is not an array");
}

std::uint64_t GgufTensorInfo::elements() const {
  std::uint64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}
std::vector<std::int64_t> GgufTensorInfo::shape() const {
  return std::vector<std::int64_t>(dims.rbegin(), dims.rend());
}

const GgufValue& GgufFile::at(const std::string& key) const {
  auto it = metadata.find(key);
  if (it == metadata.end()) throw NeuralinkError(path.string() + ": no metadata key " + key);
  return it->second;
}
const GgufTensorInfo* GgufFile::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

constexpr std::uint64_t kMaxString = 1u << 24;      // 16 MiB: no key or value is longer
constexpr std::uint64_t kMaxArray = 1u << 28;
constexpr std::uint64_t kMaxCount = 1u << 24;       // tensors or metadata entries
constexpr int kMaxDepth = 4;                        // arrays of arrays

class Reader {
 public:
  explicit Reader(const fs::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw NeuralinkError(path.string() + ": cannot open: " + std::strerror(errno));
    off_t end = ::lseek(fd_, 0, SEEK_END);
    if (end < 0) throw NeuralinkError(path.string() + ": cannot seek: " + std::strerror(errno));
    size_ = std::uint64_t(end);
  }
  ~Reader() { ::close(fd_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  std::uint64_t size() const { return size_; }
  std::uint64_t position() const { return pos_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw NeuralinkError(path_.string() + ": at offset " + std::to_string(pos_) + ": " + what);
  }
  void readAt(std::uint64_t offset, void* out, std::size_t n) const {
    if (offset > size_ || n > size_ - offset)
      throw NeuralinkError(path_.string() + ": truncated: " + std::to_string(n) +
                           " bytes at offset " + std::to_string(offset) + " lie past the end (" +
                           std::to_string(size_) + " bytes)");
    auto p = static_cast<unsigned char*>(out);
    while (n) {
      ssize_t got = ::pread(fd_, p, n, off_t(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw NeuralinkError(path_.string() + ": read failed at offset " + std::to_string(offset));
      p += got;
      n -= std::size_t(got);
      offset += std::uint64_t(got);
    }
  }
  void bytes(void* out, std::size_t n) {
    if (pos_ > size_ || n > size_ - pos_)
      fail("truncated: needs " + std::to_string(n) + " more bytes, the file has " +
           std::to_string(size_ - std::min(pos_, size_)));
    readAt(pos_, out, n);
    pos_ += n;
  }
  template <typename T>
  T number() {
    unsigned char b[sizeof(T)];
    bytes(b, sizeof b);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= std::uint64_t(b[i]) << (8 * i);
    T out;
    if constexpr (sizeof(T) == 8) {
      std::memcpy(&out, &v, 8);
    } else {
      auto narrow = static_cast<std::uint32_t>(v);
      if constexpr (sizeof(T) == 4) {
        std::memcpy(&out, &narrow, 4);
      } else if constexpr (sizeof(T) == 2) {
        auto n16 = static_cast<std::uint16_t>(v);
        std::memcpy(&out, &n16, 2);
      } else {
        auto n8 = static_cast<std::uint8_t>(v);
        std::memcpy(&out, &n8, 1);
      }
    }
    return out;
  }
  std::string string(const char* what) {
    const auto n = number<std::uint64_t>();
    if (n > kMaxString) fail(std::string(what) + " length " + std::to_string(n) + " is too long");
    std::string s(std::size_t(n), '\0');
    bytes(s.data(), s.size());
    return s;
  }

 private:
  fs::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0, pos_ = 0;
};

GgufValue readValue(Reader& r, GgufType type, int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufType::U8: v.value = std::uint64_t(r.number<std::uint8_t>()); break;
    case GgufType::I8: v.value = std::int64_t(r.number<std::int8_t>()); break;
    case GgufType::U16: v.value = std::uint64_t(r.number<std::uint16_t>()); break;
    case GgufType::I16: v.value = std::int64_t(r.number<std::int16_t>()); break;
    case GgufType::U32: v.value = std::uint64_t(r.number<std::uint32_t>()); break;
    case GgufType::I32: v.value = std::int64_t(r.number<std::int32_t>()); break;
    case GgufType::U64: v.value = r.number<std::uint64_t>(); break;
    case GgufType::I64: v.value = r.number<std::int64_t>(); break;
    case GgufType::F32: v.value = double(r.number<float>()); break;
    case GgufType::F64: v.value = r.number<double>(); break;
    case GgufType::Bool: {
      auto b = r.number<std::uint8_t>();
      if (b > 1) r.fail("bool value " + std::to_string(b));
      v.value = std::uint64_t(b);
      break;
    }
    case GgufType::String: v.value = r.string("string"); break;
    case GgufType::Array: {
      if (depth >= kMaxDepth) r.fail("arrays nested too deeply");
      const auto element = r.number<std::uint32_t>();
      if (element > 12) r.fail("unknown array element type " + std::to_string(element));
      const auto n = r.number<std::uint64_t>();
      if (n > kMaxArray) r.fail("array of " + std::to_string(n) + " elements is too long");
      if (element != std::uint32_t(GgufType::String) && element != std::uint32_t(GgufType::Array) &&
          n > r.size() - std::min(r.position(), r.size()))
        r.fail("truncated: an array of " + std::to_string(n) + " elements does not fit");
      v.element = GgufType(element);
      std::vector<GgufValue> items;
      items.reserve(std::size_t(std::min<std::uint64_t>(n, 1u << 16)));
      for (std::uint64_t i = 0; i < n; ++i) items.push_back(readValue(r, v.element, depth + 1));
      v.value = std::move(items);
      break;
    }
    default: r.fail("unknown value type " + std::to_string(std::uint32_t(type)));
  }
  return v;
}

std::uint64_t elementBytes(std::uint32_t type) {
  return type == kGgmlF32 ? 4 : (type == kGgmlF16 || type == kGgmlBF16) ? 2 : 0;
}

float halfToFloat(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

GgufFile readGguf(const fs::path& path) {
  Reader r(path);
  GgufFile g;
  g.path = path;
  char magic[4];
  if (r.size() < 24)
    throw NeuralinkError(path.string() + ": truncated: " + std::to_string(r.size()) +
                         " bytes, a GGUF header needs 24");
  r.bytes(magic, 4);
  if (std::memcmp(magic, "GGUF", 4) != 0) r.fail("not a GGUF file (the magic is not \"GGUF\")");
  g.version = r.number<std::uint32_t>();
  if (g.version != 2 && g.version != 3)
    r.fail("GGUF version " + std::to_string(g.version) + "; this reader knows 2 and 3");
  const auto tensors = r.number<std::uint64_t>();
  const auto kvs = r.number<std::uint64_t>();
  if (tensors > kMaxCount) r.fail("tensor count " + std::to_string(tensors) + " is implausible");
  if (kvs > kMaxCount) r.fail("metadata count " + std::to_string(kvs) + " is implausible");
  for (std::uint64_t i = 0; i < kvs; ++i) {
    auto key = r.string("metadata key");
    if (key.empty()) r.fail("empty metadata key");
    if (g.metadata.count(key)) r.fail("metadata key " + key + " appears twice");
    const auto type = r.number<std::uint32_t>();
    if (type > 12) r.fail("metadata key " + key + ": unknown value type " + std::to_string(type));
    g.metadata[key] = readValue(r, GgufType(type), 0);
    g.metadata_order.push_back(key);
  }
  if (auto it = g.metadata.find("general.alignment"); it != g.metadata.end()) {
    std::uint64_t a = 0;
    try {
      a = it->second.asUint();
    } catch (const NeuralinkError&) {
    }
    if (a == 0 || (a & (a - 1)) || a > (1u << 20))
      r.fail("general.alignment must be a power of two, not " + std::to_string(a));
    g.alignment = a;
  }
  for (std::uint64_t i = 0; i < tensors; ++i) {
    GgufTensorInfo t;
    t.name = r.string("tensor name");
    if (t.name.empty()) r.fail("empty tensor name");
    const auto n_dims = r.number<std::uint32_t>();
    if (n_dims < 1 || n_dims > 4)
      r.fail("tensor " + t.name + " has " + std::to_string(n_dims) + " dimensions (1 to 4)");
    std::uint64_t elements = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = r.number<std::uint64_t>();
      if (dim == 0 || dim > (std::uint64_t(1) << 40) || elements > (std::uint64_t(1) << 48) / dim)
        r.fail("tensor " + t.name + " has an implausible dimension " + std::to_string(dim));
      elements *= dim;
      t.dims.push_back(dim);
    }
    t.type = r.number<std::uint32_t>();
    t.offset = r.number<std::uint64_t>();
    if (t.offset % g.alignment)
      r.fail("tensor " + t.name + ": offset " + std::to_string(t.offset) + " is not aligned to " +
             std::to_string(g.alignment));
    t.bytes = elements * elementBytes(t.type);
    if (g.find(t.name)) r.fail("tensor " + t.name + " appears twice");
    g.tensors.push_back(std::move(t));
  }
  g.data_offset = (r.position() + g.alignment - 1) / g.alignment * g.alignment;
  // Tensors: inside the file, not overlapping.
  std::vector<const GgufTensorInfo*> sorted;
  for (auto& t : g.tensors) {
    if (t.offset > (std::uint64_t(1) << 60))
      throw NeuralinkError(path.string() + ": tensor " + t.name + ": implausible offset");
    t.offset += g.data_offset;
    if (t.offset > r.size() || t.bytes > r.size() - t.offset)
      throw NeuralinkError(path.string() + ": truncated: tensor " + t.name + " needs bytes " +
                           std::to_string(t.offset) + ".." + std::to_string(t.offset + t.bytes) +
                           ", the file has " + std::to_string(r.size()));
    sorted.push_back(&t);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](auto* a, auto* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i - 1]->offset + sorted[i - 1]->bytes > sorted[i]->offset)
      throw NeuralinkError(path.string() + ": tensors " + sorted[i - 1]->name + " and " +
                           sorted[i]->name + " overlap");
  return g;
}

std::vector<float> readGgufTensor(const GgufFile& file, const GgufTensorInfo& t) {
  const auto element = elementBytes(t.type);
  if (!element)
    throw NeuralinkError(file.path.string() + ": tensor " + t.name + " has " +
                         ggmlTypeName(t.type) + " data, which this reader does not decode");
  Reader r(file.path);
  std::vector<unsigned char> raw(static_cast<std::size_t>(t.bytes));
  r.readAt(t.offset, raw.data(), raw.size());
  std::vector<float> out(static_cast<std::size_t>(t.elements()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const unsigned char* p = raw.data() + i * element;
    if (t.type == kGgmlF32) {
      std::uint32_t bits = std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 |
                           std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
      std::memcpy(&out[i], &bits, 4);
    } else {
      const std::uint16_t h = std::uint16_t(p[0] | p[1] << 8);
      if (t.type == kGgmlF16) {
        out[i] = halfToFloat(h);
      } else {
        std::uint32_t bits = std::uint32_t(h) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
    }
  }
  return out;
}

}  // namespace darkroom::neuralink

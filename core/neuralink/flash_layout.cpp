// Flash layout files: the writer (synthetic layouts here; model layouts in flash_layout_write.cpp,
// which needs ATen), the reader and the verifier. The byte format is in docs/flash-layout.md and
// neuralink/layout_format.h. No LibTorch: this is part of darkroom_flashio, which runs on phones.
#include "darkroom/neuralink/flash_layout.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>

#include "darkroom/neuralink/trace.h"
#include "neuralink/crc32c.h"
#include "neuralink/layout_format.h"
#include "neuralink/layout_writer.h"

namespace darkroom::neuralink {
namespace fs = std::filesystem;
namespace lf = layout_format;

// ---------------------------------------------------------------------------------------------
// CRC-32C

namespace {

struct Crc32cTables {
  std::uint32_t t[8][256];
  Crc32cTables() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
      t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
};

const Crc32cTables& tables() {
  static const Crc32cTables instance;
  return instance;
}

std::uint32_t crcSoftware(std::uint32_t c, const unsigned char* p, std::size_t n) {
  const auto& t = tables().t;
  while (n && (reinterpret_cast<std::uintptr_t>(p) & 7)) {
    c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
    --n;
  }
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);  // little-endian hosts only (checked by the writers)
    word ^= c;
    c = t[7][word & 0xFF] ^ t[6][(word >> 8) & 0xFF] ^ t[5][(word >> 16) & 0xFF] ^
        t[4][(word >> 24) & 0xFF] ^ t[3][(word >> 32) & 0xFF] ^ t[2][(word >> 40) & 0xFF] ^
        t[1][(word >> 48) & 0xFF] ^ t[0][(word >> 56) & 0xFF];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
  return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) std::uint32_t crcHardware(std::uint32_t c,
                                                             const unsigned char* p,
                                                             std::size_t n) {
  std::uint64_t c64 = c;
  while (n && (reinterpret_cast<std::uintptr_t>(p) & 7)) {
    c64 = __builtin_ia32_crc32qi(std::uint32_t(c64), *p++);
    --n;
  }
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c64 = __builtin_ia32_crc32di(c64, word);
    p += 8;
    n -= 8;
  }
  while (n--) c64 = __builtin_ia32_crc32qi(std::uint32_t(c64), *p++);
  return std::uint32_t(c64);
}
bool haveHardwareCrc() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}
#endif

}  // namespace

std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t bytes) {
  auto p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (haveHardwareCrc()) return ~crcHardware(c, p, bytes);
#endif
  return ~crcSoftware(c, p, bytes);
}

std::uint32_t crc32cPortable(std::uint32_t crc, const void* data, std::size_t bytes) {
  return ~crcSoftware(~crc, static_cast<const unsigned char*>(data), bytes);
}

// ---------------------------------------------------------------------------------------------
// Writing

namespace {

bool littleEndianHost() {
  const std::uint32_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

void put32(unsigned char* at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put64(unsigned char* at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) at[i] = static_cast<unsigned char>(v >> (8 * i));
}
std::uint32_t get32(const unsigned char* at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t(at[i]) << (8 * i);
  return v;
}
std::uint64_t get64(const unsigned char* at) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t(at[i]) << (8 * i);
  return v;
}
void putText(unsigned char* at, int size, const std::string& text) {
  std::memset(at, 0, std::size_t(size));
  std::memcpy(at, text.data(), std::min<std::size_t>(text.size(), std::size_t(size - 1)));
}
std::string getText(const unsigned char* at, int size) {
  std::size_t n = 0;
  while (n < std::size_t(size) && at[n]) ++n;
  return std::string(reinterpret_cast<const char*>(at), n);
}
std::uint64_t alignUp(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

std::string hex(std::uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

const char* dtypeName(std::uint32_t code) {
  switch (code) {
    case lf::kF32: return "f32";
    case lf::kF16: return "f16";
    case lf::kBF16: return "bf16";
    case lf::kU8: return "u8";
  }
  return nullptr;
}
std::uint32_t dtypeBytes(std::uint32_t code) {
  return code == lf::kF32 ? 4 : code == lf::kU8 ? 1 : 2;
}
const char* bundleName(std::uint32_t code) {
  switch (code) {
    case lf::kOpaque: return "opaque";
    case lf::kOpt: return "opt";
    case lf::kGated: return "gated";
  }
  return nullptr;
}

class PartialFile {  // PATH.partial, removed unless committed
 public:
  explicit PartialFile(const fs::path& target) : target_(target) {
    partial_ = target;
    partial_ += ".partial";
    if (target.has_parent_path()) fs::create_directories(target.parent_path());
    f_ = std::fopen(partial_.c_str(), "wb");
    if (!f_)
      throw NeuralinkError(partial_.string() + ": cannot create: " + std::strerror(errno));
  }
  ~PartialFile() {
    if (f_) std::fclose(f_);
    if (!committed_) {
      std::error_code ec;
      fs::remove(partial_, ec);
    }
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  void write(const void* data, std::size_t n) {
    if (n && std::fwrite(data, 1, n, f_) != n)
      throw NeuralinkError(partial_.string() + ": write failed: " + std::strerror(errno));
  }
  void zeros(std::uint64_t n) {
    static const std::array<unsigned char, 4096> z{};
    while (n) {
      auto k = std::min<std::uint64_t>(n, z.size());
      write(z.data(), std::size_t(k));
      n -= k;
    }
  }
  void seek(std::uint64_t offset) {
    if (fseeko(f_, off_t(offset), SEEK_SET) != 0)
      throw NeuralinkError(partial_.string() + ": seek failed: " + std::strerror(errno));
  }
  void commit() {
    if (std::fflush(f_) != 0 || ::fsync(fileno(f_)) != 0)
      throw NeuralinkError(partial_.string() + ": flush failed: " + std::strerror(errno));
    std::fclose(f_);
    f_ = nullptr;
    fs::rename(partial_, target_);
    committed_ = true;
  }

 private:
  fs::path target_, partial_;
  std::FILE* f_ = nullptr;
  bool committed_ = false;
};

}  // namespace

void writeLayoutFile(const LayoutPlan& plan, const BundleProducer& produce, const fs::path& path,
                     JobContext* ctx) {
  if (!littleEndianHost())
    throw NeuralinkError("flash layout files are little-endian; this host is not");
  const std::size_t layers = plan.orders.size();
  if (layers < 1 || layers > lf::kMaxLayers)
    throw NeuralinkError("a layout needs 1 to " + std::to_string(lf::kMaxLayers) + " layers");
  // Offsets: header, table, order arrays (8-aligned each), then 4 KiB-aligned data regions.
  const std::uint64_t table_bytes = std::uint64_t(layers) * lf::kEntryBytes;
  const std::uint64_t orders_offset = lf::kHeaderBytes + table_bytes;
  std::vector<std::uint64_t> order_offset(layers), data_offset(layers), data_bytes(layers);
  std::uint64_t at = orders_offset;
  for (std::size_t l = 0; l < layers; ++l) {
    order_offset[l] = at;
    at = alignUp(at + 4 * plan.orders[l].size(), 8);
  }
  double total = 0;
  for (std::size_t l = 0; l < layers; ++l) {
    at = alignUp(at, lf::kAlignment);
    data_offset[l] = at;
    data_bytes[l] = std::uint64_t(plan.orders[l].size()) * plan.bundle_bytes[l];
    at += data_bytes[l];
    total += double(data_bytes[l]);
  }
  const std::uint64_t file_bytes = alignUp(at, lf::kAlignment);

  PartialFile out(path);
  std::vector<unsigned char> head(static_cast<std::size_t>(data_offset[0]), 0);
  out.write(head.data(), head.size());  // rewritten once the checksums are known

  std::vector<std::uint32_t> data_crc(layers), order_crc(layers);
  std::vector<unsigned char> buffer;
  double done = 0;
  for (std::size_t l = 0; l < layers; ++l) {
    const auto n = std::int64_t(plan.orders[l].size());
    const auto bb = plan.bundle_bytes[l];
    const std::int64_t chunk = std::max<std::int64_t>(1, std::int64_t((16u << 20) / bb));
    buffer.resize(std::size_t(std::min<std::int64_t>(chunk, n) * std::int64_t(bb)));
    std::uint32_t crc = 0;
    for (std::int64_t first = 0; first < n; first += chunk) {
      const auto count = std::min(chunk, n - first);
      const std::size_t bytes = std::size_t(count) * std::size_t(bb);
      produce(int(l), first, count, buffer.data());
      crc = crc32c(crc, buffer.data(), bytes);
      out.write(buffer.data(), bytes);
      done += double(bytes);
      if (ctx)
        ctx->progress(total > 0 ? done / total : 1.0,
                      "layer " + std::to_string(l) + " of " + std::to_string(layers));
    }
    data_crc[l] = crc;
    const std::uint64_t end = data_offset[l] + data_bytes[l];
    const std::uint64_t next = l + 1 < layers ? data_offset[l + 1] : file_bytes;
    out.zeros(next - end);
  }

  // Header, table and orders.
  unsigned char* h = head.data();
  std::memcpy(h, lf::kMagic, 8);
  put32(h + lf::kVersionAt, lf::kVersion);
  put32(h + lf::kHeaderBytesAt, lf::kHeaderBytes);
  put32(h + lf::kLayerCountAt, std::uint32_t(layers));
  put32(h + lf::kDtypeAt, plan.dtype);
  put32(h + lf::kAlignmentAt, lf::kAlignment);
  put32(h + lf::kBundleAt, plan.bundle);
  putText(h + lf::kModelTypeAt, lf::kModelTypeBytes, plan.model_type);
  put64(h + lf::kHiddenAt, plan.hidden);
  put64(h + lf::kTableOffsetAt, lf::kHeaderBytes);
  put64(h + lf::kTableBytesAt, table_bytes);
  put64(h + lf::kOrdersOffsetAt, orders_offset);
  put64(h + lf::kFileBytesAt, file_bytes);
  putText(h + lf::kPlacementAt, lf::kPlacementBytes, plan.placement);
  for (std::size_t l = 0; l < layers; ++l) {
    unsigned char* o = h + order_offset[l];
    for (std::size_t k = 0; k < plan.orders[l].size(); ++k)
      put32(o + 4 * k, std::uint32_t(plan.orders[l][k]));
    order_crc[l] = crc32c(o, 4 * plan.orders[l].size());
    unsigned char* e = h + lf::kHeaderBytes + l * lf::kEntryBytes;
    put64(e + lf::kNeuronsAt, plan.orders[l].size());
    put64(e + lf::kBundleBytesAt, plan.bundle_bytes[l]);
    put64(e + lf::kDataOffsetAt, data_offset[l]);
    put64(e + lf::kDataBytesAt, data_bytes[l]);
    put64(e + lf::kOrderOffsetAt, order_offset[l]);
    put32(e + lf::kOrderCrcAt, order_crc[l]);
    put32(e + lf::kDataCrcAt, data_crc[l]);
    put32(e + lf::kLayerIndexAt, std::uint32_t(l));
  }
  std::uint32_t crc = crc32c(h, lf::kHeaderCrcAt);
  crc = crc32c(crc, h + lf::kHeaderBytes, std::size_t(table_bytes));
  put32(h + lf::kHeaderCrcAt, crc);
  out.seek(0);
  out.write(head.data(), head.size());
  out.commit();
}

std::uint32_t layoutDtypeBytes(std::uint32_t code) { return dtypeBytes(code); }

std::vector<std::int32_t> checkedLayerOrder(const LayerPlacement* layer, std::int64_t neurons) {
  if (neurons < 1 || neurons > INT32_MAX)
    throw NeuralinkError("a layer needs 1 to 2^31-1 neurons, not " + std::to_string(neurons));
  std::vector<std::int32_t> order(static_cast<std::size_t>(neurons));
  if (!layer) {
    for (std::int64_t k = 0; k < neurons; ++k) order[std::size_t(k)] = std::int32_t(k);
    return order;
  }
  if (std::int64_t(layer->order.size()) != neurons)
    throw NeuralinkError("the placement orders " + std::to_string(layer->order.size()) +
                         " neurons, the layer has " + std::to_string(neurons));
  std::vector<bool> seen(static_cast<std::size_t>(neurons));
  for (auto n : layer->order) {
    if (n < 0 || n >= neurons)
      throw NeuralinkError("neuron " + std::to_string(n) + " is out of range");
    if (seen[std::size_t(n)])
      throw NeuralinkError("neuron " + std::to_string(n) + " appears twice");
    seen[std::size_t(n)] = true;
  }
  return layer->order;
}

// ---------------------------------------------------------------------------------------------
// Reading

namespace {

class ReadFile {
 public:
  explicit ReadFile(const fs::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw NeuralinkError(path.string() + ": cannot open: " + std::strerror(errno));
    off_t end = ::lseek(fd_, 0, SEEK_END);
    if (end < 0) throw NeuralinkError(path.string() + ": cannot seek: " + std::strerror(errno));
    size_ = std::uint64_t(end);
  }
  ~ReadFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ReadFile(const ReadFile&) = delete;
  ReadFile& operator=(const ReadFile&) = delete;
  std::uint64_t size() const { return size_; }
  void read(std::uint64_t offset, void* out, std::size_t n) const {
    auto p = static_cast<unsigned char*>(out);
    while (n) {
      ssize_t got = ::pread(fd_, p, n, off_t(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0)
        throw NeuralinkError(path_.string() + ": read failed at offset " +
                             std::to_string(offset) + ": " + std::strerror(errno));
      if (got == 0)
        throw NeuralinkError(path_.string() + ": truncated: no bytes at offset " +
                             std::to_string(offset));
      p += got;
      n -= std::size_t(got);
      offset += std::uint64_t(got);
    }
  }

 private:
  fs::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

struct ParsedLayout {
  FlashLayout layout;
  std::vector<std::uint64_t> data_bytes;
  std::vector<std::uint32_t> data_crc;
};

ParsedLayout parseLayout(const fs::path& path) {
  const std::string where = path.string() + ": ";
  ReadFile file(path);
  auto fail = [&](const std::string& what) { return NeuralinkError(where + what); };
  if (file.size() < lf::kHeaderBytes)
    throw fail("truncated: " + std::to_string(file.size()) + " bytes, a layout header needs " +
               std::to_string(lf::kHeaderBytes));
  std::array<unsigned char, lf::kHeaderBytes> h{};
  file.read(0, h.data(), h.size());
  if (std::memcmp(h.data(), lf::kMagic, 8) != 0)
    throw fail("not a Darkroom flash layout (the magic is not \"DRLAYOUT\")");
  const auto version = get32(h.data() + lf::kVersionAt);
  if (version != lf::kVersion)
    throw fail("layout version " + std::to_string(version) + "; this build reads version " +
               std::to_string(lf::kVersion));
  if (get32(h.data() + lf::kHeaderBytesAt) != lf::kHeaderBytes)
    throw fail("header size " + std::to_string(get32(h.data() + lf::kHeaderBytesAt)) +
               ", expected " + std::to_string(lf::kHeaderBytes));
  const auto layers = get32(h.data() + lf::kLayerCountAt);
  if (layers < 1 || layers > lf::kMaxLayers)
    throw fail("layer count " + std::to_string(layers) + " is out of range");
  const auto dtype = get32(h.data() + lf::kDtypeAt);
  const auto bundle = get32(h.data() + lf::kBundleAt);
  if (!dtypeName(dtype)) throw fail("unknown dtype code " + std::to_string(dtype));
  if (!bundleName(bundle)) throw fail("unknown bundle kind " + std::to_string(bundle));
  if (get32(h.data() + lf::kAlignmentAt) != lf::kAlignment)
    throw fail("alignment " + std::to_string(get32(h.data() + lf::kAlignmentAt)) +
               ", expected 4096");
  const std::uint64_t table_bytes = std::uint64_t(layers) * lf::kEntryBytes;
  if (get64(h.data() + lf::kTableOffsetAt) != lf::kHeaderBytes ||
      get64(h.data() + lf::kTableBytesAt) != table_bytes ||
      get64(h.data() + lf::kOrdersOffsetAt) != lf::kHeaderBytes + table_bytes)
    throw fail("the layer table's offset or size does not match the layer count");
  const std::uint64_t file_bytes = get64(h.data() + lf::kFileBytesAt);
  if (file.size() < file_bytes)
    throw fail("truncated: " + std::to_string(file.size()) + " bytes, the header says " +
               std::to_string(file_bytes));
  if (file.size() > file_bytes)
    throw fail(std::to_string(file.size() - file_bytes) +
               " bytes more than the header says (" + std::to_string(file_bytes) + ")");
  if (lf::kHeaderBytes + table_bytes > file_bytes) throw fail("the layer table ends past the file");
  std::vector<unsigned char> table(static_cast<std::size_t>(table_bytes));
  file.read(lf::kHeaderBytes, table.data(), table.size());
  std::uint32_t crc = crc32c(h.data(), lf::kHeaderCrcAt);
  crc = crc32c(crc, table.data(), table.size());
  const auto stored = get32(h.data() + lf::kHeaderCrcAt);
  if (crc != stored)
    throw fail("header or layer table checksum mismatch (stored " + hex(stored) + ", computed " +
               hex(crc) + ")");

  ParsedLayout out;
  FlashLayout& layout = out.layout;
  layout.path = path;
  layout.model_type = getText(h.data() + lf::kModelTypeAt, lf::kModelTypeBytes);
  layout.dtype = dtypeName(dtype);
  layout.bundle = bundleName(bundle);
  layout.hidden_size = std::int64_t(get64(h.data() + lf::kHiddenAt));
  layout.placement = getText(h.data() + lf::kPlacementAt, lf::kPlacementBytes);
  layout.file_bytes = file_bytes;
  const std::uint64_t hidden = get64(h.data() + lf::kHiddenAt);
  std::uint64_t orders_end = lf::kHeaderBytes + table_bytes, previous_end = 0;
  for (std::uint32_t l = 0; l < layers; ++l) {
    const unsigned char* e = table.data() + std::size_t(l) * lf::kEntryBytes;
    auto bad = [&](const std::string& what) {
      return fail("layer " + std::to_string(l) + ": " + what);
    };
    const auto neurons = get64(e + lf::kNeuronsAt), bb = get64(e + lf::kBundleBytesAt);
    const auto data_offset = get64(e + lf::kDataOffsetAt), data_bytes = get64(e + lf::kDataBytesAt);
    const auto order_offset = get64(e + lf::kOrderOffsetAt);
    if (get32(e + lf::kLayerIndexAt) != l) throw bad("the table entry is out of order");
    if (neurons < 1 || neurons > std::uint64_t(INT32_MAX))
      throw bad("neuron count " + std::to_string(neurons) + " is out of range");
    if (bb < 1 || bb > (std::uint64_t(1) << 40))
      throw bad("bundle size " + std::to_string(bb) + " is out of range");
    if (data_bytes != neurons * bb) throw bad("data size is not neurons × bundle size");
    const std::uint64_t element = dtypeBytes(dtype);
    const std::uint64_t want = bundle == lf::kOpt     ? (2 * hidden + 1) * element
                               : bundle == lf::kGated ? 3 * hidden * element
                                                      : bb;
    if (bb != want)
      throw bad("bundle size " + std::to_string(bb) + " does not match a " + layout.bundle +
                " bundle of hidden size " + std::to_string(hidden) + " (" + std::to_string(want) +
                " bytes)");
    if (data_offset % lf::kAlignment) throw bad("data offset is not 4 KiB aligned");
    if (order_offset < orders_end || order_offset + 4 * neurons > data_offset)
      throw bad("the order array overlaps another part of the file");
    if (data_offset < previous_end) throw bad("data overlaps the previous layer's");
    if (data_offset > file_bytes || data_bytes > file_bytes - data_offset)
      throw bad("data ends past the end of the file");
    orders_end = order_offset + 4 * neurons;
    previous_end = data_offset + data_bytes;

    std::vector<unsigned char> raw(std::size_t(4 * neurons));
    file.read(order_offset, raw.data(), raw.size());
    const auto order_crc = crc32c(raw.data(), raw.size());
    if (order_crc != get32(e + lf::kOrderCrcAt))
      throw bad("order checksum mismatch (stored " + hex(get32(e + lf::kOrderCrcAt)) +
                ", computed " + hex(order_crc) + ")");
    LayoutLayer layer;
    layer.neurons = std::int64_t(neurons);
    layer.bundle_bytes = std::int64_t(bb);
    layer.data_offset = data_offset;
    layer.order.resize(std::size_t(neurons));
    layer.slot.assign(std::size_t(neurons), -1);
    for (std::size_t k = 0; k < neurons; ++k) {
      const auto n = get32(raw.data() + 4 * k);
      if (n >= neurons) throw bad("slot " + std::to_string(k) + " holds neuron " +
                                  std::to_string(n) + ", out of range");
      if (layer.slot[n] >= 0) throw bad("neuron " + std::to_string(n) + " is stored twice");
      layer.order[k] = std::int32_t(n);
      layer.slot[n] = std::int32_t(k);
    }
    layout.layers.push_back(std::move(layer));
    out.data_bytes.push_back(data_bytes);
    out.data_crc.push_back(get32(e + lf::kDataCrcAt));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public entry points

FlashLayout readFlashLayout(const fs::path& path) { return parseLayout(path).layout; }

std::vector<LayerCheck> checkFlashLayout(const fs::path& path, JobContext& ctx) {
  auto parsed = parseLayout(path);
  ReadFile file(path);
  std::vector<LayerCheck> checks;
  double total = 0, done = 0;
  for (auto b : parsed.data_bytes) total += double(b);
  std::vector<unsigned char> buffer(8u << 20);
  for (std::size_t l = 0; l < parsed.layout.layers.size(); ++l) {
    const auto& layer = parsed.layout.layers[l];
    std::uint32_t crc = 0;
    for (std::uint64_t at = 0; at < parsed.data_bytes[l];) {
      const auto n = std::size_t(std::min<std::uint64_t>(buffer.size(), parsed.data_bytes[l] - at));
      file.read(layer.data_offset + at, buffer.data(), n);
      crc = crc32c(crc, buffer.data(), n);
      at += n;
      done += double(n);
      ctx.progress(total > 0 ? done / total : 1.0, "checking layer " + std::to_string(l));
    }
    LayerCheck check;
    check.layer = int(l);
    check.ok = crc == parsed.data_crc[l];
    if (!check.ok)
      check.problem = "data checksum mismatch (stored " + hex(parsed.data_crc[l]) +
                      ", computed " + hex(crc) + ")";
    checks.push_back(check);
  }
  return checks;
}

void verifyFlashLayout(const fs::path& path, JobContext& ctx) {
  for (const auto& check : checkFlashLayout(path, ctx))
    if (!check.ok)
      throw NeuralinkError(path.string() + ": layer " + std::to_string(check.layer) + ": " +
                           check.problem);
}

void writeSyntheticLayout(const std::vector<std::int64_t>& neurons_per_layer,
                          std::int64_t bundle_bytes, const Placement& placement,
                          const fs::path& path) {
  if (bundle_bytes < 1) throw NeuralinkError("bundle size must be positive");
  if (neurons_per_layer.empty()) throw NeuralinkError("a layout needs at least one layer");
  if (!placement.layers.empty() && placement.layers.size() != neurons_per_layer.size())
    throw NeuralinkError("the placement has " + std::to_string(placement.layers.size()) +
                         " layers, the layout " + std::to_string(neurons_per_layer.size()));
  LayoutPlan plan;
  plan.model_type = "synthetic";
  plan.placement = toString(placement.layers.empty() ? PlacementMethod::Identity
                                                          : placement.method);
  for (std::size_t l = 0; l < neurons_per_layer.size(); ++l) {
    const LayerPlacement* one = placement.layers.empty() ? nullptr : &placement.layers[l];
    try {
      plan.orders.push_back(checkedLayerOrder(one, neurons_per_layer[l]));
    } catch (const NeuralinkError& e) {
      throw NeuralinkError("layer " + std::to_string(l) + ": " + e.what());
    }
  }
  plan.bundle_bytes.assign(plan.orders.size(), std::uint64_t(bundle_bytes));
  auto produce = [&](int, std::int64_t, std::int64_t count, unsigned char* out) {
    std::memset(out, 0, std::size_t(count) * std::size_t(bundle_bytes));
  };
  writeLayoutFile(plan, produce, path, nullptr);
}

}  // namespace darkroom::neuralink

// Packing float32 weights into the quantized layouts of quant_matrix.h, and back.
//
// Both layouts are defined by one pair of maps: groupSlot ((n, k) → group, position) and its
// inverse slotOrigin/slotCoords below; the byte offsets of a group's codes and scale follow from
// the group index alone (groupBytes). The quantizer works one group at a time: gather its 32
// values, choose a scale, round the scale to fp16, code the values against that rounded scale.
#include "darkroom/kernels/quant_matrix.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace darkroom::kernels {
namespace {

using Index = std::int64_t;

Index padded(Index n) { return (n + kQuantGroup - 1) / kQuantGroup * kQuantGroup; }

bool fourBit(QuantType type) { return type != QuantType::Q8_0; }

// Bytes of one packing unit: a super-block (Tile) or a group (RowGroups).
Index superBlockBytes(QuantType type) { return fourBit(type) ? 144 : 272; }
Index rowBlockBytes(QuantType type) { return fourBit(type) ? 18 : 34; }

// Inverse of groupSlot: the (n, k) of position `pos` in group `group`, in the padded matrix.
// A group is a run of 32 columns of one row (RowGroups), or 16 outputs × 2 inputs of a tile with
// position = 2 · (output offset) + input offset (Tile): its origin plus a fixed pattern.
struct Coords {
  Index n, k;
};

Coords groupOrigin(QuantLayout layout, Index cols, Index group) {
  const Index kGroups = padded(cols) / kQuantGroup;  // groups per row, or tiles per tile column
  if (layout == QuantLayout::RowGroups) return {group / kGroups, (group % kGroups) * kQuantGroup};
  // Tile t = nt · (K/32) + kt holds 32 groups; group gi covers row pair p = gi / 2 and the
  // column half gi % 2.
  const Index tile = group / 32;
  const int gi = static_cast<int>(group % 32);
  return {tile / kGroups * kTileSize + (gi % 2) * 16, tile % kGroups * kTileSize + gi / 2 * 2};
}

Coords slotCoords(QuantLayout layout, Coords origin, int pos) {
  if (layout == QuantLayout::RowGroups) return {origin.n, origin.k + pos};
  return {origin.n + pos / 2, origin.k + pos % 2};
}

// Where a group's codes and scale live. For 4-bit codes, `nibbleShift` says which half of each
// code byte is the group's; element `pos` is at codes[codeIndex(pos)] (RowGroups pairs element j
// with j + 16 in one byte, Tile pairs value j of a super-block with value j + 128).
struct GroupBytes {
  std::uint8_t* codes;  // first code byte of the group's run
  std::uint8_t* scale;  // fp16, little-endian
  int nibbleShift;      // 0 or 4 (4-bit types)
  bool splitHalves;     // RowGroups 4-bit: positions 16..31 share bytes with 0..15
};

GroupBytes groupBytes(QuantType type, QuantLayout layout, std::uint8_t* data, Index group) {
  if (layout == QuantLayout::RowGroups) {
    std::uint8_t* block = data + group * rowBlockBytes(type);
    return {block + 2, block, 0, fourBit(type)};
  }
  std::uint8_t* block = data + (group / kSuperBlockGroups) * superBlockBytes(type);
  const int g = static_cast<int>(group % kSuperBlockGroups);
  const int codeBytes = fourBit(type) ? 128 : 256;
  std::uint8_t* scale = block + codeBytes + 2 * g;
  if (!fourBit(type)) return {block + 32 * g, scale, 0, false};
  return {block + 32 * (g % 4), scale, g < 4 ? 0 : 4, false};
}

// Code of element `pos` of a group, and its storage.
int readCode(QuantType type, const GroupBytes& b, int pos) {
  if (!fourBit(type)) return static_cast<std::int8_t>(b.codes[pos]);
  if (b.splitHalves) return pos < 16 ? b.codes[pos] & 15 : b.codes[pos - 16] >> 4;
  return (b.codes[pos] >> b.nibbleShift) & 15;
}

void writeCode(QuantType type, const GroupBytes& b, int pos, int code) {
  if (!fourBit(type)) {
    b.codes[pos] = static_cast<std::uint8_t>(static_cast<std::int8_t>(code));
    return;
  }
  int byte = pos, shift = b.nibbleShift;
  if (b.splitHalves && pos >= 16) byte = pos - 16, shift = 4;
  b.codes[byte] = static_cast<std::uint8_t>((b.codes[byte] & ~(15 << shift)) | (code << shift));
}

float readScale(const GroupBytes& b) {
  return halfToFloat(static_cast<std::uint16_t>(b.scale[0] | (b.scale[1] << 8)));
}

void writeScale(const GroupBytes& b, std::uint16_t half) {
  b.scale[0] = static_cast<std::uint8_t>(half & 0xff);
  b.scale[1] = static_cast<std::uint8_t>(half >> 8);
}

// Rounds half away from zero, like lround, without the library call.
int roundToInt(float v) { return static_cast<int>(v + (v >= 0.0f ? 0.5f : -0.5f)); }

// The value `x` stored in fp16, as the kernels will read it.
float roundToHalf(float x) { return halfToFloat(floatToHalf(x)); }

// ---- the three quantizers: 32 values → fp16 scale + 32 codes ----

struct Quantized {
  std::uint16_t scale;
  int codes[kQuantGroup];
};

// Signed absmax: the value of largest magnitude, with its sign (the first one on ties).
float signedAbsmax(const float* x) {
  float m = 0.0f;
  for (int i = 0; i < kQuantGroup; ++i)
    if (std::fabs(x[i]) > std::fabs(m)) m = x[i];
  return m;
}

// fp16 of `d`, one step larger in magnitude when the nearest half would put `m` more than half a
// code past `codes` steps (m / d_h > codes + 0.5): the codes are rounded against the stored scale,
// and below 6e-5 halves are subnormal, coarse enough to clip the largest value.
std::uint16_t scaleHalf(float d, float m, float codes) {
  std::uint16_t h = floatToHalf(d);
  if (std::fabs(m / halfToFloat(h)) > codes + 0.5f) ++h;  // sign-magnitude: +1 ulp of |d|
  return h;
}

// Q4_0 as llama.cpp: d = m / -8 puts the signed absmax on code 0 (value -8 · d); the codes are
// rounded against the fp16 scale that will be stored.
Quantized quantizeQ4_0(const float* x) {
  Quantized out{};
  const float m = signedAbsmax(x);
  out.scale = m != 0.0f ? scaleHalf(m / -8.0f, m, 8.0f) : 0;  // +0 for an all-zero group
  const float d = halfToFloat(out.scale);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < kQuantGroup; ++i)
    out.codes[i] = std::clamp(roundToInt(x[i] * id) + 8, 0, 15);
  return out;
}

Quantized quantizeQ8_0(const float* x) {
  Quantized out{};
  const float m = std::fabs(signedAbsmax(x));
  out.scale = m != 0.0f ? scaleHalf(m / 127.0f, m, 127.0f) : 0;
  const float d = halfToFloat(out.scale);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < kQuantGroup; ++i)
    out.codes[i] = std::clamp(roundToInt(x[i] * id), -127, 127);
  return out;
}

constexpr float kIq4NlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};

// For each integer i in [-128, 127], the index of the last IQ4_NL value <= i (0 below the
// first). The values are integers, so for any t the bracketing pair is below[floor(t)] and the
// next one: a lookup and one comparison instead of a search (the quantizer calls this ~400 times
// per group).
struct Iq4NlBelow {
  std::uint8_t index[256] = {};
  constexpr Iq4NlBelow() {
    int j = 0;
    for (int i = -128; i < 128; ++i) {
      while (j < 15 && kIq4NlValues[j + 1] <= static_cast<float>(i)) ++j;
      index[i + 128] = static_cast<std::uint8_t>(j);
    }
  }
};
constexpr Iq4NlBelow kIq4NlBelow;

// Index of the IQ4_NL value nearest to t (ties go to the lower).
inline int nearestIq4Nl(float t) {
  t = std::clamp(t, kIq4NlValues[0], kIq4NlValues[15]);  // NaN never gets here (checked finite)
  const int lo = kIq4NlBelow.index[static_cast<int>(t + 128.0f)];  // t + 128 >= 1: truncation floors
  const int hi = lo < 15 ? lo + 1 : 15;
  return t - kIq4NlValues[lo] <= kIq4NlValues[hi] - t ? lo : hi;
}

// IQ4_NL: the table is not symmetric, so no closed-form scale is best. Each candidate scale maps
// the signed absmax near the table's end (-127) with a small shift; the values are coded against
// the candidate's fp16 rounding, and both that scale and the least-squares scale for those codes
// (also fp16-rounded) are scored by their squared error. The winner's codes are then recomputed
// against it, which can only lower the error further. Padding (bit i of `padding` set) is left
// out of the error: 0 is not in the table, and those weights only ever meet zeros.
Quantized quantizeIq4Nl(const float* x, std::uint32_t padding) {
  Quantized out{};
  const float m = signedAbsmax(x);
  if (m == 0.0f) {
    out.scale = 0;
    for (int& c : out.codes) c = nearestIq4Nl(0.0f);
    return out;
  }
  double sumX2 = 0;
  for (int i = 0; i < kQuantGroup; ++i) sumX2 += double(x[i]) * x[i];
  float best = roundToHalf(m / kIq4NlTable[0]);
  double bestErr = std::numeric_limits<double>::infinity();
  auto score = [&](float d, double sumQX, double sumQ2) {
    const double err = sumX2 - 2.0 * d * sumQX + double(d) * d * sumQ2;
    if (d != 0.0f && std::isfinite(d) && err < bestErr) bestErr = err, best = d;
  };
  constexpr int kTries = 6;  // candidate divisors -127 + s, s in [-kTries, kTries]
  for (int s = -kTries; s <= kTries; ++s) {
    const float d = roundToHalf(m / (kIq4NlTable[0] + static_cast<float>(s)));
    if (d == 0.0f || !std::isfinite(d)) continue;
    const float id = 1.0f / d;
    float sumQX = 0, sumQ2 = 0;  // 32 terms: float is plenty for ranking the candidates
    for (int i = 0; i < kQuantGroup; ++i) {
      const float q = (padding >> i & 1u) ? 0.0f : kIq4NlValues[nearestIq4Nl(x[i] * id)];
      sumQX += q * x[i];
      sumQ2 += q * q;
    }
    score(d, sumQX, sumQ2);
    if (sumQ2 > 0) score(roundToHalf(sumQX / sumQ2), sumQX, sumQ2);
  }
  out.scale = floatToHalf(best);
  const float id = 1.0f / best;
  for (int i = 0; i < kQuantGroup; ++i) out.codes[i] = nearestIq4Nl(x[i] * id);
  return out;
}

Quantized quantizeGroup(QuantType type, const float* x, std::uint32_t padding) {
  switch (type) {
    case QuantType::Q4_0: return quantizeQ4_0(x);
    case QuantType::IQ4_NL: return quantizeIq4Nl(x, padding);
    case QuantType::Q8_0: return quantizeQ8_0(x);
  }
  return {};
}

float codeValue(QuantType type, int code) {
  return type == QuantType::Q8_0 ? static_cast<float>(code) : codeTable(type)[code];
}

void checkType(const char* op, QuantType type, QuantLayout layout) {
  const int t = static_cast<int>(type), l = static_cast<int>(layout);
  if (t < 0 || t > 2)
    throw std::invalid_argument(std::string(op) + ": unknown quantization type " +
                                std::to_string(t));
  if (l < 0 || l > 1)
    throw std::invalid_argument(std::string(op) + ": unknown layout " + std::to_string(l));
}

void checkSizes(const char* op, Index rows, Index cols) {
  if (rows <= 0 || cols <= 0)
    throw std::invalid_argument(std::string(op) + ": the matrix is " + std::to_string(rows) +
                                " x " + std::to_string(cols) + "; both sizes must be positive");
}

const float kQ4_0Table[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};

}  // namespace

const float kIq4NlTable[16] = {
    kIq4NlValues[0], kIq4NlValues[1], kIq4NlValues[2],  kIq4NlValues[3],
    kIq4NlValues[4], kIq4NlValues[5], kIq4NlValues[6],  kIq4NlValues[7],
    kIq4NlValues[8], kIq4NlValues[9], kIq4NlValues[10], kIq4NlValues[11],
    kIq4NlValues[12], kIq4NlValues[13], kIq4NlValues[14], kIq4NlValues[15]};

const char* quantTypeName(QuantType type) {
  switch (type) {
    case QuantType::Q4_0: return "q4_0";
    case QuantType::IQ4_NL: return "iq4_nl";
    case QuantType::Q8_0: return "q8_0";
  }
  return "unknown";
}

const char* quantLayoutName(QuantLayout layout) {
  switch (layout) {
    case QuantLayout::Tile: return "tile";
    case QuantLayout::RowGroups: return "rows";
  }
  return "unknown";
}

QuantType parseQuantType(const std::string& name) {
  for (QuantType t : {QuantType::Q4_0, QuantType::IQ4_NL, QuantType::Q8_0})
    if (name == quantTypeName(t)) return t;
  throw std::invalid_argument("unknown quantization type '" + name +
                              "'; valid types: q4_0, iq4_nl, q8_0");
}

QuantLayout parseQuantLayout(const std::string& name) {
  for (QuantLayout l : {QuantLayout::Tile, QuantLayout::RowGroups})
    if (name == quantLayoutName(l)) return l;
  throw std::invalid_argument("unknown quantized layout '" + name + "'; valid layouts: tile, rows");
}

const float* codeTable(QuantType type) {
  switch (type) {
    case QuantType::Q4_0: return kQ4_0Table;
    case QuantType::IQ4_NL: return kIq4NlTable;
    case QuantType::Q8_0: return nullptr;
  }
  return nullptr;
}

double bitsPerWeight(QuantType type) { return fourBit(type) ? 4.5 : 8.5; }

std::size_t packedBytes(QuantType type, QuantLayout layout, Index rows, Index cols) {
  checkType("packedBytes", type, layout);
  if (rows < 0 || cols < 0)
    throw std::invalid_argument("packedBytes: the matrix is " + std::to_string(rows) + " x " +
                                std::to_string(cols) + "; sizes must not be negative");
  const Index groups = padded(rows) * padded(cols) / kQuantGroup;
  if (layout == QuantLayout::RowGroups) {
    // Rows are not padded in this layout: only the columns are.
    return static_cast<std::size_t>(rows * (padded(cols) / kQuantGroup) * rowBlockBytes(type));
  }
  return static_cast<std::size_t>(groups / kSuperBlockGroups * superBlockBytes(type));
}

GroupSlot groupSlot(QuantLayout layout, Index rows, Index cols, Index n, Index k) {
  if (n < 0 || n >= padded(rows) || k < 0 || k >= padded(cols))
    throw std::invalid_argument("groupSlot: (" + std::to_string(n) + ", " + std::to_string(k) +
                                ") is outside the padded " + std::to_string(padded(rows)) + " x " +
                                std::to_string(padded(cols)) + " matrix");
  const Index kGroups = padded(cols) / kQuantGroup;
  if (layout == QuantLayout::RowGroups) {
    if (n >= rows)
      throw std::invalid_argument("groupSlot: row " + std::to_string(n) +
                                  " is outside the rows layout's " + std::to_string(rows) +
                                  " rows (it pads columns only)");
    return {n * kGroups + k / kQuantGroup, static_cast<int>(k % kQuantGroup)};
  }
  const Index nt = n / kTileSize, kt = k / kTileSize;
  const int c = static_cast<int>(n % kTileSize), kk = static_cast<int>(k % kTileSize);
  const int p = kk / 2, r = kk % 2;
  const int value = (p * kTileSize + c) * 2 + r;  // index inside the tile
  return {(nt * kGroups + kt) * 32 + value / kQuantGroup, value % kQuantGroup};
}

QuantMatrix quantizeMatrix(const float* w, Index rows, Index cols, QuantType type,
                           QuantLayout layout) {
  checkType("quantizeMatrix", type, layout);
  checkSizes("quantizeMatrix", rows, cols);
  if (!w) throw std::invalid_argument("quantizeMatrix: the weight pointer is null");
  QuantMatrix out;
  out.type = type;
  out.layout = layout;
  out.rows = rows;
  out.cols = cols;
  out.data.assign(packedBytes(type, layout, rows, cols), 0);
  // A unit is what one thread writes alone: Tile super-blocks share code bytes between their
  // groups (value j and j + 128), so a thread takes whole super-blocks.
  const Index perUnit = layout == QuantLayout::Tile ? kSuperBlockGroups : 1;
  const Index groups = layout == QuantLayout::Tile
                           ? padded(rows) * padded(cols) / kQuantGroup
                           : rows * (padded(cols) / kQuantGroup);
  const Index units = groups / perUnit;
  std::atomic<Index> badGroup{-1};
#pragma omp parallel for schedule(dynamic, 64)
  for (Index u = 0; u < units; ++u) {
    for (Index group = u * perUnit; group < (u + 1) * perUnit; ++group) {
      float x[kQuantGroup];
      std::uint32_t padding = 0;
      bool finite = true;
      const Coords origin = groupOrigin(layout, cols, group);
      for (int pos = 0; pos < kQuantGroup; ++pos) {
        const Coords at = slotCoords(layout, origin, pos);
        const bool inside = at.n < rows && at.k < cols;
        x[pos] = inside ? w[at.n * cols + at.k] : 0.0f;
        padding |= inside ? 0u : 1u << pos;
        finite = finite && std::isfinite(x[pos]);
      }
      const Quantized q = finite ? quantizeGroup(type, x, padding) : Quantized{};
      if (!finite || !std::isfinite(halfToFloat(q.scale))) {
        Index expected = -1;
        badGroup.compare_exchange_strong(expected, group);
        continue;
      }
      const GroupBytes bytes = groupBytes(type, layout, out.data.data(), group);
      writeScale(bytes, q.scale);
      for (int pos = 0; pos < kQuantGroup; ++pos) writeCode(type, bytes, pos, q.codes[pos]);
    }
  }
  if (badGroup >= 0) {
    const Coords at = groupOrigin(layout, cols, badGroup);
    throw std::invalid_argument(
        "quantizeMatrix: the group of 32 weights that starts at (row " + std::to_string(at.n) +
        ", col " + std::to_string(at.k) +
        ") holds a NaN or Inf, or values too large for an fp16 scale (|w| up to 65504 · " +
        (type == QuantType::Q8_0 ? "127" : type == QuantType::Q4_0 ? "8" : "127") +
        "); clean the weights before quantizing");
  }
  return out;
}

void dequantizeMatrix(const QuantMatrixView& m, float* out) {
  checkType("dequantizeMatrix", m.type, m.layout);
  checkSizes("dequantizeMatrix", m.rows, m.cols);
  if (!m.data || !out) throw std::invalid_argument("dequantizeMatrix: null data or output");
  auto* data = const_cast<std::uint8_t*>(m.data);  // groupBytes is shared with the writer
  const Index perUnit = m.layout == QuantLayout::Tile ? kSuperBlockGroups : 1;
  const Index groups = m.layout == QuantLayout::Tile
                           ? padded(m.rows) * padded(m.cols) / kQuantGroup
                           : m.rows * (padded(m.cols) / kQuantGroup);
#pragma omp parallel for schedule(dynamic, 64)
  for (Index u = 0; u < groups / perUnit; ++u) {
    for (Index group = u * perUnit; group < (u + 1) * perUnit; ++group) {
      const GroupBytes bytes = groupBytes(m.type, m.layout, data, group);
      const float d = readScale(bytes);
      const Coords origin = groupOrigin(m.layout, m.cols, group);
      for (int pos = 0; pos < kQuantGroup; ++pos) {
        const Coords at = slotCoords(m.layout, origin, pos);
        if (at.n < m.rows && at.k < m.cols)
          out[at.n * m.cols + at.k] = codeValue(m.type, readCode(m.type, bytes, pos)) * d;
      }
    }
  }
}

}  // namespace darkroom::kernels

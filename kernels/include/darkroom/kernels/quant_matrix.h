// Tile-aligned 4-bit weights for a mobile NPU's matrix unit (PAPERS.md §3), next to the common
// row-major group layout they are compared with.
//
// A weight matrix W has `rows` outputs (N) and `cols` inputs (K), row-major in float32. It is
// quantized in groups of 32 values that share one fp16 scale d:
//   Q4_0    4-bit codes q in 0..15, value = (q - 8) · d, d = (signed absmax) / -8   (4.5 bit/weight)
//   IQ4_NL  4-bit codes, value = kIq4NlTable[q] · d (a non-linear 16-entry table)  (4.5 bit/weight)
//   Q8_0    int8 codes, value = q · d, d = absmax / 127                           (8.5 bit/weight)
// For the 4-bit types, codeTable() is the 16-entry code → value table that the LUT kernels use.
//
// RowGroups layout (llama.cpp / GGUF blocks): for each row n, for each group of 32 consecutive
// columns (cols padded with zeros to a multiple of 32):
//   4-bit: 18 B = fp16 d (little-endian) + 16 B, byte j = code of element j (low nibble) and of
//          element j + 16 (high nibble)
//   Q8_0:  34 B = fp16 d + 32 int8
//
// Tile layout (the matrix unit's): W is viewed as its weight operand B = Wᵀ [K × N], zero-padded
// to multiples of 32 in both dimensions, and cut into 32×32 tiles. Tiles are column-major: tile
// (kt, nt) is the (nt · K/32 + kt)-th. Inside a tile the 1024 values are in the unit's order with
// pairs of rows interleaved: B[kt·32 + 2p + r][nt·32 + c] is value (p · 32 + c) · 2 + r
// (row pair p in 0..15, column c in 0..31, r in 0..1). A group is 32 consecutive values, i.e. a
// 2×16 sub-tile: 2 inputs × 16 outputs. Eight consecutive groups (256 values) form a super-block:
//   4-bit: 144 B = 128 B of codes (byte j: value j in the low nibble, value j + 128 in the high
//          nibble: one 1024-bit vector splits into two 128-lane halves with one mask and one
//          shift) + 8 fp16 scales, group order
//   Q8_0:  272 B = 256 int8 codes + 8 fp16 scales
// A tile is four super-blocks; the matrix is (N/32)·(K/32)·4 super-blocks in tile order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "darkroom/kernels/half.h"

namespace darkroom::kernels {

enum class QuantType { Q4_0, IQ4_NL, Q8_0 };
enum class QuantLayout { Tile, RowGroups };

constexpr int kQuantGroup = 32;       // values per scale
constexpr int kTileSize = 32;         // tile edge
constexpr int kSuperBlockGroups = 8;  // groups per super-block (256 values)

const char* quantTypeName(QuantType type);        // "q4_0", "iq4_nl", "q8_0"
const char* quantLayoutName(QuantLayout layout);  // "tile", "rows"
// Parses those names; throws std::invalid_argument listing the valid ones.
QuantType parseQuantType(const std::string& name);
QuantLayout parseQuantLayout(const std::string& name);

// IQ4_NL's code values (llama.cpp's kvalues_iq4nl), in units of the group scale.
extern const float kIq4NlTable[16];
// The 16 code values of a 4-bit type; nullptr for Q8_0.
const float* codeTable(QuantType type);
double bitsPerWeight(QuantType type);  // 4.5 or 8.5

// Bytes of the packed form of a rows × cols matrix (padding included).
std::size_t packedBytes(QuantType type, QuantLayout layout, std::int64_t rows, std::int64_t cols);

// A packed matrix, as the kernels read it: `data` is in the back end's memory (host for
// Reference and Cpu, device memory for Cuda).
struct QuantMatrixView {
  QuantType type = QuantType::Q4_0;
  QuantLayout layout = QuantLayout::Tile;
  std::int64_t rows = 0, cols = 0;  // the logical W [rows, cols], before padding
  const std::uint8_t* data = nullptr;
};

// A packed matrix in host memory.
struct QuantMatrix {
  QuantType type = QuantType::Q4_0;
  QuantLayout layout = QuantLayout::Tile;
  std::int64_t rows = 0, cols = 0;
  std::vector<std::uint8_t> data;  // packedBytes(type, layout, rows, cols)
  QuantMatrixView view() const { return {type, layout, rows, cols, data.data()}; }
};

// Quantizes row-major float32 w [rows, cols] (threads over rows; no SIMD needed: this runs once
// per checkpoint). Throws std::invalid_argument for non-positive sizes, a null pointer, or a group
// holding NaN/Inf or values too large for an fp16 scale. Padding is coded as zeros (IQ4_NL, which
// has no 0, gives it the entry nearest 0 and leaves it out of its scale search).
QuantMatrix quantizeMatrix(const float* w, std::int64_t rows, std::int64_t cols, QuantType type,
                           QuantLayout layout);
// The values the codes stand for, row-major [rows, cols] (padding dropped).
void dequantizeMatrix(const QuantMatrixView& m, float* out);
// Where value (n, k) of W lives: its group's index in the packed order (0-based, over the whole
// matrix) and its position 0..31 inside that group. The layouts' definition in one place; the
// packers, the reference kernels and the tests use it. (n, k) may lie in the padding: n below
// rows rounded up to 32 for Tile (below rows for RowGroups, which pads columns only), k below cols
// rounded up to 32; anything else throws std::invalid_argument.
struct GroupSlot {
  std::int64_t group;
  int position;
};
GroupSlot groupSlot(QuantLayout layout, std::int64_t rows, std::int64_t cols, std::int64_t n,
                    std::int64_t k);

}  // namespace darkroom::kernels

// The quantized layouts: their bytes (against vectors written out by hand), the group map
// (against the header's formulas), and the quantizers' error on fresh random matrices of awkward
// sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "darkroom/kernels/quant_matrix.h"
#include "fresh_seed.h"

namespace darkroom::kernels {
namespace {

using Index = std::int64_t;

Index padded(Index n) { return (n + 31) / 32 * 32; }

std::vector<float> randomMatrix(std::mt19937& rng, Index rows, Index cols) {
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> w(static_cast<std::size_t>(rows * cols));
  for (float& v : w) v = dist(rng);
  return w;
}

const QuantType kTypes[] = {QuantType::Q4_0, QuantType::IQ4_NL, QuantType::Q8_0};
const QuantLayout kLayouts[] = {QuantLayout::Tile, QuantLayout::RowGroups};
const std::pair<Index, Index> kShapes[] = {{45, 70}, {96, 160}, {33, 4000}, {1, 1}, {64, 32}};

Index groupCount(QuantLayout layout, Index rows, Index cols) {
  return (layout == QuantLayout::Tile ? padded(rows) : rows) * padded(cols) / 32;
}

// The fp16 scale of a group, read from the bytes as the header describes them (the test's own
// reading, independent of the library's).
float groupScale(const QuantMatrix& m, Index group) {
  const bool four = m.type != QuantType::Q8_0;
  const std::uint8_t* s;
  if (m.layout == QuantLayout::RowGroups) {
    s = m.data.data() + group * (four ? 18 : 34);
  } else {
    s = m.data.data() + group / 8 * (four ? 144 : 272) + (four ? 128 : 256) + 2 * (group % 8);
  }
  return halfToFloat(static_cast<std::uint16_t>(s[0] | (s[1] << 8)));
}

TEST(QuantMatrix, NamesRoundTripAndBadNamesListTheValidOnes) {
  for (QuantType t : kTypes) EXPECT_EQ(parseQuantType(quantTypeName(t)), t);
  for (QuantLayout l : kLayouts) EXPECT_EQ(parseQuantLayout(quantLayoutName(l)), l);
  try {
    parseQuantType("q4_k");
    FAIL() << "q4_k parsed";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("q4_0, iq4_nl, q8_0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parseQuantLayout("columns"), std::invalid_argument);
  EXPECT_EQ(bitsPerWeight(QuantType::Q4_0), 4.5);
  EXPECT_EQ(bitsPerWeight(QuantType::IQ4_NL), 4.5);
  EXPECT_EQ(bitsPerWeight(QuantType::Q8_0), 8.5);
  EXPECT_EQ(codeTable(QuantType::Q8_0), nullptr);
  for (int q = 0; q < 16; ++q) {
    EXPECT_EQ(codeTable(QuantType::Q4_0)[q], q - 8);
    EXPECT_EQ(codeTable(QuantType::IQ4_NL)[q], kIq4NlTable[q]);
  }
  EXPECT_EQ(kIq4NlTable[0], -127);
  EXPECT_EQ(kIq4NlTable[15], 113);
}

TEST(QuantMatrix, PackedBytesCountPaddingAndBitsPerWeight) {
  // 45 x 70: the tile layout pads both sizes (64 x 96), the rows layout the columns only (3 groups
  // per row).
  EXPECT_EQ(packedBytes(QuantType::Q4_0, QuantLayout::Tile, 45, 70), 64u * 96 / 256 * 144);
  EXPECT_EQ(packedBytes(QuantType::Q8_0, QuantLayout::Tile, 45, 70), 64u * 96 / 256 * 272);
  EXPECT_EQ(packedBytes(QuantType::IQ4_NL, QuantLayout::RowGroups, 45, 70), 45u * 3 * 18);
  EXPECT_EQ(packedBytes(QuantType::Q8_0, QuantLayout::RowGroups, 45, 70), 45u * 3 * 34);
  // Without padding both layouts spend exactly bitsPerWeight.
  for (QuantType t : kTypes)
    for (QuantLayout l : kLayouts)
      EXPECT_EQ(packedBytes(t, l, 4096, 4096) * 8.0, bitsPerWeight(t) * 4096 * 4096);
  EXPECT_THROW(packedBytes(QuantType::Q4_0, QuantLayout::Tile, -1, 32), std::invalid_argument);
}

// groupSlot against the header's own formulas, and a bijection onto [0, groups) x [0, 32).
TEST(QuantMatrix, GroupSlotFollowsTheHeaderAndIsABijection) {
  for (auto [rows, cols] : kShapes) {
    SCOPED_TRACE(std::to_string(rows) + " x " + std::to_string(cols));
    const Index kTiles = padded(cols) / 32;
    // Tile: B[kt·32 + 2p + r][nt·32 + c] is value (p·32 + c)·2 + r of tile nt·(K/32) + kt.
    std::set<std::pair<Index, int>> seen;
    for (Index nt = 0; nt < padded(rows) / 32; ++nt)
      for (Index kt = 0; kt < kTiles; ++kt)
        for (int p = 0; p < 16; ++p)
          for (int c = 0; c < 32; ++c)
            for (int r = 0; r < 2; ++r) {
              const Index value = (nt * kTiles + kt) * 1024 + (p * 32 + c) * 2 + r;
              const GroupSlot s =
                  groupSlot(QuantLayout::Tile, rows, cols, nt * 32 + c, kt * 32 + 2 * p + r);
              ASSERT_EQ(s.group, value / 32);
              ASSERT_EQ(s.position, value % 32);
              seen.insert({s.group, s.position});
            }
    EXPECT_EQ(static_cast<Index>(seen.size()), groupCount(QuantLayout::Tile, rows, cols) * 32);
    EXPECT_EQ(seen.rbegin()->first, groupCount(QuantLayout::Tile, rows, cols) - 1);
    // RowGroups: row n, group k / 32 of the row, position k % 32.
    seen.clear();
    for (Index n = 0; n < rows; ++n)
      for (Index k = 0; k < padded(cols); ++k) {
        const GroupSlot s = groupSlot(QuantLayout::RowGroups, rows, cols, n, k);
        ASSERT_EQ(s.group, n * kTiles + k / 32);
        ASSERT_EQ(s.position, k % 32);
        seen.insert({s.group, s.position});
      }
    EXPECT_EQ(static_cast<Index>(seen.size()),
              groupCount(QuantLayout::RowGroups, rows, cols) * 32);
  }
  EXPECT_THROW(groupSlot(QuantLayout::Tile, 45, 70, 64, 0), std::invalid_argument);
  EXPECT_THROW(groupSlot(QuantLayout::Tile, 45, 70, 0, -1), std::invalid_argument);
  EXPECT_THROW(groupSlot(QuantLayout::RowGroups, 45, 70, 45, 0), std::invalid_argument);
}

// Permuting a matrix into packed order with groupSlot and gathering it back restores it.
TEST(QuantMatrix, TilePermutationInverseRestoresTheMatrix) {
  std::mt19937 rng(freshSeed());
  SCOPED_TRACE("seed " + std::to_string(freshSeed()));
  for (auto [rows, cols] : kShapes) {
    const std::vector<float> w = randomMatrix(rng, rows, cols);
    for (QuantLayout layout : kLayouts) {
      std::vector<float> packed(static_cast<std::size_t>(groupCount(layout, rows, cols) * 32),
                                std::numeric_limits<float>::quiet_NaN());
      for (Index n = 0; n < rows; ++n)
        for (Index k = 0; k < cols; ++k) {
          const GroupSlot s = groupSlot(layout, rows, cols, n, k);
          packed[std::size_t(s.group * 32 + s.position)] = w[std::size_t(n * cols + k)];
        }
      std::vector<float> back(w.size());
      for (Index n = 0; n < rows; ++n)
        for (Index k = 0; k < cols; ++k) {
          const GroupSlot s = groupSlot(layout, rows, cols, n, k);
          back[std::size_t(n * cols + k)] = packed[std::size_t(s.group * 32 + s.position)];
        }
      EXPECT_EQ(back, w) << quantLayoutName(layout) << " " << rows << " x " << cols;
    }
  }
}

// A 32 x 32 Q4_0 matrix chosen so that every code and scale is known: W[n][k] = s · (q - 8) with
// q = (n + 3k + 5·(n / 16)) % 16 and s = 1 + (group % 8) for the group of (n, k) in tile
// order, group = 2·(k / 2) + n / 16. Every group holds all 16 codes, so its signed absmax is -8s
// and d = s exactly.
TEST(QuantMatrix, TileLayoutBytesMatchAHandWrittenVector) {
  std::vector<float> w(32 * 32);
  for (int n = 0; n < 32; ++n)
    for (int k = 0; k < 32; ++k) {
      const int q = (n + 3 * k + 5 * (n / 16)) % 16;
      const int group = 2 * (k / 2) + n / 16;
      w[std::size_t(n * 32 + k)] = static_cast<float>((1 + group % 8) * (q - 8));
    }
  const QuantMatrix m = quantizeMatrix(w.data(), 32, 32, QuantType::Q4_0, QuantLayout::Tile);
  ASSERT_EQ(m.data.size(), 4u * 144);
  // Super-block 0 (inputs k = 0..7, all 32 outputs). Byte j: value j (p = j / 64, c = j / 2 % 32,
  // r = j % 2, i.e. k = 2p + r, n = c) in the low nibble, value j + 128 (k + 4) in the high.
  // E.g. byte 0: (n 0, k 0) has q 0 and (n 0, k 4) has q 12: 0xC0.
  const std::uint8_t codes[128] = {
      0xC0, 0xF3, 0xD1, 0x04, 0xE2, 0x15, 0xF3, 0x26, 0x04, 0x37, 0x15, 0x48, 0x26, 0x59, 0x37,
      0x6A, 0x48, 0x7B, 0x59, 0x8C, 0x6A, 0x9D, 0x7B, 0xAE, 0x8C, 0xBF, 0x9D, 0xC0, 0xAE, 0xD1,
      0xBF, 0xE2, 0x15, 0x48, 0x26, 0x59, 0x37, 0x6A, 0x48, 0x7B, 0x59, 0x8C, 0x6A, 0x9D, 0x7B,
      0xAE, 0x8C, 0xBF, 0x9D, 0xC0, 0xAE, 0xD1, 0xBF, 0xE2, 0xC0, 0xF3, 0xD1, 0x04, 0xE2, 0x15,
      0xF3, 0x26, 0x04, 0x37, 0x26, 0x59, 0x37, 0x6A, 0x48, 0x7B, 0x59, 0x8C, 0x6A, 0x9D, 0x7B,
      0xAE, 0x8C, 0xBF, 0x9D, 0xC0, 0xAE, 0xD1, 0xBF, 0xE2, 0xC0, 0xF3, 0xD1, 0x04, 0xE2, 0x15,
      0xF3, 0x26, 0x04, 0x37, 0x15, 0x48, 0x7B, 0xAE, 0x8C, 0xBF, 0x9D, 0xC0, 0xAE, 0xD1, 0xBF,
      0xE2, 0xC0, 0xF3, 0xD1, 0x04, 0xE2, 0x15, 0xF3, 0x26, 0x04, 0x37, 0x15, 0x48, 0x26, 0x59,
      0x37, 0x6A, 0x48, 0x7B, 0x59, 0x8C, 0x6A, 0x9D};
  // Scales 1..8 in group order, fp16 little-endian.
  const std::uint8_t scales[16] = {0x00, 0x3C, 0x00, 0x40, 0x00, 0x42, 0x00, 0x44,
                                   0x00, 0x45, 0x00, 0x46, 0x00, 0x47, 0x00, 0x48};
  for (int j = 0; j < 128; ++j) EXPECT_EQ(m.data[std::size_t(j)], codes[j]) << "code byte " << j;
  for (int j = 0; j < 16; ++j)
    EXPECT_EQ(m.data[std::size_t(128 + j)], scales[j]) << "scale byte " << j;
  // Super-block 1 starts with (n 0, k 8): q (0 + 24) % 16 = 8 and (n 0, k 12): q 4, scale 1
  // (group 8 → 1 + 0).
  EXPECT_EQ(m.data[144], 0x48);
  EXPECT_EQ(m.data[144 + 128], 0x00);
  EXPECT_EQ(m.data[144 + 129], 0x3C);
  std::vector<float> back(w.size());
  dequantizeMatrix(m.view(), back.data());
  EXPECT_EQ(back, w);
}

// RowGroups Q4_0 is GGUF's block_q4_0: fp16 d, then byte j = code j | code (j + 16) << 4.
TEST(QuantMatrix, RowLayoutIsTheGgufQ4_0Block) {
  // Codes q_j = (5j + 1 + 3·(j / 16)) % 16 with d = 0.5: each half holds all 16 codes, so the
  // signed absmax is -8 · 0.5 and d = 0.5 exactly.
  const int q[32] = {1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12,
                     4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11, 0, 5, 10, 15};
  std::vector<float> w(64);
  for (int j = 0; j < 32; ++j) w[std::size_t(j)] = 0.5f * static_cast<float>(q[j] - 8);
  for (int j = 32; j < 64; ++j) w[std::size_t(j)] = 0.0f;  // second group: all zero
  const QuantMatrix m = quantizeMatrix(w.data(), 1, 64, QuantType::Q4_0, QuantLayout::RowGroups);
  const std::vector<std::uint8_t> expected = {
      0x00, 0x38,  // d = 0.5
      0x41, 0x96, 0xEB, 0x30, 0x85, 0xDA, 0x2F, 0x74, 0xC9, 0x1E, 0x63, 0xB8, 0x0D, 0x52, 0xA7,
      0xFC,
      // all-zero group: d = 0, every code 8 (value 0)
      0x00, 0x00, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
      0x88, 0x88, 0x88};
  EXPECT_EQ(m.data, expected);
}

// RowGroups Q8_0 is GGUF's block_q8_0: fp16 d, then 32 int8 codes.
TEST(QuantMatrix, RowLayoutIsTheGgufQ8_0Block) {
  std::vector<float> w(32);
  for (int j = 0; j < 32; ++j) w[std::size_t(j)] = 0.25f * static_cast<float>(j * 8 - 127);
  const QuantMatrix m = quantizeMatrix(w.data(), 1, 32, QuantType::Q8_0, QuantLayout::RowGroups);
  ASSERT_EQ(m.data.size(), 34u);
  EXPECT_EQ(m.data[0], 0x00);  // d = 127 · 0.25 / 127 = 0.25 = fp16 0x3400
  EXPECT_EQ(m.data[1], 0x34);
  EXPECT_EQ(m.data[2], 0x81);  // -127
  EXPECT_EQ(m.data[3], 0x89);  // -119
  EXPECT_EQ(m.data[33], 0x79);  // 121
}

// Per-group error bounds of each quantizer, on random matrices with awkward sizes (and a few
// all-zero groups).
TEST(QuantMatrix, RoundTripErrorStaysWithinEachTypesBound) {
  std::mt19937 rng(freshSeed());
  SCOPED_TRACE("seed " + std::to_string(freshSeed()));
  // How far an fp16 scale may be from the exact one: one ulp (nearest, or one up where the
  // nearest would clip the largest value), relative for normal halves, absolute (2^-24) for
  // subnormal ones.
  auto scaleTolerance = [](float exact) { return std::max(std::fabs(exact) / 1024, 0x1p-24f); };
  for (auto [rows, cols] : kShapes) {
    std::vector<float> w = randomMatrix(rng, rows, cols);
    for (Index k = 0; k < std::min<Index>(cols, 32); ++k) w[std::size_t(k)] = 0.0f;  // zero run
    for (QuantType type : kTypes)
      for (QuantLayout layout : kLayouts) {
        SCOPED_TRACE(std::string(quantTypeName(type)) + " " + quantLayoutName(layout) + " " +
                     std::to_string(rows) + " x " + std::to_string(cols));
        const QuantMatrix m = quantizeMatrix(w.data(), rows, cols, type, layout);
        ASSERT_EQ(m.data.size(), packedBytes(type, layout, rows, cols));
        std::vector<float> back(w.size());
        dequantizeMatrix(m.view(), back.data());
        // Gather each group's inputs and outputs through groupSlot.
        const Index groups = groupCount(layout, rows, cols);
        std::vector<std::vector<std::pair<float, float>>> members(static_cast<std::size_t>(groups));
        for (Index n = 0; n < rows; ++n)
          for (Index k = 0; k < cols; ++k) {
            const GroupSlot s = groupSlot(layout, rows, cols, n, k);
            members[std::size_t(s.group)].push_back(
                {w[std::size_t(n * cols + k)], back[std::size_t(n * cols + k)]});
          }
        for (Index g = 0; g < groups; ++g) {
          const auto& pairs = members[std::size_t(g)];
          const float d = groupScale(m, g);
          float m0 = 0.0f;  // signed absmax
          for (auto [x, y] : pairs)
            if (std::fabs(x) > std::fabs(m0)) m0 = x;
          if (m0 == 0.0f) {
            EXPECT_EQ(d, 0.0f) << "group " << g;
            for (auto [x, y] : pairs) EXPECT_EQ(y, 0.0f);
            continue;
          }
          const float ad = std::fabs(d);
          if (type == QuantType::Q4_0) {
            EXPECT_NEAR(d, m0 / -8.0f, scaleTolerance(m0 / 8.0f)) << "group " << g;
            for (auto [x, y] : pairs) {
              // -8.5 .. 7.5 is inside the code range; past it (values near -m, with the fp16
              // rounding of d) the value is clipped to code 15 (7 · d) or 0 (-8 · d).
              const float t = x / d;
              const float bound = t >= -8.5f && t <= 7.5f ? ad / 2
                                  : t > 0              ? ad * (t - 7.0f)
                                                       : ad * (-t - 8.0f);
              EXPECT_LE(std::fabs(x - y), bound * (1 + 1e-5f)) << "group " << g << " x " << x;
            }
          } else if (type == QuantType::Q8_0) {
            EXPECT_NEAR(d, std::fabs(m0) / 127.0f, scaleTolerance(m0 / 127.0f));
            // Half a step, plus float32 rounding of q · d, which scales with |x| (up to 127 d).
            for (auto [x, y] : pairs)
              EXPECT_LE(std::fabs(x - y), ad / 2 * (1 + 1e-5f) + std::fabs(x) * 1e-6f);
          } else {
            // Every value gets the table entry nearest to it for the chosen scale (within the
            // table's range that is at most half the widest gap, 24 · |d| / 2) ...
            for (auto [x, y] : pairs) {
              float nearest = std::numeric_limits<float>::infinity();
              for (float t : kIq4NlTable) nearest = std::min(nearest, std::fabs(x - t * d));
              EXPECT_LE(std::fabs(x - y), nearest + ad * 1e-5f) << "group " << g << " x " << x;
              if (x / d >= -127.0f && x / d <= 113.0f) {
                EXPECT_LE(std::fabs(x - y), 12.0f * ad * 1.0001f);
              }
            }
            // ... and the scale search does at least as well as the plain absmax scale.
            const float plain = halfToFloat(floatToHalf(m0 / -127.0f));
            double errChosen = 0, errPlain = 0;
            for (auto [x, y] : pairs) {
              float bestV = 0, bestE = std::numeric_limits<float>::infinity();
              for (float t : kIq4NlTable)
                if (std::fabs(x - t * plain) < bestE) bestE = std::fabs(x - t * plain), bestV = t;
              errPlain += double(x - bestV * plain) * (x - bestV * plain);
              errChosen += double(x - y) * (x - y);
            }
            EXPECT_LE(errChosen, errPlain * (1 + 1e-4) + 1e-12) << "group " << g;
          }
        }
      }
  }
}

// The padding (rows and columns past the matrix) codes zeros: exactly 0 for Q4_0 and Q8_0, the
// table entry nearest 0 (1 · d) for IQ4_NL.
TEST(QuantMatrix, PaddingDecodesToZero) {
  std::mt19937 rng(freshSeed());
  const Index rows = 45, cols = 70;
  const std::vector<float> w = randomMatrix(rng, rows, cols);
  for (QuantType type : {QuantType::Q4_0, QuantType::Q8_0}) {
    const QuantMatrix m = quantizeMatrix(w.data(), rows, cols, type, QuantLayout::Tile);
    // Pad the matrix by hand and quantize that: the bytes must be identical.
    std::vector<float> big(std::size_t(padded(rows) * padded(cols)), 0.0f);
    for (Index n = 0; n < rows; ++n)
      for (Index k = 0; k < cols; ++k)
        big[std::size_t(n * padded(cols) + k)] = w[std::size_t(n * cols + k)];
    const QuantMatrix full =
        quantizeMatrix(big.data(), padded(rows), padded(cols), type, QuantLayout::Tile);
    EXPECT_EQ(m.data, full.data) << quantTypeName(type);
    std::vector<float> back(big.size());
    dequantizeMatrix(full.view(), back.data());
    for (Index n = 0; n < padded(rows); ++n)
      for (Index k = 0; k < padded(cols); ++k)
        if (n >= rows || k >= cols) {
          ASSERT_EQ(back[std::size_t(n * padded(cols) + k)], 0.0f);
        }
  }
}

TEST(QuantMatrix, BadInputThrowsAndSaysWhat) {
  std::vector<float> w(64, 1.0f);
  EXPECT_THROW(quantizeMatrix(nullptr, 2, 32, QuantType::Q4_0, QuantLayout::Tile),
               std::invalid_argument);
  EXPECT_THROW(quantizeMatrix(w.data(), 0, 32, QuantType::Q4_0, QuantLayout::Tile),
               std::invalid_argument);
  EXPECT_THROW(quantizeMatrix(w.data(), 2, -32, QuantType::Q8_0, QuantLayout::RowGroups),
               std::invalid_argument);
  w[37] = std::numeric_limits<float>::quiet_NaN();
  try {
    quantizeMatrix(w.data(), 2, 32, QuantType::IQ4_NL, QuantLayout::RowGroups);
    FAIL() << "a NaN weight was quantized";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("row 1, col 0"), std::string::npos) << e.what();
  }
  w[37] = 1e9f;  // Q4_0's scale 1.25e8 overflows fp16
  EXPECT_THROW(quantizeMatrix(w.data(), 2, 32, QuantType::Q4_0, QuantLayout::Tile),
               std::invalid_argument);
  std::vector<float> out(64);
  QuantMatrixView empty;
  empty.rows = 2;
  empty.cols = 32;
  EXPECT_THROW(dequantizeMatrix(empty, out.data()), std::invalid_argument);
}

}  // namespace
}  // namespace darkroom::kernels

// The instruction-set-independent part of the CPU quantized products, shared by
// cpu/quant_gemm_avx2.cpp and cpu/quant_gemm_neon.cpp: the loops over tile columns, batch rows and
// weight rows, their threads, the choice of decoder and the zero-padding of x.
//
// Tile layout. A tile column nt (32 outputs, all K inputs) is contiguous, so one thread owns it
// and streams it. Inside a tile, value v = (p·32 + c)·2 + r is input 2p + r of output c: the tile
// is 16 input pairs p of 64 values, and those 64 values are the same vectors of output pairs
// (c, r) for every p; the two halves of each output are added once, at the end of the column.
// Batch 1 decodes straight into the accumulators of the column; larger batches decode each tile
// ONCE into 1024 scaled floats (L1-resident) and apply them to every batch row: decoding is paid
// per weight, not per weight and batch row, which is what makes a batch of 8 cheap next to a
// batch of 1.
//
// RowGroups layout: threads over rows; each 18/34-byte block decodes to 32 floats in registers
// and meets up to 8 batch rows at once (larger batches decode again per 8). denseGemm is the same
// loop over float32 rows.
//
// Threads take tile columns (or 16 rows) one at a time from a shared counter rather than fixed
// shares: a column is ~10 µs of work, and on a busy machine (or a phone's big and little cores) a
// thread that is slower for a while no longer holds up the whole product.
//
// The back end supplies its vector code as the static members of a class `Arch` (a template
// parameter, so that they inline):
//   lutVector(type)                    the 16 code values of a 4-bit type, in the form its tile
//                                      decoders take (zeros for Q8_0)
//   decodeTile<kMode>(tile, lut, out)  one tile → 1024 floats in tile order, scales applied
//   tileFma(w, x, acc)                 acc (64 floats) += a decoded tile · its 32 inputs
//   tileColumnSingle<kMode>(tile, kTiles, x, lut, acc)
//                                      acc (64 floats) = a whole tile column · one batch row
//   foldPairs(acc, outputs, y)         y[c] = acc[2c] + acc[2c + 1] for c < outputs
//   rowDot<kRows>(groups, decode, x, ldx, out)
//                                      out[b] = weight row · x row b for kRows = 1..8 rows of x
//                                      (row stride ldx), decode(g, v) giving group g's weights
//   RowLut, rowLut(type)               the code values as the RowGroups 4-bit decoder takes them
//   Block4<kMode>{row, lut}, Block8{row}, Dense{row}
//                                      the decoders of a 4-bit RowGroups row, a Q8_0 one and a
//                                      float32 row, for rowDot
//
// Everything here has internal linkage: the files that include it are compiled with different
// instruction-set flags, and must not share an out-of-line copy of any of it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "quant_gemm_impl.h"

namespace darkroom::kernels::detail {
namespace {

using Index = std::int64_t;

Index padded(Index n) { return (n + kQuantGroup - 1) / kQuantGroup * kQuantGroup; }
bool fourBit(QuantType type) { return type != QuantType::Q8_0; }

constexpr int kTileValues = kTileSize * kTileSize;  // 1024
constexpr Index kSuperBlock4 = 144, kSuperBlock8 = 272;

enum class Decode { Lut, Unpack, Int8 };

// ---- tile layout ----

// xp: batch rows of kp floats (zero-padded), y: batch rows of w.rows.
template <class Arch, Decode kMode>
void tileGemm(const QuantMatrixView& w, const float* xp, Index kp, Index batch, float* y) {
  const Index kTiles = kp / kTileSize, nTiles = padded(w.rows) / kTileSize;
  const Index tileBytes = 4 * (fourBit(w.type) ? kSuperBlock4 : kSuperBlock8);
  const auto lut = Arch::lutVector(w.type);
#pragma omp parallel for schedule(dynamic)
  for (Index nt = 0; nt < nTiles; ++nt) {
    alignas(64) float values[kTileValues];
    const std::uint8_t* column = w.data + nt * kTiles * tileBytes;
    const Index outputs = std::min<Index>(kTileSize, w.rows - nt * kTileSize);
    // kBatchChunk rows per pass over the column; later passes find it in L2.
    for (Index b0 = 0; b0 < batch; b0 += kBatchChunk) {
      const Index rows = std::min(kBatchChunk, batch - b0);
      const float* xb = xp + b0 * kp;
      alignas(64) float acc[kBatchChunk][64] = {};
      if (rows == 1) {
        Arch::template tileColumnSingle<kMode>(column, kTiles, xb, lut, acc[0]);
      } else {
        const std::uint8_t* tile = column;
        for (Index kt = 0; kt < kTiles; ++kt, tile += tileBytes) {
          Arch::template decodeTile<kMode>(tile, lut, values);
          for (Index b = 0; b < rows; ++b)
            Arch::tileFma(values, xb + b * kp + kt * kTileSize, acc[b]);
        }
      }
      for (Index b = 0; b < rows; ++b)
        Arch::foldPairs(acc[b], outputs, y + (b0 + b) * w.rows + nt * kTileSize);
    }
  }
}

// ---- row layouts (RowGroups blocks and float32 rows) ----

// Accumulators per batch row: enough independent FMA chains to hide the FMA latency when the
// batch is small, few enough that they and the decoded weights stay in registers.
constexpr int accumulatorsFor(int rows) { return rows == 1 ? 4 : rows <= 4 ? 2 : 1; }

// Runs rowDot for every weight row (threaded) and every batch row, 8 batch rows per pass.
template <class Arch, typename MakeDecoder>
void rowsGemm(Index rows, Index groups, const float* x, Index ldx, Index batch, float* y,
              const MakeDecoder& makeDecoder) {
#pragma omp parallel for schedule(dynamic, 16)
  for (Index n = 0; n < rows; ++n) {
    const auto decode = makeDecoder(n);
    float out[8];
    for (Index b0 = 0; b0 < batch; b0 += 8) {
      const float* xb = x + b0 * ldx;
      switch (std::min<Index>(8, batch - b0)) {
        case 1: Arch::template rowDot<1>(groups, decode, xb, ldx, out); break;
        case 2: Arch::template rowDot<2>(groups, decode, xb, ldx, out); break;
        case 3: Arch::template rowDot<3>(groups, decode, xb, ldx, out); break;
        case 4: Arch::template rowDot<4>(groups, decode, xb, ldx, out); break;
        case 5: Arch::template rowDot<5>(groups, decode, xb, ldx, out); break;
        case 6: Arch::template rowDot<6>(groups, decode, xb, ldx, out); break;
        case 7: Arch::template rowDot<7>(groups, decode, xb, ldx, out); break;
        default: Arch::template rowDot<8>(groups, decode, xb, ldx, out); break;
      }
      for (Index b = b0; b < std::min<Index>(batch, b0 + 8); ++b) y[b * rows + n] = out[b - b0];
    }
  }
}

template <class Arch>
void rowGroupsGemm(const QuantMatrixView& w, const float* xp, Index kp, Index batch, float* y,
                   Dequant mode) {
  using Block4Lut = typename Arch::template Block4<Decode::Lut>;
  using Block4Unpack = typename Arch::template Block4<Decode::Unpack>;
  using Block8 = typename Arch::Block8;
  const Index groups = kp / kQuantGroup;
  const typename Arch::RowLut lut = Arch::rowLut(w.type);
  if (!fourBit(w.type)) {
    rowsGemm<Arch>(w.rows, groups, xp, kp, batch, y,
                   [&](Index n) { return Block8{w.data + n * groups * 34}; });
  } else if (mode == Dequant::Lut) {
    rowsGemm<Arch>(w.rows, groups, xp, kp, batch, y,
                   [&](Index n) { return Block4Lut{w.data + n * groups * 18, lut}; });
  } else {
    rowsGemm<Arch>(w.rows, groups, xp, kp, batch, y,
                   [&](Index n) { return Block4Unpack{w.data + n * groups * 18, lut}; });
  }
}

// The kernels read x in whole groups of 32. When cols is a multiple of 32, x is used as it is;
// otherwise it is copied into zero-padded rows, kPaddedRows at a time (a bounded copy; the
// weights are then read once per kPaddedRows batch rows). `run(xp, kp, rows, y)` does one part.
constexpr Index kPaddedRows = 256;

template <typename Run>
void withPaddedInput(Index cols, Index rows, const float* x, Index batch, float* y,
                     const Run& run) {
  const Index kp = padded(cols);
  if (kp == cols) return run(x, kp, batch, y);
  std::vector<float> xp(static_cast<std::size_t>(std::min(batch, kPaddedRows) * kp), 0.0f);
  for (Index b0 = 0; b0 < batch; b0 += kPaddedRows) {
    const Index part = std::min(kPaddedRows, batch - b0);
    for (Index b = 0; b < part; ++b)
      std::memcpy(xp.data() + b * kp, x + (b0 + b) * cols, sizeof(float) * std::size_t(cols));
    run(xp.data(), kp, part, y + b0 * rows);
  }
}

// quantGemm on (a part of) x padded to whole groups: RowGroups through rowGroupsGemm, the tile
// layout through `tile(std::integral_constant<Decode, kMode>{}, xp, kp, rows, y)`, which runs the
// back end's tile product for that decoder (tileGemm<Arch, kMode>, or one it prefers).
template <class Arch, typename Tile>
void cpuQuantGemm(const QuantMatrixView& w, const float* x, Index batch, float* y, Dequant mode,
                  const Tile& tile) {
  auto part = [&](const float* xp, Index kp, Index chunk, float* yc) {
    if (w.layout == QuantLayout::RowGroups) return rowGroupsGemm<Arch>(w, xp, kp, chunk, yc, mode);
    if (!fourBit(w.type))
      return tile(std::integral_constant<Decode, Decode::Int8>{}, xp, kp, chunk, yc);
    if (mode == Dequant::Unpack)
      return tile(std::integral_constant<Decode, Decode::Unpack>{}, xp, kp, chunk, yc);
    return tile(std::integral_constant<Decode, Decode::Lut>{}, xp, kp, chunk, yc);
  };
  withPaddedInput(w.cols, w.rows, x, batch, y, part);
}

template <class Arch>
void cpuDenseGemm(const float* w, Index rows, Index cols, const float* x, Index batch, float* y) {
  // Whole groups of 32 through the row kernel; the last cols % 32 inputs in plain C++.
  using Dense = typename Arch::Dense;
  const Index groups = cols / kQuantGroup, tail = groups * kQuantGroup;
  rowsGemm<Arch>(rows, groups, x, cols, batch, y, [&](Index n) { return Dense{w + n * cols}; });
  if (tail == cols) return;
#pragma omp parallel for schedule(static)
  for (Index n = 0; n < rows; ++n)
    for (Index b = 0; b < batch; ++b) {
      float sum = 0.0f;
      for (Index k = tail; k < cols; ++k) sum += w[n * cols + k] * x[b * cols + k];
      y[b * rows + n] += sum;
    }
}

}  // namespace
}  // namespace darkroom::kernels::detail

// CPU back end of the quantized products (compiled with -mavx2 -mfma -O3).
// First version: the layouts' natural loops in plain C++, threaded over output tiles / rows.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "quant_gemm_impl.h"

namespace darkroom::kernels::detail {
namespace {

using Index = std::int64_t;

Index padded(Index n) { return (n + kQuantGroup - 1) / kQuantGroup * kQuantGroup; }
bool fourBit(QuantType type) { return type != QuantType::Q8_0; }

float scaleAt(const std::uint8_t* p) {
  return halfToFloat(static_cast<std::uint16_t>(p[0] | (p[1] << 8)));
}

// The 16 code values of the product (Unpack: q - 8, computed; Lut: the type's table).
void codeValues(QuantType type, Dequant mode, float out[16]) {
  if (type == QuantType::Q8_0) return;  // no table
  for (int q = 0; q < 16; ++q)
    out[q] = mode == Dequant::Unpack ? static_cast<float>(q) - 8.0f : codeTable(type)[q];
}

// Decodes one super-block into its 256 values (scale applied), in the packed order.
void decodeSuperBlock(QuantType type, const float* table, const std::uint8_t* sb, float* out) {
  if (fourBit(type)) {
    for (int g = 0; g < kSuperBlockGroups; ++g) {
      const float d = scaleAt(sb + 128 + 2 * g);
      for (int i = 0; i < kQuantGroup; ++i) {
        const int j = g * kQuantGroup + i;
        const int code = j < 128 ? sb[j] & 15 : sb[j - 128] >> 4;
        out[j] = table[code] * d;
      }
    }
  } else {
    for (int g = 0; g < kSuperBlockGroups; ++g) {
      const float d = scaleAt(sb + 256 + 2 * g);
      for (int i = 0; i < kQuantGroup; ++i)
        out[g * kQuantGroup + i] = static_cast<float>(static_cast<std::int8_t>(sb[g * 32 + i])) * d;
    }
  }
}

// Tile layout: one thread owns a tile column nt (32 outputs), whose K/32 tiles are contiguous.
// Super-block s of tile (kt, nt) holds value j = p·64 + c·2 + r for input k = kt·32 + 8s + 2p + r
// and output n = nt·32 + c; acc[b][c·2 + r] collects both inputs of a pair, summed at the end.
void tileGemm(const QuantMatrixView& w, const float* xp, Index kp, Index batch, float* y,
              Dequant mode) {
  const Index kTiles = kp / kTileSize, nTiles = padded(w.rows) / kTileSize;
  const Index sbBytes = fourBit(w.type) ? 144 : 272;
  float table[16] = {};
  codeValues(w.type, mode, table);
#pragma omp parallel for schedule(static)
  for (Index nt = 0; nt < nTiles; ++nt) {
    alignas(64) float values[256];
    std::vector<float> acc(static_cast<std::size_t>(batch * 64), 0.0f);
    const std::uint8_t* tile = w.data + nt * kTiles * 4 * sbBytes;
    for (Index kt = 0; kt < kTiles; ++kt) {
      for (int s = 0; s < 4; ++s, tile += sbBytes) {
        decodeSuperBlock(w.type, table, tile, values);
        const Index k0 = kt * kTileSize + 8 * s;
        for (Index b = 0; b < batch; ++b) {
          float* a = acc.data() + b * 64;
          for (int p = 0; p < 4; ++p) {
            const float x0 = xp[b * kp + k0 + 2 * p], x1 = xp[b * kp + k0 + 2 * p + 1];
            for (int c = 0; c < 32; ++c) {
              a[2 * c] += values[p * 64 + 2 * c] * x0;
              a[2 * c + 1] += values[p * 64 + 2 * c + 1] * x1;
            }
          }
        }
      }
    }
    for (Index b = 0; b < batch; ++b)
      for (Index c = 0; c < kTileSize && nt * kTileSize + c < w.rows; ++c)
        y[b * w.rows + nt * kTileSize + c] = acc[std::size_t(b * 64 + 2 * c)] +
                                             acc[std::size_t(b * 64 + 2 * c + 1)];
  }
}

// RowGroups layout: one thread owns a run of rows; each block is decoded once for the batch.
void rowGemm(const QuantMatrixView& w, const float* xp, Index kp, Index batch, float* y,
             Dequant mode) {
  const Index groups = kp / kQuantGroup;
  const Index blockBytes = fourBit(w.type) ? 18 : 34;
  float table[16] = {};
  codeValues(w.type, mode, table);
#pragma omp parallel for schedule(static)
  for (Index n = 0; n < w.rows; ++n) {
    float values[kQuantGroup];
    float acc[kBatchChunk] = {};
    const std::uint8_t* block = w.data + n * groups * blockBytes;
    for (Index g = 0; g < groups; ++g, block += blockBytes) {
      const float d = scaleAt(block);
      for (int i = 0; i < kQuantGroup; ++i) {
        if (fourBit(w.type))
          values[i] = table[i < 16 ? block[2 + i] & 15 : block[2 + i - 16] >> 4] * d;
        else
          values[i] = static_cast<float>(static_cast<std::int8_t>(block[2 + i])) * d;
      }
      for (Index b = 0; b < batch; ++b) {
        const float* xb = xp + b * kp + g * kQuantGroup;
        float sum = 0;
        for (int i = 0; i < kQuantGroup; ++i) sum += values[i] * xb[i];
        acc[b] += sum;
      }
    }
    for (Index b = 0; b < batch; ++b) y[b * w.rows + n] = acc[b];
  }
}

}  // namespace

void quantGemmAvx2(const QuantMatrixView& w, const float* x, Index batch, float* y,
                   Dequant mode) {
  // The kernels read whole groups: x is copied into zero-padded rows of padded(cols).
  const Index kp = padded(w.cols);
  std::vector<float> xp(static_cast<std::size_t>(std::min(batch, kBatchChunk) * kp), 0.0f);
  for (Index b0 = 0; b0 < batch; b0 += kBatchChunk) {
    const Index chunk = std::min(kBatchChunk, batch - b0);
    for (Index b = 0; b < chunk; ++b)
      std::memcpy(xp.data() + b * kp, x + (b0 + b) * w.cols, sizeof(float) * std::size_t(w.cols));
    if (w.layout == QuantLayout::Tile)
      tileGemm(w, xp.data(), kp, chunk, y + b0 * w.rows, mode);
    else
      rowGemm(w, xp.data(), kp, chunk, y + b0 * w.rows, mode);
  }
}

void denseGemmAvx2(const float* w, Index rows, Index cols, const float* x, Index batch,
                   float* y) {
#pragma omp parallel for schedule(static)
  for (Index n = 0; n < rows; ++n)
    for (Index b = 0; b < batch; ++b) {
      float sum = 0;
      for (Index k = 0; k < cols; ++k) sum += w[n * cols + k] * x[b * cols + k];
      y[b * rows + n] = sum;
    }
}

}  // namespace darkroom::kernels::detail

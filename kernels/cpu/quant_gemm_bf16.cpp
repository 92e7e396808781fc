// CPU back end of the quantized products, AVX512-BF16 version: the tile layout's 4-bit types
// (Q4_0, IQ4_NL) in Dequant::Lut mode, with bf16 weights and activations and float32 sums (A16,
// as on the NPU). Compiled like every cpu/ file (-mavx2 -mfma -O3); the AVX-512 code is enabled per
// function with target attributes, and only called after cpuHasAvx512Bf16() said yes.
//
// Why bf16: inside a tile, value v = (p·32 + c)·2 + r is input 2p + r of output c, so a group of
// 32 consecutive values is 16 outputs c, each with its two inputs (2p, 2p + 1) side by side, which
// is the operand layout of vdpbf16ps: per 32-bit lane it multiplies two bf16 pairs and adds both
// products into one float32. One instruction does 32 multiply-adds of a group with the broadcast
// pair (x[2p], x[2p + 1]), where the float32 path needs two FMAs and, at the end, adds the r = 0
// and r = 1 halves of each output. The decoded group (one register) meets every batch row of a
// pass, so a batch row costs one vdpbf16ps per 32 weights.
//
// Decoding: the 128 code bytes of a super-block are 4 chunks of 32: chunk h's low nibbles are
// group h (input pair h / 2, outputs 16·(h % 2)..), its high nibbles group h + 4 (pair 2 + h / 2,
// same outputs). Both groups' 16-entry tables, times their scales and rounded to bf16, fit in the
// 32 words of one register (one vcvtne2ps2bf16), the high nibbles' group first. vpermw looks up
// 32 codes at once and reads only the low 5 bits of each index: the zero-extended bytes shifted
// right by 4 index the first table, the bytes with bit 4 set (one OR) the second. Per 64 weights:
// one zero-extension, one shift, one OR, two multiplies and one conversion for the tables, two
// vpermw, and one vdpbf16ps per batch row and group. (Two duplicated tables, one per group, need
// no OR but a second conversion, which competes with vdpbf16ps for the same pipes: ~10% slower.)
//
// Numerics: each weight is bf16(q · d) and each activation bf16(x), both rounded to nearest even
// (8 significant bits: relative error ≤ 2^-8 each), multiplied exactly and summed in float32: the
// result is within Σ_k |x_k · w_k| · (2^-7 + 2^-16) (plus float32 rounding) of the exact product
// of the quantized values, in the worst case; over K inputs the rounding errors mostly cancel
// (~2^-8/√K relative). Either way far below the 4-bit quantization error (a code step is 1/8 to
// 1/16 of the group's range). vdpbf16ps and the bf16 conversions treat
// float32 subnormals as zero; activations below 1.2e-38 in magnitude count as 0.
//
// Batches: up to kRows rows per pass over a tile column, their accumulators in registers; a
// larger batch takes the column again per kRows rows (it is in L2 by then: memory traffic is once
// per weight). Threads take tile columns (schedule(dynamic)), as in the other tile kernels.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "quant_gemm_impl.h"

namespace darkroom::kernels::detail {
namespace {

using Index = std::int64_t;

#define DARKROOM_BF16 __attribute__((target("avx512f,avx512bw,avx512bf16,f16c")))

constexpr Index kSuperBlock4 = 144;            // 128 code bytes + 8 fp16 scales
constexpr Index kTileBytes = 4 * kSuperBlock4;  // a 32 × 32 tile
constexpr int kRows = 8;                        // batch rows per pass over a tile column
// Activation rows converted to bf16 at a time (bounds the copy of x for huge batches).
constexpr Index kConvertRows = 256;

Index padded(Index n) { return (n + kQuantGroup - 1) / kQuantGroup * kQuantGroup; }

// rows × cols float32 → rows × kp bf16 (round to nearest even), zero-padded to kp columns.
DARKROOM_BF16 void toBf16(const float* x, Index cols, Index rows, Index kp, std::uint16_t* out) {
#pragma omp parallel for schedule(static)
  for (Index b = 0; b < rows; ++b) {
    const float* src = x + b * cols;
    std::uint16_t* dst = out + b * kp;
    for (Index k = 0; k < kp; k += 16) {
      const Index left = std::max<Index>(0, std::min<Index>(16, cols - k));
      const __mmask16 m = static_cast<__mmask16>((1u << left) - 1u);
      const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + k));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k), reinterpret_cast<const __m256i&>(h));
    }
  }
}

// (x[k], x[k + 1]) in bf16, as one 32-bit lane repeated 16 times.
DARKROOM_BF16 inline __m512bh pairBroadcast(const std::uint16_t* x) {
  int bits;
  std::memcpy(&bits, x, 4);
  const __m512i v = _mm512_set1_epi32(bits);
  return reinterpret_cast<const __m512bh&>(v);
}

// vpermw's 32 words for a chunk of code bytes: the code table times d[4] (the high nibbles'
// group) in words 0..15, times d[0] (the low nibbles' group) in words 16..31, in bf16.
DARKROOM_BF16 inline __m512i scaledTables(__m512 values, const float* d) {
  const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_mul_ps(values, _mm512_set1_ps(d[0])),
                                         _mm512_mul_ps(values, _mm512_set1_ps(d[4])));
  return reinterpret_cast<const __m512i&>(h);
}

// y[b·ldy + c] = Σ_k x[b·kp + k] · w(c, k) over one tile column, for the kB batch rows of x and the
// column's first `outputs` outputs c.
template <int kB>
DARKROOM_BF16 void tileColumn(const std::uint8_t* tile, Index kTiles, const std::uint16_t* x,
                              Index kp, __m512 values, float* y, Index ldy, Index outputs) {
  // Enough independent vdpbf16ps chains (≥ 8) to cover its latency when the batch is small.
  constexpr int kSets = kB == 1 ? 4 : kB == 2 ? 2 : 1;
  __m512 acc[kB][kSets][2];
  for (auto& row : acc)
    for (auto& set : row)
      for (auto& a : set) a = _mm512_setzero_ps();
  // Fully unrolled below the tile loop: the accumulators are indexed by the chunk, and only
  // compile-time indices keep them in registers.
  for (Index kt = 0; kt < kTiles; ++kt) {
#pragma GCC unroll 4
    for (int s = 0; s < 4; ++s, tile += kSuperBlock4) {
      const std::uint16_t* xs = x + kt * kTileSize + 8 * s;  // input pair p of the super-block: xs + 2p
      alignas(32) float scales[8];
      _mm256_store_ps(scales,
                      _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tile + 128))));
#pragma GCC unroll 4
      for (int h = 0; h < 4; ++h) {
        const __m512i raw = _mm512_maskz_cvtepu8_epi16(
            ~__mmask32(0), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + 32 * h)));
        const __m512i hiCodes = _mm512_maskz_srli_epi16(~__mmask32(0), raw, 4);
        const __m512i loCodes = _mm512_or_si512(raw, _mm512_set1_epi16(16));
        const __m512i table = scaledTables(values, scales + h);
        const __m512i lo = _mm512_maskz_permutexvar_epi16(~__mmask32(0), loCodes, table);
        const __m512i hi = _mm512_maskz_permutexvar_epi16(~__mmask32(0), hiCodes, table);
        const __m512bh wlo = reinterpret_cast<const __m512bh&>(lo);
        const __m512bh whi = reinterpret_cast<const __m512bh&>(hi);
        const int c = h % 2;
        const int setLo = kSets == 4 ? h / 2 : 0;
        const int setHi = kSets == 4 ? 2 + h / 2 : kSets - 1;
#pragma GCC unroll 8
        for (int b = 0; b < kB; ++b) {
          const std::uint16_t* xb = xs + b * kp;
          acc[b][setLo][c] = _mm512_dpbf16_ps(acc[b][setLo][c], wlo, pairBroadcast(xb + 2 * (h / 2)));
          acc[b][setHi][c] =
              _mm512_dpbf16_ps(acc[b][setHi][c], whi, pairBroadcast(xb + 2 * (2 + h / 2)));
        }
      }
    }
  }
  const auto maskOf = [](Index n) {
    return static_cast<__mmask16>(n >= 16 ? 0xffffu : n <= 0 ? 0u : (1u << n) - 1u);
  };
  const __mmask16 m0 = maskOf(outputs), m1 = maskOf(outputs - 16);
  for (int b = 0; b < kB; ++b)
    for (int c = 0; c < 2; ++c) {
      __m512 a = acc[b][0][c];
      for (int j = 1; j < kSets; ++j) a = _mm512_add_ps(a, acc[b][j][c]);
      _mm512_mask_storeu_ps(y + b * ldy + 16 * c, c == 0 ? m0 : m1, a);
    }
}

// xb: batch rows of kp bf16 (zero-padded), y: batch rows of w.rows.
DARKROOM_BF16 void tileGemmBf16(const QuantMatrixView& w, const std::uint16_t* xb, Index kp,
                                Index batch, float* y) {
  const Index kTiles = kp / kTileSize, nTiles = padded(w.rows) / kTileSize;
  const __m512 values = _mm512_loadu_ps(codeTable(w.type));
#pragma omp parallel for schedule(dynamic)
  for (Index nt = 0; nt < nTiles; ++nt) {
    const std::uint8_t* column = w.data + nt * kTiles * kTileBytes;
    const Index outputs = std::min<Index>(kTileSize, w.rows - nt * kTileSize);
    for (Index b0 = 0; b0 < batch; b0 += kRows) {
      const std::uint16_t* x = xb + b0 * kp;
      float* out = y + b0 * w.rows + nt * kTileSize;
      switch (std::min<Index>(kRows, batch - b0)) {
        case 1: tileColumn<1>(column, kTiles, x, kp, values, out, w.rows, outputs); break;
        case 2: tileColumn<2>(column, kTiles, x, kp, values, out, w.rows, outputs); break;
        case 3: tileColumn<3>(column, kTiles, x, kp, values, out, w.rows, outputs); break;
        case 4: tileColumn<4>(column, kTiles, x, kp, values, out, w.rows, outputs); break;
        case 5: tileColumn<5>(column, kTiles, x, kp, values, out, w.rows, outputs); break;
        case 6: tileColumn<6>(column, kTiles, x, kp, values, out, w.rows, outputs); break;
        case 7: tileColumn<7>(column, kTiles, x, kp, values, out, w.rows, outputs); break;
        default: tileColumn<8>(column, kTiles, x, kp, values, out, w.rows, outputs); break;
      }
    }
  }
}

}  // namespace

bool cpuHasAvx512Bf16() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("f16c");
  }();
  return yes;
}

void quantGemmBf16(const QuantMatrixView& w, const float* x, Index batch, float* y) {
  const Index kp = padded(w.cols);
  std::vector<std::uint16_t> xb(static_cast<std::size_t>(std::min(batch, kConvertRows) * kp));
  for (Index b0 = 0; b0 < batch; b0 += kConvertRows) {
    const Index part = std::min(kConvertRows, batch - b0);
    toBf16(x + b0 * w.cols, w.cols, part, kp, xb.data());
    tileGemmBf16(w, xb.data(), kp, part, y + b0 * w.rows);
  }
}

}  // namespace darkroom::kernels::detail

// CPU back end of the quantized products (compiled with -mavx2 -mfma -O3; only called after
// backendAvailable(Cpu) said AVX2 and FMA are there): the vector code under the loops, threads
// and padding of cpu/quant_gemm_driver.h, which also describes the layouts.
//
// Tile layout: per input pair, 8 FMAs of a decoded vector with the broadcast pair
// (x[2p], x[2p + 1]) into 8 accumulators [c·2 + r]. Batch 1 folds each group's scale into the
// broadcast input pair instead of multiplying the weights (2 multiplies per 64 weights instead of
// 8).
//
// Decoding (Lut): the 128 code bytes of a super-block give their low and high nibbles with one
// mask and one shift (values j and j + 128), and vpshufb looks all 32 nibbles of a vector up in a
// register-resident 16-entry int8 table (both 4-bit types' code values are integers in
// [-127, 127]); then int8 → int32 → float and one multiply by the group's scale. Unpack, the plain
// baseline, skips the table: nibble → int32 → float, minus 8, times the scale. The 8 fp16 scales
// of a super-block are converted together (see halfsToFloats). Q8_0 codes are int8 already.
//
// RowGroups layout: each 18/34-byte block decodes to 4 vectors in registers.
//
// On a CPU with AVX-512 (checked at run time) the tile kernels run a 16-lane version of the same
// code (tileGemm512); everything else, and the whole back end on AVX2-only CPUs, is AVX2. With
// AVX512-BF16 as well, the 4-bit tile types in Lut mode go to cpu/quant_gemm_bf16.cpp.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "cpu/quant_gemm_driver.h"
#include "quant_gemm_impl.h"

namespace darkroom::kernels::detail {
namespace {

// fp16 → float without F16C: the half's exponent and mantissa moved into a float's place and
// rebiased by one multiply by 2^112, which also normalizes subnormal halves exactly (this needs
// denormals-are-zero off, the default). Scales are finite by construction (the quantizer
// rejects the rest), so Inf/NaN halves need no care.
inline __m256 halfsToFloats(const std::uint8_t* p) {  // 8 halves, little-endian
  const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x8000)), 16);
  const __m256i bits = _mm256_slli_epi32(_mm256_and_si256(h, _mm256_set1_epi32(0x7fff)), 13);
  const __m256 magnitude = _mm256_mul_ps(_mm256_castsi256_ps(bits), _mm256_set1_ps(0x1p112f));
  return _mm256_or_ps(magnitude, _mm256_castsi256_ps(sign));
}

inline float halfToFloatFast(const std::uint8_t* p) {
  const std::uint32_t h = static_cast<std::uint32_t>(p[0] | (p[1] << 8));
  const std::uint32_t bits = (h & 0x7fffu) << 13;
  float magnitude;
  std::memcpy(&magnitude, &bits, 4);
  magnitude *= 0x1p112f;
  std::uint32_t out;
  std::memcpy(&out, &magnitude, 4);
  out |= (h & 0x8000u) << 16;
  float f;
  std::memcpy(&f, &out, 4);
  return f;
}

// (x[k], x[k + 1]) repeated over the 8 lanes.
inline __m256 pairBroadcast(const float* x) {
  long long pair;
  std::memcpy(&pair, x, 8);
  return _mm256_castsi256_ps(_mm256_set1_epi64x(pair));
}

// 32 int8 → 4 × 8 floats, in order (signed: Lut and Int8 values; unsigned: Unpack codes).
template <bool kSigned>
inline void bytesToFloats(__m256i v, __m256* out) {
  const __m128i a = _mm256_castsi256_si128(v), b = _mm256_extracti128_si256(v, 1);
  const __m128i parts[4] = {a, _mm_unpackhi_epi64(a, a), b, _mm_unpackhi_epi64(b, b)};
  for (int i = 0; i < 4; ++i)
    out[i] = _mm256_cvtepi32_ps(kSigned ? _mm256_cvtepi8_epi32(parts[i])
                                        : _mm256_cvtepu8_epi32(parts[i]));
}

// ---- row layouts: the decoders of one group of 32 weights ----

// A 4-bit RowGroups block: fp16 d, then byte j = code j | code (j + 16) << 4.
template <Decode kMode>
struct Block4Decoder {
  const std::uint8_t* row;
  __m128i lut;
  void operator()(Index g, __m256* v) const {
    const std::uint8_t* block = row + g * 18;
    const __m256 d = _mm256_set1_ps(halfToFloatFast(block));
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2));
    const __m128i low4 = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(raw, low4), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), low4);
    if constexpr (kMode == Decode::Lut) {
      lo = _mm_shuffle_epi8(lut, lo);
      hi = _mm_shuffle_epi8(lut, hi);
      v[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
      v[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
      v[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
      v[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
    } else {
      const __m256 eight = _mm256_set1_ps(8.0f);
      v[0] = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), eight);
      v[1] = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), eight);
      v[2] = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), eight);
      v[3] = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), eight);
    }
    for (int i = 0; i < 4; ++i) v[i] = _mm256_mul_ps(v[i], d);
  }
};

// A Q8_0 RowGroups block: fp16 d, then 32 int8 codes.
struct Block8Decoder {
  const std::uint8_t* row;
  void operator()(Index g, __m256* v) const {
    const std::uint8_t* block = row + g * 34;
    const __m256 d = _mm256_set1_ps(halfToFloatFast(block));
    for (int i = 0; i < 4; ++i) {
      const __m128i c8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + 8 * i));
      v[i] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c8)), d);
    }
  }
};

struct FloatDecoder {
  const float* row;
  void operator()(Index g, __m256* v) const {
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(row + g * kQuantGroup + 8 * i);
  }
};

// ---- the AVX2 pieces of the driver ----

struct Avx2Quant {
  // The 16 code values as int8, twice (one per 128-bit lane, as vpshufb looks up per lane).
  static __m256i lutVector(QuantType type) {
    alignas(16) std::int8_t t[16] = {};
    if (const float* table = codeTable(type))
      for (int q = 0; q < 16; ++q) t[q] = static_cast<std::int8_t>(table[q]);
    return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
  }

  // One tile → 1024 floats in tile order, scales applied.
  template <Decode kMode>
  static void decodeTile(const std::uint8_t* tile, __m256i lut, float* out) {
    alignas(32) std::uint8_t codes[256];  // int8 values (Lut), 0..15 (Unpack)
    alignas(32) float scales[8];
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    for (int s = 0; s < 4; ++s, out += 256) {
      const std::uint8_t* bytes = tile;  // Int8: the codes themselves
      if constexpr (kMode != Decode::Int8) {
        for (int h = 0; h < 4; ++h) {
          const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + 32 * h));
          __m256i lo = _mm256_and_si256(raw, low4);
          __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
          if constexpr (kMode == Decode::Lut) {
            lo = _mm256_shuffle_epi8(lut, lo);
            hi = _mm256_shuffle_epi8(lut, hi);
          }
          _mm256_store_si256(reinterpret_cast<__m256i*>(codes + 32 * h), lo);
          _mm256_store_si256(reinterpret_cast<__m256i*>(codes + 128 + 32 * h), hi);
        }
        bytes = codes;
        _mm256_store_ps(scales, halfsToFloats(tile + 128));
        tile += kSuperBlock4;
      } else {
        _mm256_store_ps(scales, halfsToFloats(tile + 256));
        tile += kSuperBlock8;
      }
      for (int g = 0; g < kSuperBlockGroups; ++g) {
        const __m256 d = _mm256_broadcast_ss(scales + g);
        for (int i = 0; i < 4; ++i) {
          const __m128i c8 =
              _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + 32 * g + 8 * i));
          __m256 v;
          if constexpr (kMode == Decode::Unpack)
            v = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c8)), _mm256_set1_ps(8.0f));
          else
            v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(c8));
          _mm256_store_ps(out + 32 * g + 8 * i, _mm256_mul_ps(v, d));
        }
      }
    }
  }

  // acc[c·2 + r] += Σ_p w[p·64 + c·2 + r] · x[2p + r] over the tile's 16 input pairs.
  static void tileFma(const float* w, const float* x, float* acc) {
    __m256 a0 = _mm256_load_ps(acc), a1 = _mm256_load_ps(acc + 8), a2 = _mm256_load_ps(acc + 16),
           a3 = _mm256_load_ps(acc + 24), a4 = _mm256_load_ps(acc + 32),
           a5 = _mm256_load_ps(acc + 40), a6 = _mm256_load_ps(acc + 48),
           a7 = _mm256_load_ps(acc + 56);
    for (int p = 0; p < 16; ++p, w += 64) {
      const __m256 xv = pairBroadcast(x + 2 * p);
      a0 = _mm256_fmadd_ps(_mm256_load_ps(w), xv, a0);
      a1 = _mm256_fmadd_ps(_mm256_load_ps(w + 8), xv, a1);
      a2 = _mm256_fmadd_ps(_mm256_load_ps(w + 16), xv, a2);
      a3 = _mm256_fmadd_ps(_mm256_load_ps(w + 24), xv, a3);
      a4 = _mm256_fmadd_ps(_mm256_load_ps(w + 32), xv, a4);
      a5 = _mm256_fmadd_ps(_mm256_load_ps(w + 40), xv, a5);
      a6 = _mm256_fmadd_ps(_mm256_load_ps(w + 48), xv, a6);
      a7 = _mm256_fmadd_ps(_mm256_load_ps(w + 56), xv, a7);
    }
    _mm256_store_ps(acc, a0);
    _mm256_store_ps(acc + 8, a1);
    _mm256_store_ps(acc + 16, a2);
    _mm256_store_ps(acc + 24, a3);
    _mm256_store_ps(acc + 32, a4);
    _mm256_store_ps(acc + 40, a5);
    _mm256_store_ps(acc + 48, a6);
    _mm256_store_ps(acc + 56, a7);
  }

  // Batch 1 needs no staging buffer: the decoded vectors go straight into the 8 accumulators of
  // the tile column, and each group's scale is folded into the broadcast input pair instead of
  // multiplying the weights (2 multiplies per 64 weights instead of 8).
  template <Decode kMode>
  static void tileColumnSingle(const std::uint8_t* tile, Index kTiles, const float* x,
                               __m256i lut, float* out) {
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256 eight = _mm256_set1_ps(8.0f);
    const Index sbBytes = kMode == Decode::Int8 ? kSuperBlock8 : kSuperBlock4;
    for (Index kt = 0; kt < kTiles; ++kt) {
      for (int s = 0; s < 4; ++s, tile += sbBytes) {
        const float* xs = x + kt * kTileSize + 8 * s;
        alignas(32) float scales[8];
        _mm256_store_ps(scales, halfsToFloats(tile + sbBytes - 16));
        // Chunk h: 32 values of group h (Int8), or the 32 low nibbles (group h) and the 32 high
        // nibbles (group h + 4) of code bytes 32h..32h + 31; value j is input pair j / 64 and
        // accumulator j % 64 / 8.
        for (int h = 0; h < (kMode == Decode::Int8 ? 8 : 4); ++h) {
          const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + 32 * h));
          const int m0 = 4 * (h % 2);
          __m256 v[4];
          if constexpr (kMode == Decode::Int8) {
            const __m256 xv = _mm256_mul_ps(pairBroadcast(xs + 2 * (h / 2)),
                                            _mm256_set1_ps(scales[h]));
            bytesToFloats<true>(raw, v);
            for (int i = 0; i < 4; ++i) acc[m0 + i] = _mm256_fmadd_ps(v[i], xv, acc[m0 + i]);
          } else {
            __m256i lo = _mm256_and_si256(raw, low4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
            const __m256 xlo = _mm256_mul_ps(pairBroadcast(xs + 2 * (h / 2)),
                                             _mm256_set1_ps(scales[h]));
            const __m256 xhi = _mm256_mul_ps(pairBroadcast(xs + 2 * (2 + h / 2)),
                                             _mm256_set1_ps(scales[h + 4]));
            constexpr bool kLut = kMode == Decode::Lut;
            if constexpr (kLut) {
              lo = _mm256_shuffle_epi8(lut, lo);
              hi = _mm256_shuffle_epi8(lut, hi);
            }
            bytesToFloats<kLut>(lo, v);
            for (int i = 0; i < 4; ++i) {
              if constexpr (!kLut) v[i] = _mm256_sub_ps(v[i], eight);
              acc[m0 + i] = _mm256_fmadd_ps(v[i], xlo, acc[m0 + i]);
            }
            bytesToFloats<kLut>(hi, v);
            for (int i = 0; i < 4; ++i) {
              if constexpr (!kLut) v[i] = _mm256_sub_ps(v[i], eight);
              acc[m0 + i] = _mm256_fmadd_ps(v[i], xhi, acc[m0 + i]);
            }
          }
        }
      }
    }
    for (int m = 0; m < 8; ++m) _mm256_storeu_ps(out + 8 * m, acc[m]);
  }

  // y[c] = acc[2c] + acc[2c + 1] for the column's `outputs` outputs.
  static void foldPairs(const float* acc, Index outputs, float* y) {
    for (Index c = 0; c < outputs; ++c) y[c] = acc[2 * c] + acc[2 * c + 1];
  }

  // Up to kRows batch rows against one weight row, 32 inputs at a time: `decode(g, v)` puts the
  // 32 weights of group g into v[0..3]; x rows are padded to whole groups.
  template <int kRows, typename Decoder>
  static void rowDot(Index groups, const Decoder& decode, const float* x, Index ldx, float* out) {
    constexpr int kAcc = accumulatorsFor(kRows);
    __m256 acc[kRows][kAcc];
    for (auto& row : acc)
      for (auto& a : row) a = _mm256_setzero_ps();
    for (Index g = 0; g < groups; ++g) {
      __m256 v[4];
      decode(g, v);
      const float* xg = x + g * kQuantGroup;
      for (int b = 0; b < kRows; ++b)
        for (int i = 0; i < 4; ++i)
          acc[b][i % kAcc] =
              _mm256_fmadd_ps(v[i], _mm256_loadu_ps(xg + b * ldx + 8 * i), acc[b][i % kAcc]);
    }
    for (int b = 0; b < kRows; ++b) {
      __m256 a = acc[b][0];
      for (int j = 1; j < kAcc; ++j) a = _mm256_add_ps(a, acc[b][j]);
      const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
      const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
      out[b] = _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
    }
  }

  // The RowGroups 4-bit decoder looks codes up 16 at a time: one 128-bit lane of the table.
  using RowLut = __m128i;
  static RowLut rowLut(QuantType type) { return _mm256_castsi256_si128(lutVector(type)); }
  template <Decode kMode>
  using Block4 = Block4Decoder<kMode>;
  using Block8 = Block8Decoder;
  using Dense = FloatDecoder;
};

// ---- AVX-512: the tile kernels, 16 lanes, table in one register ----
//
// With 32 registers of 16 floats, the whole 16-entry table fits in one register and vpermps
// looks 16 codes up at once; it reads only the low 4 bits of each index, so the low nibbles
// need no mask. Scaling the table by the group's scale (one multiply per 32 values) makes the
// lookup yield the final weight: one zero-extension per 16 code bytes, one shift for the high
// nibbles, one vpermps per 16 weights, and the FMAs. Nothing is stored: the accumulators of up
// to 4 batch rows stay in registers for the whole tile column, and a larger batch takes the
// column again per 4 rows (the column, 73 KB for K = 4096, is in L2 by then, so memory traffic
// is still once per weight).
//
// GCC 12 warns that the plain forms of several AVX-512 intrinsics use an undefined pass-through
// operand; their maskz forms with every lane on (0xffff) are the same instructions, warning-free.

#define DARKROOM_AVX512 __attribute__((target("avx512f,avx512bw,f16c")))

constexpr int kRows512 = 4;  // batch rows per pass over a tile column

// (x[k], x[k + 1]) repeated over the 16 lanes.
DARKROOM_AVX512 inline __m512 pairBroadcast512(const float* x) {
  long long bits;
  std::memcpy(&bits, x, 8);
  return _mm512_castsi512_ps(_mm512_set1_epi64(bits));
}

template <Decode kMode, int kRows>
DARKROOM_AVX512 void tileColumn512(const std::uint8_t* tile, Index kTiles, const float* x, Index kp,
                                   const float* table, float* out) {
  // B = 1 has two accumulator sets (low and high nibbles) so that each FMA chain waits less.
  constexpr int kSets = kRows == 1 ? 2 : 1;
  __m512 acc[kRows][kSets][4];
  for (auto& row : acc)
    for (auto& set : row)
      for (auto& a : set) a = _mm512_setzero_ps();
  const __m512 values = _mm512_loadu_ps(table);
  const __m512i low4 = _mm512_set1_epi32(0x0f);
  const Index sbBytes = kMode == Decode::Int8 ? kSuperBlock8 : kSuperBlock4;
  for (Index kt = 0; kt < kTiles; ++kt) {
    for (int s = 0; s < 4; ++s, tile += sbBytes) {
      const float* xs = x + kt * kTileSize + 8 * s;  // input pair p of the super-block: xs + 2p
      alignas(32) float scales[8];
      _mm256_store_ps(scales, _mm256_cvtph_ps(_mm_loadu_si128(
                                  reinterpret_cast<const __m128i*>(tile + sbBytes - 16))));
      if constexpr (kMode == Decode::Int8) {
        // 16 chunks of 16 codes: chunk i is input pair i / 4, accumulator i % 4, group i / 2.
        for (int i = 0; i < 16; ++i) {
          const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tile + 16 * i));
          const __m512 w = _mm512_mul_ps(
              _mm512_maskz_cvtepi32_ps(0xffff, _mm512_maskz_cvtepi8_epi32(0xffff, c)),
              _mm512_set1_ps(scales[i / 2]));
          for (int b = 0; b < kRows; ++b)
            acc[b][0][i % 4] = _mm512_fmadd_ps(w, pairBroadcast512(xs + b * kp + 2 * (i / 4)), acc[b][0][i % 4]);
        }
      } else {
        // 8 chunks of 16 code bytes: chunk i's low nibbles are values 16i.. (input pair i / 4,
        // group i / 2), its high nibbles values 128 + 16i.. (pair 2 + i / 4, group 4 + i / 2);
        // both land in accumulator i % 4.
        for (int h = 0; h < 2; ++h) {
          __m512 xlo[kRows], xhi[kRows];
          for (int b = 0; b < kRows; ++b) xlo[b] = pairBroadcast512(xs + b * kp + 2 * h),
          xhi[b] = pairBroadcast512(xs + b * kp + 2 * (h + 2));
          for (int q = 0; q < 4; ++q) {
            const int i = 4 * h + q, g = i / 2;
            const __m512i raw = _mm512_maskz_cvtepu8_epi32(
                0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(tile + 16 * i)));
            const __m512i hiCodes = _mm512_maskz_srli_epi32(0xffff, raw, 4);
            __m512 wlo, whi;
            if constexpr (kMode == Decode::Lut) {
              wlo = _mm512_maskz_permutexvar_ps(0xffff, raw,
                                               _mm512_mul_ps(values, _mm512_set1_ps(scales[g])));
              whi = _mm512_maskz_permutexvar_ps(
                  0xffff, hiCodes, _mm512_mul_ps(values, _mm512_set1_ps(scales[g + 4])));
            } else {
              const __m512 eight = _mm512_set1_ps(8.0f);
              const __m512i loCodes = _mm512_and_si512(raw, low4);
              wlo = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_cvtepi32_ps(0xffff, loCodes), eight),
                                  _mm512_set1_ps(scales[g]));
              whi = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_cvtepi32_ps(0xffff, hiCodes), eight),
                                  _mm512_set1_ps(scales[g + 4]));
            }
            for (int b = 0; b < kRows; ++b) {
              acc[b][0][q] = _mm512_fmadd_ps(wlo, xlo[b], acc[b][0][q]);
              acc[b][kSets - 1][q] = _mm512_fmadd_ps(whi, xhi[b], acc[b][kSets - 1][q]);
            }
          }
        }
      }
    }
  }
  for (int b = 0; b < kRows; ++b)
    for (int q = 0; q < 4; ++q) {
      __m512 a = acc[b][0][q];
      if constexpr (kSets == 2) a = _mm512_add_ps(a, acc[b][1][q]);
      _mm512_storeu_ps(out + b * 64 + 16 * q, a);
    }
}

template <Decode kMode>
DARKROOM_AVX512 void tileGemm512(const QuantMatrixView& w, const float* xp, Index kp,
                                 Index batch, float* y) {
  const Index kTiles = kp / kTileSize, nTiles = padded(w.rows) / kTileSize;
  const Index tileBytes = 4 * (fourBit(w.type) ? kSuperBlock4 : kSuperBlock8);
  alignas(64) float table[16] = {};
  if (kMode == Decode::Lut)
    for (int q = 0; q < 16; ++q) table[q] = codeTable(w.type)[q];
#pragma omp parallel for schedule(dynamic)
  for (Index nt = 0; nt < nTiles; ++nt) {
    const std::uint8_t* column = w.data + nt * kTiles * tileBytes;
    const Index outputs = std::min<Index>(kTileSize, w.rows - nt * kTileSize);
    for (Index b0 = 0; b0 < batch; b0 += kRows512) {
      alignas(64) float acc[kRows512][64];
      const float* xb = xp + b0 * kp;
      const Index rows = std::min<Index>(kRows512, batch - b0);
      switch (rows) {
        case 1: tileColumn512<kMode, 1>(column, kTiles, xb, kp, table, acc[0]); break;
        case 2: tileColumn512<kMode, 2>(column, kTiles, xb, kp, table, acc[0]); break;
        case 3: tileColumn512<kMode, 3>(column, kTiles, xb, kp, table, acc[0]); break;
        default: tileColumn512<kMode, 4>(column, kTiles, xb, kp, table, acc[0]); break;
      }
      for (Index b = 0; b < rows; ++b)
        for (Index c = 0; c < outputs; ++c)
          y[(b0 + b) * w.rows + nt * kTileSize + c] = acc[b][2 * c] + acc[b][2 * c + 1];
    }
  }
}

bool cpuHasAvx512() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("f16c");
  }();
  return yes;
}


}  // namespace

void quantGemmAvx2(const QuantMatrixView& w, const float* x, Index batch, float* y,
                   Dequant mode) {
  const char* isa = quantGemmCpuIsa();
  if (w.layout == QuantLayout::Tile && fourBit(w.type) && mode == Dequant::Lut &&
      std::strcmp(isa, "avx512-bf16") == 0)
    return quantGemmBf16(w, x, batch, y);  // cpu/quant_gemm_bf16.cpp pads x itself
  const bool wide = std::strcmp(isa, "avx2") != 0;  // avx512 or avx512-bf16
  cpuQuantGemm<Avx2Quant>(w, x, batch, y, mode,
                          [&](auto decode, const float* xp, Index kp, Index chunk, float* yc) {
                            constexpr Decode kMode = decltype(decode)::value;
                            return wide ? tileGemm512<kMode>(w, xp, kp, chunk, yc)
                                        : tileGemm<Avx2Quant, kMode>(w, xp, kp, chunk, yc);
                          });
}

void denseGemmAvx2(const float* w, Index rows, Index cols, const float* x, Index batch,
                   float* y) {
  cpuDenseGemm<Avx2Quant>(w, rows, cols, x, batch, y);
}

}  // namespace darkroom::kernels::detail

namespace darkroom::kernels {

const char* quantGemmCpuIsa() {
  const char* isa = std::getenv("DARKROOM_CPU_ISA");
  const bool avx2Only = isa && std::strcmp(isa, "avx2") == 0;
  const bool noBf16 = avx2Only || (isa && std::strcmp(isa, "avx512") == 0);
  if (!detail::cpuHasAvx512() || avx2Only) return "avx2";
  return detail::cpuHasAvx512Bf16() && !noBf16 ? "avx512-bf16" : "avx512";
}

}  // namespace darkroom::kernels

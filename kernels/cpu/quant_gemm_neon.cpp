// CPU back end of the quantized products on aarch64 (NEON, part of every ARMv8-A core): the
// vector code under the loops, threads and padding of cpu/quant_gemm_driver.h, which also
// describes the layouts.
//
// The table lookup is where NEON suits the paper's idea best: TBL (vqtbl1q_s8) looks 16 indices
// up in a 16-byte table in one instruction, so a 4-bit code becomes its int8 code value with a
// mask (or a shift) and one lookup per 16 weights, for Q4_0 and IQ4_NL alike (both types' code
// values are integers in [-127, 127]). int8 → int16 → int32 → float32 with the widening moves
// and one convert; the group's scale is applied in float32. Unpack, the plain baseline, skips the
// table: nibble → float, minus 8, times the scale. Q8_0 codes are int8 already. The 8 fp16 scales
// of a super-block are converted with FCVTL (exact, subnormals included). Sums are float32 FMAs.
//
// Tile layout: per input pair, 16 FMAs of a decoded vector with the broadcast pair
// (x[2p], x[2p + 1]) into 16 accumulators (AArch64 has 32 vector registers); the two halves of
// each output are added with one pairwise add per four outputs. Batch 1 folds each group's scale
// into the broadcast pair (2 multiplies per 64 weights instead of 16).
//
// RowGroups layout: each 18/34-byte block decodes to 8 vectors in registers.
#include <arm_neon.h>

#include <cstring>

#include "cpu/quant_gemm_driver.h"
#include "quant_gemm_impl.h"

namespace darkroom::kernels::detail {
namespace {

// 8 little-endian fp16 at p → 8 floats at out.
inline void halfsToFloats(const std::uint8_t* p, float* out) {
  const float16x8_t h = vreinterpretq_f16_u8(vld1q_u8(p));
  vst1q_f32(out, vcvt_f32_f16(vget_low_f16(h)));
  vst1q_f32(out + 4, vcvt_high_f32_f16(h));
}

// One little-endian fp16 at p → float.
inline float halfToFloatFast(const std::uint8_t* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

// 16 int8 → 4 × 4 floats, in order.
inline void s8ToFloats(int8x16_t v, float32x4_t* out) {
  const int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
  out[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
  out[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
  out[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
  out[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
}

// 16 codes 0..15 → 4 × 4 floats q − 8 (the Unpack arithmetic: convert, then subtract in float).
inline void codesMinus8(uint8x16_t v, float32x4_t* out) {
  const uint16x8_t lo = vmovl_u8(vget_low_u8(v)), hi = vmovl_high_u8(v);
  const float32x4_t eight = vdupq_n_f32(8.0f);
  out[0] = vsubq_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo))), eight);
  out[1] = vsubq_f32(vcvtq_f32_u32(vmovl_high_u16(lo)), eight);
  out[2] = vsubq_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi))), eight);
  out[3] = vsubq_f32(vcvtq_f32_u32(vmovl_high_u16(hi)), eight);
}

// 16 code bytes → the values of their low nibbles (lo) and of their high nibbles (hi), unscaled.
template <Decode kMode>
inline void nibblesToFloats(uint8x16_t raw, int8x16_t lut, float32x4_t* lo, float32x4_t* hi) {
  const uint8x16_t l = vandq_u8(raw, vdupq_n_u8(0x0f)), h = vshrq_n_u8(raw, 4);
  if constexpr (kMode == Decode::Lut) {
    s8ToFloats(vqtbl1q_s8(lut, l), lo);
    s8ToFloats(vqtbl1q_s8(lut, h), hi);
  } else {
    codesMinus8(l, lo);
    codesMinus8(h, hi);
  }
}

// (x[k], x[k + 1]) repeated over the 4 lanes.
inline float32x4_t pairBroadcast(const float* x) {
  const float32x2_t pair = vld1_f32(x);
  return vcombine_f32(pair, pair);
}

// ---- tile layout ----

// ---- row layouts: the decoders of one group of 32 weights ----

// A 4-bit RowGroups block: fp16 d, then byte j = code j | code (j + 16) << 4.
template <Decode kMode>
struct Block4Decoder {
  const std::uint8_t* row;
  int8x16_t lut;
  void operator()(Index g, float32x4_t* v) const {
    const std::uint8_t* block = row + g * 18;
    const float d = halfToFloatFast(block);
    nibblesToFloats<kMode>(vld1q_u8(block + 2), lut, v, v + 4);
    for (int i = 0; i < 8; ++i) v[i] = vmulq_n_f32(v[i], d);
  }
};

// A Q8_0 RowGroups block: fp16 d, then 32 int8 codes.
struct Block8Decoder {
  const std::uint8_t* row;
  void operator()(Index g, float32x4_t* v) const {
    const std::uint8_t* block = row + g * 34;
    const float d = halfToFloatFast(block);
    const std::int8_t* codes = reinterpret_cast<const std::int8_t*>(block + 2);
    s8ToFloats(vld1q_s8(codes), v);
    s8ToFloats(vld1q_s8(codes + 16), v + 4);
    for (int i = 0; i < 8; ++i) v[i] = vmulq_n_f32(v[i], d);
  }
};

struct FloatDecoder {
  const float* row;
  void operator()(Index g, float32x4_t* v) const {
    for (int i = 0; i < 8; ++i) v[i] = vld1q_f32(row + g * kQuantGroup + 4 * i);
  }
};

// ---- the NEON pieces of the driver ----

struct NeonQuant {
  // The 16 code values of a 4-bit type as int8 (zeros for Q8_0, which has no table).
  static int8x16_t lutVector(QuantType type) {
    std::int8_t t[16] = {};
    if (const float* table = codeTable(type))
      for (int q = 0; q < 16; ++q) t[q] = static_cast<std::int8_t>(table[q]);
    return vld1q_s8(t);
  }

  // One tile → 1024 floats in tile order, scales applied.
  template <Decode kMode>
  static void decodeTile(const std::uint8_t* tile, int8x16_t lut, float* out) {
    float scales[8];
    for (int s = 0; s < 4; ++s, out += 256) {
      if constexpr (kMode == Decode::Int8) {
        halfsToFloats(tile + 256, scales);
        // Chunk i: values 16i.., group i / 2.
        for (int i = 0; i < 16; ++i) {
          float32x4_t v[4];
          s8ToFloats(vld1q_s8(reinterpret_cast<const std::int8_t*>(tile) + 16 * i), v);
          for (int j = 0; j < 4; ++j)
            vst1q_f32(out + 16 * i + 4 * j, vmulq_n_f32(v[j], scales[i / 2]));
        }
        tile += kSuperBlock8;
      } else {
        halfsToFloats(tile + 128, scales);
        // Chunk h: its low nibbles are values 16h.. (group h / 2), its high nibbles values
        // 128 + 16h.. (group 4 + h / 2).
        for (int h = 0; h < 8; ++h) {
          float32x4_t lo[4], hi[4];
          nibblesToFloats<kMode>(vld1q_u8(tile + 16 * h), lut, lo, hi);
          for (int j = 0; j < 4; ++j) {
            vst1q_f32(out + 16 * h + 4 * j, vmulq_n_f32(lo[j], scales[h / 2]));
            vst1q_f32(out + 128 + 16 * h + 4 * j, vmulq_n_f32(hi[j], scales[4 + h / 2]));
          }
        }
        tile += kSuperBlock4;
      }
    }
  }

  // acc[m] += Σ_p w[p·64 + 4m .. 4m + 3] · (x[2p], x[2p + 1], x[2p], x[2p + 1]) over the tile's
  // 16 input pairs: lane 2i + r of acc[m] belongs to output 2m + i, input parity r. Two passes of
  // 8 accumulators: with all 16 at once, their 16 weight vectors and the input pair need one
  // register more than the 32 there are.
  static void tileFma(const float* w, const float* x, float* acc) {
    for (int half = 0; half < 2; ++half, w += 32, acc += 32) {
      float32x4_t a[8];
      for (int m = 0; m < 8; ++m) a[m] = vld1q_f32(acc + 4 * m);
      for (int p = 0; p < 16; ++p) {
        const float32x4_t xv = pairBroadcast(x + 2 * p);
        for (int m = 0; m < 8; ++m) a[m] = vfmaq_f32(a[m], vld1q_f32(w + 64 * p + 4 * m), xv);
      }
      for (int m = 0; m < 8; ++m) vst1q_f32(acc + 4 * m, a[m]);
    }
  }

  // Batch 1: the decoded vectors go straight into the 16 accumulators of the tile column; each
  // group's scale is folded into the broadcast input pair.
  template <Decode kMode>
  static void tileColumnSingle(const std::uint8_t* tile, Index kTiles, const float* x,
                               int8x16_t lut, float* out) {
    float32x4_t acc[16];
    for (auto& a : acc) a = vdupq_n_f32(0.0f);
    const Index sbBytes = kMode == Decode::Int8 ? kSuperBlock8 : kSuperBlock4;
    float scales[8];
    for (Index kt = 0; kt < kTiles; ++kt) {
      for (int s = 0; s < 4; ++s, tile += sbBytes) {
        const float* xs = x + kt * kTileSize + 8 * s;  // input pair p of the super-block: xs + 2p
        halfsToFloats(tile + sbBytes - 16, scales);
        if constexpr (kMode == Decode::Int8) {
          // Chunk i: values 16i.. are input pair i / 4, accumulators 4·(i % 4).., group i / 2.
          // Unrolled, so that every accumulator index is a constant and the 16 stay in registers.
  #pragma GCC unroll 16
          for (int i = 0; i < 16; ++i) {
            float32x4_t v[4];
            s8ToFloats(vld1q_s8(reinterpret_cast<const std::int8_t*>(tile) + 16 * i), v);
            const float32x4_t xv = vmulq_n_f32(pairBroadcast(xs + 2 * (i / 4)), scales[i / 2]);
            const int m0 = 4 * (i % 4);
            for (int j = 0; j < 4; ++j) acc[m0 + j] = vfmaq_f32(acc[m0 + j], v[j], xv);
          }
        } else {
          // Chunk h: low nibbles are values 16h.. (pair h / 4, group h / 2), high nibbles values
          // 128 + 16h.. (pair 2 + h / 4, group 4 + h / 2); both land in accumulators 4·(h % 4)...
          // Unrolled, so that every accumulator index is a constant and the 16 stay in registers.
  #pragma GCC unroll 8
          for (int h = 0; h < 8; ++h) {
            float32x4_t lo[4], hi[4];
            nibblesToFloats<kMode>(vld1q_u8(tile + 16 * h), lut, lo, hi);
            const float32x4_t xlo = vmulq_n_f32(pairBroadcast(xs + 2 * (h / 4)), scales[h / 2]);
            const float32x4_t xhi =
                vmulq_n_f32(pairBroadcast(xs + 2 * (2 + h / 4)), scales[4 + h / 2]);
            const int m0 = 4 * (h % 4);
            for (int j = 0; j < 4; ++j) {
              acc[m0 + j] = vfmaq_f32(acc[m0 + j], lo[j], xlo);
              acc[m0 + j] = vfmaq_f32(acc[m0 + j], hi[j], xhi);
            }
          }
        }
      }
    }
    for (int m = 0; m < 16; ++m) vst1q_f32(out + 4 * m, acc[m]);
  }

  // y[c] = acc[2c] + acc[2c + 1] for the column's `outputs` outputs: one pairwise add gives four.
  static void foldPairs(const float* acc, Index outputs, float* y) {
    Index c = 0;
    for (; c + 4 <= outputs; c += 4)
      vst1q_f32(y + c, vpaddq_f32(vld1q_f32(acc + 2 * c), vld1q_f32(acc + 2 * c + 4)));
    for (; c < outputs; ++c) y[c] = acc[2 * c] + acc[2 * c + 1];
  }

  // Up to kRows batch rows against one weight row, 32 inputs at a time: `decode(g, v)` puts the
  // 32 weights of group g into v[0..7]; x rows are padded to whole groups.
  template <int kRows, typename Decoder>
  static void rowDot(Index groups, const Decoder& decode, const float* x, Index ldx, float* out) {
    constexpr int kAcc = accumulatorsFor(kRows);
    float32x4_t acc[kRows][kAcc];
    for (auto& row : acc)
      for (auto& a : row) a = vdupq_n_f32(0.0f);
    const float* xr[kRows];  // each batch row's next group
    for (int b = 0; b < kRows; ++b) xr[b] = x + b * ldx;
    for (Index g = 0; g < groups; ++g) {
      float32x4_t v[8];
      decode(g, v);
      // Unrolled, so that the accumulators stay in registers (GCC keeps the rows' loop otherwise).
  #pragma GCC unroll 8
      for (int b = 0; b < kRows; ++b) {
  #pragma GCC unroll 8
        for (int i = 0; i < 8; ++i)
          acc[b][i % kAcc] = vfmaq_f32(acc[b][i % kAcc], v[i], vld1q_f32(xr[b] + 4 * i));
        xr[b] += kQuantGroup;
      }
    }
    for (int b = 0; b < kRows; ++b) {
      float32x4_t a = acc[b][0];
      for (int j = 1; j < kAcc; ++j) a = vaddq_f32(a, acc[b][j]);
      out[b] = vaddvq_f32(a);
    }
  }

  // The RowGroups 4-bit decoder takes the same table as the tile decoders.
  using RowLut = int8x16_t;
  static RowLut rowLut(QuantType type) { return lutVector(type); }
  template <Decode kMode>
  using Block4 = Block4Decoder<kMode>;
  using Block8 = Block8Decoder;
  using Dense = FloatDecoder;
};

}  // namespace

void quantGemmNeon(const QuantMatrixView& w, const float* x, Index batch, float* y,
                   Dequant mode) {
  cpuQuantGemm<NeonQuant>(w, x, batch, y, mode,
                          [&](auto decode, const float* xp, Index kp, Index chunk, float* yc) {
                            tileGemm<NeonQuant, decltype(decode)::value>(w, xp, kp, chunk, yc);
                          });
}

void denseGemmNeon(const float* w, Index rows, Index cols, const float* x, Index batch,
                   float* y) {
  cpuDenseGemm<NeonQuant>(w, rows, cols, x, batch, y);
}

}  // namespace darkroom::kernels::detail

namespace darkroom::kernels {

// One NEON version of every kernel: nothing to choose at run time.
const char* quantGemmCpuIsa() { return "neon"; }

}  // namespace darkroom::kernels

// NEON LUT softmax and cached attention (aarch64): the vector code under the row loops, key
// blocks, threads and split merging of cpu/lut_softmax_driver.h, as for AVX2.
//
// The table lookup: FCVTN rounds four t's to fp16 (round to nearest even under the default
// FPCR, the same rounding as floatToHalf), the sign bit is masked off, and the four 15-bit
// indices read the fp16 table itself (exp2Table(), 64 KiB: half the cache footprint of a float32
// copy, which matters on a phone's 64 KiB L1), one lane load each (NEON has no gather); FCVTL
// turns the four entries into floats, exactly. The Float mode uses a vectorised polynomial e^x
// (cpu/neon_math.h), so that both sides of the comparison are vector code. Attention scores are
// four keys by two rows at a time, reduced with pairwise adds.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>

#include "cpu/lut_softmax_driver.h"
#include "cpu/neon_math.h"
#include "lut_softmax_impl.h"

namespace darkroom::kernels::detail {

namespace {

// table[fp16 bits of t, sign dropped] for four t's. -inf and NaN land on the Inf/NaN patterns,
// whose entries are 0; so does t < -65520, which rounds to -inf.
inline float32x4_t lutExp2(float32x4_t t, const std::uint16_t* table) {
  const uint16x4_t index = vand_u16(vreinterpret_u16_f16(vcvt_f16_f32(t)), vdup_n_u16(0x7fff));
  uint16x4_t e = vdup_n_u16(0);
  e = vld1_lane_u16(table + vget_lane_u16(index, 0), e, 0);
  e = vld1_lane_u16(table + vget_lane_u16(index, 1), e, 1);
  e = vld1_lane_u16(table + vget_lane_u16(index, 2), e, 2);
  e = vld1_lane_u16(table + vget_lane_u16(index, 3), e, 3);
  return vcvt_f32_f16(vreinterpret_f16_u16(e));
}

// e(t) of the mode, four at a time.
template <SoftmaxExp kMode>
inline float32x4_t expOf(float32x4_t t, const std::uint16_t* table) {
  if constexpr (kMode == SoftmaxExp::Lut) return lutExp2(t, table);
  else return expNonPositive(t);
}

// Eight dot products at once: rows qa, qb with keys k0..k3 → sa[0..3] = qa·k0..k3, sb likewise.
inline void dots2x4(const float* qa, const float* qb, const float* const* keys, i64 D, float* sa,
                    float* sb) {
  float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  auto step = [&](float32x4_t x, float32x4_t y, float32x4_t w0, float32x4_t w1, float32x4_t w2,
                  float32x4_t w3) {
    a0 = vfmaq_f32(a0, x, w0);
    a1 = vfmaq_f32(a1, x, w1);
    a2 = vfmaq_f32(a2, x, w2);
    a3 = vfmaq_f32(a3, x, w3);
    b0 = vfmaq_f32(b0, y, w0);
    b1 = vfmaq_f32(b1, y, w1);
    b2 = vfmaq_f32(b2, y, w2);
    b3 = vfmaq_f32(b3, y, w3);
  };
  i64 d = 0;
  for (; d + 4 <= D; d += 4)
    step(vld1q_f32(qa + d), vld1q_f32(qb + d), vld1q_f32(keys[0] + d), vld1q_f32(keys[1] + d),
         vld1q_f32(keys[2] + d), vld1q_f32(keys[3] + d));
  if (d < D) {  // zeros past the end of the rows add nothing
    const i64 n = D - d;
    step(loadPartial(qa + d, n, 0.f), loadPartial(qb + d, n, 0.f), loadPartial(keys[0] + d, n, 0.f),
         loadPartial(keys[1] + d, n, 0.f), loadPartial(keys[2] + d, n, 0.f),
         loadPartial(keys[3] + d, n, 0.f));
  }
  vst1q_f32(sa, vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3)));
  vst1q_f32(sb, vpaddq_f32(vpaddq_f32(b0, b1), vpaddq_f32(b2, b3)));
}

// Asks for the `bytes` from p in the cache, one line at a time.
inline void prefetch(const float* p, i64 bytes) {
  const char* c = reinterpret_cast<const char*>(p);
  for (i64 b = 0; b < bytes; b += 64) __builtin_prefetch(c + b, 0, 2);
}

// acc[r][d .. d + 4·NV) += Σ_j P[r][j] · V[j][d .. d + 4·NV) for MR rows.
template <int MR, int NV>
inline void pvColumns(const float* P, const float* V, i64 n, i64 D, float* acc, i64 d) {
  float32x4_t c[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int u = 0; u < NV; ++u) c[r][u] = vld1q_f32(acc + r * D + d + 4 * u);
  for (i64 j = 0; j < n; ++j) {
    float32x4_t v[NV];
    for (int u = 0; u < NV; ++u) v[u] = vld1q_f32(V + j * D + d + 4 * u);
    for (int r = 0; r < MR; ++r) {
      const float32x4_t p = vdupq_n_f32(P[r * kKeyBlock + j]);
      for (int u = 0; u < NV; ++u) c[r][u] = vfmaq_f32(c[r][u], p, v[u]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int u = 0; u < NV; ++u) vst1q_f32(acc + r * D + d + 4 * u, c[r][u]);
}

struct NeonSoftmax {
  static constexpr i64 kLanes = 4;

  static const std::uint16_t* table() { return exp2Table(); }

  // max_j fl(c · x_j) over n entries. Defined out of line (below): one call per row, and inlining
  // it into both modes' row loops would only make them longer.
  static float scaledMax(const float* x, i64 n, float c);

  // x_j ← e(fma(c, x_j, −m)) over n entries; returns their sum. Four vectors per iteration keep
  // several lookups (or polynomials) in flight.
  template <SoftmaxExp kMode>
  static float expRow(float* x, i64 n, float c, float m, const std::uint16_t* table) {
    const float32x4_t vc = vdupq_n_f32(c), vm = vdupq_n_f32(-m);
    float32x4_t s0 = vdupq_n_f32(0.f), s1 = s0, s2 = s0, s3 = s0;
    i64 j = 0;
    for (; j + 16 <= n; j += 16) {
      const float32x4_t e0 = expOf<kMode>(vfmaq_f32(vm, vc, vld1q_f32(x + j)), table);
      const float32x4_t e1 = expOf<kMode>(vfmaq_f32(vm, vc, vld1q_f32(x + j + 4)), table);
      const float32x4_t e2 = expOf<kMode>(vfmaq_f32(vm, vc, vld1q_f32(x + j + 8)), table);
      const float32x4_t e3 = expOf<kMode>(vfmaq_f32(vm, vc, vld1q_f32(x + j + 12)), table);
      vst1q_f32(x + j, e0);
      vst1q_f32(x + j + 4, e1);
      vst1q_f32(x + j + 8, e2);
      vst1q_f32(x + j + 12, e3);
      s0 = vaddq_f32(s0, e0);
      s1 = vaddq_f32(s1, e1);
      s2 = vaddq_f32(s2, e2);
      s3 = vaddq_f32(s3, e3);
    }
    for (; j + 4 <= n; j += 4) {
      const float32x4_t e = expOf<kMode>(vfmaq_f32(vm, vc, vld1q_f32(x + j)), table);
      vst1q_f32(x + j, e);
      s0 = vaddq_f32(s0, e);
    }
    if (j < n) {  // the tail: the lanes past the row read -inf, whose e is exactly 0
      const float32x4_t e =
          expOf<kMode>(vfmaq_f32(vm, vc, loadPartial(x + j, n - j, kNegInf)), table);
      storePartial(x + j, n - j, e);
      s1 = vaddq_f32(s1, e);
    }
    return vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  }

  static void scaleRow(float* x, i64 n, float s) {
    i64 j = 0;
    for (; j + 4 <= n; j += 4) vst1q_f32(x + j, vmulq_n_f32(vld1q_f32(x + j), s));
    for (; j < n; ++j) x[j] *= s;
  }

  template <SoftmaxExp kMode>
  static float expOne(float t, const std::uint16_t* table) {
    return vgetq_lane_f32(expOf<kMode>(vdupq_n_f32(t), table), 0);
  }

  // S[r][j] = q_r · k_j for the R rows and n keys of a block (row stride kKeyBlock). A partial
  // group of rows or keys repeats the last one and drops the extra results. While the first two
  // rows read the block's keys, the next block's keys and values (`next`, `next_v`, may be null)
  // are fetched: decode reads each cache line once, so waiting for memory is most of its time.
  static void blockScores(const Rows& rows, const float* K, i64 n, i64 D, float* S,
                          const float* next, const float* next_v) {
    const i64 row_bytes = D * static_cast<i64>(sizeof(float));
    for (i64 r = 0; r < rows.count; r += 2) {
      // S has kKeyBlock (a multiple of 4) columns per row and kMaxRows (even) rows: whole groups
      // of four and a duplicated last row stay inside it.
      const i64 rb = std::min(r + 1, rows.count - 1);
      for (i64 j = 0; j < n; j += 4) {
        if (r == 0 && next) {
          prefetch(next + j * D, 4 * row_bytes);
          prefetch(next_v + j * D, 4 * row_bytes);
        }
        // The last keys of a partial group: repeat the last one, and keep only what is real.
        const float* keys[4];
        for (i64 t = 0; t < 4; ++t) keys[t] = K + std::min(j + t, n - 1) * D;
        dots2x4(rows.q[r], rows.q[rb], keys, D, S + r * kKeyBlock + j,
                S + (r + 1) * kKeyBlock + j);
      }
    }
  }

  static float blockRowMax(const float* s, i64 seen, float c) {
    const float32x4_t vc = vdupq_n_f32(c);
    float32x4_t vmax = vdupq_n_f32(kNegInf);
    for (i64 j = 0; j < seen; j += 4) vmax = vmaxq_f32(vmax, vmulq_f32(vc, vld1q_f32(s + j)));
    return vmaxvq_f32(vmax);
  }

  template <SoftmaxExp kMode>
  static float blockRowExp(float* s, i64 n, float c, float m, const std::uint16_t* table) {
    const float32x4_t vc = vdupq_n_f32(c), vm = vdupq_n_f32(-m);
    float32x4_t sum = vdupq_n_f32(0.f);
    for (i64 j = 0; j < n; j += 4) {
      const float32x4_t e = expOf<kMode>(vfmaq_f32(vm, vc, vld1q_f32(s + j)), table);
      vst1q_f32(s + j, e);
      sum = vaddq_f32(sum, e);
    }
    return vaddvq_f32(sum);
  }

  // acc[r][0..D) += Σ_j P[r][j] · V[j][0..D) for MR rows: 16 columns at a time, then 4, then
  // one.
  template <int MR>
  static void accumulatePV(const float* P, const float* V, i64 n, i64 D, float* acc) {
    i64 d = 0;
    for (; d + 16 <= D; d += 16) pvColumns<MR, 4>(P, V, n, D, acc, d);
    for (; d + 4 <= D; d += 4) pvColumns<MR, 1>(P, V, n, D, acc, d);
    for (; d < D; ++d)
      for (int r = 0; r < MR; ++r) {
        float s = acc[r * D + d];
        for (i64 j = 0; j < n; ++j) s = std::fma(P[r * kKeyBlock + j], V[j * D + d], s);
        acc[r * D + d] = s;
      }
  }
};

float NeonSoftmax::scaledMax(const float* x, i64 n, float c) {
  float32x4_t m0 = vdupq_n_f32(kNegInf), m1 = m0, m2 = m0, m3 = m0;
  i64 j = 0;
  for (; j + 16 <= n; j += 16) {
    m0 = vmaxq_f32(m0, vmulq_n_f32(vld1q_f32(x + j), c));
    m1 = vmaxq_f32(m1, vmulq_n_f32(vld1q_f32(x + j + 4), c));
    m2 = vmaxq_f32(m2, vmulq_n_f32(vld1q_f32(x + j + 8), c));
    m3 = vmaxq_f32(m3, vmulq_n_f32(vld1q_f32(x + j + 12), c));
  }
  for (; j + 4 <= n; j += 4) m0 = vmaxq_f32(m0, vmulq_n_f32(vld1q_f32(x + j), c));
  float max = vmaxvq_f32(vmaxq_f32(vmaxq_f32(m0, m1), vmaxq_f32(m2, m3)));
  for (; j < n; ++j) max = std::max(max, c * x[j]);
  return max;
}

}  // namespace

void softmaxRowsNeon(SoftmaxExp mode, float* x, i64 rows, i64 cols, float scale) {
  cpuSoftmaxRows<NeonSoftmax>(mode, x, rows, cols, scale);
}

void cachedAttentionNeon(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                         const float* v, float scale, float* out) {
  cpuCachedAttention<NeonSoftmax>(mode, s, q, k, v, scale, out);
}

}  // namespace darkroom::kernels::detail

// AVX2+FMA+F16C LUT softmax and cached attention: the vector code under the row loops, key
// blocks, threads and split merging of cpu/lut_softmax_driver.h.
//
// The table lookup: F16C rounds eight t's to fp16 (the same round-to-nearest-even as
// floatToHalf), the sign bit is masked off, and the eight 15-bit indices gather from the float32
// copy of the table (exp2TableFloat: entry for entry the fp16 table's values, so no conversion
// after the gather). The Float mode uses a vectorised polynomial e^x, so that both sides of the
// comparison are vector code. Attention scores are four keys by two rows at a time, reduced with
// hadd.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "cpu/avx2_lanes.h"
#include "cpu/lut_softmax_driver.h"
#include "lut_softmax_impl.h"

namespace darkroom::kernels::detail {

namespace {

// table[fp16 bits of t, sign dropped] for eight t's. -inf and NaN land on the Inf/NaN patterns,
// whose entries are 0.
inline __m256 lutExp2(__m256 t, const float* table) {
  const __m128i half = _mm256_cvtps_ph(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256i index = _mm256_and_si256(_mm256_cvtepu16_epi32(half), _mm256_set1_epi32(0x7fff));
  return _mm256_i32gather_ps(table, index, 4);
}

// e(t) of the mode, eight at a time.
template <SoftmaxExp kMode>
inline __m256 expOf(__m256 t, const float* table) {
  if constexpr (kMode == SoftmaxExp::Lut) return lutExp2(t, table);
  else return expNonPositive(t);
}

// Eight dot products at once: rows qa, qb with keys k0..k3, reduced to
// [a·k0 a·k1 a·k2 a·k3 b·k0 b·k1 b·k2 b·k3].
inline __m256 dots2x4(const float* qa, const float* qb, const float* k0, const float* k1,
                      const float* k2, const float* k3, i64 D, __m256i tail) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  i64 d = 0;
  auto step = [&](__m256 x, __m256 y, __m256 w0, __m256 w1, __m256 w2, __m256 w3) {
    a0 = _mm256_fmadd_ps(x, w0, a0);
    a1 = _mm256_fmadd_ps(x, w1, a1);
    a2 = _mm256_fmadd_ps(x, w2, a2);
    a3 = _mm256_fmadd_ps(x, w3, a3);
    b0 = _mm256_fmadd_ps(y, w0, b0);
    b1 = _mm256_fmadd_ps(y, w1, b1);
    b2 = _mm256_fmadd_ps(y, w2, b2);
    b3 = _mm256_fmadd_ps(y, w3, b3);
  };
  for (; d + 8 <= D; d += 8)
    step(_mm256_loadu_ps(qa + d), _mm256_loadu_ps(qb + d), _mm256_loadu_ps(k0 + d),
         _mm256_loadu_ps(k1 + d), _mm256_loadu_ps(k2 + d), _mm256_loadu_ps(k3 + d));
  if (d < D)
    step(_mm256_maskload_ps(qa + d, tail), _mm256_maskload_ps(qb + d, tail),
         _mm256_maskload_ps(k0 + d, tail), _mm256_maskload_ps(k1 + d, tail),
         _mm256_maskload_ps(k2 + d, tail), _mm256_maskload_ps(k3 + d, tail));
  const __m256 ha = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  const __m256 hb = _mm256_hadd_ps(_mm256_hadd_ps(b0, b1), _mm256_hadd_ps(b2, b3));
  return _mm256_add_ps(_mm256_permute2f128_ps(ha, hb, 0x20), _mm256_permute2f128_ps(ha, hb, 0x31));
}

// Asks for the `bytes` from p in the cache, one line at a time.
inline void prefetch(const float* p, i64 bytes) {
  const char* c = reinterpret_cast<const char*>(p);
  for (i64 b = 0; b < bytes; b += 64) _mm_prefetch(c + b, _MM_HINT_T1);
}

struct Avx2Softmax {
  static constexpr i64 kLanes = 8;

  static const float* table() { return exp2TableFloat(); }

  // max_j fl(c · x_j) over n entries. Defined out of line (below): one call per row, and inlining
  // it into both modes' row loops would only make them longer.
  static float scaledMax(const float* x, i64 n, float c);

  // x_j ← e(fma(c, x_j, −m)) over n entries; returns their sum. Four vectors per iteration keep
  // several gathers (or polynomials) in flight.
  template <SoftmaxExp kMode>
  static float expRow(float* x, i64 n, float c, float m, const float* table) {
    const __m256 vc = _mm256_set1_ps(c), vm = _mm256_set1_ps(-m);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    i64 j = 0;
    for (; j + 32 <= n; j += 32) {
      const __m256 e0 = expOf<kMode>(_mm256_fmadd_ps(vc, _mm256_loadu_ps(x + j), vm), table);
      const __m256 e1 = expOf<kMode>(_mm256_fmadd_ps(vc, _mm256_loadu_ps(x + j + 8), vm), table);
      const __m256 e2 = expOf<kMode>(_mm256_fmadd_ps(vc, _mm256_loadu_ps(x + j + 16), vm), table);
      const __m256 e3 = expOf<kMode>(_mm256_fmadd_ps(vc, _mm256_loadu_ps(x + j + 24), vm), table);
      _mm256_storeu_ps(x + j, e0);
      _mm256_storeu_ps(x + j + 8, e1);
      _mm256_storeu_ps(x + j + 16, e2);
      _mm256_storeu_ps(x + j + 24, e3);
      s0 = _mm256_add_ps(s0, e0);
      s1 = _mm256_add_ps(s1, e1);
      s2 = _mm256_add_ps(s2, e2);
      s3 = _mm256_add_ps(s3, e3);
    }
    for (; j + 8 <= n; j += 8) {
      const __m256 e = expOf<kMode>(_mm256_fmadd_ps(vc, _mm256_loadu_ps(x + j), vm), table);
      _mm256_storeu_ps(x + j, e);
      s0 = _mm256_add_ps(s0, e);
    }
    if (j < n) {  // the tail: the lanes past the row are zeroed before they are summed
      const __m256i mask = laneMask(n - j);
      const __m256 e = _mm256_and_ps(
          expOf<kMode>(_mm256_fmadd_ps(vc, _mm256_maskload_ps(x + j, mask), vm), table),
          _mm256_castsi256_ps(mask));
      _mm256_maskstore_ps(x + j, mask, e);
      s1 = _mm256_add_ps(s1, e);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  }

  static void scaleRow(float* x, i64 n, float s) {
    const __m256 vs = _mm256_set1_ps(s);
    i64 j = 0;
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), vs));
    for (; j < n; ++j) x[j] *= s;
  }

  template <SoftmaxExp kMode>
  static float expOne(float t, const float* table) {
    return _mm256_cvtss_f32(expOf<kMode>(_mm256_set1_ps(t), table));
  }

  // S[r][j] = q_r · k_j for the R rows and n keys of a block (row stride kKeyBlock). A partial
  // group of rows or keys repeats the last one and drops the extra results. While the first two
  // rows read the block's keys, the next block's keys and values (`next`, `next_v`, may be null)
  // are fetched: decode reads each cache line once, so waiting for memory is most of its time.
  static void blockScores(const Rows& rows, const float* K, i64 n, i64 D, float* S,
                          const float* next, const float* next_v) {
    const __m256i tail = laneMask(D % 8);
    const i64 row_bytes = D * static_cast<i64>(sizeof(float));
    for (i64 r = 0; r < rows.count; r += 2) {
      // S has kKeyBlock (a multiple of 4) columns per row and kMaxRows rows: whole groups of four
      // and a duplicated last row stay inside it.
      const i64 rb = std::min(r + 1, rows.count - 1);
      i64 j = 0;
      for (; j + 4 <= n; j += 4) {
        if (r == 0 && next) {
          prefetch(next + j * D, 4 * row_bytes);
          prefetch(next_v + j * D, 4 * row_bytes);
        }
        const float* kj = K + j * D;
        const __m256 d =
            dots2x4(rows.q[r], rows.q[rb], kj, kj + D, kj + 2 * D, kj + 3 * D, D, tail);
        _mm_store_ps(S + r * kKeyBlock + j, _mm256_castps256_ps128(d));
        _mm_store_ps(S + (r + 1) * kKeyBlock + j, _mm256_extractf128_ps(d, 1));
      }
      if (j < n) {  // the last keys: repeat the last one, and keep only what is real
        auto key = [&](i64 t) { return K + std::min(j + t, n - 1) * D; };
        const __m256 d = dots2x4(rows.q[r], rows.q[rb], key(0), key(1), key(2), key(3), D, tail);
        _mm_store_ps(S + r * kKeyBlock + j, _mm256_castps256_ps128(d));
        _mm_store_ps(S + (r + 1) * kKeyBlock + j, _mm256_extractf128_ps(d, 1));
      }
    }
  }

  static float blockRowMax(const float* s, i64 seen, float c) {
    const __m256 vc = _mm256_set1_ps(c);
    __m256 vmax = _mm256_set1_ps(kNegInf);
    for (i64 j = 0; j < seen; j += 8)
      vmax = _mm256_max_ps(vmax, _mm256_mul_ps(vc, _mm256_loadu_ps(s + j)));
    return hmax(vmax);
  }

  template <SoftmaxExp kMode>
  static float blockRowExp(float* s, i64 n, float c, float m, const float* table) {
    const __m256 vc = _mm256_set1_ps(c), vm = _mm256_set1_ps(-m);
    __m256 sum = _mm256_setzero_ps();
    for (i64 j = 0; j < n; j += 8) {
      const __m256 e = expOf<kMode>(_mm256_fmadd_ps(vc, _mm256_load_ps(s + j), vm), table);
      _mm256_store_ps(s + j, e);
      sum = _mm256_add_ps(sum, e);
    }
    return hsum(sum);
  }

  // acc[r][0..D) += Σ_j P[r][j] · V[j][0..D) for MR rows, 16 columns at a time.
  template <int MR>
  static void accumulatePV(const float* P, const float* V, i64 n, i64 D, float* acc) {
    for (i64 d = 0; d < D; d += 16) {
      const __m256i m0 = laneMask(D - d), m1 = laneMask(D - d - 8);
      const bool full = d + 16 <= D;
      __m256 c0[MR], c1[MR];
      for (int r = 0; r < MR; ++r) {
        c0[r] = full ? _mm256_loadu_ps(acc + r * D + d) : _mm256_maskload_ps(acc + r * D + d, m0);
        c1[r] = full ? _mm256_loadu_ps(acc + r * D + d + 8)
                     : _mm256_maskload_ps(acc + r * D + d + 8, m1);
      }
      for (i64 j = 0; j < n; ++j) {
        const float* vr = V + j * D + d;
        const __m256 v0 = full ? _mm256_loadu_ps(vr) : _mm256_maskload_ps(vr, m0);
        const __m256 v1 = full ? _mm256_loadu_ps(vr + 8) : _mm256_maskload_ps(vr + 8, m1);
        for (int r = 0; r < MR; ++r) {
          const __m256 p = _mm256_broadcast_ss(P + r * kKeyBlock + j);
          c0[r] = _mm256_fmadd_ps(p, v0, c0[r]);
          c1[r] = _mm256_fmadd_ps(p, v1, c1[r]);
        }
      }
      for (int r = 0; r < MR; ++r) {
        if (full) {
          _mm256_storeu_ps(acc + r * D + d, c0[r]);
          _mm256_storeu_ps(acc + r * D + d + 8, c1[r]);
        } else {
          _mm256_maskstore_ps(acc + r * D + d, m0, c0[r]);
          _mm256_maskstore_ps(acc + r * D + d + 8, m1, c1[r]);
        }
      }
    }
  }
};

// max_j fl(c · x_j) over n entries.
float Avx2Softmax::scaledMax(const float* x, i64 n, float c) {
  const __m256 vc = _mm256_set1_ps(c);
  __m256 m0 = _mm256_set1_ps(kNegInf), m1 = m0, m2 = m0, m3 = m0;
  i64 j = 0;
  for (; j + 32 <= n; j += 32) {
    m0 = _mm256_max_ps(m0, _mm256_mul_ps(vc, _mm256_loadu_ps(x + j)));
    m1 = _mm256_max_ps(m1, _mm256_mul_ps(vc, _mm256_loadu_ps(x + j + 8)));
    m2 = _mm256_max_ps(m2, _mm256_mul_ps(vc, _mm256_loadu_ps(x + j + 16)));
    m3 = _mm256_max_ps(m3, _mm256_mul_ps(vc, _mm256_loadu_ps(x + j + 24)));
  }
  for (; j + 8 <= n; j += 8) m0 = _mm256_max_ps(m0, _mm256_mul_ps(vc, _mm256_loadu_ps(x + j)));
  float max = hmax(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
  for (; j < n; ++j) max = std::max(max, c * x[j]);
  return max;
}

}  // namespace

void softmaxRowsAvx2(SoftmaxExp mode, float* x, i64 rows, i64 cols, float scale) {
  cpuSoftmaxRows<Avx2Softmax>(mode, x, rows, cols, scale);
}

void cachedAttentionAvx2(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                         const float* v, float scale, float* out) {
  cpuCachedAttention<Avx2Softmax>(mode, s, q, k, v, scale, out);
}

}  // namespace darkroom::kernels::detail

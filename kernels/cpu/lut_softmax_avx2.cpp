// AVX2+FMA+F16C LUT softmax and cached attention with OpenMP threads.
//
// The table lookup: F16C rounds eight t's to fp16 (the same round-to-nearest-even as
// floatToHalf), the sign bit is masked off, and the eight 15-bit indices gather from the float32
// copy of the table (exp2TableFloat: entry for entry the fp16 table's values, so no conversion
// after the gather). The Float mode uses a vectorised polynomial e^x, so that both sides of the
// comparison are vector code.
//
// Cached attention, per (batch, kv head, chunk of rows): a row is one (query, head of the group),
// so the heads that share a kv head read its keys and values once. The keys are walked in blocks
// of kKeyBlock: S = Q·Kᵀ for the block (four keys by two rows at a time, reduced with hadd), the
// running max and sum per row, acc ← α·acc + P·V. When there are fewer such tasks than threads
// (decode with few kv heads), the keys are split among threads as well and the partial
// (max, sum, acc) of the splits are merged at the end.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "lut_softmax_impl.h"
#include "cpu/avx2_lanes.h"

namespace darkroom::kernels::detail {

namespace {

using i64 = std::int64_t;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// table[fp16 bits of t, sign dropped] for eight t's. -inf and NaN land on the Inf/NaN patterns,
// whose entries are 0.
inline __m256 lutExp2(__m256 t, const float* table) {
  const __m128i half = _mm256_cvtps_ph(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256i index = _mm256_and_si256(_mm256_cvtepu16_epi32(half), _mm256_set1_epi32(0x7fff));
  return _mm256_i32gather_ps(table, index, 4);
}

// e^x for x ≤ 0: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial (Cephes' expf
// coefficients, about 1 ulp), 2^n written into the exponent. x is clamped at -87.9 first: there
// n = -127 gives an all-zero exponent field, so everything below about -87.7 (-inf included) is
// exactly 0, as expf's underflow would be.
inline __m256 expNonPositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.9f));  // NaN takes the second operand: also 0
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln 2 = hi + lo: n·hi is
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);       // exact for |n| < 2^9
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i pow2 =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2));
}

// e(t) of the mode, eight at a time.
template <SoftmaxExp kMode>
inline __m256 expOf(__m256 t, const float* table) {
  if constexpr (kMode == SoftmaxExp::Lut) return lutExp2(t, table);
  else return expNonPositive(t);
}

template <SoftmaxExp kMode>
inline float expOf(float t, const float* table) {
  return _mm256_cvtss_f32(expOf<kMode>(_mm256_set1_ps(t), table));
}

// ---------------------------------------------------------------------------------------------
// softmaxRows

// max_j fl(c · x_j) over n entries.
float scaledMax(const float* x, i64 n, float c) {
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

// x_j ← e(fma(c, x_j, −m)) over n entries; returns their sum. Four vectors per iteration keep
// several gathers (or polynomials) in flight.
template <SoftmaxExp kMode>
float expRow(float* x, i64 n, float c, float m, const float* table) {
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

void scaleRow(float* x, i64 n, float s) {
  const __m256 vs = _mm256_set1_ps(s);
  i64 j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), vs));
  for (; j < n; ++j) x[j] *= s;
}

template <SoftmaxExp kMode>
void softmaxRowsT(float* x, i64 rows, i64 cols, float scale) {
  const float c = scoreScale(kMode, scale);
  const float* table = exp2TableFloat();
  // Threads only where there is enough work to pay for waking them.
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols >= 32768)
  for (i64 r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    const float max = scaledMax(row, cols, c);
    if (max == kNegInf) {  // every score is -inf
      std::memset(row, 0, sizeof(float) * static_cast<std::size_t>(cols));
      continue;
    }
    const float sum = expRow<kMode>(row, cols, c, max, table);
    scaleRow(row, cols, 1.f / sum);
  }
}

// ---------------------------------------------------------------------------------------------
// cachedAttention

constexpr i64 kMaxRows = 16;  // rows (query × head of a group) per task

struct Problem {
  const AttentionShape& s;
  const float *q, *k, *v;
  float c;  // score multiplier
  i64 group, rows_per_kv, chunks, tasks, splits, blocks_per_split;
};

// Rows r0..r0+R-1 of kv head kvh's group: row r is query r / group of head kvh·group + r % group,
// so a chunk's rows are consecutive queries (alike in how many keys they see).
struct Rows {
  i64 count = 0;
  const float* q[kMaxRows];
  i64 last[kMaxRows];  // the last key each row sees
  i64 out_offset[kMaxRows];
};

Rows rowsOf(const Problem& p, i64 b, i64 kvh, i64 chunk) {
  const AttentionShape& s = p.s;
  Rows rows;
  const i64 r0 = chunk * kMaxRows;
  rows.count = std::min(kMaxRows, p.rows_per_kv - r0);
  for (i64 r = 0; r < rows.count; ++r) {
    const i64 i = (r0 + r) / p.group, h = kvh * p.group + (r0 + r) % p.group;
    const i64 off = ((b * s.heads + h) * s.queries + i) * s.head_dim;
    rows.q[r] = p.q + off;
    rows.out_offset[r] = off;
    rows.last[r] = s.keys - s.queries + i;
  }
  return rows;
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

// S[r][j] = q_r · k_j for the R rows and n keys of a block (row stride kKeyBlock). A partial group
// of rows or keys repeats the last one and drops the extra results. While the first two rows
// read the block's keys, the next block's keys and values (`next`, `next_v`, may be null) are
// fetched: decode reads each cache line once, so waiting for memory is most of its time.
void blockScores(const Rows& rows, const float* K, i64 n, i64 D, float* S, const float* next,
                 const float* next_v) {
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
      const __m256 d = dots2x4(rows.q[r], rows.q[rb], kj, kj + D, kj + 2 * D, kj + 3 * D, D, tail);
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

// acc[r][0..D) += Σ_j P[r][j] · V[j][0..D) for MR rows starting at r, 16 columns at a time.
template <int MR>
void accumulatePV(const float* P, const float* V, i64 n, i64 D, float* acc) {
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

void blockPV(const float* P, const float* V, i64 R, i64 n, i64 D, float* acc) {
  i64 r = 0;
  for (; r + 4 <= R; r += 4) accumulatePV<4>(P + r * kKeyBlock, V, n, D, acc + r * D);
  switch (R - r) {
    case 3: accumulatePV<3>(P + r * kKeyBlock, V, n, D, acc + r * D); break;
    case 2: accumulatePV<2>(P + r * kKeyBlock, V, n, D, acc + r * D); break;
    case 1: accumulatePV<1>(P + r * kKeyBlock, V, n, D, acc + r * D); break;
    default: break;
  }
}

// One split's partial result for a task's rows: running max m, sum l and unnormalised acc.
struct Partial {
  float* m;    // [kMaxRows]
  float* l;    // [kMaxRows]
  float* acc;  // [kMaxRows][D]
};

// The keys of blocks [block_begin, block_end) for the task's rows. S is a kMaxRows × kKeyBlock
// scratch.
template <SoftmaxExp kMode>
void attendBlocks(const Problem& p, const Rows& rows, const float* K, const float* V,
                  i64 block_begin, i64 block_end, const Partial& out, float* S) {
  const i64 D = p.s.head_dim, R = rows.count;
  const float* table = exp2TableFloat();
  std::fill(out.m, out.m + R, kNegInf);
  std::fill(out.l, out.l + R, 0.f);
  std::fill(out.acc, out.acc + R * D, 0.f);
  i64 last = 0;  // the last key any row sees
  for (i64 r = 0; r < R; ++r) last = std::max(last, rows.last[r]);
  block_end = std::min(block_end, last / kKeyBlock + 1);
  const __m256 vc = _mm256_set1_ps(p.c);
  for (i64 blk = block_begin; blk < block_end; ++blk) {
    const i64 j0 = blk * kKeyBlock, n = std::min(kKeyBlock, last - j0 + 1);
    const bool more = blk + 1 < block_end;
    blockScores(rows, K + j0 * D, n, D, S, more ? K + (j0 + kKeyBlock) * D : nullptr,
                more ? V + (j0 + kKeyBlock) * D : nullptr);
    for (i64 r = 0; r < R; ++r) {
      float* Sr = S + r * kKeyBlock;
      const i64 seen = std::clamp<i64>(rows.last[r] - j0 + 1, 0, n);
      if (seen == 0) {  // an early query of the chunk: this block is all in its future
        std::fill(Sr, Sr + n, 0.f);
        continue;
      }
      // What this row does not see (and the padding up to a whole vector) is -inf: with c > 0,
      // e gives exactly 0 there.
      for (i64 j = seen; j < (n + 7) / 8 * 8; ++j) Sr[j] = kNegInf;
      __m256 vmax = _mm256_set1_ps(kNegInf);
      for (i64 j = 0; j < seen; j += 8) vmax = _mm256_max_ps(vmax, _mm256_mul_ps(vc, _mm256_loadu_ps(Sr + j)));
      const float m_old = out.m[r], m_new = std::max(m_old, hmax(vmax));
      if (m_new == kNegInf) {  // only -inf scores so far
        std::fill(Sr, Sr + n, 0.f);
        continue;
      }
      const __m256 vm = _mm256_set1_ps(-m_new);
      __m256 sum = _mm256_setzero_ps();
      for (i64 j = 0; j < n; j += 8) {
        const __m256 e = expOf<kMode>(_mm256_fmadd_ps(vc, _mm256_load_ps(Sr + j), vm), table);
        _mm256_store_ps(Sr + j, e);
        sum = _mm256_add_ps(sum, e);
      }
      if (m_new != m_old) {  // bring the old terms from m_old to m_new
        const float alpha = expOf<kMode>(m_old - m_new, table);
        out.l[r] *= alpha;
        scaleRow(out.acc + r * D, D, alpha);
      }
      out.l[r] += hsum(sum);
      out.m[r] = m_new;
    }
    blockPV(S, V + j0 * D, R, n, D, out.acc);
  }
}

// out = Σ_s e(m_s − M) acc_s / Σ_s e(m_s − M) l_s over the splits of one task's rows.
template <SoftmaxExp kMode>
void mergeSplits(const Problem& p, const Rows& rows, const Partial* parts, i64 splits, float* out) {
  const i64 D = p.s.head_dim;
  const float* table = exp2TableFloat();
  for (i64 r = 0; r < rows.count; ++r) {
    float M = kNegInf;
    for (i64 s = 0; s < splits; ++s) M = std::max(M, parts[s].m[r]);
    float* o = out + rows.out_offset[r];
    std::fill(o, o + D, 0.f);
    if (M == kNegInf) continue;
    float l = 0.f;
    for (i64 s = 0; s < splits; ++s) {
      if (parts[s].m[r] == kNegInf) continue;  // this split saw nothing
      const float w = expOf<kMode>(parts[s].m[r] - M, table);
      l += w * parts[s].l[r];
      const float* a = parts[s].acc + r * D;
      for (i64 d = 0; d < D; ++d) o[d] += w * a[d];
    }
    scaleRow(o, D, l > 0.f ? 1.f / l : 0.f);
  }
}

template <SoftmaxExp kMode>
void cachedAttentionT(const AttentionShape& s, const float* q, const float* k, const float* v,
                      float scale, float* out) {
  const i64 D = s.head_dim, group = s.heads / s.kv_heads;
  const i64 rows_per_kv = group * s.queries, chunks = (rows_per_kv + kMaxRows - 1) / kMaxRows;
  const i64 tasks = s.batch * s.kv_heads * chunks;
  const i64 blocks = (s.keys + kKeyBlock - 1) / kKeyBlock;
  // Split the keys only when the tasks alone cannot keep the threads busy, and never into
  // pieces under 4 blocks (the merge and the scratch are not free).
  const i64 threads = omp_get_max_threads();
  i64 splits = 1;
  if (tasks < 2 * threads) splits = std::clamp<i64>((2 * threads + tasks - 1) / tasks, 1, std::max<i64>(1, blocks / 4));
  const i64 per_split = (blocks + splits - 1) / splits;
  splits = (blocks + per_split - 1) / per_split;
  const Problem p{s, q, k, v, scoreScale(kMode, scale), group, rows_per_kv, chunks, tasks, splits,
                  per_split};

  const i64 part_floats = kMaxRows * (2 + D);
  std::vector<float> parts(static_cast<std::size_t>(splits > 1 ? tasks * splits * part_floats : 0));
  auto partial = [&](float* base) { return Partial{base, base + kMaxRows, base + 2 * kMaxRows}; };

#pragma omp parallel
  {
    std::vector<float> own(static_cast<std::size_t>(part_floats));
    alignas(32) float S[kMaxRows * kKeyBlock];
#pragma omp for schedule(dynamic, 1)
    for (i64 item = 0; item < tasks * splits; ++item) {
      const i64 task = item / splits, split = item % splits;
      const i64 chunk = task % chunks, bk = task / chunks, kvh = bk % s.kv_heads, b = bk / s.kv_heads;
      const Rows rows = rowsOf(p, b, kvh, chunk);
      const float* K = k + (b * s.kv_heads + kvh) * s.keys * D;
      const float* V = v + (b * s.kv_heads + kvh) * s.keys * D;
      const Partial part = partial(splits > 1 ? parts.data() + item * part_floats : own.data());
      attendBlocks<kMode>(p, rows, K, V, split * per_split, std::min(blocks, (split + 1) * per_split),
                          part, S);
      if (splits == 1) {
        for (i64 r = 0; r < rows.count; ++r) {
          float* o = out + rows.out_offset[r];
          std::memcpy(o, part.acc + r * D, sizeof(float) * static_cast<std::size_t>(D));
          scaleRow(o, D, part.l[r] > 0.f ? 1.f / part.l[r] : 0.f);
        }
      }
    }
    if (splits > 1) {
#pragma omp for schedule(static)
      for (i64 task = 0; task < tasks; ++task) {
        const i64 chunk = task % chunks, bk = task / chunks, kvh = bk % s.kv_heads, b = bk / s.kv_heads;
        std::vector<Partial> ps;
        for (i64 split = 0; split < splits; ++split)
          ps.push_back(partial(parts.data() + (task * splits + split) * part_floats));
        mergeSplits<kMode>(p, rowsOf(p, b, kvh, chunk), ps.data(), splits, out);
      }
    }
  }
}

}  // namespace

void softmaxRowsAvx2(SoftmaxExp mode, float* x, i64 rows, i64 cols, float scale) {
  if (mode == SoftmaxExp::Lut) softmaxRowsT<SoftmaxExp::Lut>(x, rows, cols, scale);
  else softmaxRowsT<SoftmaxExp::Float>(x, rows, cols, scale);
}

void cachedAttentionAvx2(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                         const float* v, float scale, float* out) {
  if (mode == SoftmaxExp::Lut) cachedAttentionT<SoftmaxExp::Lut>(s, q, k, v, scale, out);
  else cachedAttentionT<SoftmaxExp::Float>(s, q, k, v, scale, out);
}

}  // namespace darkroom::kernels::detail

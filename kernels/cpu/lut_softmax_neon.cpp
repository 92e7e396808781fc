// NEON LUT softmax and cached attention with OpenMP threads (aarch64).
//
// The table lookup: FCVTN rounds four t's to fp16 (round to nearest even under the default
// FPCR, the same rounding as floatToHalf), the sign bit is masked off, and the four 15-bit
// indices read the fp16 table itself (exp2Table(), 64 KiB: half the cache footprint of a float32
// copy, which matters on a phone's 64 KiB L1), one lane load each (NEON has no gather); FCVTL
// turns the four entries into floats, exactly. The Float mode uses a vectorised polynomial e^x
// (cpu/neon_math.h), so that both sides of the comparison are vector code.
//
// Cached attention, per (batch, kv head, chunk of rows): a row is one (query, head of the group),
// so the heads that share a kv head read its keys and values once. The keys are walked in blocks
// of kKeyBlock: S = Q·Kᵀ for the block (four keys by two rows at a time, reduced with pairwise
// adds), the running max and sum per row, acc ← α·acc + P·V. When there are fewer such tasks
// than threads (decode with few kv heads), the keys are split among threads as well and the
// partial (max, sum, acc) of the splits are merged at the end.
#include <arm_neon.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/neon_math.h"
#include "lut_softmax_impl.h"

namespace darkroom::kernels::detail {

namespace {

using i64 = std::int64_t;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

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

template <SoftmaxExp kMode>
inline float expOf(float t, const std::uint16_t* table) {
  return vgetq_lane_f32(expOf<kMode>(vdupq_n_f32(t), table), 0);
}

// ---------------------------------------------------------------------------------------------
// softmaxRows

// max_j fl(c · x_j) over n entries.
float scaledMax(const float* x, i64 n, float c) {
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

// x_j ← e(fma(c, x_j, −m)) over n entries; returns their sum. Four vectors per iteration keep
// several lookups (or polynomials) in flight.
template <SoftmaxExp kMode>
float expRow(float* x, i64 n, float c, float m, const std::uint16_t* table) {
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

void scaleRow(float* x, i64 n, float s) {
  i64 j = 0;
  for (; j + 4 <= n; j += 4) vst1q_f32(x + j, vmulq_n_f32(vld1q_f32(x + j), s));
  for (; j < n; ++j) x[j] *= s;
}

template <SoftmaxExp kMode>
void softmaxRowsT(float* x, i64 rows, i64 cols, float scale) {
  const float c = scoreScale(kMode, scale);
  const std::uint16_t* table = exp2Table();
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

// S[r][j] = q_r · k_j for the R rows and n keys of a block (row stride kKeyBlock). A partial group
// of rows or keys repeats the last one and drops the extra results. While the first two rows
// read the block's keys, the next block's keys and values (`next`, `next_v`, may be null) are
// fetched: decode reads each cache line once, so waiting for memory is most of its time.
void blockScores(const Rows& rows, const float* K, i64 n, i64 D, float* S, const float* next,
                 const float* next_v) {
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
      dots2x4(rows.q[r], rows.q[rb], keys, D, S + r * kKeyBlock + j, S + (r + 1) * kKeyBlock + j);
    }
  }
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

// acc[r][0..D) += Σ_j P[r][j] · V[j][0..D) for MR rows starting at r: 16 columns at a time, then
// 4, then one.
template <int MR>
void accumulatePV(const float* P, const float* V, i64 n, i64 D, float* acc) {
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
  const std::uint16_t* table = exp2Table();
  std::fill(out.m, out.m + R, kNegInf);
  std::fill(out.l, out.l + R, 0.f);
  std::fill(out.acc, out.acc + R * D, 0.f);
  i64 last = 0;  // the last key any row sees
  for (i64 r = 0; r < R; ++r) last = std::max(last, rows.last[r]);
  block_end = std::min(block_end, last / kKeyBlock + 1);
  const float32x4_t vc = vdupq_n_f32(p.c);
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
      for (i64 j = seen; j < (n + 3) / 4 * 4; ++j) Sr[j] = kNegInf;
      float32x4_t vmax = vdupq_n_f32(kNegInf);
      for (i64 j = 0; j < seen; j += 4) vmax = vmaxq_f32(vmax, vmulq_f32(vc, vld1q_f32(Sr + j)));
      const float m_old = out.m[r], m_new = std::max(m_old, vmaxvq_f32(vmax));
      if (m_new == kNegInf) {  // only -inf scores so far
        std::fill(Sr, Sr + n, 0.f);
        continue;
      }
      const float32x4_t vm = vdupq_n_f32(-m_new);
      float32x4_t sum = vdupq_n_f32(0.f);
      for (i64 j = 0; j < n; j += 4) {
        const float32x4_t e = expOf<kMode>(vfmaq_f32(vm, vc, vld1q_f32(Sr + j)), table);
        vst1q_f32(Sr + j, e);
        sum = vaddq_f32(sum, e);
      }
      if (m_new != m_old) {  // bring the old terms from m_old to m_new
        const float alpha = expOf<kMode>(m_old - m_new, table);
        out.l[r] *= alpha;
        scaleRow(out.acc + r * D, D, alpha);
      }
      out.l[r] += vaddvq_f32(sum);
      out.m[r] = m_new;
    }
    blockPV(S, V + j0 * D, R, n, D, out.acc);
  }
}

// out = Σ_s e(m_s − M) acc_s / Σ_s e(m_s − M) l_s over the splits of one task's rows.
template <SoftmaxExp kMode>
void mergeSplits(const Problem& p, const Rows& rows, const Partial* parts, i64 splits, float* out) {
  const i64 D = p.s.head_dim;
  const std::uint16_t* table = exp2Table();
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
  if (tasks < 2 * threads)
    splits = std::clamp<i64>((2 * threads + tasks - 1) / tasks, 1, std::max<i64>(1, blocks / 4));
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
    alignas(16) float S[kMaxRows * kKeyBlock];
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

void softmaxRowsNeon(SoftmaxExp mode, float* x, i64 rows, i64 cols, float scale) {
  if (mode == SoftmaxExp::Lut) softmaxRowsT<SoftmaxExp::Lut>(x, rows, cols, scale);
  else softmaxRowsT<SoftmaxExp::Float>(x, rows, cols, scale);
}

void cachedAttentionNeon(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                         const float* v, float scale, float* out) {
  if (mode == SoftmaxExp::Lut) cachedAttentionT<SoftmaxExp::Lut>(s, q, k, v, scale, out);
  else cachedAttentionT<SoftmaxExp::Float>(s, q, k, v, scale, out);
}

}  // namespace darkroom::kernels::detail

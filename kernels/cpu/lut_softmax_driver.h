// The instruction-set-independent part of the CPU LUT softmax and cached attention, shared by
// cpu/lut_softmax_avx2.cpp and cpu/lut_softmax_neon.cpp; OpenMP threads.
//
// softmaxRows: per row, the scaled max, e of every score (the table or a polynomial, by mode) and
// their sum, then one multiply by 1 / sum; rows are shared among threads when there are enough.
//
// Cached attention, per (batch, kv head, chunk of rows): a row is one (query, head of the group),
// so the heads that share a kv head read its keys and values once. The keys are walked in blocks
// of kKeyBlock: S = Q·Kᵀ for the block, the running max and sum per row, acc ← α·acc + P·V. When
// there are fewer such tasks than threads (decode with few kv heads), the keys are split among
// threads as well and the partial (max, sum, acc) of the splits are merged at the end.
//
// The back end supplies its vector code as the static members of a class `Arch` (a template
// parameter, so that they inline):
//   kLanes                        floats per vector: S rows are padded to whole vectors, and S
//                                 is aligned to one
//   table()                       the table its e reads in Lut mode (its own element type)
//   scaledMax(x, n, c)            max_j fl(c · x_j) over n entries
//   expRow<kMode>(x, n, c, m, table)
//                                 x_j ← e(fma(c, x_j, −m)) over n entries; returns their sum
//   scaleRow(x, n, s)             x ← x·s over n entries
//   expOne<kMode>(t, table)       e(t) of one t, exactly as the vector code computes it
//   blockScores(rows, K, n, D, S, next, next_v)
//                                 S[r][j] = q_r · k_j for a block's n keys (row stride
//                                 kKeyBlock); may fill S up to whole groups of keys and rows; may
//                                 prefetch the next block's keys and values (either may be null)
//   blockRowMax(s, seen, c)       max_j fl(c · s_j) over the whole vectors covering `seen`
//                                 entries (those past `seen` are -inf)
//   blockRowExp<kMode>(s, n, c, m, table)
//                                 s_j ← e(fma(c, s_j, −m)) over the whole vectors covering n
//                                 entries (s aligned to one); returns their sum
//   accumulatePV<MR>(P, V, n, D, acc)
//                                 acc[r][0..D) += Σ_j P[r][j] · V[j][0..D) for MR = 1..4 rows (P's
//                                 row stride kKeyBlock, acc's D)
//
// Everything here has internal linkage: the files that include it are compiled with different
// instruction-set flags, and must not share an out-of-line copy of any of it.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "lut_softmax_impl.h"

namespace darkroom::kernels::detail {
namespace {

using i64 = std::int64_t;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------------------------------------
// softmaxRows

template <class Arch, SoftmaxExp kMode>
void softmaxRowsT(float* x, i64 rows, i64 cols, float scale) {
  const float c = scoreScale(kMode, scale);
  const auto* table = Arch::table();
  // Threads only where there is enough work to pay for waking them.
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols >= 32768)
  for (i64 r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    const float max = Arch::scaledMax(row, cols, c);
    if (max == kNegInf) {  // every score is -inf
      std::memset(row, 0, sizeof(float) * static_cast<std::size_t>(cols));
      continue;
    }
    const float sum = Arch::template expRow<kMode>(row, cols, c, max, table);
    Arch::scaleRow(row, cols, 1.f / sum);
  }
}

template <class Arch>
void cpuSoftmaxRows(SoftmaxExp mode, float* x, i64 rows, i64 cols, float scale) {
  if (mode == SoftmaxExp::Lut) softmaxRowsT<Arch, SoftmaxExp::Lut>(x, rows, cols, scale);
  else softmaxRowsT<Arch, SoftmaxExp::Float>(x, rows, cols, scale);
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

// acc[r][0..D) += Σ_j P[r][j] · V[j][0..D) for the R rows of a block, four at a time.
template <class Arch>
void blockPV(const float* P, const float* V, i64 R, i64 n, i64 D, float* acc) {
  i64 r = 0;
  for (; r + 4 <= R; r += 4)
    Arch::template accumulatePV<4>(P + r * kKeyBlock, V, n, D, acc + r * D);
  switch (R - r) {
    case 3: Arch::template accumulatePV<3>(P + r * kKeyBlock, V, n, D, acc + r * D); break;
    case 2: Arch::template accumulatePV<2>(P + r * kKeyBlock, V, n, D, acc + r * D); break;
    case 1: Arch::template accumulatePV<1>(P + r * kKeyBlock, V, n, D, acc + r * D); break;
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
template <class Arch, SoftmaxExp kMode>
void attendBlocks(const Problem& p, const Rows& rows, const float* K, const float* V,
                  i64 block_begin, i64 block_end, const Partial& out, float* S) {
  constexpr i64 kLanes = Arch::kLanes;
  const i64 D = p.s.head_dim, R = rows.count;
  const auto* table = Arch::table();
  std::fill(out.m, out.m + R, kNegInf);
  std::fill(out.l, out.l + R, 0.f);
  std::fill(out.acc, out.acc + R * D, 0.f);
  i64 last = 0;  // the last key any row sees
  for (i64 r = 0; r < R; ++r) last = std::max(last, rows.last[r]);
  block_end = std::min(block_end, last / kKeyBlock + 1);
  for (i64 blk = block_begin; blk < block_end; ++blk) {
    const i64 j0 = blk * kKeyBlock, n = std::min(kKeyBlock, last - j0 + 1);
    const bool more = blk + 1 < block_end;
    Arch::blockScores(rows, K + j0 * D, n, D, S, more ? K + (j0 + kKeyBlock) * D : nullptr,
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
      for (i64 j = seen; j < (n + kLanes - 1) / kLanes * kLanes; ++j) Sr[j] = kNegInf;
      const float m_old = out.m[r], m_new = std::max(m_old, Arch::blockRowMax(Sr, seen, p.c));
      if (m_new == kNegInf) {  // only -inf scores so far
        std::fill(Sr, Sr + n, 0.f);
        continue;
      }
      const float sum = Arch::template blockRowExp<kMode>(Sr, n, p.c, m_new, table);
      if (m_new != m_old) {  // bring the old terms from m_old to m_new
        const float alpha = Arch::template expOne<kMode>(m_old - m_new, table);
        out.l[r] *= alpha;
        Arch::scaleRow(out.acc + r * D, D, alpha);
      }
      out.l[r] += sum;
      out.m[r] = m_new;
    }
    blockPV<Arch>(S, V + j0 * D, R, n, D, out.acc);
  }
}

// out = Σ_s e(m_s − M) acc_s / Σ_s e(m_s − M) l_s over the splits of one task's rows.
template <class Arch, SoftmaxExp kMode>
void mergeSplits(const Problem& p, const Rows& rows, const Partial* parts, i64 splits, float* out) {
  const i64 D = p.s.head_dim;
  const auto* table = Arch::table();
  for (i64 r = 0; r < rows.count; ++r) {
    float M = kNegInf;
    for (i64 s = 0; s < splits; ++s) M = std::max(M, parts[s].m[r]);
    float* o = out + rows.out_offset[r];
    std::fill(o, o + D, 0.f);
    if (M == kNegInf) continue;
    float l = 0.f;
    for (i64 s = 0; s < splits; ++s) {
      if (parts[s].m[r] == kNegInf) continue;  // this split saw nothing
      const float w = Arch::template expOne<kMode>(parts[s].m[r] - M, table);
      l += w * parts[s].l[r];
      const float* a = parts[s].acc + r * D;
      for (i64 d = 0; d < D; ++d) o[d] += w * a[d];
    }
    Arch::scaleRow(o, D, l > 0.f ? 1.f / l : 0.f);
  }
}

template <class Arch, SoftmaxExp kMode>
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
    alignas(Arch::kLanes * sizeof(float)) float S[kMaxRows * kKeyBlock];
#pragma omp for schedule(dynamic, 1)
    for (i64 item = 0; item < tasks * splits; ++item) {
      const i64 task = item / splits, split = item % splits;
      const i64 chunk = task % chunks, bk = task / chunks, kvh = bk % s.kv_heads, b = bk / s.kv_heads;
      const Rows rows = rowsOf(p, b, kvh, chunk);
      const float* K = k + (b * s.kv_heads + kvh) * s.keys * D;
      const float* V = v + (b * s.kv_heads + kvh) * s.keys * D;
      const Partial part = partial(splits > 1 ? parts.data() + item * part_floats : own.data());
      attendBlocks<Arch, kMode>(p, rows, K, V, split * per_split,
                                std::min(blocks, (split + 1) * per_split), part, S);
      if (splits == 1) {
        for (i64 r = 0; r < rows.count; ++r) {
          float* o = out + rows.out_offset[r];
          std::memcpy(o, part.acc + r * D, sizeof(float) * static_cast<std::size_t>(D));
          Arch::scaleRow(o, D, part.l[r] > 0.f ? 1.f / part.l[r] : 0.f);
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
        mergeSplits<Arch, kMode>(p, rowsOf(p, b, kvh, chunk), ps.data(), splits, out);
      }
    }
  }
}

template <class Arch>
void cpuCachedAttention(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                        const float* v, float scale, float* out) {
  if (mode == SoftmaxExp::Lut) cachedAttentionT<Arch, SoftmaxExp::Lut>(s, q, k, v, scale, out);
  else cachedAttentionT<Arch, SoftmaxExp::Float>(s, q, k, v, scale, out);
}

}  // namespace
}  // namespace darkroom::kernels::detail

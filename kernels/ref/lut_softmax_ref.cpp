// Scalar reference for the LUT softmax and for cached attention: one row at a time, straight from
// the definitions in lut_softmax_impl.h, so that it is easy to believe. Every other back end is
// tested against it. Cached attention walks the keys in blocks of kKeyBlock with the running max
// and sum, as the fast back ends do: the reference is the blocked algorithm, not just its result.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "lut_softmax_impl.h"

namespace darkroom::kernels::detail {

namespace {

using i64 = std::int64_t;

// e(t) of the mode: 2^t through the table, or e^t in float.
float expOf(SoftmaxExp mode, float t) { return mode == SoftmaxExp::Lut ? lutExp2(t) : std::exp(t); }

float dot(const float* x, const float* y, i64 n) {
  float s = 0.f;
  for (i64 d = 0; d < n; ++d) s += x[d] * y[d];
  return s;
}

}  // namespace

void softmaxRowsRef(SoftmaxExp mode, float* x, i64 rows, i64 cols, float scale) {
  const float c = scoreScale(mode, scale);
  for (i64 r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    float max = -std::numeric_limits<float>::infinity();
    for (i64 j = 0; j < cols; ++j) max = std::max(max, c * row[j]);
    if (max == -std::numeric_limits<float>::infinity()) {  // every score is -inf
      std::fill(row, row + cols, 0.f);
      continue;
    }
    double sum = 0.0;
    for (i64 j = 0; j < cols; ++j) {
      row[j] = expOf(mode, std::fma(c, row[j], -max));
      sum += row[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (i64 j = 0; j < cols; ++j) row[j] *= inv;
  }
}

void cachedAttentionRef(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                        const float* v, float scale, float* out) {
  const float c = scoreScale(mode, scale);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const i64 D = s.head_dim, group = s.heads / s.kv_heads;
  std::vector<float> scores(static_cast<std::size_t>(kKeyBlock));
  std::vector<float> acc(static_cast<std::size_t>(D));
  for (i64 b = 0; b < s.batch; ++b)
    for (i64 h = 0; h < s.heads; ++h) {
      const i64 kvh = h / group;
      const float* K = k + (b * s.kv_heads + kvh) * s.keys * D;
      const float* V = v + (b * s.kv_heads + kvh) * s.keys * D;
      for (i64 i = 0; i < s.queries; ++i) {
        const float* Q = q + ((b * s.heads + h) * s.queries + i) * D;
        float* O = out + ((b * s.heads + h) * s.queries + i) * D;
        const i64 last = s.keys - s.queries + i;  // the last key this query sees
        float m = neg_inf, l = 0.f;
        std::fill(acc.begin(), acc.end(), 0.f);
        for (i64 j0 = 0; j0 <= last; j0 += kKeyBlock) {
          const i64 n = std::min(kKeyBlock, last - j0 + 1);
          float block_max = neg_inf;
          for (i64 j = 0; j < n; ++j) {
            scores[static_cast<std::size_t>(j)] = dot(Q, K + (j0 + j) * D, D);
            block_max = std::max(block_max, c * scores[static_cast<std::size_t>(j)]);
          }
          const float m_new = std::max(m, block_max);
          if (m_new == neg_inf) continue;  // nothing finite yet (only -inf scores)
          // The old terms were weighed against m; bring them to m_new (argument ≤ 0).
          const float alpha = expOf(mode, m - m_new);
          l *= alpha;
          for (i64 d = 0; d < D; ++d) acc[static_cast<std::size_t>(d)] *= alpha;
          for (i64 j = 0; j < n; ++j) {
            const float p = expOf(mode, std::fma(c, scores[static_cast<std::size_t>(j)], -m_new));
            l += p;
            const float* vr = V + (j0 + j) * D;
            for (i64 d = 0; d < D; ++d) acc[static_cast<std::size_t>(d)] += p * vr[d];
          }
          m = m_new;
        }
        const float inv = l > 0.f ? 1.f / l : 0.f;
        for (i64 d = 0; d < D; ++d) O[d] = acc[static_cast<std::size_t>(d)] * inv;
      }
    }
}

}  // namespace darkroom::kernels::detail

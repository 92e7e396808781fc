// Scalar reference for block-sparse causal attention: one query row at a time, straight from the
// definition, so that it is easy to believe. Every other back end is tested against it.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "block_sparse_attention_impl.h"

namespace darkroom::kernels::detail {

namespace {

// Where the probability of query row r of block i against key column c of the p-th active block
// lives: probs is [batch, nnz, block, block].
std::int64_t probIndex(const AttentionArgs& a, std::int64_t b, std::int64_t p, std::int64_t r,
                       std::int64_t c) {
  return ((b * a.layout.nnz + p) * a.block() + r) * a.block() + c;
}

float dot(const float* x, const float* y, std::int64_t n) {
  float s = 0.f;
  for (std::int64_t d = 0; d < n; ++d) s += x[d] * y[d];
  return s;
}

}  // namespace

void attentionForwardRef(const AttentionArgs& a, const float* q, const float* k, const float* v,
                         float* o, float* probs) {
  const std::int64_t L = a.length(), D = a.dim, B = a.block(), nb = a.blocks();
  const float neg_inf = -std::numeric_limits<float>::infinity();
  // Padding rows and columns of partial blocks, and invisible entries, stay zero.
  std::memset(probs, 0, sizeof(float) * attentionProbsSize(a.layout, a.batch));
  for (std::int64_t bh = 0; bh < a.batch * a.heads(); ++bh) {
    const std::int64_t b = bh / a.heads(), h = bh % a.heads();
    const float* Q = q + bh * L * D;
    const float* K = k + bh * L * D;
    const float* V = v + bh * L * D;
    float* O = o + bh * L * D;
    for (std::int64_t i = 0; i < nb; ++i) {
      const std::int32_t begin = a.layout.row_ptr[h * nb + i];
      const std::int32_t end = a.layout.row_ptr[h * nb + i + 1];
      for (std::int64_t r = 0; r < a.valid(i); ++r) {
        const std::int64_t qi = i * B + r;
        // Pass 1: scaled scores of the visible keys (causal: key <= query) and their maximum.
        float max = neg_inf;
        for (std::int32_t p = begin; p < end; ++p) {
          const std::int64_t j = a.layout.cols[p];
          for (std::int64_t c = 0; c < B; ++c) {
            const std::int64_t kj = j * B + c;
            if (kj > qi) break;  // also stops before padding: qi < L
            const float s = a.scale * dot(Q + qi * D, K + kj * D, D);
            probs[probIndex(a, b, p, r, c)] = s;
            max = std::max(max, s);
          }
        }
        float* out = O + qi * D;
        for (std::int64_t d = 0; d < D; ++d) out[d] = 0.f;
        if (max == neg_inf) continue;  // nothing visible: zeros
        // Pass 2: exponentials (max subtracted, so none overflows) and their sum.
        double sum = 0.0;
        for (std::int32_t p = begin; p < end; ++p) {
          const std::int64_t j = a.layout.cols[p];
          for (std::int64_t c = 0; c < B && j * B + c <= qi; ++c) {
            float& e = probs[probIndex(a, b, p, r, c)];
            e = std::exp(e - max);
            sum += e;
          }
        }
        // Pass 3: normalize, and o = Σ p · v.
        const float inv = static_cast<float>(1.0 / sum);
        for (std::int32_t p = begin; p < end; ++p) {
          const std::int64_t j = a.layout.cols[p];
          for (std::int64_t c = 0; c < B && j * B + c <= qi; ++c) {
            float& pr = probs[probIndex(a, b, p, r, c)];
            pr *= inv;
            const float* vr = V + (j * B + c) * D;
            for (std::int64_t d = 0; d < D; ++d) out[d] += pr * vr[d];
          }
        }
      }
    }
  }
}

void attentionBackwardRef(const AttentionArgs& a, const float* q, const float* k, const float* v,
                          const float* o, const float* probs, const float* d_o, float* dq,
                          float* dk, float* dv) {
  const std::int64_t L = a.length(), D = a.dim, B = a.block(), nb = a.blocks();
  const std::int64_t total = a.batch * a.heads() * L * D;
  std::memset(dq, 0, sizeof(float) * total);
  std::memset(dk, 0, sizeof(float) * total);
  std::memset(dv, 0, sizeof(float) * total);
  for (std::int64_t bh = 0; bh < a.batch * a.heads(); ++bh) {
    const std::int64_t b = bh / a.heads(), h = bh % a.heads();
    const std::int64_t off = bh * L * D;
    for (std::int64_t i = 0; i < nb; ++i) {
      const std::int32_t begin = a.layout.row_ptr[h * nb + i];
      const std::int32_t end = a.layout.row_ptr[h * nb + i + 1];
      for (std::int64_t r = 0; r < a.valid(i); ++r) {
        const std::int64_t qi = i * B + r;
        const float* dO = d_o + off + qi * D;
        // rowsum(dO ∘ O) = Σ_k p_k dP_k, the softmax's correction term.
        const float delta = dot(dO, o + off + qi * D, D);
        for (std::int32_t p = begin; p < end; ++p) {
          const std::int64_t j = a.layout.cols[p];
          for (std::int64_t c = 0; c < B && j * B + c <= qi; ++c) {
            const std::int64_t kj = j * B + c;
            const float pr = probs[probIndex(a, b, p, r, c)];
            const float dp = dot(dO, v + off + kj * D, D);
            const float ds = a.scale * pr * (dp - delta);  // gradient of the scaled score
            for (std::int64_t d = 0; d < D; ++d) {
              dv[off + kj * D + d] += pr * dO[d];
              dq[off + qi * D + d] += ds * k[off + kj * D + d];
              dk[off + kj * D + d] += ds * q[off + qi * D + d];
            }
          }
        }
      }
    }
  }
}

}  // namespace darkroom::kernels::detail

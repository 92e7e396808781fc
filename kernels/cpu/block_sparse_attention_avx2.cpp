// AVX2+FMA block-sparse causal attention with OpenMP threads: the vector code under the tiling,
// softmax and gradients of cpu/block_sparse_attention_driver.h.
#include <immintrin.h>

#include <cmath>

#include "block_sparse_attention_impl.h"
#include "cpu/avx2_lanes.h"
#include "cpu/block_sparse_attention_driver.h"

namespace darkroom::kernels::detail {

namespace {

// C[MR rows × up to 16 columns] (+)= A[MR × K] · B[K × 16]. A's element (m, k) is at
// A[m·am + k·ak], so A may be a tile or a transposed tile; B and C are row-major. Full tiles take
// plain loads; a column tail (cols < 16) takes masked ones.
template <int MR, bool kFull>
inline void microTile(i64 K, i64 cols, const float* A, i64 am, i64 ak, const float* Bm, i64 ldb,
                      float* C, i64 ldc, bool accumulate) {
  __m256i m0 = _mm256_set1_epi32(-1), m1 = m0;
  if (!kFull) {
    m0 = laneMask(cols);
    m1 = laneMask(cols - 8);
  }
  __m256 c0[MR], c1[MR];
  for (int m = 0; m < MR; ++m) {
    if (accumulate) {
      c0[m] = kFull ? _mm256_loadu_ps(C + m * ldc) : _mm256_maskload_ps(C + m * ldc, m0);
      c1[m] = kFull ? _mm256_loadu_ps(C + m * ldc + 8) : _mm256_maskload_ps(C + m * ldc + 8, m1);
    } else {
      c0[m] = _mm256_setzero_ps();
      c1[m] = _mm256_setzero_ps();
    }
  }
  for (i64 k = 0; k < K; ++k) {
    const float* b = Bm + k * ldb;
    const __m256 b0 = kFull ? _mm256_loadu_ps(b) : _mm256_maskload_ps(b, m0);
    const __m256 b1 = kFull ? _mm256_loadu_ps(b + 8) : _mm256_maskload_ps(b + 8, m1);
    for (int m = 0; m < MR; ++m) {
      const __m256 x = _mm256_broadcast_ss(A + m * am + k * ak);
      c0[m] = _mm256_fmadd_ps(x, b0, c0[m]);
      c1[m] = _mm256_fmadd_ps(x, b1, c1[m]);
    }
  }
  for (int m = 0; m < MR; ++m) {
    if (kFull) {
      _mm256_storeu_ps(C + m * ldc, c0[m]);
      _mm256_storeu_ps(C + m * ldc + 8, c1[m]);
    } else {
      _mm256_maskstore_ps(C + m * ldc, m0, c0[m]);
      _mm256_maskstore_ps(C + m * ldc + 8, m1, c1[m]);
    }
  }
}

struct Avx2Attention {
  template <int MR>
  static void microRows(i64 N, i64 K, const float* A, i64 am, i64 ak, const float* Bm, i64 ldb,
                        float* C, i64 ldc, bool accumulate) {
    i64 n = 0;
    for (; n + 16 <= N; n += 16)
      microTile<MR, true>(K, 16, A, am, ak, Bm + n, ldb, C + n, ldc, accumulate);
    if (n < N) microTile<MR, false>(K, N - n, A, am, ak, Bm + n, ldb, C + n, ldc, accumulate);
  }

  static float dotRow(const float* x, const float* y, i64 n) {
    __m256 acc = _mm256_setzero_ps();
    i64 d = 0;
    for (; d + 8 <= n; d += 8)
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + d), _mm256_loadu_ps(y + d), acc);
    float s = hsum(acc);
    for (; d < n; ++d) s += x[d] * y[d];
    return s;
  }

  static float scaleAndMax(float* x, i64 n, float scale, float max) {
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vm = _mm256_set1_ps(max);
    i64 c = 0;
    for (; c + 8 <= n; c += 8) {
      const __m256 s = _mm256_mul_ps(_mm256_loadu_ps(x + c), vs);
      _mm256_storeu_ps(x + c, s);
      vm = _mm256_max_ps(vm, s);
    }
    max = hmax(vm);
    for (; c < n; ++c) {
      x[c] *= scale;
      max = std::max(max, x[c]);
    }
    return max;
  }

  static float expAndSum(float* x, i64 n, float max) {
    const __m256 vm = _mm256_set1_ps(max);
    __m256 vs = _mm256_setzero_ps();
    i64 c = 0;
    for (; c + 8 <= n; c += 8) {
      const __m256 e = expNonPositive(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm));
      _mm256_storeu_ps(x + c, e);
      vs = _mm256_add_ps(vs, e);
    }
    float sum = hsum(vs);
    for (; c < n; ++c) {
      x[c] = std::exp(x[c] - max);
      sum += x[c];
    }
    return sum;
  }

  static void scaleRow(float* x, i64 n, float s) {
    const __m256 vs = _mm256_set1_ps(s);
    i64 c = 0;
    for (; c + 8 <= n; c += 8) _mm256_storeu_ps(x + c, _mm256_mul_ps(_mm256_loadu_ps(x + c), vs));
    for (; c < n; ++c) x[c] *= s;
  }

  // dS ← scale · P ∘ (dS − delta[r]) for the M rows of a B × B tile.
  static void softmaxGrad(float* dS, const float* P, i64 M, i64 B, const float* delta,
                          float scale) {
    for (i64 r = 0; r < M; ++r) {
      const __m256 vd = _mm256_set1_ps(delta[r]), vs = _mm256_set1_ps(scale);
      i64 c = 0;
      for (; c + 8 <= B; c += 8) {
        const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(dS + r * B + c), vd);
        _mm256_storeu_ps(dS + r * B + c,
                         _mm256_mul_ps(vs, _mm256_mul_ps(_mm256_loadu_ps(P + r * B + c), x)));
      }
      for (; c < B; ++c) dS[r * B + c] = scale * P[r * B + c] * (dS[r * B + c] - delta[r]);
    }
  }
};

}  // namespace

void attentionForwardAvx2(const AttentionArgs& a, const float* q, const float* k, const float* v,
                          float* o, float* probs) {
  cpuAttentionForward<Avx2Attention>(a, q, k, v, o, probs);
}

void attentionBackwardAvx2(const AttentionArgs& a, const float* q, const float* k,
                           const float* v, const float* o, const float* probs, const float* d_o,
                           float* dq, float* dk, float* dv) {
  cpuAttentionBackward<Avx2Attention>(a, q, k, v, o, probs, d_o, dq, dk, dv);
}

}  // namespace darkroom::kernels::detail

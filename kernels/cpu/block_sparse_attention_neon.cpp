// NEON block-sparse causal attention with OpenMP threads (aarch64): the vector code under the
// tiling, softmax and gradients of cpu/block_sparse_attention_driver.h, as for AVX2.
#include <arm_neon.h>

#include <cmath>

#include "block_sparse_attention_impl.h"
#include "cpu/block_sparse_attention_driver.h"
#include "cpu/neon_math.h"

namespace darkroom::kernels::detail {

namespace {

// C[MR rows × 4·NV columns] (+)= A[MR × K] · B[K × 4·NV]. A's element (m, k) is at
// A[m·am + k·ak], so A may be a tile or a transposed tile; B and C are row-major.
template <int MR, int NV>
inline void microTile(i64 K, const float* A, i64 am, i64 ak, const float* Bm, i64 ldb, float* C,
                      i64 ldc, bool accumulate) {
  float32x4_t c[MR][NV];
  for (int m = 0; m < MR; ++m)
    for (int u = 0; u < NV; ++u)
      c[m][u] = accumulate ? vld1q_f32(C + m * ldc + 4 * u) : vdupq_n_f32(0.f);
  for (i64 k = 0; k < K; ++k) {
    float32x4_t b[NV];
    for (int u = 0; u < NV; ++u) b[u] = vld1q_f32(Bm + k * ldb + 4 * u);
    for (int m = 0; m < MR; ++m) {
      const float32x4_t x = vdupq_n_f32(A[m * am + k * ak]);
      for (int u = 0; u < NV; ++u) c[m][u] = vfmaq_f32(c[m][u], x, b[u]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int u = 0; u < NV; ++u) vst1q_f32(C + m * ldc + 4 * u, c[m][u]);
}

// The last N % 4 columns, one at a time.
template <int MR>
inline void scalarColumns(i64 N, i64 K, const float* A, i64 am, i64 ak, const float* Bm, i64 ldb,
                          float* C, i64 ldc, bool accumulate) {
  for (int m = 0; m < MR; ++m)
    for (i64 n = 0; n < N; ++n) {
      float s = accumulate ? C[m * ldc + n] : 0.f;
      for (i64 k = 0; k < K; ++k) s = std::fma(A[m * am + k * ak], Bm[k * ldb + n], s);
      C[m * ldc + n] = s;
    }
}

struct NeonAttention {
  // 16 columns at a time, then 4, then one.
  template <int MR>
  static void microRows(i64 N, i64 K, const float* A, i64 am, i64 ak, const float* Bm, i64 ldb,
                        float* C, i64 ldc, bool accumulate) {
    i64 n = 0;
    for (; n + 16 <= N; n += 16)
      microTile<MR, 4>(K, A, am, ak, Bm + n, ldb, C + n, ldc, accumulate);
    for (; n + 4 <= N; n += 4) microTile<MR, 1>(K, A, am, ak, Bm + n, ldb, C + n, ldc, accumulate);
    if (n < N) scalarColumns<MR>(N - n, K, A, am, ak, Bm + n, ldb, C + n, ldc, accumulate);
  }

  static float dotRow(const float* x, const float* y, i64 n) {
    float32x4_t acc = vdupq_n_f32(0.f);
    i64 d = 0;
    for (; d + 4 <= n; d += 4) acc = vfmaq_f32(acc, vld1q_f32(x + d), vld1q_f32(y + d));
    float s = vaddvq_f32(acc);
    for (; d < n; ++d) s += x[d] * y[d];
    return s;
  }

  static float scaleAndMax(float* x, i64 n, float scale, float max) {
    float32x4_t vm = vdupq_n_f32(max);
    i64 c = 0;
    for (; c + 4 <= n; c += 4) {
      const float32x4_t s = vmulq_n_f32(vld1q_f32(x + c), scale);
      vst1q_f32(x + c, s);
      vm = vmaxq_f32(vm, s);
    }
    max = vmaxvq_f32(vm);
    for (; c < n; ++c) {
      x[c] *= scale;
      max = std::max(max, x[c]);
    }
    return max;
  }

  static float expAndSum(float* x, i64 n, float max) {
    const float32x4_t vm = vdupq_n_f32(max);
    float32x4_t vs = vdupq_n_f32(0.f);
    i64 c = 0;
    for (; c + 4 <= n; c += 4) {
      const float32x4_t e = expNonPositive(vsubq_f32(vld1q_f32(x + c), vm));
      vst1q_f32(x + c, e);
      vs = vaddq_f32(vs, e);
    }
    float sum = vaddvq_f32(vs);
    for (; c < n; ++c) {
      x[c] = std::exp(x[c] - max);
      sum += x[c];
    }
    return sum;
  }

  static void scaleRow(float* x, i64 n, float s) {
    i64 c = 0;
    for (; c + 4 <= n; c += 4) vst1q_f32(x + c, vmulq_n_f32(vld1q_f32(x + c), s));
    for (; c < n; ++c) x[c] *= s;
  }

  // dS ← scale · P ∘ (dS − delta[r]) for the M rows of a B × B tile.
  static void softmaxGrad(float* dS, const float* P, i64 M, i64 B, const float* delta,
                          float scale) {
    for (i64 r = 0; r < M; ++r) {
      const float32x4_t vd = vdupq_n_f32(delta[r]);
      i64 c = 0;
      for (; c + 4 <= B; c += 4) {
        const float32x4_t x = vsubq_f32(vld1q_f32(dS + r * B + c), vd);
        vst1q_f32(dS + r * B + c, vmulq_n_f32(vmulq_f32(vld1q_f32(P + r * B + c), x), scale));
      }
      for (; c < B; ++c) dS[r * B + c] = scale * P[r * B + c] * (dS[r * B + c] - delta[r]);
    }
  }
};

}  // namespace

void attentionForwardNeon(const AttentionArgs& a, const float* q, const float* k, const float* v,
                          float* o, float* probs) {
  cpuAttentionForward<NeonAttention>(a, q, k, v, o, probs);
}

void attentionBackwardNeon(const AttentionArgs& a, const float* q, const float* k,
                           const float* v, const float* o, const float* probs, const float* d_o,
                           float* dq, float* dk, float* dv) {
  cpuAttentionBackward<NeonAttention>(a, q, k, v, o, probs, d_o, dq, dk, dv);
}

}  // namespace darkroom::kernels::detail

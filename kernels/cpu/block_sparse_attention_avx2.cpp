// AVX2+FMA block-sparse causal attention with OpenMP threads.
//
// Everything is a product of small tiles (block × block scores, block × dim rows of Q, K, V), so
// one register-tiled micro-GEMM does all of it (gemmTile). Q·Kᵀ and dO·Vᵀ want the key (or value)
// index contiguous, so K and V are transposed once per (batch, head) into [dim, padded length]
// buffers whose padding columns are zero: a partial last block then needs no special case.
//
// Forward, per (batch·head, query block i): scores of the active tiles are written straight into
// probs, the softmax runs along each row across those tiles, then O_i = Σ_j P_ij V_j. The pairs
// are independent, so the threads share them dynamically (late query blocks have more tiles).
//
// Backward, per batch·head (dK and dV of a head collect from every query block, so one thread
// owns a head and nothing is written twice): for each query block i,
//   dS_ij = scale · P_ij ∘ (dO_i V_jᵀ − rowsum(dO_i ∘ O_i)),
//   dQ_i += dS_ij K_j,  dK_j += dS_ijᵀ Q_i,  dV_j += P_ijᵀ dO_i.
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "block_sparse_attention_impl.h"
#include "cpu/avx2_lanes.h"

namespace darkroom::kernels::detail {

namespace {

using i64 = std::int64_t;

// e^x for x <= 0 (scores minus their row maximum): x = n·ln2 + r with |r| <= ln2/2, e^r from a
// degree-6 polynomial (relative error about 1e-7), 2^n put straight into the exponent bits.
// Below -87 the result would be denormal; it is clamped there (e^-87 is 0 next to the row's 1).
inline __m256 expNonPositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln2 in two parts, so
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);       // n·ln2 is exact enough
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i pow2 =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2));
}

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

template <int MR>
inline void microRows(i64 N, i64 K, const float* A, i64 am, i64 ak, const float* Bm, i64 ldb,
                      float* C, i64 ldc, bool accumulate) {
  i64 n = 0;
  for (; n + 16 <= N; n += 16)
    microTile<MR, true>(K, 16, A, am, ak, Bm + n, ldb, C + n, ldc, accumulate);
  if (n < N) microTile<MR, false>(K, N - n, A, am, ak, Bm + n, ldb, C + n, ldc, accumulate);
}

// C[M × N] = A[M × K] · B[K × N], or += when accumulate.
void gemmTile(i64 M, i64 N, i64 K, const float* A, i64 am, i64 ak, const float* Bm, i64 ldb,
              float* C, i64 ldc, bool accumulate) {
  i64 m = 0;
  for (; m + 4 <= M; m += 4)
    microRows<4>(N, K, A + m * am, am, ak, Bm, ldb, C + m * ldc, ldc, accumulate);
  switch (M - m) {
    case 3: microRows<3>(N, K, A + m * am, am, ak, Bm, ldb, C + m * ldc, ldc, accumulate); break;
    case 2: microRows<2>(N, K, A + m * am, am, ak, Bm, ldb, C + m * ldc, ldc, accumulate); break;
    case 1: microRows<1>(N, K, A + m * am, am, ak, Bm, ldb, C + m * ldc, ldc, accumulate); break;
    default: break;
  }
}

// dst[d][t] = src[t][d] for the `rows` rows of one (batch, head); columns rows..ld-1 are zero.
void transposePadded(const float* src, i64 rows, i64 dim, i64 ld, float* dst) {
  for (i64 d = 0; d < dim; ++d)
    std::memset(dst + d * ld + rows, 0, sizeof(float) * static_cast<std::size_t>(ld - rows));
  constexpr i64 kTile = 32;  // keeps both sides of the transpose in L1
  for (i64 t0 = 0; t0 < rows; t0 += kTile)
    for (i64 d0 = 0; d0 < dim; d0 += kTile)
      for (i64 t = t0; t < std::min(rows, t0 + kTile); ++t)
        for (i64 d = d0; d < std::min(dim, d0 + kTile); ++d) dst[d * ld + t] = src[t * dim + d];
}

float dotRow(const float* x, const float* y, i64 n) {
  __m256 acc = _mm256_setzero_ps();
  i64 d = 0;
  for (; d + 8 <= n; d += 8)
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + d), _mm256_loadu_ps(y + d), acc);
  float s = hsum(acc);
  for (; d < n; ++d) s += x[d] * y[d];
  return s;
}

// The row's segment of n visible entries in one tile: x ← x·scale, returns the max so far.
float scaleAndMax(float* x, i64 n, float scale, float max) {
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

// x ← e^(x − max) over n entries, returns their sum.
float expAndSum(float* x, i64 n, float max) {
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

void scaleRow(float* x, i64 n, float s) {
  const __m256 vs = _mm256_set1_ps(s);
  i64 c = 0;
  for (; c + 8 <= n; c += 8) _mm256_storeu_ps(x + c, _mm256_mul_ps(_mm256_loadu_ps(x + c), vs));
  for (; c < n; ++c) x[c] *= s;
}

}  // namespace

void attentionForwardAvx2(const AttentionArgs& a, const float* q, const float* k, const float* v,
                          float* o, float* probs) {
  const i64 L = a.length(), D = a.dim, B = a.block(), nb = a.blocks(), BH = a.batch * a.heads();
  const i64 Lp = nb * B;  // padded length: the transposed keys of a partial block are zero
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<float> kt(static_cast<std::size_t>(BH * D * Lp));

#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (i64 bh = 0; bh < BH; ++bh) transposePadded(k + bh * L * D, L, D, Lp, kt.data() + bh * D * Lp);

    // Heavier (later) query blocks first, so the dynamic schedule ends evenly.
#pragma omp for schedule(dynamic, 1)
    for (i64 task = 0; task < BH * nb; ++task) {
      const i64 bh = task % BH, i = nb - 1 - task / BH;
      const i64 b = bh / a.heads(), h = bh % a.heads();
      const float* Q = q + (bh * L + i * B) * D;
      const float* Kt = kt.data() + bh * D * Lp;
      const float* V = v + bh * L * D;
      float* O = o + (bh * L + i * B) * D;
      const i64 begin = a.layout.row_ptr[h * nb + i], end = a.layout.row_ptr[h * nb + i + 1];
      const i64 M = a.valid(i);
      float* tiles = probs + (b * a.layout.nnz + begin) * B * B;  // the row's tiles, consecutive

      for (i64 p = 0; p < end - begin; ++p) {
        float* S = tiles + p * B * B;
        gemmTile(M, B, D, Q, D, 1, Kt + a.layout.cols[begin + p] * B, Lp, S, B, false);
        if (M < B) std::memset(S + M * B, 0, sizeof(float) * static_cast<std::size_t>((B - M) * B));
      }
      // Softmax along each row across its tiles. Only the diagonal tile is masked (causally); a
      // key block below it is fully visible, and padding keys exist only in the diagonal tile.
      for (i64 r = 0; r < M; ++r) {
        auto visible = [&](i64 p) { return a.layout.cols[begin + p] == i ? r + 1 : B; };
        float max = neg_inf;
        for (i64 p = 0; p < end - begin; ++p)
          max = scaleAndMax(tiles + p * B * B + r * B, visible(p), a.scale, max);
        float sum = 0.f;
        if (max != neg_inf)
          for (i64 p = 0; p < end - begin; ++p)
            sum += expAndSum(tiles + p * B * B + r * B, visible(p), max);
        const float inv = sum > 0.f ? 1.f / sum : 0.f;
        for (i64 p = 0; p < end - begin; ++p) {
          float* row = tiles + p * B * B + r * B;
          scaleRow(row, visible(p), inv);
          for (i64 c = visible(p); c < B; ++c) row[c] = 0.f;
        }
      }
      for (i64 p = 0; p < end - begin; ++p) {
        const i64 j = a.layout.cols[begin + p];
        gemmTile(M, D, a.valid(j), tiles + p * B * B, B, 1, V + j * B * D, D, O, D, p > 0);
      }
      if (end == begin) std::memset(O, 0, sizeof(float) * static_cast<std::size_t>(M * D));
    }
  }
}

void attentionBackwardAvx2(const AttentionArgs& a, const float* q, const float* k,
                           const float* v, const float* o, const float* probs, const float* d_o,
                           float* dq, float* dk, float* dv) {
  const i64 L = a.length(), D = a.dim, B = a.block(), nb = a.blocks(), BH = a.batch * a.heads();
  const i64 Lp = nb * B;
  i64 widest = 0;  // most active tiles in one query block: sizes the dS scratch
  for (i64 r = 0; r < a.heads() * nb; ++r)
    widest = std::max<i64>(widest, a.layout.row_ptr[r + 1] - a.layout.row_ptr[r]);

#pragma omp parallel
  {
    std::vector<float> vt(static_cast<std::size_t>(D * Lp));
    std::vector<float> ds(static_cast<std::size_t>(std::max<i64>(1, widest) * B * B));
    std::vector<float> delta(static_cast<std::size_t>(B));
#pragma omp for schedule(dynamic, 1)
    for (i64 bh = 0; bh < BH; ++bh) {
      const i64 b = bh / a.heads(), h = bh % a.heads(), off = bh * L * D;
      const float *Q = q + off, *K = k + off, *O = o + off, *dO = d_o + off;
      float *dQ = dq + off, *dK = dk + off, *dV = dv + off;
      std::memset(dQ, 0, sizeof(float) * static_cast<std::size_t>(L * D));
      std::memset(dK, 0, sizeof(float) * static_cast<std::size_t>(L * D));
      std::memset(dV, 0, sizeof(float) * static_cast<std::size_t>(L * D));
      transposePadded(v + off, L, D, Lp, vt.data());

      for (i64 i = 0; i < nb; ++i) {
        const i64 begin = a.layout.row_ptr[h * nb + i], end = a.layout.row_ptr[h * nb + i + 1];
        const i64 M = a.valid(i), n = end - begin;
        const float* P = probs + (b * a.layout.nnz + begin) * B * B;
        const float* dOi = dO + i * B * D;
        const float* Qi = Q + i * B * D;
        for (i64 r = 0; r < M; ++r) delta[r] = dotRow(dOi + r * D, O + (i * B + r) * D, D);
        for (i64 p = 0; p < n; ++p) {
          const i64 j = a.layout.cols[begin + p], kv = a.valid(j);
          float* dS = ds.data() + p * B * B;
          const float* Pt = P + p * B * B;
          gemmTile(M, B, D, dOi, D, 1, vt.data() + j * B, Lp, dS, B, false);  // dP
          for (i64 r = 0; r < M; ++r) {
            const __m256 vd = _mm256_set1_ps(delta[r]), vs = _mm256_set1_ps(a.scale);
            i64 c = 0;
            for (; c + 8 <= B; c += 8) {
              const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(dS + r * B + c), vd);
              _mm256_storeu_ps(dS + r * B + c,
                               _mm256_mul_ps(vs, _mm256_mul_ps(_mm256_loadu_ps(Pt + r * B + c), x)));
            }
            for (; c < B; ++c) dS[r * B + c] = a.scale * Pt[r * B + c] * (dS[r * B + c] - delta[r]);
          }
          gemmTile(M, D, kv, dS, B, 1, K + j * B * D, D, dQ + i * B * D, D, true);
          gemmTile(kv, D, M, dS, 1, B, Qi, D, dK + j * B * D, D, true);   // dSᵀ Q
          gemmTile(kv, D, M, Pt, 1, B, dOi, D, dV + j * B * D, D, true);  // Pᵀ dO
        }
      }
    }
  }
}

}  // namespace darkroom::kernels::detail

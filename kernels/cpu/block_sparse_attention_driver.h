// The instruction-set-independent part of the CPU block-sparse causal attention, shared by
// cpu/block_sparse_attention_avx2.cpp and cpu/block_sparse_attention_neon.cpp; OpenMP threads.
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
//
// The back end supplies its vector code as the static members of a class `Arch` (a template
// parameter, so that they inline):
//   microRows<MR>(N, K, A, am, ak, B, ldb, C, ldc, accumulate)
//                                  C[MR × N] (+)= A[MR × K] · B[K × N], MR = 1..4; A's element
//                                  (m, k) is at A[m·am + k·ak], B and C are row-major
//   dotRow(x, y, n)                Σ x·y over n entries
//   scaleAndMax(x, n, scale, max)  x ← x·scale over n entries; returns max(max, the new x)
//   expAndSum(x, n, max)           x ← e^(x − max) over n entries (x ≤ max); returns their sum
//   scaleRow(x, n, s)              x ← x·s over n entries
//   softmaxGrad(dS, P, M, B, delta, scale)
//                                  dS ← scale · P ∘ (dS − delta[r]) for rows r < M of B × B tiles
//
// Everything here has internal linkage: the files that include it are compiled with different
// instruction-set flags, and must not share an out-of-line copy of any of it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "block_sparse_attention_impl.h"

namespace darkroom::kernels::detail {
namespace {

using i64 = std::int64_t;

// C[M × N] = A[M × K] · B[K × N], or += when accumulate.
template <class Arch>
void gemmTile(i64 M, i64 N, i64 K, const float* A, i64 am, i64 ak, const float* Bm, i64 ldb,
              float* C, i64 ldc, bool accumulate) {
  i64 m = 0;
  for (; m + 4 <= M; m += 4)
    Arch::template microRows<4>(N, K, A + m * am, am, ak, Bm, ldb, C + m * ldc, ldc, accumulate);
  switch (M - m) {
    case 3:
      Arch::template microRows<3>(N, K, A + m * am, am, ak, Bm, ldb, C + m * ldc, ldc, accumulate);
      break;
    case 2:
      Arch::template microRows<2>(N, K, A + m * am, am, ak, Bm, ldb, C + m * ldc, ldc, accumulate);
      break;
    case 1:
      Arch::template microRows<1>(N, K, A + m * am, am, ak, Bm, ldb, C + m * ldc, ldc, accumulate);
      break;
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

template <class Arch>
void cpuAttentionForward(const AttentionArgs& a, const float* q, const float* k, const float* v,
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
        gemmTile<Arch>(M, B, D, Q, D, 1, Kt + a.layout.cols[begin + p] * B, Lp, S, B, false);
        if (M < B) std::memset(S + M * B, 0, sizeof(float) * static_cast<std::size_t>((B - M) * B));
      }
      // Softmax along each row across its tiles. Only the diagonal tile is masked (causally); a
      // key block below it is fully visible, and padding keys exist only in the diagonal tile.
      for (i64 r = 0; r < M; ++r) {
        auto visible = [&](i64 p) { return a.layout.cols[begin + p] == i ? r + 1 : B; };
        float max = neg_inf;
        for (i64 p = 0; p < end - begin; ++p)
          max = Arch::scaleAndMax(tiles + p * B * B + r * B, visible(p), a.scale, max);
        float sum = 0.f;
        if (max != neg_inf)
          for (i64 p = 0; p < end - begin; ++p)
            sum += Arch::expAndSum(tiles + p * B * B + r * B, visible(p), max);
        const float inv = sum > 0.f ? 1.f / sum : 0.f;
        for (i64 p = 0; p < end - begin; ++p) {
          float* row = tiles + p * B * B + r * B;
          Arch::scaleRow(row, visible(p), inv);
          for (i64 c = visible(p); c < B; ++c) row[c] = 0.f;
        }
      }
      for (i64 p = 0; p < end - begin; ++p) {
        const i64 j = a.layout.cols[begin + p];
        gemmTile<Arch>(M, D, a.valid(j), tiles + p * B * B, B, 1, V + j * B * D, D, O, D, p > 0);
      }
      if (end == begin) std::memset(O, 0, sizeof(float) * static_cast<std::size_t>(M * D));
    }
  }
}

template <class Arch>
void cpuAttentionBackward(const AttentionArgs& a, const float* q, const float* k, const float* v,
                          const float* o, const float* probs, const float* d_o, float* dq,
                          float* dk, float* dv) {
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
        for (i64 r = 0; r < M; ++r) delta[r] = Arch::dotRow(dOi + r * D, O + (i * B + r) * D, D);
        for (i64 p = 0; p < n; ++p) {
          const i64 j = a.layout.cols[begin + p], kv = a.valid(j);
          float* dS = ds.data() + p * B * B;
          const float* Pt = P + p * B * B;
          gemmTile<Arch>(M, B, D, dOi, D, 1, vt.data() + j * B, Lp, dS, B, false);  // dP
          Arch::softmaxGrad(dS, Pt, M, B, delta.data(), a.scale);
          gemmTile<Arch>(M, D, kv, dS, B, 1, K + j * B * D, D, dQ + i * B * D, D, true);
          gemmTile<Arch>(kv, D, M, dS, 1, B, Qi, D, dK + j * B * D, D, true);   // dSᵀ Q
          gemmTile<Arch>(kv, D, M, Pt, 1, B, dOi, D, dV + j * B * D, D, true);  // Pᵀ dO
        }
      }
    }
  }
}

}  // namespace
}  // namespace darkroom::kernels::detail

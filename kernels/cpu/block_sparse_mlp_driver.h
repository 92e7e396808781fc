// The instruction-set-independent part of the CPU block-sparse MLP products, shared by
// cpu/block_sparse_mlp_avx2.cpp and cpu/block_sparse_mlp_neon.cpp.
//
// Both products are one GEMM, C[M, N] = A[M, K] · B[K, N] (+ bias per column), where B is a view
// of the active weight rows:
//   gatherNT : M = rows, K = k,     N = width, B(t, j) = w[rowOf[j] * k + t]   (transposed)
//   scatterNN: M = rows, K = width, N = k,     B(t, j) = w[rowOf[t] * k + j]
// with rowOf mapping compact column -> weight row. The sparsity is absorbed entirely by packing:
// active blocks are contiguous slabs of w, so packing reads them at full speed, and the GEMM itself
// is dense over the compact dimension. (Gathering with generic indexing inside the inner loop is
// what made column-gather slower than dense in the paper.)
//
// The GEMM is the classic Goto/BLIS layering: B is packed in K x 16 panels shared by all threads,
// A in 6-row panels per thread, and a 6x16 register-blocked micro-kernel computes one C tile from
// one A panel and one B panel. This file holds the packing, blocking and threading; the back end
// supplies, as the static members of a class `Arch` (a template parameter, so that they inline):
//   kTranspose                           side of its in-register transpose block (divides kNr)
//   transpose(rows, dst, ld)             dst[i * ld + r] = rows[r][i], a kTranspose square
//   copyPanelRow(src, dst)               dst[0..16) = src[0..16), dst 64-byte aligned
//   microKernel(kc, ap, bp, c, ldc, accumulate, bias)
//                                        C[6, 16] (=|+=) A panel · B panel; starts from C when
//                                        `accumulate`, else from the bias row (or zero)
//
// Everything here has internal linkage: the files that include it are compiled with different
// instruction-set flags, and must not share an out-of-line copy of any of it.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "block_sparse_mlp_impl.h"

namespace darkroom::kernels::detail {
namespace {

using Index = std::int64_t;

constexpr Index kMr = 6;     // rows of a micro tile
constexpr Index kNr = 16;    // columns of a micro tile
constexpr Index kKc = 256;   // depth of a packed panel: a 16 KiB B panel stays in L1
constexpr Index kMc = 144;   // rows of a packed A block: 144 x 256 floats (144 KiB) in L2
constexpr Index kBFloats = Index{1} << 22;  // shared packed B: at most 16 MiB (K x nc floats)

Index ceilDiv(Index a, Index b) { return (a + b - 1) / b; }

// Grow-only scratch, 64-byte aligned. Kept per thread so that repeated calls (every layer, every
// step) neither allocate nor page-fault.
float* scratch(std::vector<float>& buffer, Index floats) {
  const Index pad = 64 / sizeof(float);
  if (static_cast<Index>(buffer.size()) < floats + pad) buffer.resize(floats + pad);
  auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  address = (address + 63) & ~std::uintptr_t{63};
  return reinterpret_cast<float*>(address);
}

struct Gemm {
  Index M, N, K;
  const float* a;
  Index lda;
  float* c;
  Index ldc;
  const float* w;
  Index ldw;
  const Index* rowOf;  // per column of C (transposed) or per row of B (not transposed)
  bool transposed;
  const float* bias;  // per column of C, padded with zeros to a multiple of kNr; or null
};

// Packs B(pc .. pc + kc, j0 .. j0 + 16) as kc rows of 16 floats, zero beyond N.
template <class Arch>
void packB(const Gemm& g, Index pc, Index kc, Index j0, float* dst) {
  constexpr Index kT = Arch::kTranspose;
  static_assert(kNr % kT == 0, "the transpose blocks must tile a panel's width");
  const Index cols = std::min(kNr, g.N - j0);
  if (g.transposed) {
    // Column j of B is a contiguous stretch of weight row rowOf[j]: a 16-row transpose, done in
    // kT x kT blocks in registers where the panel is full (scalar, it would cost ~5% of a short
    // GEMM).
    Index t0 = 0;
    if (cols == kNr) {
      for (; t0 + kT <= kc; t0 += kT)
        for (Index part = 0; part < kNr; part += kT) {
          const float* rows[kT];
          for (Index i = 0; i < kT; ++i) rows[i] = g.w + g.rowOf[j0 + part + i] * g.ldw + pc + t0;
          Arch::transpose(rows, dst + t0 * kNr + part, kNr);
        }
      if (t0 == kc) return;
    }
    for (Index j = 0; j < kNr; ++j) {
      if (j >= cols) {
        for (Index t = t0; t < kc; ++t) dst[t * kNr + j] = 0.0f;
        continue;
      }
      const float* src = g.w + g.rowOf[j0 + j] * g.ldw + pc;
      for (Index t = t0; t < kc; ++t) dst[t * kNr + j] = src[t];
    }
    return;
  }
  // Row t of B is 16 consecutive floats of weight row rowOf[pc + t].
  for (Index t = 0; t < kc; ++t) {
    const float* src = g.w + g.rowOf[pc + t] * g.ldw + j0;
    float* row = dst + t * kNr;
    if (cols == kNr) {
      Arch::copyPanelRow(src, row);
    } else {
      for (Index j = 0; j < kNr; ++j) row[j] = j < cols ? src[j] : 0.0f;
    }
  }
}

// Packs A(ic .. ic + mc, pc .. pc + kc) as 6-row panels, each kc groups of 6 floats, zero beyond M.
void packA(const Gemm& g, Index ic, Index mc, Index pc, Index kc, float* dst) {
  for (Index p = 0; p < mc; p += kMr, dst += kMr * kc) {
    for (Index r = 0; r < kMr; ++r) {
      if (p + r >= mc) {
        for (Index t = 0; t < kc; ++t) dst[t * kMr + r] = 0.0f;
        continue;
      }
      const float* src = g.a + (ic + p + r) * g.lda + pc;
      for (Index t = 0; t < kc; ++t) dst[t * kMr + r] = src[t];
    }
  }
}

// A tile cut by the edge of C: computed in a full-size buffer, only the part inside C copied.
template <class Arch>
void edgeKernel(Index kc, const float* ap, const float* bp, float* c, Index ldc, Index mr,
                Index nr, bool accumulate, const float* bias) {
  alignas(64) float tile[kMr * kNr];
  for (Index r = 0; r < kMr; ++r)
    for (Index j = 0; j < kNr; ++j)
      tile[r * kNr + j] = accumulate ? (r < mr && j < nr ? c[r * ldc + j] : 0.0f)
                                     : (bias ? bias[j] : 0.0f);
  Arch::microKernel(kc, ap, bp, tile, kNr, true, nullptr);
  for (Index r = 0; r < mr; ++r) std::memcpy(c + r * ldc, tile + r * kNr, nr * sizeof(float));
}

// C with nothing to sum over (K == 0): the bias, or zero.
void fillBias(const Gemm& g) {
  for (Index r = 0; r < g.M; ++r)
    for (Index j = 0; j < g.N; ++j) g.c[r * g.ldc + j] = g.bias ? g.bias[j] : 0.0f;
}

template <class Arch>
void run(const Gemm& g) {
  if (g.M == 0 || g.N == 0) return;
  if (g.K == 0) return fillBias(g);

  // Split K into equal passes of at most kKc, so that no pass is a thin remainder.
  const Index kc = ceilDiv(g.K, ceilDiv(g.K, kKc));
  // B is packed over the whole depth, nc columns at a time, so that threads meet at a barrier
  // only once per nc columns: on a shared, noisy machine every barrier waits for the slowest.
  const Index nc = std::min(ceilDiv(g.N, kNr) * kNr, std::max(kNr, kBFloats / g.K / kNr * kNr));
  static thread_local std::vector<float> bBuffer;
  float* const bp = scratch(bBuffer, g.K * nc);

  // Threads only pay off when there is enough work; below this, one thread (about 0.1 ms).
  const bool parallel = static_cast<double>(g.M) * g.N * g.K > 4.0e6;
  const Index threads = parallel ? omp_get_max_threads() : 1;
  const Index mBlocks = ceilDiv(g.M, kMc);

#pragma omp parallel if (parallel)
  {
    static thread_local std::vector<float> aBuffer;
    float* const ap = scratch(aBuffer, kMc * kc);
    for (Index jc = 0; jc < g.N; jc += nc) {
      const Index ncur = std::min(nc, g.N - jc);
      const Index panels = ceilDiv(ncur, kNr);
      // Few row blocks (short sequences): also split the columns, so every thread has work,
      // at the price of packing the same A block once per column group.
      const Index groups = std::min(panels, std::max<Index>(1, ceilDiv(4 * threads, mBlocks)));
      const Index perGroup = ceilDiv(panels, groups);
#pragma omp for schedule(dynamic, 4)
      for (Index p = 0; p < panels; ++p)
        packB<Arch>(g, 0, g.K, jc + p * kNr, bp + p * kNr * g.K);
      // (implicit barrier: B is packed before anyone reads it)
#pragma omp for schedule(dynamic, 1)
      for (Index item = 0; item < mBlocks * groups; ++item) {
        const Index ic = (item / groups) * kMc;
        const Index mcur = std::min(kMc, g.M - ic);
        const Index p0 = (item % groups) * perGroup;
        const Index p1 = std::min(panels, p0 + perGroup);
        for (Index pc = 0; pc < g.K; pc += kc) {
          const Index kcur = std::min(kc, g.K - pc);
          const bool accumulate = pc > 0;
          packA(g, ic, mcur, pc, kcur, ap);
          for (Index p = p0; p < p1; ++p) {
            const Index j = jc + p * kNr;
            const Index nr = std::min(kNr, g.N - j);
            const float* bias = g.bias && !accumulate ? g.bias + j : nullptr;
            const float* bpanel = bp + p * kNr * g.K + pc * kNr;
            for (Index ir = 0; ir < mcur; ir += kMr) {
              const Index mr = std::min(kMr, mcur - ir);
              float* c = g.c + (ic + ir) * g.ldc + j;
              const float* apanel = ap + ir * kcur;
              if (mr == kMr && nr == kNr)
                Arch::microKernel(kcur, apanel, bpanel, c, g.ldc, accumulate, bias);
              else
                edgeKernel<Arch>(kcur, apanel, bpanel, c, g.ldc, mr, nr, accumulate, bias);
            }
          }
        }
      }
      // (implicit barrier: nobody still reads B when the next nc columns are packed)
    }
  }
}

// Weight row of every compact column.
std::vector<Index> compactRows(const MlpArgs& m) {
  std::vector<Index> rows;
  rows.reserve(static_cast<std::size_t>(m.width));
  for (Index i = 0; i < m.layout.count; ++i) {
    const Index first = Index{m.layout.blocks[i]} * m.layout.block;
    const Index last = std::min(first + m.layout.block, m.n);
    for (Index r = first; r < last; ++r) rows.push_back(r);
  }
  return rows;
}

template <class Arch>
void cpuGatherNT(const MlpArgs& m, const float* a, const float* w, const float* bias,
                 float* out) {
  const std::vector<Index> rowOf = compactRows(m);
  std::vector<float> packedBias;
  if (bias) {
    packedBias.assign(static_cast<std::size_t>(ceilDiv(m.width, kNr) * kNr), 0.0f);
    for (Index j = 0; j < m.width; ++j) packedBias[j] = bias[rowOf[j]];
  }
  run<Arch>(Gemm{m.rows, m.width, m.k, a, m.k, out, m.width, w, m.k, rowOf.data(), true,
                 bias ? packedBias.data() : nullptr});
}

template <class Arch>
void cpuScatterNN(const MlpArgs& m, const float* a, const float* w, const float* bias,
                  float* out) {
  const std::vector<Index> rowOf = compactRows(m);
  std::vector<float> paddedBias;
  if (bias) {
    paddedBias.assign(static_cast<std::size_t>(ceilDiv(m.k, kNr) * kNr), 0.0f);
    std::copy(bias, bias + m.k, paddedBias.begin());
  }
  run<Arch>(Gemm{m.rows, m.k, m.width, a, m.width, out, m.k, w, m.k, rowOf.data(), false,
                 bias ? paddedBias.data() : nullptr});
}

}  // namespace
}  // namespace darkroom::kernels::detail

// AVX2+FMA back end of the block-sparse MLP products (compiled with -mavx2 -mfma -O3; only called
// after backendAvailable(Cpu) said the CPU has both).
//
// The packing, blocking and threading of the GEMM are in cpu/block_sparse_mlp_driver.h; here are
// its register-level pieces: an 8 x 8 transpose for packing the transposed B, and a 6x16
// register-blocked FMA micro-kernel (12 ymm accumulators + 2 for B + 1 broadcast).
#include <immintrin.h>

#include "block_sparse_mlp_impl.h"
#include "cpu/block_sparse_mlp_driver.h"

namespace darkroom::kernels::detail {
namespace {

struct Avx2Gemm {
  static constexpr Index kTranspose = 8;

  // dst[i * ld + r] = rows[r][i] for an 8 x 8 block: unpack pairs, then quads, then halves.
  static void transpose(const float* const* rows, float* dst, Index ld) {
    __m256 r[8], u[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(rows[i]);
    for (int i = 0; i < 8; i += 2) {
      u[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);      // a0 b0 a1 b1 | a4 b4 a5 b5
      u[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);  // a2 b2 a3 b3 | a6 b6 a7 b7
    }
    for (int i = 0; i < 8; i += 4)
      for (int h = 0; h < 2; ++h) {
        // a0 b0 c0 d0 | a4 b4 c4 d4 and a1 b1 c1 d1 | a5 b5 c5 d5 (h = 0; h = 1: columns 2, 3)
        r[i + 2 * h] = _mm256_shuffle_ps(u[i + h], u[i + 2 + h], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 2 * h + 1] = _mm256_shuffle_ps(u[i + h], u[i + 2 + h], _MM_SHUFFLE(3, 2, 3, 2));
      }
    for (int i = 0; i < 4; ++i) {
      _mm256_store_ps(dst + i * ld, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
      _mm256_store_ps(dst + (i + 4) * ld, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
  }

  static void copyPanelRow(const float* src, float* dst) {
    _mm256_store_ps(dst, _mm256_loadu_ps(src));
    _mm256_store_ps(dst + 8, _mm256_loadu_ps(src + 8));
  }

  // C[6, 16] (=|+=) A panel · B panel. The constant trip counts let the compiler keep all 12
  // accumulators in registers.
  static void microKernel(Index kc, const float* ap, const float* bp, float* c, Index ldc,
                          bool accumulate, const float* bias) {
    __m256 acc[kMr][2];
    if (accumulate) {
      for (Index r = 0; r < kMr; ++r) {
        acc[r][0] = _mm256_loadu_ps(c + r * ldc);
        acc[r][1] = _mm256_loadu_ps(c + r * ldc + 8);
      }
    } else {
      const __m256 b0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
      const __m256 b1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
      for (Index r = 0; r < kMr; ++r) {
        acc[r][0] = b0;
        acc[r][1] = b1;
      }
    }
    for (Index t = 0; t < kc; ++t, ap += kMr, bp += kNr) {
      const __m256 b0 = _mm256_load_ps(bp);
      const __m256 b1 = _mm256_load_ps(bp + 8);
      for (Index r = 0; r < kMr; ++r) {
        const __m256 x = _mm256_broadcast_ss(ap + r);
        acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
      }
    }
    for (Index r = 0; r < kMr; ++r) {
      _mm256_storeu_ps(c + r * ldc, acc[r][0]);
      _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
    }
  }
};

}  // namespace

void gatherNTAvx2(const MlpArgs& m, const float* a, const float* w, const float* bias,
                  float* out) {
  cpuGatherNT<Avx2Gemm>(m, a, w, bias, out);
}

void scatterNNAvx2(const MlpArgs& m, const float* a, const float* w, const float* bias,
                   float* out) {
  cpuScatterNN<Avx2Gemm>(m, a, w, bias, out);
}

}  // namespace darkroom::kernels::detail

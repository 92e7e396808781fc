// NEON back end of the block-sparse MLP products (aarch64).
//
// The packing, blocking and threading of the GEMM are in cpu/block_sparse_mlp_driver.h, as for
// AVX2; here are its register-level pieces: a 4 x 4 transpose for packing the transposed B, and a
// 6x16 register-blocked micro-kernel. With 32 vector registers the tile takes 24 accumulators, 4
// for the B row and 2 for the six A values, which FMLA (by element) multiplies lane by lane
// without broadcasting them first.
#include <arm_neon.h>

#include "block_sparse_mlp_impl.h"
#include "cpu/block_sparse_mlp_driver.h"

namespace darkroom::kernels::detail {
namespace {

struct NeonGemm {
  static constexpr Index kTranspose = 4;

  // dst[i * ld + r] = rows[r][i] for a 4 x 4 block: TRN1/TRN2 on floats, then on pairs.
  static void transpose(const float* const* rows, float* dst, Index ld) {
    const float32x4_t r0 = vld1q_f32(rows[0]), r1 = vld1q_f32(rows[1]), r2 = vld1q_f32(rows[2]),
                      r3 = vld1q_f32(rows[3]);
    const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(r0, r1));  // a0 b0 a2 b2
    const float64x2_t t1 = vreinterpretq_f64_f32(vtrn2q_f32(r0, r1));  // a1 b1 a3 b3
    const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(r2, r3));  // c0 d0 c2 d2
    const float64x2_t t3 = vreinterpretq_f64_f32(vtrn2q_f32(r2, r3));  // c1 d1 c3 d3
    vst1q_f32(dst, vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)));           // a0 b0 c0 d0
    vst1q_f32(dst + ld, vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)));      // a1 b1 c1 d1
    vst1q_f32(dst + 2 * ld, vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)));  // a2 b2 c2 d2
    vst1q_f32(dst + 3 * ld, vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)));  // a3 b3 c3 d3
  }

  static void copyPanelRow(const float* src, float* dst) {
    for (Index v = 0; v < kNr; v += 4) vst1q_f32(dst + v, vld1q_f32(src + v));
  }

  // C[6, 16] (=|+=) A panel · B panel. The constant trip counts let the compiler keep all 24
  // accumulators in registers.
  static void microKernel(Index kc, const float* ap, const float* bp, float* c, Index ldc,
                          bool accumulate, const float* bias) {
    float32x4_t acc[kMr][4];
    if (accumulate) {
      for (Index r = 0; r < kMr; ++r)
        for (Index v = 0; v < 4; ++v) acc[r][v] = vld1q_f32(c + r * ldc + 4 * v);
    } else {
      for (Index v = 0; v < 4; ++v) {
        const float32x4_t b = bias ? vld1q_f32(bias + 4 * v) : vdupq_n_f32(0.0f);
        for (Index r = 0; r < kMr; ++r) acc[r][v] = b;
      }
    }
    for (Index t = 0; t < kc; ++t, ap += kMr, bp += kNr) {
      float32x4_t b[4];
      for (Index v = 0; v < 4; ++v) b[v] = vld1q_f32(bp + 4 * v);
      const float32x4_t a03 = vld1q_f32(ap);     // rows 0..3
      const float32x2_t a45 = vld1_f32(ap + 4);  // rows 4, 5
      for (Index v = 0; v < 4; ++v) {
        acc[0][v] = vfmaq_laneq_f32(acc[0][v], b[v], a03, 0);
        acc[1][v] = vfmaq_laneq_f32(acc[1][v], b[v], a03, 1);
        acc[2][v] = vfmaq_laneq_f32(acc[2][v], b[v], a03, 2);
        acc[3][v] = vfmaq_laneq_f32(acc[3][v], b[v], a03, 3);
        acc[4][v] = vfmaq_lane_f32(acc[4][v], b[v], a45, 0);
        acc[5][v] = vfmaq_lane_f32(acc[5][v], b[v], a45, 1);
      }
    }
    for (Index r = 0; r < kMr; ++r)
      for (Index v = 0; v < 4; ++v) vst1q_f32(c + r * ldc + 4 * v, acc[r][v]);
  }
};

}  // namespace

void gatherNTNeon(const MlpArgs& m, const float* a, const float* w, const float* bias,
                  float* out) {
  cpuGatherNT<NeonGemm>(m, a, w, bias, out);
}

void scatterNNNeon(const MlpArgs& m, const float* a, const float* w, const float* bias,
                   float* out) {
  cpuScatterNN<NeonGemm>(m, a, w, bias, out);
}

}  // namespace darkroom::kernels::detail

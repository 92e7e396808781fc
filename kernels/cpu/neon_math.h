// Small NEON helpers shared by the aarch64 CPU kernels: e^x for x ≤ 0 on four lanes, and loads
// and stores of the first n < 4 lanes (NEON has no masked loads). Only for aarch64 builds.
#pragma once

#include <arm_neon.h>

#include <cstdint>

namespace darkroom::kernels::detail {

// e^x for x ≤ 0: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial (Cephes' expf
// coefficients, about 1 ulp), 2^n written into the exponent. x is clamped at -87.9 first: there
// n = -127 gives an all-zero exponent field, so everything below about -87.7 (-inf included) is
// exactly 0, as expf's underflow would be. FMAXNM (not FMAX) takes the number when x is NaN, so
// a NaN gives 0 too.
inline float32x4_t expNonPositive(float32x4_t x) {
  x = vmaxnmq_f32(x, vdupq_n_f32(-87.9f));
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));  // nearest, ties even
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));  // ln 2 = hi + lo: n·hi is exact
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));            // for |n| < 2^9
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.f)), p, vmulq_f32(r, r));
  const int32x4_t pow2 = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(pow2));
}

// The first n (0..4) floats at p, the other lanes `fill`.
inline float32x4_t loadPartial(const float* p, std::int64_t n, float fill) {
  float lanes[4] = {fill, fill, fill, fill};
  for (std::int64_t i = 0; i < n && i < 4; ++i) lanes[i] = p[i];
  return vld1q_f32(lanes);
}

// Stores the first n (0..4) lanes of v at p.
inline void storePartial(float* p, std::int64_t n, float32x4_t v) {
  float lanes[4];
  vst1q_f32(lanes, v);
  for (std::int64_t i = 0; i < n && i < 4; ++i) p[i] = lanes[i];
}

}  // namespace darkroom::kernels::detail

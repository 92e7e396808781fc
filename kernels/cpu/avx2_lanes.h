// Small AVX2 helpers shared by the CPU kernels: horizontal sum and max of eight floats, and a
// mask for the tail lanes. Only for files compiled with -mavx2.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace darkroom::kernels::detail {

inline float hsum(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 x) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lanes 0..n-1 on (n clamped to 0..8), for masked loads and stores of a tail.
inline __m256i laneMask(std::int64_t n) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(
      _mm256_set1_epi32(static_cast<int>(std::clamp<std::int64_t>(n, 0, 8))), iota);
}

}  // namespace darkroom::kernels::detail

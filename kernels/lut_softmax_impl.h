// The back ends of the LUT softmax and of cached attention, behind the dispatcher in
// lut_softmax.cpp, which has already checked every argument.
//
// What every back end computes, so that they agree entry for entry:
//   Lut:   c = scale · log2 e; per row m = max_j fl(c · x_j); t_j = fma(c, x_j, −m) ≤ 0 (up to the
//          rounding of fl(c · x_max)); e_j = table[fp16 bits of t_j, sign dropped].
//   Float: c = scale; m = max_j fl(c · x_j); e_j = expf(fma(c, x_j, −m)).
// then p_j = e_j / Σ e_j. In attention the rows' max and sum run over blocks of keys; when the
// max grows from m_old to m_new the accumulator and the sum are multiplied by
// e(m_old − m_new), through the table in Lut mode too.
#pragma once

#include <cstdint>

#include "darkroom/kernels/lut_softmax.h"

namespace darkroom::kernels::detail {

// log2(e) in float: the Lut mode's scores are exponents of 2.
constexpr float kLog2e = 1.44269504088896341f;

// The multiplier of the scores: scale in Float mode, scale · log2 e in Lut mode.
inline float scoreScale(SoftmaxExp mode, float scale) {
  return mode == SoftmaxExp::Lut ? scale * kLog2e : scale;
}

// The table as float32 (entry i = halfToFloat(exp2Table()[i]), exactly): a gather from it needs
// no conversion. 32,768 entries, built once, thread-safe.
const float* exp2TableFloat();

// Keys per block of the online softmax in the host back ends (the CUDA kernel has its own tile).
constexpr std::int64_t kKeyBlock = 64;

void softmaxRowsRef(SoftmaxExp mode, float* x, std::int64_t rows, std::int64_t cols, float scale);
void softmaxRowsAvx2(SoftmaxExp mode, float* x, std::int64_t rows, std::int64_t cols, float scale);
void softmaxRowsNeon(SoftmaxExp mode, float* x, std::int64_t rows, std::int64_t cols, float scale);

void cachedAttentionRef(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                        const float* v, float scale, float* out);
void cachedAttentionAvx2(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                         const float* v, float scale, float* out);
void cachedAttentionNeon(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                         const float* v, float scale, float* out);

#ifdef DARKROOM_HAVE_CUDA
// Every pointer is device memory. Launched on the legacy default stream (asynchronous); launch
// errors throw std::runtime_error. The first call copies the table to the GPU.
void softmaxRowsCuda(SoftmaxExp mode, float* x, std::int64_t rows, std::int64_t cols, float scale);
void cachedAttentionCuda(SoftmaxExp mode, const AttentionShape& s, const float* q, const float* k,
                         const float* v, float scale, float* out);
#endif

}  // namespace darkroom::kernels::detail

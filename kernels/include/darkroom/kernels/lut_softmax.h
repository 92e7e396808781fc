// Softmax with a table for exp (PAPERS.md §3, "LUT softmax"), alone and inside a blocked
// attention kernel with an online (flash-style) running max and sum.
//
// exp(x) is computed as exp2(x · log2 e), with log2 e folded into the score scale. After the
// running max is subtracted every argument is ≤ 0, so one table covers all of them: 32,768 fp16
// entries, indexed by the fp16 bit pattern of |t| (the sign bit dropped), entry i = fp16(2^-h(i))
// where h(i) is the half-precision number with bits i (0 for the Inf/NaN patterns).
// The Float mode is the plain comparison: expf on float32 (vectorised where the back end is).
#pragma once

#include <cstdint>

#include "darkroom/kernels/backend.h"

namespace darkroom::kernels {

enum class SoftmaxExp { Lut, Float };
const char* softmaxExpName(SoftmaxExp mode);  // "lut", "float"

constexpr int kExp2TableSize = 32768;
// The table (host memory, built once, thread-safe).
const std::uint16_t* exp2Table();
// 2^t for t ≤ 0 through the table (the scalar definition every back end must match):
// table[fp16 bits of t (round to nearest even), sign dropped]. So t > 0 gives 2^-t, and -inf,
// NaN and t < -65504 give 0. |lutExp2(t) − 2^t| ≤ 2^t·(1 + ln2·|t|)·2^-11 + 2^-25 (≤ 4.3e-4).
float lutExp2(float t);

// In place, each of `rows` rows of `cols` scores: x ← softmax(scale · x). Rows whose every score
// is -inf become all zeros. scale must be positive and finite. In Lut mode, with c = scale·log2 e
// and m = the row's max of c·x: e_j = lutExp2(fma(c, x_j, −m)); in Float mode e_j =
// expf(fma(scale, x_j, −m)); then x_j = e_j / Σ e. Cuda takes device memory (asynchronous, on
// the legacy default stream).
void softmaxRows(Backend backend, SoftmaxExp mode, float* x, std::int64_t rows, std::int64_t cols,
                 float scale);

// Attention of `queries` new tokens over a KV cache, causal, with grouped-query heads:
//   q   [batch, heads, queries, head_dim]
//   k,v [batch, kv_heads, keys, head_dim]      (heads a multiple of kv_heads)
//   out [batch, heads, queries, head_dim]
// Query i sits at position keys - queries + i and sees keys 0 … keys - queries + i, so keys must
// be at least queries (the cache already holds the new tokens). Head h reads kv head
// h / (heads / kv_heads). scale must be positive and finite.
// softmax(scale · q·kᵀ) · v, computed over blocks of keys with a running max and sum; when the max
// grows the accumulator and the sum are rescaled by e(m_old − m_new), through the table too in
// Lut mode. Cuda takes device memory (asynchronous, on the legacy default stream) and head_dim up
// to 512.
struct AttentionShape {
  std::int64_t batch = 1, heads = 1, kv_heads = 1, queries = 1, keys = 1, head_dim = 64;
};
void cachedAttention(Backend backend, SoftmaxExp mode, const AttentionShape& shape,
                     const float* q, const float* k, const float* v, float scale, float* out);

}  // namespace darkroom::kernels

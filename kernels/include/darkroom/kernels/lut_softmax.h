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
// 2^t for t ≤ 0 through the table (the scalar definition every back end must match).
float lutExp2(float t);

// In place, each of `rows` rows of `cols` scores: x ← softmax(scale · x). Rows whose every score
// is -inf become all zeros.
void softmaxRows(Backend backend, SoftmaxExp mode, float* x, std::int64_t rows, std::int64_t cols,
                 float scale);

// Attention of `queries` new tokens over a KV cache, causal, with grouped-query heads:
//   q   [batch, heads, queries, head_dim]
//   k,v [batch, kv_heads, keys, head_dim]      (heads a multiple of kv_heads)
//   out [batch, heads, queries, head_dim]
// Query i sits at position keys - queries + i and sees keys 0 … keys - queries + i.
// softmax(scale · q·kᵀ) · v, computed over blocks of keys with a running max and sum.
struct AttentionShape {
  std::int64_t batch = 1, heads = 1, kv_heads = 1, queries = 1, keys = 1, head_dim = 64;
};
void cachedAttention(Backend backend, SoftmaxExp mode, const AttentionShape& shape,
                     const float* q, const float* k, const float* v, float scale, float* out);

}  // namespace darkroom::kernels

// The exp2 table, its scalar lookup, and the dispatcher of the LUT softmax and cached attention:
// arguments are checked once, here, so that no back end has to, then exactly the back end asked
// for runs (or KernelUnavailable is thrown).
#include "darkroom/kernels/lut_softmax.h"

#include <cmath>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "darkroom/kernels/half.h"
#include "lut_softmax_impl.h"

namespace darkroom::kernels {

namespace {

constexpr std::uint16_t kHalfInf = 0x7c00;  // first pattern (sign dropped) of Inf and NaN

// fp16(v) rounded to nearest even, for 0 ≤ v ≤ 1 given in double. Going through float first
// could round twice; instead the candidates around the float's rounding are compared in double.
std::uint16_t nearestHalf(double v) {
  const std::uint16_t guess = floatToHalf(static_cast<float>(v));
  std::uint16_t best = guess;
  double best_err = std::abs(static_cast<double>(halfToFloat(guess)) - v);
  for (int delta : {-1, 1}) {
    const int h = static_cast<int>(guess) + delta;
    if (h < 0 || h >= kHalfInf) continue;
    const double err = std::abs(static_cast<double>(halfToFloat(static_cast<std::uint16_t>(h))) - v);
    if (err < best_err || (err == best_err && (h & 1) == 0)) {
      best = static_cast<std::uint16_t>(h);
      best_err = err;
    }
  }
  return best;
}

std::vector<std::uint16_t> buildTable() {
  std::vector<std::uint16_t> table(kExp2TableSize, 0);
  for (int i = 0; i < kHalfInf; ++i)
    table[static_cast<std::size_t>(i)] =
        nearestHalf(std::exp2(-static_cast<double>(halfToFloat(static_cast<std::uint16_t>(i)))));
  return table;  // entries kHalfInf.. (Inf and NaN) stay 0
}

[[noreturn]] void bad(const char* what, const std::string& detail) {
  throw std::invalid_argument(std::string(what) + ": " + detail);
}

// A positive scale keeps -inf scores (masked, or padding) at -inf, whose exponential is 0.
void checkScale(const char* what, float scale) {
  if (!(scale > 0.f) || !std::isfinite(scale))
    bad(what, "scale must be positive and finite, got " + std::to_string(scale));
}


// a · b with a check that the product of the sizes stays far from overflow.
std::int64_t product(const char* what, std::initializer_list<std::int64_t> sizes) {
  std::int64_t p = 1;
  for (std::int64_t s : sizes) {
    if (s > 0 && p > std::numeric_limits<std::int64_t>::max() / 16 / s)
      bad(what, "the tensors are too large to address");
    p *= s;
  }
  return p;
}

}  // namespace

namespace detail {

const float* exp2TableFloat() {
  static const std::vector<float> table = [] {
    std::vector<float> out(kExp2TableSize);
    const std::uint16_t* half = exp2Table();
    for (int i = 0; i < kExp2TableSize; ++i) out[static_cast<std::size_t>(i)] = halfToFloat(half[i]);
    return out;
  }();
  return table.data();
}

}  // namespace detail

const char* softmaxExpName(SoftmaxExp mode) {
  switch (mode) {
    case SoftmaxExp::Lut: return "lut";
    case SoftmaxExp::Float: return "float";
  }
  return "unknown";
}

const std::uint16_t* exp2Table() {
  static const std::vector<std::uint16_t> table = buildTable();
  return table.data();
}

float lutExp2(float t) {
  return detail::exp2TableFloat()[floatToHalf(t) & 0x7fffu];
}

void softmaxRows(Backend backend, SoftmaxExp mode, float* x, std::int64_t rows, std::int64_t cols,
                 float scale) {
  constexpr const char* what = "softmaxRows";
  if (rows < 0) bad(what, "rows must not be negative, got " + std::to_string(rows));
  if (cols < 0) bad(what, "cols must not be negative, got " + std::to_string(cols));
  if (mode != SoftmaxExp::Lut && mode != SoftmaxExp::Float) bad(what, "unknown SoftmaxExp mode");
  checkScale(what, scale);
  if (product(what, {rows, cols}) > 0 && !x) bad(what, "x is null");
  requireBackend(backend, what);  // nothing falls back
  if (rows == 0 || cols == 0) return;
  switch (backend) {
    case Backend::Reference: return detail::softmaxRowsRef(mode, x, rows, cols, scale);
    case Backend::Cpu:
#if defined(DARKROOM_CPU_NEON)
      return detail::softmaxRowsNeon(mode, x, rows, cols, scale);
#elif defined(DARKROOM_CPU_AVX2)
      return detail::softmaxRowsAvx2(mode, x, rows, cols, scale);
#else
      break;  // requireBackend has thrown: no SIMD kernels for this processor
#endif
    case Backend::Cuda:
#ifdef DARKROOM_HAVE_CUDA
      return detail::softmaxRowsCuda(mode, x, rows, cols, scale);
#else
      break;
#endif
  }
  throw KernelUnavailable("softmaxRows: unknown back end");
}

void cachedAttention(Backend backend, SoftmaxExp mode, const AttentionShape& s, const float* q,
                     const float* k, const float* v, float scale, float* out) {
  constexpr const char* what = "cachedAttention";
  auto positive = [&](std::int64_t n, const char* name) {
    if (n <= 0) bad(what, std::string(name) + " must be positive, got " + std::to_string(n));
  };
  positive(s.batch, "batch");
  positive(s.heads, "heads");
  positive(s.kv_heads, "kv_heads");
  positive(s.queries, "queries");
  positive(s.keys, "keys");
  positive(s.head_dim, "head_dim");
  if (s.heads % s.kv_heads != 0)
    bad(what, "heads (" + std::to_string(s.heads) + ") must be a multiple of kv_heads (" +
                  std::to_string(s.kv_heads) + ")");
  if (s.keys < s.queries)
    bad(what, "keys (" + std::to_string(s.keys) + ") must be at least queries (" +
                  std::to_string(s.queries) +
                  "): the cache must already hold the keys and values of the new tokens");
  if (mode != SoftmaxExp::Lut && mode != SoftmaxExp::Float) bad(what, "unknown SoftmaxExp mode");
  checkScale(what, scale);
  product(what, {s.batch, s.heads, s.queries, s.head_dim});
  product(what, {s.batch, s.kv_heads, s.keys, s.head_dim});
  if (!q) bad(what, "q is null");
  if (!k) bad(what, "k is null");
  if (!v) bad(what, "v is null");
  if (!out) bad(what, "out is null");
  requireBackend(backend, what);  // nothing falls back
  switch (backend) {
    case Backend::Reference: return detail::cachedAttentionRef(mode, s, q, k, v, scale, out);
    case Backend::Cpu:
#if defined(DARKROOM_CPU_NEON)
      return detail::cachedAttentionNeon(mode, s, q, k, v, scale, out);
#elif defined(DARKROOM_CPU_AVX2)
      return detail::cachedAttentionAvx2(mode, s, q, k, v, scale, out);
#else
      break;  // requireBackend has thrown: no SIMD kernels for this processor
#endif
    case Backend::Cuda:
#ifdef DARKROOM_HAVE_CUDA
      return detail::cachedAttentionCuda(mode, s, q, k, v, scale, out);
#else
      break;
#endif
  }
  throw KernelUnavailable("cachedAttention: unknown back end");
}

}  // namespace darkroom::kernels

// Scalar reference of the block-sparse MLP products: the obvious loops, accumulated in double so
// that the optimized back ends are compared with something more accurate than themselves.
#include <algorithm>

#include "block_sparse_mlp_impl.h"

namespace darkroom::kernels::detail {
namespace {

// Weight rows of listed block i that exist (the last weight block may be short).
std::int64_t blockWidth(const MlpArgs& m, std::int64_t i) {
  const std::int64_t first = std::int64_t{m.layout.blocks[i]} * m.layout.block;
  return std::min(m.layout.block, m.n - first);
}

}  // namespace

void gatherNTRef(const MlpArgs& m, const float* a, const float* w, const float* bias, float* out) {
  for (std::int64_t r = 0; r < m.rows; ++r) {
    std::int64_t col = 0;  // compact column
    for (std::int64_t i = 0; i < m.layout.count; ++i) {
      const std::int64_t first = std::int64_t{m.layout.blocks[i]} * m.layout.block;
      for (std::int64_t j = 0; j < blockWidth(m, i); ++j, ++col) {
        const float* wrow = w + (first + j) * m.k;
        double sum = bias ? bias[first + j] : 0.0;
        for (std::int64_t t = 0; t < m.k; ++t) sum += double{a[r * m.k + t]} * wrow[t];
        out[r * m.width + col] = static_cast<float>(sum);
      }
    }
  }
}

void scatterNNRef(const MlpArgs& m, const float* a, const float* w, const float* bias,
                  float* out) {
  for (std::int64_t r = 0; r < m.rows; ++r) {
    for (std::int64_t c = 0; c < m.k; ++c) {
      double sum = bias ? bias[c] : 0.0;
      std::int64_t col = 0;  // compact column of a = the active weight row it multiplies
      for (std::int64_t i = 0; i < m.layout.count; ++i) {
        const std::int64_t first = std::int64_t{m.layout.blocks[i]} * m.layout.block;
        for (std::int64_t j = 0; j < blockWidth(m, i); ++j, ++col)
          sum += double{a[r * m.width + col]} * w[(first + j) * m.k + c];
      }
      out[r * m.k + c] = static_cast<float>(sum);
    }
  }
}

}  // namespace darkroom::kernels::detail

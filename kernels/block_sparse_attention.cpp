// Dispatcher for block-sparse causal attention: checks the arguments once, here, so that no back
// end has to, then runs exactly the back end asked for (or throws KernelUnavailable).
#include "darkroom/kernels/block_sparse_attention.h"

#include <stdexcept>
#include <string>

#include "block_sparse_attention_impl.h"

namespace darkroom::kernels {

namespace {

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("block-sparse attention: " + what);
}

void checkShape(const AttentionLayout& layout, std::int64_t batch, std::int64_t dim) {
  if (batch <= 0) bad("batch must be positive, got " + std::to_string(batch));
  if (dim <= 0) bad("dim must be positive, got " + std::to_string(dim));
  if (layout.heads <= 0) bad("heads must be positive, got " + std::to_string(layout.heads));
  if (layout.length <= 0) bad("length must be positive, got " + std::to_string(layout.length));
  if (layout.block <= 0) bad("block must be positive, got " + std::to_string(layout.block));
  if (layout.nnz < 0) bad("nnz must not be negative, got " + std::to_string(layout.nnz));
  if (!layout.row_ptr) bad("layout.row_ptr is null");
  if (!layout.cols && layout.nnz > 0) bad("layout.cols is null");
}

void require(const void* p, const char* name) {
  if (!p) bad(std::string(name) + " is null");
}

// Cuda layouts live in device memory, so only Reference and Cpu layouts are read here.
void checkBackend(Backend backend, const AttentionLayout& layout) {
  requireBackend(backend, "block-sparse attention");
  if (backend != Backend::Cuda) validateAttentionLayout(layout);
}

}  // namespace

void validateAttentionLayout(const AttentionLayout& layout) {
  checkShape(layout, 1, 1);
  const std::int64_t nb = attentionBlockCount(layout);
  const std::int64_t rows = layout.heads * nb;
  if (layout.row_ptr[0] != 0) bad("row_ptr[0] must be 0, got " + std::to_string(layout.row_ptr[0]));
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t h = r / nb, i = r % nb;
    const std::int32_t begin = layout.row_ptr[r], end = layout.row_ptr[r + 1];
    const std::string where = "head " + std::to_string(h) + ", query block " + std::to_string(i);
    if (end < begin) bad("row_ptr decreases at " + where);
    if (end > layout.nnz)
      bad("row_ptr at " + where + " is " + std::to_string(end) + ", beyond nnz " +
          std::to_string(layout.nnz));
    for (std::int32_t p = begin; p < end; ++p) {
      const std::int32_t c = layout.cols[p];
      if (c < 0) bad("negative key block " + std::to_string(c) + " at " + where);
      if (c > i)
        bad("key block " + std::to_string(c) + " at " + where + " is above the diagonal (causal)");
      if (p > begin && c <= layout.cols[p - 1])
        bad("key blocks at " + where + " are not strictly ascending");
    }
  }
  if (layout.row_ptr[rows] != layout.nnz)
    bad("nnz is " + std::to_string(layout.nnz) + " but row_ptr ends at " +
        std::to_string(layout.row_ptr[rows]));
}

void blockSparseAttentionForward(Backend backend, const float* q, const float* k, const float* v,
                                 std::int64_t batch, std::int64_t dim, float scale,
                                 const AttentionLayout& layout, float* o, float* probs) {
  checkShape(layout, batch, dim);
  require(q, "q");
  require(k, "k");
  require(v, "v");
  require(o, "o");
  require(probs, "probs");
  checkBackend(backend, layout);
  const detail::AttentionArgs a{batch, dim, scale, layout};
  switch (backend) {
    case Backend::Reference: return detail::attentionForwardRef(a, q, k, v, o, probs);
    case Backend::Cpu:
#if defined(DARKROOM_CPU_NEON)
      return detail::attentionForwardNeon(a, q, k, v, o, probs);
#elif defined(DARKROOM_CPU_AVX2)
      return detail::attentionForwardAvx2(a, q, k, v, o, probs);
#else
      break;  // requireBackend has thrown: no SIMD kernels for this processor
#endif
    case Backend::Cuda:
#ifdef DARKROOM_HAVE_CUDA
      return detail::attentionForwardCuda(a, q, k, v, o, probs);
#else
      break;
#endif
  }
  throw KernelUnavailable("block-sparse attention: unknown back end");
}

void blockSparseAttentionBackward(Backend backend, const float* q, const float* k,
                                  const float* v, const float* o, const float* probs,
                                  const float* d_o, std::int64_t batch, std::int64_t dim,
                                  float scale, const AttentionLayout& layout, float* dq, float* dk,
                                  float* dv) {
  checkShape(layout, batch, dim);
  require(q, "q");
  require(k, "k");
  require(v, "v");
  require(o, "o");
  require(probs, "probs");
  require(d_o, "d_o");
  require(dq, "dq");
  require(dk, "dk");
  require(dv, "dv");
  checkBackend(backend, layout);
  const detail::AttentionArgs a{batch, dim, scale, layout};
  switch (backend) {
    case Backend::Reference:
      return detail::attentionBackwardRef(a, q, k, v, o, probs, d_o, dq, dk, dv);
    case Backend::Cpu:
#if defined(DARKROOM_CPU_NEON)
      return detail::attentionBackwardNeon(a, q, k, v, o, probs, d_o, dq, dk, dv);
#elif defined(DARKROOM_CPU_AVX2)
      return detail::attentionBackwardAvx2(a, q, k, v, o, probs, d_o, dq, dk, dv);
#else
      break;  // requireBackend has thrown: no SIMD kernels for this processor
#endif
    case Backend::Cuda:
#ifdef DARKROOM_HAVE_CUDA
      return detail::attentionBackwardCuda(a, q, k, v, o, probs, d_o, dq, dk, dv);
#else
      break;
#endif
  }
  throw KernelUnavailable("block-sparse attention: unknown back end");
}

}  // namespace darkroom::kernels

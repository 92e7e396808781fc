// Dispatcher of the block-sparse MLP products: checks every argument once, here, so that the back
// ends can trust their inputs, then runs exactly the back end asked for (no silent fallback).
#include "darkroom/kernels/block_sparse_mlp.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "block_sparse_mlp_impl.h"

namespace darkroom::kernels {
namespace {

[[noreturn]] void bad(const char* op, const std::string& what) {
  throw std::invalid_argument(std::string(op) + ": " + what);
}

std::int64_t blockCount(std::int64_t n, std::int64_t block) { return (n + block - 1) / block; }

// Checks the parts of a layout that need no access to `blocks` itself.
void checkShape(const char* op, std::int64_t n, const std::int32_t* blocks, std::int64_t count,
                std::int64_t block) {
  if (n < 0) bad(op, "n = " + std::to_string(n) + " is negative");
  if (block <= 0) bad(op, "block = " + std::to_string(block) + " must be positive");
  if (count < 0) bad(op, "layout.count = " + std::to_string(count) + " is negative");
  if (count > blockCount(n, block))
    bad(op, "layout.count = " + std::to_string(count) + " exceeds the " +
                std::to_string(blockCount(n, block)) + " blocks of n = " + std::to_string(n) +
                " with block = " + std::to_string(block));
  if (count > 0 && !blocks) bad(op, "layout.blocks is null but layout.count > 0");
}

// Checks a block list in host memory: every entry in range, strictly ascending.
void checkHostBlocks(const char* op, std::int64_t n, const std::int32_t* blocks,
                     std::int64_t count, std::int64_t block) {
  checkShape(op, n, blocks, count, block);
  const std::int64_t total = blockCount(n, block);
  for (std::int64_t i = 0; i < count; ++i) {
    if (blocks[i] < 0 || blocks[i] >= total)
      bad(op, "layout.blocks[" + std::to_string(i) + "] = " + std::to_string(blocks[i]) +
                  " is outside [0, " + std::to_string(total) + ") for n = " + std::to_string(n) +
                  " and block = " + std::to_string(block));
    if (i > 0 && blocks[i] <= blocks[i - 1])
      bad(op, "layout.blocks must be strictly ascending, but blocks[" + std::to_string(i - 1) +
                  "] = " + std::to_string(blocks[i - 1]) + " and blocks[" + std::to_string(i) +
                  "] = " + std::to_string(blocks[i]));
  }
}

// Width of the compact activations without reading the list: exact when the last weight block is
// full; otherwise only the last listed block can be the short one, so this is an upper bound.
std::int64_t widthBound(std::int64_t count, std::int64_t block) { return count * block; }

std::int64_t hostWidth(std::int64_t n, const std::int32_t* blocks, std::int64_t count,
                       std::int64_t block) {
  if (count == 0) return 0;
  const std::int64_t last = blocks[count - 1];
  return (count - 1) * block + std::min(block, n - last * block);
}

void checkSizes(const char* op, std::int64_t rows, std::int64_t k) {
  if (rows < 0) bad(op, "rows = " + std::to_string(rows) + " is negative");
  if (k < 0) bad(op, "k = " + std::to_string(k) + " is negative");
}

// A pointer may be null only when the array it stands for is empty (empty tensors often have no
// storage).
void checkPointer(const char* op, const char* name, const void* p, std::int64_t elements) {
  if (!p && elements > 0)
    bad(op, std::string(name) + " is null but holds " + std::to_string(elements) + " elements");
}

bool hostBackend(Backend backend) {
  return backend == Backend::Reference || backend == Backend::Cpu;
}

// Everything gatherNT and scatterNN share: sizes, layout, availability. Returns the compact width
// (for Cuda, widthBound: the kernels find the exact width on the device).
std::int64_t prepare(const char* op, Backend backend, std::int64_t rows, std::int64_t k,
                     std::int64_t n, const BlockLayout& layout) {
  checkSizes(op, rows, k);
  if (hostBackend(backend)) {
    checkHostBlocks(op, n, layout.blocks, layout.count, layout.block);
  } else if (backend == Backend::Cuda) {
    checkShape(op, n, layout.blocks, layout.count, layout.block);
  } else {
    bad(op, "unknown back end " + std::to_string(static_cast<int>(backend)));
  }
  requireBackend(backend, op);
  return hostBackend(backend) ? hostWidth(n, layout.blocks, layout.count, layout.block)
                              : widthBound(layout.count, layout.block);
}

}  // namespace

std::int64_t compactWidth(std::int64_t n, const std::int32_t* host_blocks, std::int64_t count,
                          std::int64_t block) {
  checkHostBlocks("compactWidth", n, host_blocks, count, block);
  return hostWidth(n, host_blocks, count, block);
}

void gatherNT(Backend backend, const float* a, std::int64_t rows, std::int64_t k, const float* w,
              std::int64_t n, const BlockLayout& layout, const float* bias, float* out) {
  const char* op = "gatherNT";
  const std::int64_t width = prepare(op, backend, rows, k, n, layout);
  checkPointer(op, "a", a, rows * k);
  // Only the active rows of w are read, but a weight with rows is never legitimately null.
  checkPointer(op, "w", w, n * k);
  checkPointer(op, "out", out, rows * width);
  const detail::MlpArgs m{rows, k, n, layout, width};
  switch (backend) {
    case Backend::Reference: return detail::gatherNTRef(m, a, w, bias, out);
    case Backend::Cpu:
#if defined(DARKROOM_CPU_NEON)
      return detail::gatherNTNeon(m, a, w, bias, out);
#elif defined(DARKROOM_CPU_AVX2)
      return detail::gatherNTAvx2(m, a, w, bias, out);
#else
      break;  // requireBackend has thrown: no SIMD kernels for this processor
#endif
    case Backend::Cuda:
#ifdef DARKROOM_HAVE_CUDA
      return detail::gatherNTCuda(m, a, w, bias, out);
#else
      break;  // requireAvailable has thrown
#endif
  }
}

void scatterNN(Backend backend, const float* a, std::int64_t rows, const float* w,
               std::int64_t n, std::int64_t k, const BlockLayout& layout, const float* bias,
               float* out) {
  const char* op = "scatterNN";
  const std::int64_t width = prepare(op, backend, rows, k, n, layout);
  checkPointer(op, "a", a, rows * width);
  checkPointer(op, "w", w, n * k);
  checkPointer(op, "out", out, rows * k);
  const detail::MlpArgs m{rows, k, n, layout, width};
  switch (backend) {
    case Backend::Reference: return detail::scatterNNRef(m, a, w, bias, out);
    case Backend::Cpu:
#if defined(DARKROOM_CPU_NEON)
      return detail::scatterNNNeon(m, a, w, bias, out);
#elif defined(DARKROOM_CPU_AVX2)
      return detail::scatterNNAvx2(m, a, w, bias, out);
#else
      break;  // requireBackend has thrown: no SIMD kernels for this processor
#endif
    case Backend::Cuda:
#ifdef DARKROOM_HAVE_CUDA
      return detail::scatterNNCuda(m, a, w, bias, out);
#else
      break;  // requireAvailable has thrown
#endif
  }
}

}  // namespace darkroom::kernels

// The back ends of the quantized products, behind the dispatcher in quant_gemm.cpp, which has
// already checked every argument: a known type, layout and mode (Unpack never with IQ4_NL),
// positive sizes, batch >= 1 and non-null pointers.
#pragma once

#include <cstdint>

#include "darkroom/kernels/quant_gemm.h"

namespace darkroom::kernels::detail {

// The batch rows one pass over the weights serves; larger batches run as chunks of this many.
constexpr std::int64_t kBatchChunk = 16;

void quantGemmRef(const QuantMatrixView& w, const float* x, std::int64_t batch, float* y,
                  Dequant mode);
void denseGemmRef(const float* w, std::int64_t rows, std::int64_t cols, const float* x,
                  std::int64_t batch, float* y);

void quantGemmAvx2(const QuantMatrixView& w, const float* x, std::int64_t batch, float* y,
                   Dequant mode);
void denseGemmAvx2(const float* w, std::int64_t rows, std::int64_t cols, const float* x,
                   std::int64_t batch, float* y);
// The AVX512-BF16 tile kernel (cpu/quant_gemm_bf16.cpp): Tile layout, Q4_0 or IQ4_NL, Dequant::Lut
// only; quantGemmAvx2 calls it when quantGemmCpuIsa() says "avx512-bf16".
bool cpuHasAvx512Bf16();
void quantGemmBf16(const QuantMatrixView& w, const float* x, std::int64_t batch, float* y);

// NEON (cpu/quant_gemm_neon.cpp, aarch64 builds): every type, layout and mode, float32 sums.
void quantGemmNeon(const QuantMatrixView& w, const float* x, std::int64_t batch, float* y,
                   Dequant mode);
void denseGemmNeon(const float* w, std::int64_t rows, std::int64_t cols, const float* x,
                   std::int64_t batch, float* y);

#ifdef DARKROOM_HAVE_CUDA
// Every pointer (w.data included) is device memory. Launched on the legacy default stream;
// launch errors throw std::runtime_error.
void quantGemmCuda(const QuantMatrixView& w, const float* x, std::int64_t batch, float* y,
                   Dequant mode);
void denseGemmCuda(const float* w, std::int64_t rows, std::int64_t cols, const float* x,
                   std::int64_t batch, float* y);
#endif

}  // namespace darkroom::kernels::detail

// Mixed-precision products with packed 4/8-bit weights (quant_matrix.h) and float32
// activations, for decoding a batch of candidates at once (the test-time-scaling batch, 1…16;
// any batch works, larger ones run as chunks of 16):
//
//   y[b, n] = Σ_k x[b, k] · W[n, k]      x: [batch, cols] float32, y: [batch, rows] float32
//
// Two ways to turn codes into values, so they can be compared:
//   Lut     a 16-entry code → value table (codeTable) looked up in registers, the group scale
//           broadcast per super-block (or per RowGroups block)
//   Unpack  the plain way: mask and shift the nibbles, convert int → float, subtract 8, multiply
//           by the scale (Q4_0 only; IQ4_NL has no arithmetic form and needs Lut)
// Q8_0 weights have no table: both modes convert int8 → float.
//
// denseGemm is the float32 baseline with the same loop structure and threading.
// Pointers are on the back end's device (host for Reference and Cpu). `y` is overwritten.
#pragma once

#include <cstdint>

#include "darkroom/kernels/backend.h"
#include "darkroom/kernels/quant_matrix.h"

namespace darkroom::kernels {

enum class Dequant { Lut, Unpack };
const char* dequantName(Dequant mode);  // "lut", "unpack"

// Throws std::invalid_argument for batch < 1, null pointers, or Unpack with IQ4_NL.
void quantGemm(Backend backend, const QuantMatrixView& w, const float* x, std::int64_t batch,
               float* y, Dequant mode = Dequant::Lut);

// The instruction set the Cpu back end's tile kernels use in this process: "avx512-bf16" on a CPU
// with AVX-512F/BW and AVX512-BF16 (the 4-bit types in Lut mode then multiply bf16 weights and
// activations with float32 sums: within Σ|x·w|·2^-7 of the exact product; Q8_0 and Unpack stay on
// the float32 AVX-512 kernels), "avx512" with AVX-512F/BW only, else "avx2" (the baseline, and
// what every other Cpu kernel uses). The environment variable DARKROOM_CPU_ISA, read at every
// call, narrows the choice so that tests and benchmarks can run every version on one machine:
// "avx512" keeps them to the float32 AVX-512 kernels, "avx2" to AVX2 (other values are ignored).
// On aarch64 it is "neon" (one vqtbl1q_s8 per 16 codes), on other processors "none".
const char* quantGemmCpuIsa();

// y[b, n] = Σ_k x[b, k] · w[n, k], w row-major float32 [rows, cols].
void denseGemm(Backend backend, const float* w, std::int64_t rows, std::int64_t cols,
               const float* x, std::int64_t batch, float* y);

}  // namespace darkroom::kernels

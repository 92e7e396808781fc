// Dispatcher of the quantized products: checks every argument once, here, so that the back ends
// can trust their inputs, then runs exactly the back end asked for (no silent fallback).
#include "darkroom/kernels/quant_gemm.h"

#include <stdexcept>
#include <string>

#include "quant_gemm_impl.h"

namespace darkroom::kernels {
namespace {

[[noreturn]] void bad(const char* op, const std::string& what) {
  throw std::invalid_argument(std::string(op) + ": " + what);
}

void checkBackend(const char* op, Backend backend) {
  if (backend != Backend::Reference && backend != Backend::Cpu && backend != Backend::Cuda)
    bad(op, "unknown back end " + std::to_string(static_cast<int>(backend)));
}

void checkProduct(const char* op, std::int64_t rows, std::int64_t cols, const float* x,
                  std::int64_t batch, float* y) {
  if (rows <= 0 || cols <= 0)
    bad(op, "the weight is " + std::to_string(rows) + " x " + std::to_string(cols) +
                "; both sizes must be positive");
  if (batch < 1) bad(op, "batch = " + std::to_string(batch) + "; it must be at least 1");
  if (!x) bad(op, "x is null; it must hold batch x cols floats");
  if (!y) bad(op, "y is null; it must hold batch x rows floats");
}

}  // namespace

const char* dequantName(Dequant mode) {
  switch (mode) {
    case Dequant::Lut: return "lut";
    case Dequant::Unpack: return "unpack";
  }
  return "unknown";
}

void quantGemm(Backend backend, const QuantMatrixView& w, const float* x, std::int64_t batch,
               float* y, Dequant mode) {
  const char* op = "quantGemm";
  checkBackend(op, backend);
  const int type = static_cast<int>(w.type), layout = static_cast<int>(w.layout);
  if (type < 0 || type > 2) bad(op, "unknown quantization type " + std::to_string(type));
  if (layout < 0 || layout > 1) bad(op, "unknown quantized layout " + std::to_string(layout));
  if (mode != Dequant::Lut && mode != Dequant::Unpack)
    bad(op, "unknown dequantization mode " + std::to_string(static_cast<int>(mode)));
  if (mode == Dequant::Unpack && w.type == QuantType::IQ4_NL)
    bad(op, "iq4_nl codes stand for a non-linear table and have no arithmetic unpacking; use "
            "Dequant::Lut");
  checkProduct(op, w.rows, w.cols, x, batch, y);
  if (!w.data) bad(op, "the packed weight's data is null");
  requireBackend(backend, op);
  switch (backend) {
    case Backend::Reference: return detail::quantGemmRef(w, x, batch, y, mode);
    case Backend::Cpu:
#if defined(DARKROOM_CPU_NEON)
      return detail::quantGemmNeon(w, x, batch, y, mode);
#elif defined(DARKROOM_CPU_AVX2)
      return detail::quantGemmAvx2(w, x, batch, y, mode);
#else
      break;  // requireBackend has thrown: no SIMD kernels for this processor
#endif
    case Backend::Cuda:
#ifdef DARKROOM_HAVE_CUDA
      return detail::quantGemmCuda(w, x, batch, y, mode);
#else
      break;  // requireAvailable has thrown
#endif
  }
}

void denseGemm(Backend backend, const float* w, std::int64_t rows, std::int64_t cols,
               const float* x, std::int64_t batch, float* y) {
  const char* op = "denseGemm";
  checkBackend(op, backend);
  checkProduct(op, rows, cols, x, batch, y);
  if (!w) bad(op, "w is null; it must hold rows x cols floats");
  requireBackend(backend, op);
  switch (backend) {
    case Backend::Reference: return detail::denseGemmRef(w, rows, cols, x, batch, y);
    case Backend::Cpu:
#if defined(DARKROOM_CPU_NEON)
      return detail::denseGemmNeon(w, rows, cols, x, batch, y);
#elif defined(DARKROOM_CPU_AVX2)
      return detail::denseGemmAvx2(w, rows, cols, x, batch, y);
#else
      break;  // requireBackend has thrown: no SIMD kernels for this processor
#endif
    case Backend::Cuda:
#ifdef DARKROOM_HAVE_CUDA
      return detail::denseGemmCuda(w, rows, cols, x, batch, y);
#else
      break;  // requireAvailable has thrown
#endif
  }
}

#if !defined(DARKROOM_CPU_AVX2) && !defined(DARKROOM_CPU_NEON)
const char* quantGemmCpuIsa() { return "none"; }  // the Cpu back end is unavailable here
#endif

}  // namespace darkroom::kernels

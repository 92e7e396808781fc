// The quantized products of every back end against the scalar reference, for every type, layout
// and dequantization mode, on fresh random inputs of awkward sizes and batches; the reference
// itself against a dense product of the dequantized matrix; and the argument checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "darkroom/kernels/quant_gemm.h"
#include "fresh_seed.h"

#ifdef DARKROOM_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace darkroom::kernels {
namespace {

using Index = std::int64_t;

// float → bf16 → float, round to nearest even (finite values).
float roundToBf16(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&v, &bits, 4);
  return v;
}

std::vector<float> randomVector(std::mt19937& rng, Index size, float scale) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(static_cast<std::size_t>(size));
  for (float& x : v) x = dist(rng);
  return v;
}

struct Shape {
  Index rows, cols;
  std::vector<Index> batches;
};

// Sizes off the multiples of 32 in either dimension, a long row, every batch 1..16, one that
// needs three chunks of 16, and one past the 256 rows the CPU back end pads at a time.
const std::vector<Shape>& shapes() {
  static const std::vector<Shape> s = {
      {45, 70, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 37, 300}},
      {96, 160, {1, 8, 16}},
      {33, 4000, {1, 5, 37}},
      {1, 1, {1, 3}},
      {64, 32, {2}}};
  return s;
}

const QuantType kTypes[] = {QuantType::Q4_0, QuantType::IQ4_NL, QuantType::Q8_0};
const QuantLayout kLayouts[] = {QuantLayout::Tile, QuantLayout::RowGroups};

std::vector<Dequant> modesFor(QuantType type) {
  if (type == QuantType::IQ4_NL) return {Dequant::Lut};
  return {Dequant::Lut, Dequant::Unpack};
}

// How far a float32 sum of `cols` products may be from the exact one: relative to the sum of
// the products' magnitudes.
void expectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const std::vector<float>& magnitude, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5f + 2e-5f * magnitude[i]) << what << " at " << i;
}

// The largest |got − want| of a comparison and the largest ratio of it to the bound
// 1e-5 + relative · magnitude, for the line a comparison prints when it passes.
struct WorstError {
  double abs = 0, ratio = 0;
  void add(const std::vector<float>& got, const std::vector<float>& want,
           const std::vector<float>& magnitude, double relative) {
    for (std::size_t i = 0; i < got.size() && i < want.size(); ++i) {
      const double e = std::fabs(double(got[i]) - want[i]);
      abs = std::max(abs, e);
      ratio = std::max(ratio, e / (1e-5 + relative * magnitude[i]));
    }
  }
};

// The AVX512-BF16 kernel rounds each weight q·d and each activation to bf16 (8 significant bits,
// nearest even: relative error ≤ 2^-8 each, so ≤ 2^-7 + 2^-16 per product) and sums in float32:
// it is within Σ_k |x_k · w_k| · (2^-7 + 2^-16) of the exact product, plus float32 rounding. (A
// bound for the worst case, which a single product nearly reaches; sums of many products are
// typically ~2^-8/√K relative to Σ |x·w|.)
void expectCloseBf16(const std::vector<float>& got, const std::vector<float>& want,
                     const std::vector<float>& magnitude, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5f + (0x1p-7f + 0x1p-16f + 2e-5f) * magnitude[i]) << what << " at " << i;
}

// Which products the Cpu back end sends to its bf16 kernel in this process.
bool runsInBf16(Backend backend, QuantType type, QuantLayout layout, Dequant mode) {
  return backend == Backend::Cpu && std::strcmp(quantGemmCpuIsa(), "avx512-bf16") == 0 &&
         type != QuantType::Q8_0 && layout == QuantLayout::Tile && mode == Dequant::Lut;
}

// Sets DARKROOM_CPU_ISA while a test runs and puts back what was there.
class IsaOverride {
 public:
  explicit IsaOverride(const char* isa) {
    if (const char* old = std::getenv("DARKROOM_CPU_ISA")) had_ = true, old_ = old;
    ::setenv("DARKROOM_CPU_ISA", isa, 1);
  }
  ~IsaOverride() {
    if (had_) ::setenv("DARKROOM_CPU_ISA", old_.c_str(), 1);
    else ::unsetenv("DARKROOM_CPU_ISA");
  }
  IsaOverride(const IsaOverride&) = delete;
  IsaOverride& operator=(const IsaOverride&) = delete;

 private:
  bool had_ = false;
  std::string old_;
};

// Σ_k |x[b, k] · w[n, k]| for each output.
std::vector<float> magnitudes(const std::vector<float>& w, Index rows, Index cols,
                              const std::vector<float>& x, Index batch) {
  std::vector<float> out(static_cast<std::size_t>(batch * rows));
  for (Index b = 0; b < batch; ++b)
    for (Index n = 0; n < rows; ++n) {
      double s = 0;
      for (Index k = 0; k < cols; ++k)
        s += std::fabs(double(x[std::size_t(b * cols + k)]) * w[std::size_t(n * cols + k)]);
      out[std::size_t(b * rows + n)] = static_cast<float>(s);
    }
  return out;
}

#ifdef DARKROOM_HAVE_CUDA
template <typename T>
struct DeviceArray {
  T* ptr = nullptr;
  explicit DeviceArray(const std::vector<T>& host) {
    EXPECT_EQ(cudaMalloc(&ptr, host.size() * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
              cudaSuccess);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { cudaFree(ptr); }
  void copyTo(std::vector<T>& host) const {
    EXPECT_EQ(cudaMemcpy(host.data(), ptr, host.size() * sizeof(T), cudaMemcpyDeviceToHost),
              cudaSuccess);
  }
};
#endif

// Runs the product on `backend`, copying to and from the GPU for Cuda.
std::vector<float> runQuant(Backend backend, const QuantMatrix& m, const std::vector<float>& x,
                            Index batch, Dequant mode) {
  std::vector<float> y(static_cast<std::size_t>(batch * m.rows), -12345.0f);
  if (backend != Backend::Cuda) {
    quantGemm(backend, m.view(), x.data(), batch, y.data(), mode);
    return y;
  }
#ifdef DARKROOM_HAVE_CUDA
  DeviceArray<std::uint8_t> data(m.data);
  DeviceArray<float> dx(x), dy(y);
  QuantMatrixView v = m.view();
  v.data = data.ptr;
  quantGemm(backend, v, dx.ptr, batch, dy.ptr, mode);
  dy.copyTo(y);
#endif
  return y;
}

std::vector<float> runDense(Backend backend, const std::vector<float>& w, Index rows, Index cols,
                            const std::vector<float>& x, Index batch) {
  std::vector<float> y(static_cast<std::size_t>(batch * rows), -12345.0f);
  if (backend != Backend::Cuda) {
    denseGemm(backend, w.data(), rows, cols, x.data(), batch, y.data());
    return y;
  }
#ifdef DARKROOM_HAVE_CUDA
  DeviceArray<float> dw(w), dx(x), dy(y);
  denseGemm(backend, dw.ptr, rows, cols, dx.ptr, batch, dy.ptr);
  dy.copyTo(y);
#endif
  return y;
}

// The reference is the exact product of the values dequantizeMatrix reports.
TEST(QuantGemm, ReferenceEqualsDenseProductOfTheDequantizedMatrix) {
  std::mt19937 rng(freshSeed());
  SCOPED_TRACE("seed " + std::to_string(freshSeed()));
  for (const Shape& s : shapes()) {
    const std::vector<float> w = randomVector(rng, s.rows * s.cols, 0.1f);
    const Index batch = s.batches.back();
    const std::vector<float> x = randomVector(rng, batch * s.cols, 1.0f);
    for (QuantType type : kTypes)
      for (QuantLayout layout : kLayouts) {
        const QuantMatrix m = quantizeMatrix(w.data(), s.rows, s.cols, type, layout);
        std::vector<float> deq(w.size());
        dequantizeMatrix(m.view(), deq.data());
        const std::vector<float> dense = runDense(Backend::Reference, deq, s.rows, s.cols, x, batch);
        const std::vector<float> mag = magnitudes(deq, s.rows, s.cols, x, batch);
        for (Dequant mode : modesFor(type)) {
          const std::string what = std::string(quantTypeName(type)) + " " +
                                   quantLayoutName(layout) + " " + dequantName(mode);
          // Both sums are in double over the same float values: only the final rounding differs.
          const std::vector<float> y = runQuant(Backend::Reference, m, x, batch, mode);
          for (std::size_t i = 0; i < y.size(); ++i)
            ASSERT_NEAR(y[i], dense[i], 1e-6f * (1 + mag[i])) << what << " at " << i;
        }
      }
  }
}

void compareWithReference(Backend backend) {
  std::string why;
  if (!backendAvailable(backend, &why)) GTEST_SKIP() << backendName(backend) << ": " << why;
  std::mt19937 rng(freshSeed());
  SCOPED_TRACE("seed " + std::to_string(freshSeed()));
  WorstError worst;
  for (const Shape& s : shapes()) {
    const std::vector<float> w = randomVector(rng, s.rows * s.cols, 0.1f);
    for (QuantType type : kTypes)
      for (QuantLayout layout : kLayouts) {
        const QuantMatrix m = quantizeMatrix(w.data(), s.rows, s.cols, type, layout);
        std::vector<float> deq(w.size());
        dequantizeMatrix(m.view(), deq.data());
        for (Index batch : s.batches) {
          const std::vector<float> x = randomVector(rng, batch * s.cols, 1.0f);
          const std::vector<float> mag = magnitudes(deq, s.rows, s.cols, x, batch);
          for (Dequant mode : modesFor(type)) {
            const std::string what = std::string(backendName(backend)) + " " +
                                     quantTypeName(type) + " " + quantLayoutName(layout) + " " +
                                     dequantName(mode) + " " + std::to_string(s.rows) + " x " +
                                     std::to_string(s.cols) + " batch " + std::to_string(batch);
            const bool bf16 = runsInBf16(backend, type, layout, mode);
            const std::vector<float> got = runQuant(backend, m, x, batch, mode);
            const std::vector<float> want = runQuant(Backend::Reference, m, x, batch, mode);
            (bf16 ? expectCloseBf16 : expectClose)(got, want, mag, what);
            worst.add(got, want, mag, bf16 ? 0x1p-7 + 0x1p-16 + 2e-5 : 2e-5);
          }
        }
      }
  }
  std::cout << backendName(backend) << " (" << quantGemmCpuIsa() << ") vs reference, worst "
            << "|error| " << worst.abs << ", worst |error| / bound " << worst.ratio << "\n";
}

TEST(QuantGemm, CpuMatchesReference) {
  SCOPED_TRACE(std::string("tile kernels: ") + quantGemmCpuIsa());
  compareWithReference(Backend::Cpu);
}

// On an AVX-512 CPU the tile kernels have a second, AVX2 version: test it too.
TEST(QuantGemm, CpuAvx2MatchesReference) {
  if (std::strncmp(quantGemmCpuIsa(), "avx512", 6) != 0)
    GTEST_SKIP() << "the Cpu back end here has one version of its tile kernels ("
                 << quantGemmCpuIsa() << "): CpuMatchesReference already ran them";
  const IsaOverride isa("avx2");
  EXPECT_STREQ(quantGemmCpuIsa(), "avx2");
  compareWithReference(Backend::Cpu);
}

// On an AVX512-BF16 CPU the 4-bit tile types in Lut mode default to the bf16 kernel; the float32
// AVX-512 kernels they would otherwise run are checked here, to float32 accuracy.
TEST(QuantGemm, CpuAvx512Float32MatchesReference) {
  if (std::strcmp(quantGemmCpuIsa(), "avx512-bf16") != 0)
    GTEST_SKIP() << "this CPU has no AVX512-BF16: CpuMatchesReference already ran the float32 "
                    "kernels";
  const IsaOverride isa("avx512");
  EXPECT_STREQ(quantGemmCpuIsa(), "avx512");
  compareWithReference(Backend::Cpu);
}

// The bf16 kernel on shapes off the multiples of 32, every batch 1..16 and more: against the
// reference within the bf16 bound (Σ |x·w| · (2^-7 + 2^-16)), and against the exact product of the
// bf16-rounded operands to float32 accuracy (the kernel rounds exactly those, and nothing else).
TEST(QuantGemm, CpuBf16MatchesReference) {
  std::string why;
  if (!backendAvailable(Backend::Cpu, &why)) GTEST_SKIP() << "cpu: " << why;
  if (std::strcmp(quantGemmCpuIsa(), "avx512-bf16") != 0)
    GTEST_SKIP() << "this CPU has no AVX512-BF16 (avx512_bf16 in /proc/cpuinfo), or "
                    "DARKROOM_CPU_ISA chose another kernel: the bf16 kernel cannot run here";
  std::mt19937 rng(freshSeed());
  SCOPED_TRACE("seed " + std::to_string(freshSeed()));
  const std::vector<Shape> bf16Shapes = {
      {45, 70, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 37}},
      {77, 333, {1, 2, 3, 7, 8, 9, 16, 37}},
      {33, 4000, {1, 5, 8, 37}},
      {1, 1, {1, 3}},
      {64, 32, {2, 16}}};
  for (const Shape& s : bf16Shapes) {
    const std::vector<float> w = randomVector(rng, s.rows * s.cols, 0.1f);
    for (QuantType type : {QuantType::Q4_0, QuantType::IQ4_NL}) {
      const QuantMatrix m = quantizeMatrix(w.data(), s.rows, s.cols, type, QuantLayout::Tile);
      std::vector<float> deq(w.size());
      dequantizeMatrix(m.view(), deq.data());
      std::vector<float> deq16(deq);
      for (float& v : deq16) v = roundToBf16(v);
      for (Index batch : s.batches) {
        const std::vector<float> x = randomVector(rng, batch * s.cols, 1.0f);
        std::vector<float> x16(x);
        for (float& v : x16) v = roundToBf16(v);
        const std::string what = std::string(quantTypeName(type)) + " tile bf16 " +
                                 std::to_string(s.rows) + " x " + std::to_string(s.cols) +
                                 " batch " + std::to_string(batch);
        const std::vector<float> got = runQuant(Backend::Cpu, m, x, batch, Dequant::Lut);
        expectCloseBf16(got, runQuant(Backend::Reference, m, x, batch, Dequant::Lut),
                        magnitudes(deq, s.rows, s.cols, x, batch), what);
        expectClose(got, runDense(Backend::Reference, deq16, s.rows, s.cols, x16, batch),
                    magnitudes(deq16, s.rows, s.cols, x16, batch), what + " (bf16 operands)");
      }
    }
  }
}
TEST(QuantGemm, CudaMatchesReference) { compareWithReference(Backend::Cuda); }

void compareDenseWithReference(Backend backend) {
  std::string why;
  if (!backendAvailable(backend, &why)) GTEST_SKIP() << backendName(backend) << ": " << why;
  std::mt19937 rng(freshSeed());
  SCOPED_TRACE("seed " + std::to_string(freshSeed()));
  WorstError worst;
  for (const Shape& s : shapes()) {
    const std::vector<float> w = randomVector(rng, s.rows * s.cols, 0.1f);
    for (Index batch : s.batches) {
      const std::vector<float> x = randomVector(rng, batch * s.cols, 1.0f);
      const std::vector<float> got = runDense(backend, w, s.rows, s.cols, x, batch);
      const std::vector<float> want = runDense(Backend::Reference, w, s.rows, s.cols, x, batch);
      const std::vector<float> mag = magnitudes(w, s.rows, s.cols, x, batch);
      expectClose(got, want, mag,
                  std::string(backendName(backend)) + " dense " + std::to_string(s.rows) + " x " +
                      std::to_string(s.cols) + " batch " + std::to_string(batch));
      worst.add(got, want, mag, 2e-5);
    }
  }
  std::cout << backendName(backend) << " dense vs reference, worst |error| " << worst.abs
            << ", worst |error| / bound " << worst.ratio << "\n";
}

TEST(QuantGemm, CpuDenseMatchesReference) { compareDenseWithReference(Backend::Cpu); }
TEST(QuantGemm, CudaDenseMatchesReference) { compareDenseWithReference(Backend::Cuda); }

// Q4_0's table is q - 8: the two modes compute the same values.
TEST(QuantGemm, LutAndUnpackAgreeOnQ4_0) {
  std::mt19937 rng(freshSeed());
  const Index rows = 70, cols = 45, batch = 3;
  const std::vector<float> w = randomVector(rng, rows * cols, 0.1f);
  const std::vector<float> x = randomVector(rng, batch * cols, 1.0f);
  // The float32 kernels; the bf16 one rounds the table's values, which Unpack does not.
  const IsaOverride isa(std::strcmp(quantGemmCpuIsa(), "avx2") == 0 ? "avx2" : "avx512");
  for (QuantLayout layout : kLayouts) {
    const QuantMatrix m = quantizeMatrix(w.data(), rows, cols, QuantType::Q4_0, layout);
    const Backend b = bestHostBackend();
    EXPECT_EQ(runQuant(b, m, x, batch, Dequant::Lut), runQuant(b, m, x, batch, Dequant::Unpack));
  }
}

TEST(QuantGemm, BadArgumentsThrow) {
  std::vector<float> w(64 * 64, 0.5f), x(64 * 4, 1.0f), y(64 * 4);
  const QuantMatrix q4 = quantizeMatrix(w.data(), 64, 64, QuantType::Q4_0, QuantLayout::Tile);
  const QuantMatrix nl = quantizeMatrix(w.data(), 64, 64, QuantType::IQ4_NL, QuantLayout::Tile);
  for (Backend b : {Backend::Reference, Backend::Cpu, Backend::Cuda}) {
    SCOPED_TRACE(backendName(b));
    // Argument errors come before availability: the same answer on every machine.
    try {
      quantGemm(b, nl.view(), x.data(), 1, y.data(), Dequant::Unpack);
      FAIL() << "unpack with iq4_nl ran";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("Dequant::Lut"), std::string::npos) << e.what();
    }
    EXPECT_THROW(quantGemm(b, q4.view(), x.data(), 0, y.data()), std::invalid_argument);
    EXPECT_THROW(quantGemm(b, q4.view(), nullptr, 1, y.data()), std::invalid_argument);
    EXPECT_THROW(quantGemm(b, q4.view(), x.data(), 1, nullptr), std::invalid_argument);
    QuantMatrixView noData = q4.view();
    noData.data = nullptr;
    EXPECT_THROW(quantGemm(b, noData, x.data(), 1, y.data()), std::invalid_argument);
    QuantMatrixView noRows = q4.view();
    noRows.rows = 0;
    EXPECT_THROW(quantGemm(b, noRows, x.data(), 1, y.data()), std::invalid_argument);
    QuantMatrixView badType = q4.view();
    badType.type = static_cast<QuantType>(7);
    EXPECT_THROW(quantGemm(b, badType, x.data(), 1, y.data()), std::invalid_argument);
    EXPECT_THROW(quantGemm(b, q4.view(), x.data(), 1, y.data(), static_cast<Dequant>(5)),
                 std::invalid_argument);
    EXPECT_THROW(denseGemm(b, w.data(), 64, 64, x.data(), -1, y.data()), std::invalid_argument);
    EXPECT_THROW(denseGemm(b, nullptr, 64, 64, x.data(), 1, y.data()), std::invalid_argument);
    EXPECT_THROW(denseGemm(b, w.data(), 64, 0, x.data(), 1, y.data()), std::invalid_argument);
  }
}

TEST(QuantGemm, UnavailableBackEndSaysWhy) {
  std::string why;
  if (backendAvailable(Backend::Cuda, &why)) GTEST_SKIP() << "a GPU is usable here";
  std::vector<float> w(32 * 32, 0.5f), x(32, 1.0f), y(32);
  const QuantMatrix q = quantizeMatrix(w.data(), 32, 32, QuantType::Q4_0, QuantLayout::Tile);
  EXPECT_THROW(quantGemm(Backend::Cuda, q.view(), x.data(), 1, y.data()), KernelUnavailable);
  EXPECT_THROW(denseGemm(Backend::Cuda, w.data(), 32, 32, x.data(), 1, y.data()),
               KernelUnavailable);
}

}  // namespace
}  // namespace darkroom::kernels

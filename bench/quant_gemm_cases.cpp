// Quantized GEMV/GEMM on the CPU back end: LUT vs unpack decoding, tile vs row layout, vs float32,
// for LLaMA-7B projection shapes (W rows × cols = 4096 × 4096 and 11008 × 4096) and the
// test-time-scaling batches 1, 2, 4, 8, 16; plus a STREAM-like copy for the machine's memory
// bandwidth, with the same OpenMP threads.
//
// Names are "quant_gemm/<kernel>/<rows>x<cols>/batch:<b>" with kernel one of
//   lut-tile         Q4_0, tile layout, Dequant::Lut, the kernel the CPU back end picks (label:
//                    quantGemmCpuIsa(): avx512-bf16 where the CPU has AVX512-BF16, else avx512
//                    or avx2)
//   lut-tile-avx512  the same with DARKROOM_CPU_ISA=avx512 (the float32 AVX-512 kernel)
//   lut-tile-avx2    the same with DARKROOM_CPU_ISA=avx2 (the AVX2 baseline of the tile kernels)
//   unpack-tile    Q4_0, tile layout, Dequant::Unpack
//   lut-rows       Q4_0, GGUF row blocks, Dequant::Lut
//   unpack-rows    Q4_0, GGUF row blocks, Dequant::Unpack
//   fp32           denseGemm on the float32 weights
// and "quant_gemm/copy". Every case reports weight_bytes_per_s (packed bytes read per second;
// copy: bytes read + written, STREAM's convention). bench/compare-quant-gemm prints the table.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "darkroom/kernels/quant_gemm.h"

namespace {

namespace dk = darkroom::kernels;
using Index = std::int64_t;

// The weights of one shape, made once (quantizing 11008 × 4096 takes a second) and kept.
struct Weights {
  std::vector<float> dense;
  dk::QuantMatrix tile, rows;
};

const Weights& weights(Index rows, Index cols) {
  static std::map<std::pair<Index, Index>, std::unique_ptr<Weights>> cache;
  auto& slot = cache[{rows, cols}];
  if (!slot) {
    slot = std::make_unique<Weights>();
    slot->dense.resize(static_cast<std::size_t>(rows * cols));
    std::mt19937 rng(42);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    for (float& v : slot->dense) v = dist(rng);
    slot->tile = dk::quantizeMatrix(slot->dense.data(), rows, cols, dk::QuantType::Q4_0,
                                    dk::QuantLayout::Tile);
    slot->rows = dk::quantizeMatrix(slot->dense.data(), rows, cols, dk::QuantType::Q4_0,
                                    dk::QuantLayout::RowGroups);
  }
  return *slot;
}

// Keeps DARKROOM_CPU_ISA set to `isa` (if not null) while one case runs.
struct IsaOverride {
  explicit IsaOverride(const char* isa) : active(isa != nullptr) {
    if (active) ::setenv("DARKROOM_CPU_ISA", isa, 1);
  }
  ~IsaOverride() {
    if (active) ::unsetenv("DARKROOM_CPU_ISA");
  }
  IsaOverride(const IsaOverride&) = delete;
  IsaOverride& operator=(const IsaOverride&) = delete;
  bool active;
};

void quantGemmCase(benchmark::State& state, const std::string& kernel, Index rows, Index cols,
                   Index batch) {
  const Weights& w = weights(rows, cols);
  std::vector<float> x(static_cast<std::size_t>(batch * cols)), y(std::size_t(batch * rows));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  const bool tile = kernel.find("tile") != std::string::npos;
  const dk::Dequant mode = kernel.rfind("unpack", 0) == 0 ? dk::Dequant::Unpack : dk::Dequant::Lut;
  const IsaOverride isa(kernel == "lut-tile-avx2"     ? "avx2"
                        : kernel == "lut-tile-avx512" ? "avx512"
                                                      : nullptr);
  const dk::QuantMatrix& q = tile ? w.tile : w.rows;
  double bytes = static_cast<double>(q.data.size());
  if (kernel == "fp32") {
    bytes = static_cast<double>(w.dense.size() * sizeof(float));
    for (auto _ : state) {
      dk::denseGemm(dk::Backend::Cpu, w.dense.data(), rows, cols, x.data(), batch, y.data());
      benchmark::DoNotOptimize(y.data());
    }
  } else {
    for (auto _ : state) {
      dk::quantGemm(dk::Backend::Cpu, q.view(), x.data(), batch, y.data(), mode);
      benchmark::DoNotOptimize(y.data());
    }
  }
  state.counters["weight_bytes_per_s"] = benchmark::Counter(
      bytes * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["batch"] = static_cast<double>(batch);
  if (tile && mode == dk::Dequant::Lut) state.SetLabel(dk::quantGemmCpuIsa());
}

// STREAM copy: b = a over arrays 8x the last-level cache, split over the OpenMP threads the
// kernels use (static schedule, like theirs).
void copyCase(benchmark::State& state) {
  constexpr Index kFloats = Index(64) << 20;  // 256 MiB per array
  std::vector<float> a(static_cast<std::size_t>(kFloats)), b(static_cast<std::size_t>(kFloats));
#pragma omp parallel for schedule(static)
  for (Index i = 0; i < kFloats; ++i) a[std::size_t(i)] = float(i % 7), b[std::size_t(i)] = 0.0f;
  float* src = a.data();
  float* dst = b.data();
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (Index i = 0; i < kFloats; ++i) dst[i] = src[i];
    benchmark::ClobberMemory();
  }
  state.counters["weight_bytes_per_s"] =
      benchmark::Counter(2.0 * sizeof(float) * double(kFloats) * double(state.iterations()),
                         benchmark::Counter::kIsRate);
}

const bool registered = [] {
  benchmark::RegisterBenchmark("quant_gemm/copy", copyCase)->UseRealTime()->Unit(benchmark::kMillisecond);
  const std::pair<Index, Index> shapes[] = {{4096, 4096}, {11008, 4096}};
  const char* kernels[] = {"lut-tile", "lut-tile-avx512", "lut-tile-avx2", "unpack-tile",
                           "lut-rows", "unpack-rows", "fp32"};
  for (auto [rows, cols] : shapes)
    for (const char* kernel : kernels)
      for (Index batch : {1, 2, 4, 8, 16}) {
        const std::string name = std::string("quant_gemm/") + kernel + "/" +
                                 std::to_string(rows) + "x" + std::to_string(cols) +
                                 "/batch:" + std::to_string(batch);
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
          quantGemmCase(s, kernel, rows, cols, batch);
        })->UseRealTime()->Unit(benchmark::kMillisecond);
      }
  return true;
}();

}  // namespace

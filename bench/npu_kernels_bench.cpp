// The NPU kernels' benchmarks (cases in quant_gemm_cases.cpp and lut_softmax_cases.cpp).
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();

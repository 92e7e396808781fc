// Block-sparse operators vs dense at several block sparsities and sequence lengths.
// The cases live in sparse_mlp_cases.cpp and sparse_attention_cases.cpp.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();

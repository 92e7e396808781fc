// Quantization for a mobile NPU (PAPERS.md §3): a checkpoint's projection weights packed as
// tile-aligned (or row-major group) 4-bit weights, with the error of every matrix and the
// perplexity of the quantized model next to float32; and the kernel benchmark behind the
// "free compute" curve.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/workspace.h"

namespace darkroom {

struct QuantizeOptions {
  std::string model;             // a model folder or a demo model name
  std::string layout = "tile";   // "tile" | "rows" (kernels::parseQuantLayout)
  std::string codes = "q4_0";    // "q4_0" | "iq4_nl": the 4-bit type of most matrices
  // Projections quantized as Q8_0 instead, by name suffix (the FFN down projection by default).
  std::vector<std::string> q8_modules = {"mlp.down_proj", "fc2"};
  std::filesystem::path output;  // default <workspace>/quantized/<model>-<layout>-<codes>
  // Perplexity of float32 and quantized models on the built-in corpus, and on this text file
  // when set.
  std::filesystem::path eval_text;
  std::int64_t eval_tokens = 8192;
  std::int64_t eval_sequence = 256;
};

// One quantized matrix's error against its float32 weights.
struct MatrixQuantError {
  std::string name;  // the checkpoint's tensor name
  std::string type;  // "q4_0", "iq4_nl", "q8_0"
  std::int64_t rows = 0, cols = 0;
  double rel_frobenius = 0;  // ‖W − Q‖ / ‖W‖
  double max_abs = 0;        // max |W − Q|
  // ‖W − Q‖ / ‖W‖ per 32×32 tile of W [rows, cols], row-major over tiles.
  std::int64_t tile_rows = 0, tile_cols = 0;
  std::vector<float> tile_rel_error;
};

struct PerplexityPoint {
  std::string source;  // "built-in corpus" or the text file's path
  std::int64_t tokens = 0;
  double fp32 = 0, quantized = 0;
};

struct QuantizeReport {
  std::string model;  // as asked for
  std::filesystem::path output;
  std::string layout, codes;
  std::vector<MatrixQuantError> matrices;
  std::vector<PerplexityPoint> perplexity;
  std::uint64_t bytes_fp32 = 0, bytes_quantized = 0;  // of the quantized matrices
  double seconds = 0;  // loading, packing, writing and perplexity (a demo model's training aside)
  std::int64_t run_id = 0;  // the "quantize" run holding the params and metrics
};

// Quantizes every attention and MLP projection of the model (embeddings, norms and the head stay
// float32), writes a model folder (config.json, tokenizer, quantized.safetensors with the packed
// bytes, report.json) and records a run. Progress per matrix, then per perplexity batch;
// cancellable.
QuantizeReport quantizeModel(Workspace& workspace, const QuantizeOptions& options,
                             JobContext& ctx);
// A quantized folder's report.json. Throws std::runtime_error naming the file when it is
// missing or malformed.
QuantizeReport loadQuantizeReport(const std::filesystem::path& quantized_dir);
// Whether `dir` holds a quantized model written by quantizeModel.
bool isQuantizedModel(const std::filesystem::path& dir);
// Bits of packed weights per weight over the report's matrices (scales included); 0 without
// matrices.
double bitsPerWeight(const QuantizeReport& report);

// ---- Kernel benchmark (darkroom-cli kbench, the Kernels panel) ----

struct KernelBenchOptions {
  std::string backend = "cpu";  // "reference" | "cpu" | "cuda"
  // W [rows, cols]: the attention/MLP shapes of a 7B model by default.
  std::vector<std::pair<std::int64_t, std::int64_t>> shapes = {{4096, 4096}, {11008, 4096}};
  std::vector<int> batches = {1, 2, 4, 8, 16};
  std::vector<std::int64_t> kv_lengths = {1024, 4096, 16384};
  double seconds_per_point = 0.3;  // time spent measuring each point (after one warm-up call)
};

struct GemvPoint {
  std::int64_t rows = 0, cols = 0;
  int batch = 1;
  std::string kernel;  // "lut-tile", "unpack-tile", "lut-rows", "unpack-rows", "fp32"
  double seconds = 0;  // per call, median
  double weight_gb_per_s = 0;      // bytes of weights read per second
  double fraction_of_copy = 0;     // weight_gb_per_s / copy_gb_per_s
};

struct SoftmaxPoint {
  std::int64_t keys = 0;
  std::string kernel;  // "lut", "float": decode attention, 32 heads × 128 dims, batch 1
  double seconds = 0;
  // On the probabilities, vs double precision: softmaxRows of the same back end and exp on the
  // 32 heads' score rows q·k of the measured query, against a double softmax of those scores.
  double max_abs_error = 0;
};

struct KernelBenchReport {
  std::string backend;  // the kernels that ran: backendName ("reference", "cpu-avx2", "cuda")
  std::string machine;  // CPU model and logical cores (/proc/cpuinfo), or the GPU for cuda
  int threads = 1;      // OpenMP threads of the cpu back end (1: reference, or cuda)
  // A STREAM-like copy on this machine, same threads, counted as STREAM does (bytes read plus
  // bytes written); cuda: a device-to-device copy.
  double copy_gb_per_s = 0;
  std::vector<GemvPoint> gemv;
  std::vector<SoftmaxPoint> softmax;
  std::int64_t run_id = 0;
};

// Measures every point, reporting progress; records a "kbench" run (params + metrics + the
// report as a JSON artifact). Throws kernels::KernelUnavailable for a back end that cannot run.
KernelBenchReport runKernelBench(Workspace& workspace, const KernelBenchOptions& options,
                                 JobContext& ctx);
// The report of a finished kbench run.
KernelBenchReport loadKernelBench(Workspace& workspace, std::int64_t run_id);
// The report as JSON (indented by 2): run, backend, machine, threads, copy_gb_per_s, and the
// gemv and softmax points with the fields of GemvPoint and SoftmaxPoint. What a kbench run
// stores as its artifact and what darkroom-cli kbench --json prints.
std::string kernelBenchJson(const KernelBenchReport& report);

}  // namespace darkroom

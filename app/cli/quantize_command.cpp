// darkroom-cli quantize (a model's projections packed as tile-aligned 4-bit weights: error per
// matrix, perplexity next to float32) and darkroom-cli kbench (the NPU kernels against batch and
// KV length).
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/kernels/backend.h"
#include "darkroom/kernels/quant_matrix.h"
#include "darkroom/quant.h"

namespace darkroom::cli {

static const char* kQuantizeHelp =
    R"(usage: darkroom-cli quantize MODEL [--layout tile|rows] [--codes q4_0|iq4_nl]
                                   [--q8 MODULE,...|none] [--out DIR] [--eval-text FILE]
                                   [--eval-tokens N] [--eval-sequence N] [--json]

Quantizes every attention and MLP projection of MODEL (a model folder, or demo-opt, demo-llama,
demo-math-s, demo-math-m: trained on first use) to 4-bit groups of 32 weights with an fp16 scale
(4.5 bits/weight); embeddings, norms and the head stay float32. Prints each matrix's error
against its float32 weights (relative Frobenius ‖W−Q‖/‖W‖, max |W−Q|, worst 32×32 tile) and the
perplexity of the float32 and the quantized model, the latter through the LUT kernels
(table-lookup dequantization, LUT-softmax attention). Stored as a "quantize" run.

--layout   tile (default): the NPU matrix unit's 32×32 tiles, 2×16 groups, 256-value
           super-blocks; rows: llama.cpp's row-major groups of 32
--codes    q4_0 (default): (q − 8)·d; iq4_nl: a non-linear 16-value table
--q8       projections kept as Q8_0 (8.5 bits/weight), by name suffix (default:
           mlp.down_proj,fc2: the FFN down projection of either family); none: all 4-bit
--out      the quantized folder (default <workspace>/quantized/<model>-<layout>-<codes>):
           config.json, tokenizer, quantized.safetensors, report.json, tile_errors.safetensors
--eval-text     also measure perplexity on this text file (the model's tokenizer)
--eval-tokens   tokens per perplexity source (default 8192); --eval-sequence window (256)
perplexity always runs on the built-in corpus too (word problems for the math models).
)";

static const char* kKbenchHelp =
    R"(usage: darkroom-cli kbench [--backend cpu|reference|cuda] [--shapes 4096x4096,...|none]
                          [--batches 1,2,4,8,16] [--kv 1024,4096,16384|none] [--seconds S] [--json]
       darkroom-cli kbench show RUN [--json]

Measures the NPU kernels on this machine and stores them as a "kbench" run:
  GEMV   y = x·Wᵀ with W [rows × cols] packed as Q4_0, per shape and batch: lut-tile,
         unpack-tile, lut-rows, unpack-rows (LUT vs mask/shift/convert dequantization, tile vs
         row layout) and fp32 (dense float32). Median time per call, weight bytes read per second,
         and that as a fraction of a STREAM-like copy (read + written bytes) measured here with
         the same threads.
  softmax  decode attention, 32 heads × 128 dims, batch 1, per KV length, with the LUT exp vs
         expf, and the max abs error of each softmax's probabilities against double precision.
--seconds  measuring time per point after a warm-up call (default 0.3)
--shapes none or --kv none leaves that part out.
`kbench show RUN` prints a stored run again.
)";

namespace {

std::string fmt(double v, const char* f = "%.3f") {
  char b[48];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// "a,b,c"; "none" (or nothing) is the empty list.
std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> out;
  if (text == "none") return out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    auto item = text.substr(start, comma - start);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

std::string megabytes(double bytes) { return fmt(bytes / (1 << 20), "%.2f MiB"); }

void printQuantize(const QuantizeReport& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : r.matrices) {
    const float worst = m.tile_rel_error.empty()
                            ? 0.f
                            : *std::max_element(m.tile_rel_error.begin(), m.tile_rel_error.end());
    rows.push_back({m.name, m.type, std::to_string(m.rows) + "x" + std::to_string(m.cols),
                    fmt(m.rel_frobenius, "%.4f"), fmt(m.max_abs, "%.4g"), fmt(worst, "%.4f")});
  }
  printTable({"MATRIX", "TYPE", "SHAPE", "REL ERROR", "MAX ABS", "WORST TILE"}, rows);
  std::printf("\n");
  for (const auto& p : r.perplexity)
    std::printf("perplexity on %s (%lld tokens): float32 %.4f, %s-%s %.4f (%+.2f%%)\n",
                p.source.c_str(), static_cast<long long>(p.tokens), p.fp32, r.layout.c_str(),
                r.codes.c_str(), p.quantized, 100.0 * (p.quantized / p.fp32 - 1));
  std::printf("projections: %s float32 -> %s (%.2f bits/weight)\n",
              megabytes(double(r.bytes_fp32)).c_str(), megabytes(double(r.bytes_quantized)).c_str(),
              bitsPerWeight(r));
  std::printf("wrote %s in %.1f s; run %lld\n", r.output.c_str(), r.seconds,
              static_cast<long long>(r.run_id));
}

void printQuantizeJson(const QuantizeReport& r) {
  nlohmann::ordered_json j;
  j["run"] = r.run_id;
  j["model"] = r.model;
  j["output"] = r.output.string();
  j["layout"] = r.layout;
  j["codes"] = r.codes;
  j["bytes_fp32"] = r.bytes_fp32;
  j["bytes_quantized"] = r.bytes_quantized;
  j["bits_per_weight"] = bitsPerWeight(r);
  j["seconds"] = r.seconds;
  j["perplexity"] = nlohmann::ordered_json::array();
  for (const auto& p : r.perplexity)
    j["perplexity"].push_back(
        {{"source", p.source}, {"tokens", p.tokens}, {"fp32", p.fp32}, {"quantized", p.quantized}});
  j["matrices"] = nlohmann::ordered_json::array();
  for (const auto& m : r.matrices) {
    const float worst = m.tile_rel_error.empty()
                            ? 0.f
                            : *std::max_element(m.tile_rel_error.begin(), m.tile_rel_error.end());
    j["matrices"].push_back({{"name", m.name},
                             {"type", m.type},
                             {"rows", m.rows},
                             {"cols", m.cols},
                             {"rel_frobenius", m.rel_frobenius},
                             {"max_abs", m.max_abs},
                             {"worst_tile", worst}});
  }
  std::printf("%s\n", j.dump(2).c_str());
}

std::pair<std::int64_t, std::int64_t> parseShape(const std::string& text) {
  const auto x = text.find('x');
  if (x == std::string::npos)
    throw UsageError("--shapes: '" + text + "' is not ROWSxCOLS (e.g. 4096x4096)");
  return {parseId(text.substr(0, x), "--shapes rows"),
          parseId(text.substr(x + 1), "--shapes cols")};
}

void printKbenchJson(const KernelBenchReport& r) {
  std::printf("%s\n", kernelBenchJson(r).c_str());
}

void printKbench(const KernelBenchReport& r) {
  std::printf("%s, back end %s, %d thread(s); copy %.2f GB/s (STREAM-like, read + write)\n",
              r.machine.c_str(), r.backend.c_str(), r.threads, r.copy_gb_per_s);
  if (!r.gemv.empty()) {
    const std::vector<std::string> kernels = {"lut-tile", "unpack-tile", "lut-rows", "unpack-rows",
                                              "fp32"};
    // One row per shape × batch, in the order measured.
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < r.gemv.size();) {
      const auto& first = r.gemv[i];
      std::vector<std::string> row = {std::to_string(first.rows) + "x" + std::to_string(first.cols),
                                      std::to_string(first.batch)};
      const GemvPoint* lut_tile = nullptr;
      const GemvPoint* unpack_tile = nullptr;
      std::vector<std::string> cells(kernels.size(), "-");
      for (; i < r.gemv.size() && r.gemv[i].rows == first.rows && r.gemv[i].cols == first.cols &&
             r.gemv[i].batch == first.batch;
           ++i) {
        const auto& p = r.gemv[i];
        auto k = std::find(kernels.begin(), kernels.end(), p.kernel) - kernels.begin();
        if (std::size_t(k) < kernels.size()) cells[std::size_t(k)] = fmt(p.seconds * 1e6, "%.1f");
        if (p.kernel == "lut-tile") lut_tile = &p;
        if (p.kernel == "unpack-tile") unpack_tile = &p;
      }
      row.insert(row.end(), cells.begin(), cells.end());
      row.push_back(lut_tile && unpack_tile ? fmt(unpack_tile->seconds / lut_tile->seconds, "%.2fx")
                                            : "-");
      row.push_back(lut_tile ? fmt(lut_tile->weight_gb_per_s, "%.2f") : "-");
      row.push_back(lut_tile ? fmt(100 * lut_tile->fraction_of_copy, "%.0f%%") : "-");
      rows.push_back(row);
    }
    std::printf("\nQ4_0 GEMV, microseconds per call\n");
    printTable({"SHAPE", "BATCH", "LUT-TILE", "UNPACK-TILE", "LUT-ROWS", "UNPACK-ROWS", "FP32",
                "LUT SPEEDUP", "LUT-TILE GB/S", "OF COPY"},
               rows);
  }
  if (!r.softmax.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < r.softmax.size(); ++i) {
      const auto& p = r.softmax[i];
      if (p.kernel != "lut") continue;
      const SoftmaxPoint* f = nullptr;
      for (const auto& q : r.softmax)
        if (q.keys == p.keys && q.kernel == "float") f = &q;
      rows.push_back({std::to_string(p.keys), fmt(p.seconds * 1e6, "%.1f"),
                      f ? fmt(f->seconds * 1e6, "%.1f") : "-",
                      f ? fmt(f->seconds / p.seconds, "%.2fx") : "-", fmt(p.max_abs_error, "%.2e"),
                      f ? fmt(f->max_abs_error, "%.2e") : "-"});
    }
    std::printf("\ndecode attention, 32 heads x 128 dims, batch 1, microseconds per call\n");
    printTable({"KEYS", "LUT", "FLOAT", "LUT SPEEDUP", "LUT MAX ERR", "FLOAT MAX ERR"}, rows);
  }
  std::printf("\nrun %lld\n", static_cast<long long>(r.run_id));
}

}  // namespace

int quantizeCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kQuantizeHelp), 0;
  QuantizeOptions o;
  o.layout = args.option("--layout", o.layout);
  o.codes = args.option("--codes", o.codes);
  if (auto v = args.option("--q8")) o.q8_modules = splitList(*v);
  if (auto v = args.option("--out")) o.output = *v;
  if (auto v = args.option("--eval-text")) o.eval_text = *v;
  if (auto v = args.option("--eval-tokens")) o.eval_tokens = parseId(*v, "--eval-tokens");
  if (auto v = args.option("--eval-sequence")) o.eval_sequence = parseId(*v, "--eval-sequence");
  const bool json = args.flag("--json");
  o.model = args.required("MODEL (a model folder or a demo model name)");
  args.finish();
  try {
    kernels::parseQuantLayout(o.layout);
    if (kernels::parseQuantType(o.codes) == kernels::QuantType::Q8_0)
      throw std::invalid_argument(
          "--codes must be a 4-bit type: q4_0 or iq4_nl (q8_0 is for --q8)");
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (o.eval_sequence < 2) throw UsageError("--eval-sequence must be at least 2");
  if (o.eval_tokens < o.eval_sequence)
    throw UsageError("--eval-tokens must be at least --eval-sequence (" +
                     std::to_string(o.eval_sequence) + ")");
  if (!o.eval_text.empty() && !std::filesystem::is_regular_file(o.eval_text))
    throw UsageError("--eval-text " + o.eval_text.string() + ": no such file");
  auto ws = Workspace::create(ctx.workspace);
  auto report = std::any_cast<QuantizeReport>(runWithProgress(
      "quantize", [&](JobContext& job) -> std::any { return quantizeModel(ws, o, job); }));
  if (json)
    printQuantizeJson(report);
  else
    printQuantize(report);
  return 0;
}

int kbenchCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kKbenchHelp), 0;
  const bool json = args.flag("--json");
  KernelBenchOptions o;
  o.backend = args.option("--backend", o.backend);
  if (auto v = args.option("--shapes")) {
    o.shapes.clear();
    for (const auto& s : splitList(*v)) o.shapes.push_back(parseShape(s));
  }
  if (auto v = args.option("--batches")) {
    o.batches.clear();
    for (const auto& s : splitList(*v)) o.batches.push_back(int(parseId(s, "--batches")));
  }
  if (auto v = args.option("--kv")) {
    o.kv_lengths.clear();
    for (const auto& s : splitList(*v)) o.kv_lengths.push_back(parseId(s, "--kv"));
  }
  if (auto v = args.option("--seconds")) {
    o.seconds_per_point = parseNumber(*v, "--seconds");
    if (!(o.seconds_per_point > 0)) throw UsageError("--seconds must be > 0");
  }
  if (auto sub = args.next()) {
    if (*sub != "show") throw UsageError("kbench: unknown subcommand '" + *sub + "' (show RUN)");
    const auto run = parseId(args.required("RUN"), "RUN");
    args.finish();
    auto ws = ctx.openWorkspace();
    auto report = loadKernelBench(ws, run);
    json ? printKbenchJson(report) : printKbench(report);
    return 0;
  }
  args.finish();
  if (o.backend != "cpu" && o.backend != "reference" && o.backend != "cuda")
    throw UsageError("--backend must be cpu, reference or cuda, got '" + o.backend + "'");
  if (o.shapes.empty() && o.kv_lengths.empty())
    throw UsageError("nothing to measure: give --shapes or --kv");
  if (!o.shapes.empty() && o.batches.empty()) throw UsageError("--batches is empty");
  auto ws = Workspace::create(ctx.workspace);
  auto report = std::any_cast<KernelBenchReport>(runWithProgress(
      "kbench", [&](JobContext& job) -> std::any { return runKernelBench(ws, o, job); }));
  json ? printKbenchJson(report) : printKbench(report);
  return 0;
}

}  // namespace darkroom::cli

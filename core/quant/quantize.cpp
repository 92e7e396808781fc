// quantizeModel: checkpoint → packed projections (per-matrix error as they are packed) →
// quantized folder → perplexity of both models → a "quantize" run.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <set>

#include "darkroom/analysis.h"
#include "darkroom/corpus.h"
#include "darkroom/demo_models.h"
#include "darkroom/quant.h"
#include "darkroom/run_outcome.h"
#include "darkroom/safetensors.h"
#include "darkroom/tokenizer.h"
#include "model/checkpoint.h"
#include "quant/perplexity.h"
#include "quant/quant_report.h"
#include "quant/quantized_model.h"

namespace darkroom {
namespace fs = std::filesystem;
namespace {

constexpr std::uint64_t kCorpusSeed = 4242;  // not a seed the demo models train on
const std::vector<std::string> kDefaultQ8 = {"mlp.down_proj", "fc2"};
// Files of a model folder that describe its tokenizer; each present one is copied.
const char* const kTokenizerFiles[] = {
    "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
    "vocab.json",     "merges.txt",      "added_tokens.json",     "generation_config.json"};

std::string joined(const std::vector<std::string>& items, const char* sep = ",") {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : sep) + i;
  return s;
}

// The first `limit` bytes of the evaluation text: enough for the tokens asked for (no tokenizer
// spends 32 bytes on one token), without reading a whole corpus dump.
std::string readText(const fs::path& file, std::size_t limit) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(file.string() + ": cannot read the evaluation text");
  std::string text(limit, '\0');
  in.read(text.data(), std::streamsize(limit));
  text.resize(std::size_t(in.gcount()));
  return text;
}

quant::QuantSpec specOf(const QuantizeOptions& o) {
  quant::QuantSpec spec;
  spec.layout = kernels::parseQuantLayout(o.layout);
  spec.codes = kernels::parseQuantType(o.codes);
  if (spec.codes == kernels::QuantType::Q8_0)
    throw std::invalid_argument(
        "codes must be a 4-bit type: q4_0 or iq4_nl (q8_0 is for the q8 modules)");
  spec.q8_modules = o.q8_modules;
  return spec;
}

// Each q8 module must name a projection of this model; the defaults name the down projection of
// both families, so only one of them matches.
void checkQ8Modules(const quant::QuantSpec& spec, const ModelConfig& config) {
  std::vector<std::string> modules;
  for (const auto& t : quant::quantizableTensors(config))
    modules.push_back(t.substr(0, t.size() - std::string(".weight").size()));
  for (const auto& name : spec.q8_modules) {
    if (std::find(kDefaultQ8.begin(), kDefaultQ8.end(), name) != kDefaultQ8.end()) continue;
    quant::QuantSpec one;
    one.q8_modules = {name};
    if (std::none_of(modules.begin(), modules.end(),
                     [&](const std::string& m) { return quant::isQ8Module(one, m); })) {
      std::set<std::string> kinds;  // the modules without their layer prefix
      const std::string layer0 =
          modules.empty() ? "" : modules[0].substr(0, modules[0].find("layers.0.") + 9);
      for (const auto& m : modules)
        if (m.rfind(layer0, 0) == 0) kinds.insert(m.substr(layer0.size()));
      throw std::invalid_argument("q8 module '" + name + "' matches no projection of this model (" +
                                  joined({kinds.begin(), kinds.end()}, ", ") + ")");
    }
  }
}

// Which built-in model a folder holds, if Darkroom trained it.
std::string demoNameOf(const fs::path& dir) {
  try {
    if (!fs::is_regular_file(dir / "model.safetensors")) return {};
    auto st = SafetensorsFile::open(dir / "model.safetensors");
    auto it = st.metadata().find("darkroom.demo");
    return it == st.metadata().end() ? std::string() : it->second;
  } catch (const SafetensorsError&) {
    return {};
  }
}

std::string folderName(const std::string& model) {
  auto p = fs::path(model).lexically_normal();
  auto name = p.filename().string();
  if (name.empty()) name = p.parent_path().filename().string();
  return name.empty() ? "model" : name;
}

MatrixQuantError matrixError(const std::string& name, const at::Tensor& w,
                             const kernels::QuantMatrix& q) {
  MatrixQuantError e;
  e.name = name;
  e.type = kernels::quantTypeName(q.type);
  e.rows = q.rows;
  e.cols = q.cols;
  e.tile_rows = (q.rows + kernels::kTileSize - 1) / kernels::kTileSize;
  e.tile_cols = (q.cols + kernels::kTileSize - 1) / kernels::kTileSize;
  std::vector<float> back(std::size_t(q.rows * q.cols));
  kernels::dequantizeMatrix(q.view(), back.data());
  const float* a = w.data_ptr<float>();
  std::vector<double> err(std::size_t(e.tile_rows * e.tile_cols)), norm(err.size());
  double max_abs = 0;
  // One band of 32 rows per iteration: each writes its own row of tiles.
#pragma omp parallel for schedule(dynamic, 1) reduction(max : max_abs)
  for (std::int64_t tr = 0; tr < e.tile_rows; ++tr) {
    for (std::int64_t r = tr * kernels::kTileSize;
         r < std::min(q.rows, (tr + 1) * kernels::kTileSize); ++r) {
      const float* wr = a + r * q.cols;
      const float* qr = back.data() + r * q.cols;
      for (std::int64_t c = 0; c < q.cols; ++c) {
        const double d = double(wr[c]) - double(qr[c]);
        const auto tile = std::size_t(tr * e.tile_cols + c / kernels::kTileSize);
        err[tile] += d * d;
        norm[tile] += double(wr[c]) * double(wr[c]);
        max_abs = std::max(max_abs, std::abs(d));
      }
    }
  }
  double err_sum = 0, norm_sum = 0;
  e.tile_rel_error.resize(err.size());
  for (std::size_t t = 0; t < err.size(); ++t) {
    err_sum += err[t];
    norm_sum += norm[t];
    // An all-zero tile quantizes exactly: its error is 0, not 0/0.
    e.tile_rel_error[t] = norm[t] > 0 ? float(std::sqrt(err[t] / norm[t])) : 0.f;
  }
  e.rel_frobenius = norm_sum > 0 ? std::sqrt(err_sum / norm_sum) : 0;
  e.max_abs = max_abs;
  return e;
}

void copyTokenizer(const fs::path& from, const fs::path& to) {
  for (const char* name : kTokenizerFiles)
    if (fs::is_regular_file(from / name))
      fs::copy_file(from / name, to / name, fs::copy_options::overwrite_existing);
}

}  // namespace

QuantizeReport quantizeModel(Workspace& ws, const QuantizeOptions& o, JobContext& ctx) {
  // Everything that can be checked without the model first: a typo costs no training.
  const auto spec = specOf(o);
  if (o.eval_sequence < 2 || o.eval_tokens < o.eval_sequence)
    throw std::invalid_argument(
        "perplexity needs eval_sequence >= 2 and eval_tokens >= eval_sequence (got " +
        std::to_string(o.eval_sequence) + " and " + std::to_string(o.eval_tokens) + ")");
  if (!o.eval_text.empty() && !fs::is_regular_file(o.eval_text))
    throw std::invalid_argument(o.eval_text.string() + ": no such file (the evaluation text)");
  // A demo model trained now takes the first half of the progress bar (resolveModel's slice).
  const double base = isDemoModelName(o.model) && !isDemoModelTrained(ws, o.model) ? 0.5 : 0.0;
  const auto dir = resolveModel(ws, o.model, ctx);
  if (isQuantizedModel(dir) && !fs::exists(dir / "model.safetensors"))
    throw ModelError(dir.string() + " is already a quantized model; quantize its float32 source");
  const auto config = readModelConfig(dir / "config.json");
  checkQ8Modules(spec, config);
  if (o.eval_sequence > config.max_positions)
    throw std::invalid_argument("eval sequence " + std::to_string(o.eval_sequence) +
                                " exceeds the model's max_position_embeddings " +
                                std::to_string(config.max_positions));
  const std::string spec_name =
      std::string(kernels::quantLayoutName(spec.layout)) + "-" + kernels::quantTypeName(spec.codes);
  const auto output = o.output.empty()
                          ? ws.root() / "quantized" / (folderName(o.model) + "-" + spec_name)
                          : o.output;
  if (fs::exists(output) && fs::equivalent(output, dir))
    throw std::invalid_argument("the output folder is the model's own folder; choose another");

  QuantizeReport report;
  report.model = o.model;
  report.output = output;
  report.layout = kernels::quantLayoutName(spec.layout);
  report.codes = kernels::quantTypeName(spec.codes);
  Store& store = ws.store();
  const auto experiment = store.ensureExperiment(
      "quantization", "Tile-aligned 4-bit quantization for mobile NPUs: error and perplexity");
  Params params = {{"model", o.model},
                   {"model_dir", dir.string()},
                   {"layout", report.layout},
                   {"codes", report.codes},
                   {"q8_modules", joined(spec.q8_modules)},
                   {"output", output.string()},
                   {"eval_text", o.eval_text.empty() ? "" : o.eval_text.string()},
                   {"eval_tokens", std::to_string(o.eval_tokens)},
                   {"eval_sequence", std::to_string(o.eval_sequence)}};
  report.run_id =
      store.createRun(experiment, "quantize " + o.model + " " + spec_name, "quantize", params);
  recordRunOutcome(store, report.run_id, [&] {
    // Seconds of this run: loading, packing, writing and perplexity (not a demo model's training).
    const auto start = std::chrono::steady_clock::now();
    const double span = 1.0 - base;
    auto at = [&](double fraction) { return base + span * fraction; };
    ctx.progress(at(0), "loading " + dir.string());
    auto fp32 = model::loadCheckpointFor(dir, "float32", "cpu");
    const auto names = quant::quantizableTensors(fp32);
    std::size_t done = 0;
    const auto backend = kernels::bestHostBackend();
    quant::QuantizedModel quantized(
        fp32, spec, backend,
        [&](const std::string& name, const at::Tensor& w, const kernels::QuantMatrix& q) {
          report.matrices.push_back(matrixError(name, w, q));
          report.bytes_fp32 += std::uint64_t(q.rows * q.cols) * sizeof(float);
          report.bytes_quantized += q.data.size();
          ++done;
          ctx.progress(at(0.4 * double(done) / double(names.size())),
                       "quantized " + name + " (" + std::to_string(done) + "/" +
                           std::to_string(names.size()) + ")");
        });
    ctx.progress(at(0.4), "writing " + output.string());
    quantized.save(output);
    copyTokenizer(dir, output);
    store.setParams(report.run_id,
                    {{"bytes_fp32", std::to_string(report.bytes_fp32)},
                     {"bytes_quantized", std::to_string(report.bytes_quantized)},
                     {"bits_per_weight", std::to_string(bitsPerWeight(report))},
                     {"backend", kernels::backendName(backend)}});

    // Perplexity: float32 through ATen, quantized through its own forward (LUT GEMM and LUT
    // softmax attention), on the same windows.
    auto tokenizer = loadTokenizer(dir);
    std::optional<std::int32_t> bos;
    if (model::addsBos(dir, config) && config.bos_token_id)
      bos = std::int32_t(*config.bos_token_id);
    const bool math = isMathModelName(o.model) || isMathModelName(demoNameOf(dir));
    struct Source {
      std::string name, text;
    };
    std::vector<Source> sources;
    const auto corpus_bytes = std::size_t(o.eval_tokens) * 6 + 4096;
    sources.push_back({"built-in corpus", math ? wordProblemCorpus(kCorpusSeed, corpus_bytes)
                                               : syntheticCorpus(kCorpusSeed, corpus_bytes)});
    if (!o.eval_text.empty()) sources.push_back(
          {o.eval_text.string(), readText(o.eval_text, std::size_t(o.eval_tokens) * 32 + 4096)});
    const double per_source = 0.58 / double(sources.size());
    for (std::size_t s = 0; s < sources.size(); ++s) {
      auto windows = quant::perplexityWindows(tokenizer->encode(sources[s].text), o.eval_sequence,
                                              o.eval_tokens, bos);
      const double from = 0.41 + per_source * double(s);
      auto fp32_part = ctx.slice(at(from), span * per_source * 0.4);
      auto fp32_ppl = quant::perplexity(fp32, windows, nullptr, fp32_part);
      auto quant_part = ctx.slice(at(from + per_source * 0.4), span * per_source * 0.6);
      auto quant_ppl =
          quant::perplexity(quantized.transformer(), windows, &quantized.hooks(), quant_part);
      report.perplexity.push_back(
          {sources[s].name, fp32_ppl.tokens, fp32_ppl.perplexity, quant_ppl.perplexity});
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ctx.progress(at(0.99), "writing the report");
    quant::saveQuantizeReport(report, output);
    quant::storeQuantizeMetrics(store, report.run_id, report);
    store.addArtifact(report.run_id, output / quant::kReportFile, "quantize-report");
    store.addArtifact(report.run_id, output / quant::kTileErrorsFile, "quant-tile-errors");
    ctx.progress(1.0, "quantized " + std::to_string(report.matrices.size()) + " matrices");
  });
  return report;
}

}  // namespace darkroom

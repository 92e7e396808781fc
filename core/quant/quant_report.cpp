#include "quant/quant_report.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "darkroom/safetensors.h"

namespace darkroom {
namespace fs = std::filesystem;

double bitsPerWeight(const QuantizeReport& r) {
  double weights = 0;
  for (const auto& m : r.matrices) weights += double(m.rows) * double(m.cols);
  return weights > 0 ? double(r.bytes_quantized) * 8.0 / weights : 0;
}

namespace quant {
namespace {

constexpr int kReportFormat = 1;

void writeAtomically(const fs::path& file, const std::string& text) {
  auto tmp = file;
  tmp += ".partial";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error(tmp.string() + ": cannot write");
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) throw std::runtime_error(file.string() + ": cannot write: " + ec.message());
}

const char* sourceKey(const PerplexityPoint& p) {
  return p.source == "built-in corpus" ? "corpus" : "text";
}

}  // namespace

void saveQuantizeReport(const QuantizeReport& r, const fs::path& dir) {
  nlohmann::ordered_json j;
  j["format"] = kReportFormat;
  j["model"] = r.model;
  j["output"] = r.output.string();
  j["layout"] = r.layout;
  j["codes"] = r.codes;
  j["bytes_fp32"] = r.bytes_fp32;
  j["bytes_quantized"] = r.bytes_quantized;
  j["bits_per_weight"] = bitsPerWeight(r);
  j["seconds"] = r.seconds;
  j["run_id"] = r.run_id;
  j["tile_errors"] = kTileErrorsFile;
  j["perplexity"] = nlohmann::ordered_json::array();
  for (const auto& p : r.perplexity)
    j["perplexity"].push_back(
        {{"source", p.source}, {"tokens", p.tokens}, {"fp32", p.fp32}, {"quantized", p.quantized}});
  j["matrices"] = nlohmann::ordered_json::array();
  std::vector<TensorToWrite> tiles;
  for (const auto& m : r.matrices) {
    j["matrices"].push_back({{"name", m.name},
                             {"type", m.type},
                             {"rows", m.rows},
                             {"cols", m.cols},
                             {"rel_frobenius", m.rel_frobenius},
                             {"max_abs", m.max_abs},
                             {"tile_rows", m.tile_rows},
                             {"tile_cols", m.tile_cols}});
    if (std::int64_t(m.tile_rel_error.size()) != m.tile_rows * m.tile_cols)
      throw std::logic_error(m.name + ": tile errors do not match the tile grid");
    tiles.push_back({m.name,
                     DType::F32,
                     {m.tile_rows, m.tile_cols},
                     m.tile_rel_error.data(),
                     m.tile_rel_error.size() * sizeof(float)});
  }
  writeSafetensors(dir / kTileErrorsFile, tiles, {{"darkroom.kind", "quant-tile-errors"}});
  writeAtomically(dir / kReportFile, j.dump(2) + "\n");
}

void storeQuantizeMetrics(Store& store, std::int64_t run_id, const QuantizeReport& r) {
  std::vector<MetricPoint> points;
  for (std::size_t i = 0; i < r.matrices.size(); ++i) {
    const auto& m = r.matrices[i];
    const auto step = std::int64_t(i);
    points.push_back({"quant/rel_frobenius", step, m.rel_frobenius, 0});
    points.push_back({"quant/max_abs", step, m.max_abs, 0});
    const float worst = m.tile_rel_error.empty()
                            ? 0.f
                            : *std::max_element(m.tile_rel_error.begin(), m.tile_rel_error.end());
    points.push_back({"quant/worst_tile", step, worst, 0});
  }
  for (const auto& p : r.perplexity) {
    points.push_back({std::string("ppl/") + sourceKey(p) + "/fp32", 0, p.fp32, 0});
    points.push_back({std::string("ppl/") + sourceKey(p) + "/quantized", 0, p.quantized, 0});
  }
  points.push_back({"quant/bytes_fp32", 0, double(r.bytes_fp32), 0});
  points.push_back({"quant/bytes_quantized", 0, double(r.bytes_quantized), 0});
  points.push_back({"quant/bits_per_weight", 0, bitsPerWeight(r), 0});
  points.push_back({"quant/seconds", 0, r.seconds, 0});
  store.appendMetrics(run_id, points);
}

}  // namespace quant

QuantizeReport loadQuantizeReport(const fs::path& dir) {
  const auto file = dir / quant::kReportFile;
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw std::runtime_error(file.string() +
                             ": missing (not a folder written by "
                             "`darkroom-cli quantize`)");
  QuantizeReport r;
  try {
    std::stringstream text;
    text << in.rdbuf();
    auto j = nlohmann::json::parse(text.str());
    if (j.at("format").get<int>() != quant::kReportFormat)
      throw std::runtime_error("format " + j.at("format").dump() + " is not " +
                               std::to_string(quant::kReportFormat));
    r.model = j.at("model").get<std::string>();
    r.output = j.at("output").get<std::string>();
    r.layout = j.at("layout").get<std::string>();
    r.codes = j.at("codes").get<std::string>();
    r.bytes_fp32 = j.at("bytes_fp32").get<std::uint64_t>();
    r.bytes_quantized = j.at("bytes_quantized").get<std::uint64_t>();
    r.seconds = j.at("seconds").get<double>();
    r.run_id = j.at("run_id").get<std::int64_t>();
    for (const auto& p : j.at("perplexity"))
      r.perplexity.push_back({p.at("source").get<std::string>(), p.at("tokens").get<std::int64_t>(),
                              p.at("fp32").get<double>(), p.at("quantized").get<double>()});
    for (const auto& m : j.at("matrices")) {
      MatrixQuantError e;
      e.name = m.at("name").get<std::string>();
      e.type = m.at("type").get<std::string>();
      e.rows = m.at("rows").get<std::int64_t>();
      e.cols = m.at("cols").get<std::int64_t>();
      e.rel_frobenius = m.at("rel_frobenius").get<double>();
      e.max_abs = m.at("max_abs").get<double>();
      e.tile_rows = m.at("tile_rows").get<std::int64_t>();
      e.tile_cols = m.at("tile_cols").get<std::int64_t>();
      r.matrices.push_back(std::move(e));
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(file.string() + ": malformed report: " + e.what());
  }
  const auto tiles_file = dir / quant::kTileErrorsFile;
  try {
    auto tiles = SafetensorsFile::open(tiles_file);
    for (auto& m : r.matrices) {
      const auto& view = tiles.at(m.name);
      if (view.dtype != DType::F32 ||
          view.shape != std::vector<std::int64_t>{m.tile_rows, m.tile_cols})
        throw SafetensorsError(tiles_file.string() + ": tensor \"" + m.name + "\" is not F32 [" +
                               std::to_string(m.tile_rows) + ", " + std::to_string(m.tile_cols) +
                               "]");
      m.tile_rel_error = toFloat32(view);
    }
  } catch (const SafetensorsError& e) {
    throw std::runtime_error(e.what());
  }
  return r;
}

// By the files alone: a damaged quantized.safetensors still makes a quantized folder, so that
// loading it reports what is wrong instead of looking for model.safetensors.
bool isQuantizedModel(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "config.json", ec) &&
         fs::is_regular_file(dir / "quantized.safetensors", ec);
}

}  // namespace darkroom

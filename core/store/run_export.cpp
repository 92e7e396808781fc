#include "darkroom/run_export.h"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <limits>
#include <nlohmann/json.hpp>

namespace darkroom {
namespace {

using nlohmann::ordered_json;

ordered_json runHeader(const RunInfo& r) {
  ordered_json j;
  j["id"] = r.id;
  j["experiment"] = r.experiment;
  j["name"] = r.name;
  j["kind"] = r.kind;
  j["status"] = toString(r.status);
  j["start_time"] = r.start_time;
  j["end_time"] = r.end_time ? ordered_json(*r.end_time) : ordered_json(nullptr);
  j["note"] = r.note;
  return j;
}

ordered_json paramsJson(const Params& params) {
  ordered_json j = ordered_json::object();
  for (const auto& [k, v] : params) j[k] = v;
  return j;
}

std::vector<RunInfo> selectRuns(const Store& store, const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return store.runs();
  std::vector<RunInfo> out;
  for (auto id : ids) {
    auto r = store.run(id);
    if (!r) throw StoreError("no run with id " + std::to_string(id) + " in " + store.path().string());
    out.push_back(*r);
  }
  return out;
}

// CSV quoting (RFC 4180): quote when the field holds a comma, quote or line break.
std::string csvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string runSummaryJson(const Store& store, const RunInfo& run, bool with_params, int indent) {
  auto j = runHeader(run);
  if (with_params) j["params"] = paramsJson(store.params(run.id));
  ordered_json keys = ordered_json::object();
  for (const auto& key : store.metricKeys(run.id))
    keys[key] = store.metrics(run.id, key).size();
  j["metric_points"] = keys;
  return j.dump(indent);
}

void exportRuns(const Store& store, const std::vector<std::int64_t>& ids, ExportFormat format,
                std::ostream& out) {
  auto runs = selectRuns(store, ids);
  if (format == ExportFormat::Csv) {
    out << "run_id,experiment,run,key,step,value,wall_time\n"
        << std::setprecision(std::numeric_limits<double>::max_digits10);
    for (const auto& r : runs)
      for (const auto& key : store.metricKeys(r.id))
        for (const auto& p : store.metrics(r.id, key)) {
          out << r.id << ',' << csvField(r.experiment) << ',' << csvField(r.name) << ','
              << csvField(key) << ',' << p.step << ',';
          if (!std::isnan(p.value)) out << p.value;  // empty field for NaN
          out << ',' << p.wall_time << '\n';
        }
    return;
  }
  ordered_json doc;
  doc["format"] = "darkroom.runs";
  doc["version"] = 1;
  doc["runs"] = ordered_json::array();
  for (const auto& r : runs) {
    auto j = runHeader(r);
    j["params"] = paramsJson(store.params(r.id));
    ordered_json metrics = ordered_json::object();
    for (const auto& key : store.metricKeys(r.id)) {
      ordered_json points = ordered_json::array();
      for (const auto& p : store.metrics(r.id, key))
        points.push_back({{"step", p.step},
                          {"value", std::isnan(p.value) ? ordered_json(nullptr) : ordered_json(p.value)},
                          {"wall_time", p.wall_time}});
      metrics[key] = std::move(points);
    }
    j["metrics"] = std::move(metrics);
    ordered_json artifacts = ordered_json::array();
    for (const auto& a : store.artifacts(r.id))
      artifacts.push_back({{"path", a.path}, {"kind", a.kind}, {"bytes", a.bytes},
                           {"sha256", a.sha256}});
    j["artifacts"] = std::move(artifacts);
    doc["runs"].push_back(std::move(j));
  }
  out << doc.dump(2) << '\n';
}

void exportRunsToFile(const Store& store, const std::vector<std::int64_t>& ids,
                      ExportFormat format, const std::filesystem::path& file) {
  auto tmp = file;
  tmp += ".partial";
  try {
    {
      std::ofstream out(tmp);
      if (!out) throw StoreError(tmp.string() + ": cannot open for writing");
      exportRuns(store, ids, format, out);
      if (!out.flush()) throw StoreError(tmp.string() + ": write failed (disk full?)");
    }
    std::filesystem::rename(tmp, file);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

}  // namespace darkroom

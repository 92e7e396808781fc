// layout write|verify and export gguf: flash layout files of a model's FFN bundles in placement
// order, and GGUF files of the model with its FFN neurons permuted the same way.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/analysis.h"
#include "darkroom/neuralink/flash_layout.h"
#include "darkroom/neuralink/gguf.h"
#include "darkroom/run_outcome.h"

namespace darkroom::cli {
namespace fs = std::filesystem;
using namespace darkroom::neuralink;

static const char* kLayoutHelp = R"(usage: darkroom-cli layout write [--model DIR|demo-opt|demo-llama] [--placement FILE|identity]
                                 [--out FILE] [--json]
       darkroom-cli layout write --synthetic [--layers N] [--neurons N] [--bundle BYTES]
                                 [--placement FILE|identity] --out FILE
       darkroom-cli layout verify FILE [--json]

write   stores the model's FFN neuron bundles (OPT: fc1 row + fc1 bias + fc2 column; Llama
        family: gate row + up row + down column) in placement order, one 4 KiB-aligned region
        per layer with a CRC-32C per layer (format: docs/flash-layout.md). --placement takes a
        file from `darkroom-cli place` (safetensors) or `identity` (the checkpoint's order,
        default). Recorded as a "layout" run; the file is its artifact. Without --out it goes
        to the run's folder, artifacts/run-N/model.layout. Defaults: demo-opt, identity.
        --synthetic writes a layout without a model, for synthetic traces (`coact --synthetic`):
        zero-filled bundles of BYTES each (default 24576: gate row + up row + down column of a
        4096-wide f16 model), 32 layers of 11008 neurons by default, with valid checksums.
verify  reads a layout file and checks every layer's checksum: one line per layer, exit 1
        naming the bad layers. A GGUF file (from `export gguf`) is parsed instead: every
        length and offset checked, its metadata and tensor table listed.
)";

static const char* kExportHelp = R"(usage: darkroom-cli export gguf [--model DIR|demo-opt|demo-llama] [--placement FILE|identity]
                                [--out FILE] [--json]

Writes a GGUF v3 file of the model with each FFN's neurons in placement order (fc1/gate/up rows
and biases, fc2/down columns; the model's outputs do not change), so llama.cpp-family runtimes
read neurons in the placed order. Llama family: llama.cpp's tensor names and llama.* keys (q/k
rows reordered for its rotary layout, as convert_hf_to_gguf.py does); OPT: the same naming under
the architecture "opt", which llama.cpp does not load. No tokenizer is written (weights only).
Recorded as a "layout" run; without --out the file goes to artifacts/run-N/model.gguf.
)";

namespace {

struct WriteRequest {
  std::string model = "demo-opt";
  std::string placement = "identity";
  std::optional<std::string> out;
  bool gguf = false;
  Placement loaded;  // from `placement`, read before the job starts
};

struct WriteResult {
  std::int64_t run_id = 0;
  fs::path file;
  fs::path model_dir;
  double seconds = 0;
};

Placement loadPlacement(const std::string& spec) {
  if (spec == "identity") return Placement{};
  if (!fs::exists(spec))
    throw UsageError("--placement " + spec + ": no such file (give a placement file or 'identity')");
  return Placement::load(spec);
}

WriteResult writeRun(Workspace& ws, const WriteRequest& req, JobContext& job) {
  auto start = std::chrono::steady_clock::now();
  const auto& placement = req.loaded;
  auto model_job = job.slice(0, 0.3);
  WriteResult r;
  r.model_dir = resolveModel(ws, req.model, model_job);
  Store& store = ws.store();
  auto experiment = store.ensureExperiment("layout", "Flash layouts and GGUF exports");
  Params params = {{"model", req.model},
                   {"model_dir", r.model_dir.string()},
                   {"placement", req.placement},
                   {"format", req.gguf ? "gguf" : "flash-layout"}};
  r.run_id = store.createRun(experiment, (req.gguf ? "gguf " : "layout ") + req.model, "layout",
                             params);
  recordRunOutcome(store, r.run_id, [&] {
    r.file = req.out ? fs::path(*req.out)
                     : ws.runDir(r.run_id) / (req.gguf ? "model.gguf" : "model.layout");
    params["out"] = fs::absolute(r.file).string();
    store.setParams(r.run_id, params);
    auto writing = job.slice(0.3, 0.7);
    if (req.gguf)
      exportGguf(r.model_dir, placement, r.file, writing);
    else
      writeFlashLayout(r.model_dir, placement, r.file, writing);
    store.addArtifact(r.run_id, r.file, req.gguf ? "gguf" : "flash-layout");
  });
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

WriteRequest parseWrite(Args& args) {
  WriteRequest req;
  req.model = args.option("--model", req.model);
  req.placement = args.option("--placement", req.placement);
  req.out = args.option("--out");
  return req;
}

void loadPlacementOf(WriteRequest& req) { req.loaded = loadPlacement(req.placement);
}

int printWritten(const WriteRequest& req, const WriteResult& r, bool json) {
  const auto bytes = fs::file_size(r.file);
  if (json) {
    nlohmann::ordered_json j;
    j["run"] = r.run_id;
    j["model"] = req.model;
    j["model_dir"] = r.model_dir.string();
    j["placement"] = req.placement;
    j["file"] = r.file.string();
    j["bytes"] = bytes;
    j["seconds"] = r.seconds;
    if (!req.gguf) {
      auto layout = readFlashLayout(r.file);
      j["dtype"] = layout.dtype;
      j["bundle"] = layout.bundle;
      j["layers"] = nlohmann::ordered_json::array();
      for (const auto& l : layout.layers)
        j["layers"].push_back({{"neurons", l.neurons},
                               {"bundle_bytes", l.bundle_bytes},
                               {"data_offset", l.data_offset}});
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("run %lld: wrote %s (%.1f MiB) from %s, placement %s, in %.1f s\n",
              static_cast<long long>(r.run_id), r.file.c_str(), double(bytes) / (1 << 20),
              r.model_dir.c_str(), req.placement.c_str(), r.seconds);
  return 0;
}

bool isGguf(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int verifyGguf(const fs::path& path, bool json) {
  auto file = readGguf(path);
  std::string arch = "?";
  if (auto it = file.metadata.find("general.architecture"); it != file.metadata.end())
    arch = it->second.asString();
  if (json) {
    nlohmann::ordered_json j;
    j["file"] = path.string();
    j["format"] = "gguf";
    j["version"] = file.version;
    j["architecture"] = arch;
    j["metadata_keys"] = file.metadata_order;
    j["tensors"] = nlohmann::ordered_json::array();
    for (const auto& t : file.tensors)
      j["tensors"].push_back({{"name", t.name},
                              {"type", ggmlTypeName(t.type)},
                              {"shape", t.shape()},
                              {"offset", t.offset},
                              {"bytes", t.bytes}});
    j["ok"] = true;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : file.tensors)
    rows.push_back({t.name, ggmlTypeName(t.type), shapeText(t.shape()), std::to_string(t.offset)});
  printTable({"TENSOR", "TYPE", "SHAPE (ROW-MAJOR)", "OFFSET"}, rows);
  std::printf("\n%s: GGUF v%u, architecture %s, %zu metadata keys, %zu tensors: ok\n",
              path.c_str(), file.version, arch.c_str(), file.metadata.size(), file.tensors.size());
  return 0;
}

int verifyLayout(const fs::path& path, bool json) {
  auto layout = readFlashLayout(path);  // header, table, orders: throws (exit 1) when bad
  auto checks = std::any_cast<std::vector<LayerCheck>>(runWithProgress(
      "verify", [&](JobContext& job) -> std::any { return checkFlashLayout(path, job); }));
  std::vector<int> bad;
  for (const auto& c : checks)
    if (!c.ok) bad.push_back(c.layer);
  if (json) {
    nlohmann::ordered_json j;
    j["file"] = path.string();
    j["format"] = "flash-layout";
    j["model_type"] = layout.model_type;
    j["dtype"] = layout.dtype;
    j["bundle"] = layout.bundle;
    j["placement"] = layout.placement;
    j["bytes"] = layout.file_bytes;
    j["layers"] = nlohmann::ordered_json::array();
    for (std::size_t l = 0; l < checks.size(); ++l)
      j["layers"].push_back({{"layer", checks[l].layer},
                             {"neurons", layout.layers[l].neurons},
                             {"bundle_bytes", layout.layers[l].bundle_bytes},
                             {"data_offset", layout.layers[l].data_offset},
                             {"ok", checks[l].ok},
                             {"problem", checks[l].problem}});
    j["ok"] = bad.empty();
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::vector<std::vector<std::string>> rows;
    for (std::size_t l = 0; l < checks.size(); ++l)
      rows.push_back({std::to_string(checks[l].layer), std::to_string(layout.layers[l].neurons),
                      std::to_string(layout.layers[l].bundle_bytes),
                      std::to_string(layout.layers[l].data_offset),
                      checks[l].ok ? "ok" : "BAD: " + checks[l].problem});
    printTable({"LAYER", "NEURONS", "BUNDLE BYTES", "OFFSET", "STATUS"}, rows);
    std::printf("\n%s: %s, %s %s bundles, placement %s, %zu layers, %.1f MiB\n", path.c_str(),
                layout.model_type.c_str(), layout.dtype.c_str(), layout.bundle.c_str(),
                layout.placement.c_str(), layout.layers.size(),
                double(layout.file_bytes) / (1 << 20));
  }
  if (bad.empty()) return 0;
  std::string list;
  for (int l : bad) list += (list.empty() ? "" : ", ") + std::to_string(l);
  std::fprintf(stderr, "darkroom-cli: %s: bad layer%s %s (checksum mismatch)\n", path.c_str(),
               bad.size() > 1 ? "s" : "", list.c_str());
  return 1;
}

int writeSynthetic(Args& args, bool json) {
  std::int64_t layers = 32, neurons = 11008, bundle = 24576;
  if (auto v = args.option("--layers")) layers = parseId(*v, "--layers");
  if (auto v = args.option("--neurons")) neurons = parseId(*v, "--neurons");
  if (auto v = args.option("--bundle")) bundle = parseId(*v, "--bundle");
  const auto placement_spec = args.option("--placement", "identity");
  const auto out = args.option("--out");
  args.finish();
  if (!out) throw UsageError("layout write --synthetic needs --out FILE");
  auto placement = loadPlacement(placement_spec);
  if (!placement.layers.empty() && std::int64_t(placement.layers.size()) != layers)
    throw UsageError("the placement has " + std::to_string(placement.layers.size()) +
                     " layers, --layers says " + std::to_string(layers));
  auto start = std::chrono::steady_clock::now();
  writeSyntheticLayout(std::vector<std::int64_t>(std::size_t(layers), neurons), bundle, placement,
                       *out);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto bytes = fs::file_size(*out);
  if (json) {
    nlohmann::ordered_json j = {{"file", *out}, {"bytes", bytes}, {"layers", layers},
                                {"neurons", neurons}, {"bundle_bytes", bundle},
                                {"placement", placement_spec}, {"seconds", s}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("wrote %s (%.1f MiB): %lld layers x %lld neurons x %lld B, placement %s, %.1f s\n",
                out->c_str(), double(bytes) / (1 << 20), static_cast<long long>(layers),
                static_cast<long long>(neurons), static_cast<long long>(bundle),
                placement_spec.c_str(), s);
  }
  return 0;
}

}  // namespace

int layoutCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kLayoutHelp), 0;
  auto sub = args.next();
  if (!sub) throw UsageError("layout needs a subcommand: write or verify");
  const bool json = args.flag("--json");
  if (*sub == "write" && args.flag("--synthetic")) return writeSynthetic(args, json);
  if (*sub == "write") {
    auto req = parseWrite(args);
    args.finish();
    loadPlacementOf(req);
    auto ws = Workspace::create(ctx.workspace);
    auto r = std::any_cast<WriteResult>(runWithProgress(
        "layout", [&](JobContext& job) -> std::any { return writeRun(ws, req, job); }));
    return printWritten(req, r, json);
  }
  if (*sub == "verify") {
    auto file = args.required("a layout or GGUF file");
    args.finish();
    if (!fs::exists(file)) throw std::runtime_error(file + ": no such file");
    return isGguf(file) ? verifyGguf(file, json) : verifyLayout(file, json);
  }
  throw UsageError("unknown layout subcommand '" + *sub + "' (write or verify)");
}

int exportCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kExportHelp), 0;
  auto sub = args.next();
  if (!sub) throw UsageError("export needs a format: gguf");
  if (*sub != "gguf") throw UsageError("unknown export format '" + *sub + "' (gguf)");
  const bool json = args.flag("--json");
  auto req = parseWrite(args);
  req.gguf = true;
  args.finish();
  loadPlacementOf(req);
  auto ws = Workspace::create(ctx.workspace);
  auto r = std::any_cast<WriteResult>(runWithProgress(
      "export", [&](JobContext& job) -> std::any { return writeRun(ws, req, job); }));
  return printWritten(req, r, json);
}

}  // namespace darkroom::cli

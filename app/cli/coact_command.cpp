// darkroom-cli coact (record or synthesize an activation trace, count co-activations, store
// both as a "coact" run) and darkroom-cli place (neuron placement and its expected I/O).
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/neuralink/placement.h"

namespace darkroom::cli {
namespace fs = std::filesystem;
using namespace darkroom::neuralink;

static const char* kCoactHelp = R"(usage: darkroom-cli coact [--model DIR|demo-opt|demo-llama] [--text FILE] [--tokens N]
                          [--sequence N] [--threshold T] [--trace OUT] [--out OUT] [--json]
       darkroom-cli coact --synthetic [--layers N] [--neurons N] [--tokens N] [--active F]
                          [--seed S] [--trace OUT] [--out OUT] [--json]

Records which FFN neurons each calibration token activates (activation > T, default 0) and
counts, per layer, how often each neuron fired, f(i), and each pair fired together, f(i,j)
(exact, bit-packed masks + popcount). Both files are stored in a "coact" run of the workspace
(artifacts/run-N/trace.safetensors, coact.safetensors) and, with --trace / --out, also copied
there. Defaults: demo-opt on the built-in corpus, 4096 tokens, sequences of 128.

--synthetic makes a trace with power-law neuron frequencies and groups of neurons that fire
together instead (defaults: 32 layers x 11008 neurons, 2000 tokens, 10% active, seed 1). Its
counts are only computed with --out, and need 4·neurons² bytes per layer in memory; for large
shapes use `darkroom-cli place --trace`, which counts one layer at a time.
)";

static const char* kPlaceHelp = R"(usage: darkroom-cli place (--coact FILE | --trace FILE)
                          [--method greedy|greedy-top-k|greedy-all|identity|frequency|hot-cold|
                                    closest-friend]
                          [--top-k K] [--threads N] [--out placement.safetensors] [--json]

Orders each FFN layer's neurons for flash so that neurons that fire together lie together and
prints, per layer and in total, the expected I/O (reads per token: ΣP(i) − Σ P(ij) over
adjacent neurons; identity order for comparison) and the search time. greedy: Neuralink's
greedy-edge path, exactly as over all pairs but found in count bands on threads (layers over
65536 neurons fall back to top-K); greedy-top-k: over each neuron's top-K co-activated partners
only (default 32); greedy-all: the single-threaded all-pairs reference. --trace counts co-activations one layer at a time (for 7B shapes, whose counts do not
fit in memory at once). --out writes order.N tensors for `layout write` and `iobench`.
)";

namespace {

std::string fmt(double v, const char* f = "%.3f") {
  char b[32];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

int coactCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kCoactHelp), 0;
  const bool synthetic = args.flag("--synthetic");
  TraceRequest req;
  int layers = 32;
  std::int64_t neurons = 11008, tokens = synthetic ? 2000 : req.tokens;
  double active = 0.1;
  std::uint64_t seed = 1;
  if (!synthetic) {
    req.model = args.option("--model", req.model);
    if (auto v = args.option("--text")) req.text_file = *v;
    if (auto v = args.option("--sequence")) req.sequence = parseId(*v, "--sequence");
    if (auto v = args.option("--threshold")) req.threshold = parseNumber(*v, "--threshold");
  } else {
    if (auto v = args.option("--layers")) layers = int(parseId(*v, "--layers"));
    if (auto v = args.option("--neurons")) neurons = parseId(*v, "--neurons");
    if (auto v = args.option("--active")) active = parseNumber(*v, "--active");
    if (auto v = args.option("--seed")) seed = std::uint64_t(parseCount(*v, "--seed"));
    if (!(active > 0 && active <= 1)) throw UsageError("--active must be in (0, 1]");
  }
  if (auto v = args.option("--tokens")) tokens = parseId(*v, "--tokens");
  req.tokens = tokens;
  std::optional<std::string> trace_out = args.option("--trace"), coact_out = args.option("--out");
  const bool json = args.flag("--json");
  args.finish();
  const bool count = !synthetic || coact_out;
  if (count && synthetic && double(layers) * double(neurons) * double(neurons) * 4 > 8.0 * (1ull << 30))
    throw UsageError("the counts of " + std::to_string(layers) + " layers of " +
                     std::to_string(neurons) +
                     " neurons exceed 8 GiB; leave out --out and run `darkroom-cli place --trace " +
                     "TRACE`, which counts one layer at a time");

  CoactRunRequest request;
  request.synthetic = synthetic;
  request.trace = req;
  request.layers = layers;
  request.neurons = neurons;
  request.tokens = tokens;
  request.active_fraction = active;
  request.seed = seed;
  request.count = count;
  auto ws = Workspace::create(ctx.workspace);
  auto outcome = std::any_cast<CoactRun>(runWithProgress("coact", [&](JobContext& job) -> std::any {
    auto o = recordCoactRun(ws, request, job);
    if (trace_out) fs::copy_file(o.trace_file, *trace_out, fs::copy_options::overwrite_existing);
    if (coact_out && !o.coact_file.empty())
      fs::copy_file(o.coact_file, *coact_out, fs::copy_options::overwrite_existing);
    return o;
  }));
  const bool counted = !outcome.coact_file.empty();

  const auto& t = outcome.trace;
  if (json) {
    nlohmann::ordered_json j;
    j["run"] = outcome.run_id;
    j["source"] = t.source;
    j["trace"] = trace_out ? *trace_out : outcome.trace_file.string();
    if (counted) j["coact"] = coact_out ? *coact_out : outcome.coact_file.string();
    j["record_seconds"] = outcome.record_seconds;
    j["count_seconds"] = outcome.count_seconds;
    j["layers"] = nlohmann::ordered_json::array();
    for (std::size_t l = 0; l < t.layers.size(); ++l) {
      const auto& layer = t.layers[l];
      const double per_token = activePerToken(layer);
      j["layers"].push_back({{"layer", l},
                             {"neurons", layer.neurons},
                             {"tokens", layer.tokens},
                             {"active_per_token", per_token}});
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (std::size_t l = 0; l < t.layers.size(); ++l) {
    const auto& layer = t.layers[l];
    const double per_token = activePerToken(layer);
    rows.push_back({std::to_string(l), std::to_string(layer.neurons), std::to_string(layer.tokens),
                    fmt(per_token, "%.1f"),
                    fmt(layer.neurons ? per_token / double(layer.neurons) : 0, "%.4f")});
  }
  printTable({"LAYER", "NEURONS", "TOKENS", "ACTIVE/TOKEN", "MEAN FREQ"}, rows);
  std::printf("\nrun %lld: %s\ntrace: %s (%.1f s)\n", static_cast<long long>(outcome.run_id),
              t.source.c_str(), (trace_out ? *trace_out : outcome.trace_file.string()).c_str(),
              outcome.record_seconds);
  if (counted)
    std::printf("counts: %s (%.1f s)\n",
                (coact_out ? *coact_out : outcome.coact_file.string()).c_str(), outcome.count_seconds);
  return 0;
}

int placeCommand(const Context&, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kPlaceHelp), 0;
  auto coact_file = args.option("--coact"), trace_file = args.option("--trace");
  if (bool(coact_file) == bool(trace_file)) throw UsageError("give one of --coact FILE or --trace FILE");
  PlacementOptions options;
  try {
    options.method = parsePlacementMethod(args.option("--method", "greedy"));
  } catch (const NeuralinkError& e) {
    throw UsageError(e.what());
  }
  if (auto v = args.option("--top-k")) options.top_k = int(parseId(*v, "--top-k"));
  if (auto v = args.option("--threads")) options.threads = int(parseId(*v, "--threads"));
  auto out = args.option("--out");
  const bool json = args.flag("--json");
  args.finish();

  struct Result {
    Placement placement;
    std::vector<double> identity;
    double count_s = 0, search_s = 0;
  };
  auto result = std::any_cast<Result>(runWithProgress("place", [&](JobContext& job) -> std::any {
    Result r;
    r.placement.method = options.method;
    PlacementOptions id;
    id.method = PlacementMethod::Identity;
    if (coact_file) {
      job.progress(0, "reading " + *coact_file);
      const auto stats = CoactStats::load(*coact_file);
      auto placing = job.slice(0.05, 0.95);
      const auto start = std::chrono::steady_clock::now();
      r.placement = place(stats, options, placing);
      r.search_s = seconds(start);
      for (const auto& l : stats.layers) r.identity.push_back(placeLayer(l, id).expected_io);
    } else {
      job.progress(0, "reading " + *trace_file);
      const auto trace = ActivationTrace::load(*trace_file);
      for (std::size_t l = 0; l < trace.layers.size(); ++l) {
        job.progress(double(l) / double(trace.layers.size()), "layer " + std::to_string(l) + ": counting");
        auto start = std::chrono::steady_clock::now();
        const auto stats = countCoactivations(trace.layers[l], options.threads);
        r.count_s += seconds(start);
        job.progress((double(l) + 0.5) / double(trace.layers.size()), "layer " + std::to_string(l) + ": placing");
        start = std::chrono::steady_clock::now();
        r.placement.layers.push_back(placeLayer(stats, options));
        r.search_s += seconds(start);
        r.identity.push_back(placeLayer(stats, id).expected_io);
      }
    }
    if (out) r.placement.save(*out);
    job.progress(1.0, "placed");
    return r;
  }));

  const auto& p = result.placement;
  double identity = 0, layer_s = 0;
  for (double v : result.identity) identity += v;
  for (const auto& l : p.layers) layer_s += l.seconds;
  if (json) {
    nlohmann::ordered_json j;
    j["method"] = toString(p.method);
    if (p.method == PlacementMethod::GreedyTopK) j["top_k"] = options.top_k;
    j["expected_io"] = p.expectedIo();
    j["identity_io"] = identity;
    j["search_seconds"] = result.search_s;
    j["layer_search_seconds"] = layer_s;
    if (trace_file) j["count_seconds"] = result.count_s;
    if (out) j["out"] = *out;
    j["layers"] = nlohmann::ordered_json::array();
    for (std::size_t l = 0; l < p.layers.size(); ++l)
      j["layers"].push_back({{"layer", l},
                             {"neurons", p.layers[l].order.size()},
                             {"expected_io", p.layers[l].expected_io},
                             {"identity_io", result.identity[l]},
                             {"seconds", p.layers[l].seconds}});
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (std::size_t l = 0; l < p.layers.size(); ++l)
    rows.push_back({std::to_string(l), std::to_string(p.layers[l].order.size()),
                    fmt(p.layers[l].expected_io, "%.2f"), fmt(result.identity[l], "%.2f"),
                    fmt(result.identity[l] > 0 ? p.layers[l].expected_io / result.identity[l] : 0),
                    fmt(p.layers[l].seconds)});
  printTable({"LAYER", "NEURONS", "EXPECTED I/O", "IDENTITY I/O", "RATIO", "SEARCH S"}, rows);
  std::printf("\n%s%s: expected I/O %.2f reads/token in all (identity %.2f, ratio %.3f); search %.2f s "
              "(%.2f s summed over layers)",
              toString(p.method),
              p.method == PlacementMethod::GreedyTopK ? (" top-" + std::to_string(options.top_k)).c_str() : "",
              p.expectedIo(), identity, identity > 0 ? p.expectedIo() / identity : 0, result.search_s, layer_s);
  if (trace_file) std::printf("; counting %.2f s", result.count_s);
  std::printf("\n");
  if (out) std::printf("placement: %s\n", out->c_str());
  return 0;
}

}  // namespace darkroom::cli

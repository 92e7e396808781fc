#include <chrono>
#include <cstdio>

#include "darkroom/neuralink/coact.h"
#include "darkroom/run_outcome.h"

namespace darkroom::neuralink {
namespace {

namespace fs = std::filesystem;

double secondsSince(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

std::string number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

Params paramsOf(const CoactRunRequest& r) {
  if (r.synthetic)
    return {{"source", "synthetic"},
            {"layers", std::to_string(r.layers)},
            {"neurons", std::to_string(r.neurons)},
            {"tokens", std::to_string(r.tokens)},
            {"active", number(r.active_fraction)},
            {"seed", std::to_string(r.seed)}};
  return {{"source", "model"},
          {"model", r.trace.model},
          {"text", r.trace.text_file.empty() ? "built-in corpus" : r.trace.text_file},
          {"tokens", std::to_string(r.trace.tokens)},
          {"sequence", std::to_string(r.trace.sequence)},
          {"threshold", number(r.trace.threshold)}};
}

}  // namespace

double activePerToken(const LayerTrace& layer) {
  std::int64_t bits = 0;
  for (std::uint64_t w : layer.bits) bits += __builtin_popcountll(w);
  return layer.tokens ? double(bits) / double(layer.tokens) : 0;
}

CoactRun recordCoactRun(Workspace& ws, const CoactRunRequest& request, JobContext& ctx) {
  CoactRun o;
  Store& store = ws.store();
  const auto experiment =
      store.ensureExperiment("neuralink", "Neuron co-activation and flash placement");
  o.run_id = store.createRun(experiment,
                             request.synthetic ? "coact synthetic" : "coact " + request.trace.model,
                             "coact", paramsOf(request));
  recordRunOutcome(store, o.run_id, [&] {
    auto start = std::chrono::steady_clock::now();
    if (request.synthetic) {
      ctx.progress(0, "generating a synthetic trace");
      o.trace = syntheticTrace(request.layers, request.neurons, request.tokens,
                               request.active_fraction, request.seed);
    } else {
      auto recording = ctx.slice(0, 0.6);
      o.trace = recordTrace(ws, request.trace, recording);
    }
    o.record_seconds = secondsSince(start);
    o.trace_file = ws.runDir(o.run_id) / "trace.safetensors";
    fs::create_directories(o.trace_file.parent_path());
    ctx.progress(0.6, "writing the trace");
    o.trace.save(o.trace_file);
    store.addArtifact(o.run_id, o.trace_file, "activation-trace");
    std::vector<MetricPoint> points;
    for (std::size_t l = 0; l < o.trace.layers.size(); ++l) {
      const auto& layer = o.trace.layers[l];
      const double per_token = activePerToken(layer);
      points.push_back({"coact/active_per_token", std::int64_t(l), per_token, 0});
      points.push_back({"coact/mean_frequency", std::int64_t(l),
                        layer.neurons ? per_token / double(layer.neurons) : 0, 0});
    }
    store.appendMetrics(o.run_id, points);
    if (request.count) {
      start = std::chrono::steady_clock::now();
      auto counting = ctx.slice(0.65, 0.3);
      o.stats = countCoactivations(o.trace, counting);
      o.count_seconds = secondsSince(start);
      o.coact_file = ws.runDir(o.run_id) / "coact.safetensors";
      ctx.progress(0.95, "writing the counts");
      o.stats.save(o.coact_file);
      store.addArtifact(o.run_id, o.coact_file, "coactivation-counts");
    }
    store.appendMetrics(o.run_id, {{"coact/record_seconds", 0, o.record_seconds, 0},
                                   {"coact/count_seconds", 0, o.count_seconds, 0}});
  });
  return o;
}

}  // namespace darkroom::neuralink

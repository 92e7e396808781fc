#include "neuralink/io_comparison.h"

#include <darkroom/workspace.h>

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>
#include <numeric>

namespace darkroom::views {

namespace nl = darkroom::neuralink;

const std::vector<nl::CachePolicy>& comparedPolicies() {
  static const std::vector<nl::CachePolicy> policies = {
      nl::CachePolicy::None, nl::CachePolicy::Lru, nl::CachePolicy::S3Fifo,
      nl::CachePolicy::S3FifoLinked};
  return policies;
}

std::string comparisonLabel(nl::CachePolicy policy, bool collapse) {
  std::string name;
  switch (policy) {
    case nl::CachePolicy::None: name = "none"; break;
    case nl::CachePolicy::Lru: name = "lru"; break;
    case nl::CachePolicy::S3Fifo: name = "s3fifo"; break;
    case nl::CachePolicy::S3FifoLinked: name = "linked"; break;
  }
  return collapse ? name + " + collapse" : name;
}

double readsPerToken(const nl::IoSummary& summary) {
  if (summary.tokens.empty()) return 0;
  double reads = 0;
  for (const auto& t : summary.tokens) reads += double(t.reads);
  return reads / double(summary.tokens.size());
}

double megabytesPerToken(const nl::IoSummary& summary) {
  if (summary.tokens.empty()) return 0;
  double bytes = 0;
  for (const auto& t : summary.tokens) bytes += double(t.bytes_read);
  return bytes / 1e6 / double(summary.tokens.size());
}

std::string readLengthBucket(std::size_t index) {
  const std::int64_t kib = std::int64_t(4) << index;
  return kib >= 1024 ? std::to_string(kib / 1024) + "M" : std::to_string(kib) + "K";
}

IoComparison loadStoredIoRuns(const Store& store) {
  IoComparison out;
  out.trace = "stored iobench runs";
  // Newest last, so that it replaces older runs of the same combination.
  auto runs = store.runs();
  std::sort(runs.begin(), runs.end(), [](const RunInfo& a, const RunInfo& b) { return a.id < b.id; });
  std::map<std::tuple<std::string, int, bool>, std::size_t> index;
  for (const RunInfo& run : runs) {
    if (run.kind != "iobench" || run.status != RunStatus::Finished) continue;
    const Params params = store.params(run.id);
    auto param = [&](const char* key) {
      const auto it = params.find(key);
      return it == params.end() ? std::string() : it->second;
    };
    IoComparisonRow row;
    row.placement = std::filesystem::path(param("layout")).stem().string();
    try {
      row.policy = nl::parseCachePolicy(param("policy"));
    } catch (const std::exception&) {
      continue;  // a policy this build does not know
    }
    row.collapse = !param("collapse").empty() && param("collapse") != "off";
    if (param("per_neuron") == "true") row.placement += " (per-neuron reads)";
    auto& s = row.summary;
    auto series = [&](const char* key) { return store.metrics(run.id, key); };
    const auto reads = series("io.reads"), bytes = series("io.bytes_read"),
               latency = series("io.latency_ms"), predicted = series("io.predicted_ms");
    s.tokens.resize(reads.size());
    for (std::size_t t = 0; t < reads.size(); ++t) {
      s.tokens[t].reads = std::int64_t(reads[t].value);
      if (t < bytes.size()) s.tokens[t].bytes_read = std::int64_t(bytes[t].value);
      if (t < latency.size()) s.tokens[t].latency_ms = latency[t].value;
      if (t < predicted.size()) s.tokens[t].predicted_ms = predicted[t].value;
    }
    auto scalar = [&](const char* key) {
      const auto points = series(key);
      return points.empty() ? 0.0 : points.front().value;
    };
    s.effective_bandwidth_mb_s = scalar("io.effective_mb_s");
    s.p50_ms = scalar("io.p50_ms");
    s.p90_ms = scalar("io.p90_ms");
    s.p99_ms = scalar("io.p99_ms");
    s.predicted_mean_ms = scalar("io.predicted_mean_ms");
    if (s.predicted_mean_ms > 0 && out.profile.empty()) {
      // darkroom-cli stores the model's description; its first word names it.
      const std::string model = param("flash_model");
      out.profile = model.substr(0, model.find(' '));
    }
    const auto key = std::make_tuple(row.placement, int(row.policy), row.collapse);
    const auto found = index.find(key);
    if (found != index.end()) {
      out.rows[found->second] = std::move(row);
    } else {
      index[key] = out.rows.size();
      out.rows.push_back(std::move(row));
    }
  }
  return out;
}

IoComparison runIoComparison(const IoComparisonRequest& request, JobContext& ctx) {
  IoComparison out;
  ctx.progress(0.0, "loading the trace");
  const nl::ActivationTrace trace = nl::ActivationTrace::load(request.trace);
  out.trace = trace.source.empty() ? request.trace.filename().string() : trace.source;
  std::optional<Workspace> ws;
  if (!request.workspace.empty()) ws.emplace(Workspace::open(request.workspace));
  nl::IoOptions base = request.options;
  out.profile = request.profile;
  if (!request.profile.empty()) {
    base.predict = true;
    base.flash_model = nl::FlashModel::profile(request.profile);
  }
  const auto& policies = comparedPolicies();
  const double steps = double(request.layouts.size() * policies.size() * 2);
  double done = 0;
  for (const auto& path : request.layouts) {
    const nl::FlashLayout layout = nl::readFlashLayout(path);
    const std::string name = path.stem().string();
    if (layout.layers.size() != trace.layers.size())
      throw nl::NeuralinkError(path.string() + ": " + std::to_string(layout.layers.size()) +
                               " layers, the trace has " + std::to_string(trace.layers.size()));
    for (std::size_t l = 0; l < layout.layers.size(); ++l)
      if (layout.layers[l].neurons != trace.layers[l].neurons)
        throw nl::NeuralinkError(path.string() + ": layer " + std::to_string(l) + " has " +
                                 std::to_string(layout.layers[l].neurons) +
                                 " neurons, the trace " + std::to_string(trace.layers[l].neurons));
    for (const bool collapse : {false, true})
      for (const auto policy : policies) {
        nl::IoOptions options = base;
        options.cache = policy;
        options.collapse = collapse;
        JobContext part = ctx.slice(done / steps, 1.0 / steps);
        ctx.progress(done / steps, name + ": " + comparisonLabel(policy, collapse));
        out.rows.push_back({name, policy, collapse, nl::replay(layout, trace, options, part)});
        if (ws) {
          const Params params = {{"layout", path.string()},
                                 {"trace", request.trace.string()},
                                 {"policy", nl::toString(policy)},
                                 {"collapse", collapse ? "adaptive" : "off"},
                                 {"queue_depth", std::to_string(options.queue_depth)},
                                 {"cache_fraction", std::to_string(options.cache_fraction)},
                                 {"flash_model", request.profile}};
          nl::storeIoRun(ws->store(), "iobench " + name + " " + comparisonLabel(policy, collapse),
                         params, out.rows.back().summary);
        }
        done += 1;
      }
  }
  ctx.progress(1.0, "done");
  return out;
}

}  // namespace darkroom::views

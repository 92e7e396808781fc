// darkroom-cli iobench: replays a trace against a flash layout file with real reads, through a
// cache and access collapse policy, prints the summary next to the flash model's prediction and
// stores an "iobench" run.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/neuralink/io_engine.h"

namespace darkroom::cli {

static const char* kIobenchHelp = R"(usage: darkroom-cli iobench --layout FILE --trace FILE [--policy none|lru|s3fifo|linked]
                            [--collapse [--gap BYTES] [--fixed-gap]] [--per-neuron]
                            [--cache 10%|BYTES] [--queue-depth N] [--tokens N]
                            [--flash-model ufs4.0|ufs3.1|measure] [--buffered] [--io-uring]
                            [--admission P] [--name NAME] [--no-store] [--json]

Replays the per-token activated neurons of TRACE (from `coact --trace`) against the layout file
(from `layout write`) with real reads: O_DIRECT pread on --queue-depth threads (default 32), or
io_uring. Per token and layer: cached neurons are not read, the rest are planned as 4 KiB-aligned
reads of runs of adjacent slots; prints reads, bytes, IOPS, effective bandwidth (useful bytes /
I/O time), mean read length and p50/p90/p99 I/O latency per token, and the flash model's
prediction of the same reads. Stored as an "iobench" run (per-token metrics io.*).

policy      none (default), lru, s3fifo, or linked (S3-FIFO with linking-aligned admission:
            neurons whose two layout neighbours fire in the same token are admitted with
            probability --admission, default 0.25)
--cache     cache size: a percentage of the FFN bytes (default 10%) or a byte count
--collapse  access collapse: read the gap between two runs when it is below the threshold
            (--gap, default 24576 bytes); the threshold adapts to measured bandwidth and a
            bottleneck detector turns collapse off when bandwidth is saturated, unless --fixed-gap
--per-neuron  one read per activated neuron (no merging of adjacent slots; the naive baseline)
--flash-model ufs4.0 (default), ufs3.1, or measure (a read-size sweep of this disk on the layout)
--buffered  read through the page cache instead of O_DIRECT (measures memory, not the disk)
)";

int iobenchCommand(const Context& ctx, Args& args) {
  using namespace darkroom::neuralink;
  if (args.flag("--help")) return std::printf("%s", kIobenchHelp), 0;
  auto layout_path = args.option("--layout");
  auto trace_path = args.option("--trace");
  IoOptions o;
  std::string policy = args.option("--policy", "none");
  o.collapse = args.flag("--collapse");
  if (auto v = args.option("--gap")) o.collapse_gap_bytes = parseCount(*v, "--gap");
  if (args.flag("--fixed-gap")) o.adaptive_collapse = false;
  if (args.flag("--per-neuron")) o.merge_adjacent = false;
  std::string cache = args.option("--cache", "10%");
  if (auto v = args.option("--queue-depth")) o.queue_depth = int(parseId(*v, "--queue-depth"));
  if (auto v = args.option("--tokens")) o.max_tokens = parseId(*v, "--tokens");
  std::string model = args.option("--flash-model", "ufs4.0");
  if (args.flag("--buffered")) o.direct = false;
  if (args.flag("--io-uring")) o.io_uring = true;
  if (auto v = args.option("--admission")) o.linked_admission = parseNumber(*v, "--admission");
  std::string name = args.option("--name", "");
  bool store = !args.flag("--no-store");
  bool json = args.flag("--json");
  args.finish();

  if (!layout_path) throw UsageError("--layout FILE is required (write one with `layout write`)");
  if (!trace_path) throw UsageError("--trace FILE is required (record one with `coact --trace`)");
  try {
    o.cache = parseCachePolicy(policy);
  } catch (const NeuralinkError& e) {
    throw UsageError(std::string("--policy: ") + e.what());
  }
  if (!cache.empty() && cache.back() == '%') {
    const double pct = parseNumber(cache.substr(0, cache.size() - 1), "--cache");
    if (pct < 0 || pct > 100) throw UsageError("--cache percentage must be within 0..100");
    o.cache_fraction = pct / 100;
  } else {
    o.cache_bytes = parseId(cache, "--cache");
  }
  if (o.queue_depth > 1024) throw UsageError("--queue-depth must be at most 1024");
  if (o.linked_admission < 0 || o.linked_admission > 1)
    throw UsageError("--admission must be a probability (0..1)");
  if (model != "measure") {
    try {
      o.flash_model = FlashModel::profile(model);
    } catch (const NeuralinkError& e) {
      throw UsageError(std::string("--flash-model: ") + e.what());
    }
  }
  o.predict = true;

  auto result = std::any_cast<IoSummary>(runWithProgress("iobench", [&](JobContext& job) -> std::any {
    FlashLayout layout = readFlashLayout(*layout_path);
    ActivationTrace trace = ActivationTrace::load(*trace_path);
    if (model == "measure") {
      JobContext sweep = job.slice(0, 0.2);
      o.flash_model = FlashModel::measure(layout.path, sweep, o.queue_depth, o.direct);
      JobContext rest = job.slice(0.2, 0.8);
      return replay(layout, trace, o, rest);
    }
    return replay(layout, trace, o, job);
  }));

  const std::string mode = std::string(toString(o.cache)) +
                           (o.merge_adjacent ? (o.collapse ? "+collapse" : "") : "+per-neuron");
  std::int64_t run_id = 0;
  if (store) {
    auto ws = Workspace::create(ctx.workspace);
    Params params = {{"layout", *layout_path},
                     {"trace", *trace_path},
                     {"policy", toString(o.cache)},
                     {"collapse", o.collapse ? (o.adaptive_collapse ? "adaptive" : "fixed") : "off"},
                     {"gap_bytes", std::to_string(o.collapse_gap_bytes)},
                     {"per_neuron", o.merge_adjacent ? "false" : "true"},
                     {"cache_bytes", std::to_string(result.cache_capacity_bytes)},
                     {"queue_depth", std::to_string(o.queue_depth)},
                     {"engine", result.engine},
                     {"flash_model", o.flash_model.describe()},
                     {"admission", std::to_string(o.linked_admission)}};
    run_id = storeIoRun(ws.store(), name.empty() ? "iobench " + mode : name, params, result);
  }
  const double n = double(std::max<std::size_t>(result.tokens.size(), 1));
  if (json) {
    nlohmann::ordered_json j;
    j["run"] = run_id;
    j["mode"] = mode;
    j["engine"] = result.engine;
    j["tokens"] = result.tokens.size();
    j["reads_per_token"] = double(result.reads) / n;
    j["mb_per_token"] = double(result.bytes_read) / n / 1e6;
    j["useful_mb_per_token"] = double(result.bytes_useful) / n / 1e6;
    j["cache_hits_per_token"] = double(result.cache_hits) / n;
    j["cache_bytes"] = result.cache_capacity_bytes;
    j["iops"] = result.iops;
    j["effective_mb_s"] = result.effective_bandwidth_mb_s;
    j["mean_read_bytes"] = result.mean_read_bytes;
    j["mean_ms"] = result.mean_ms;
    j["p50_ms"] = result.p50_ms;
    j["p90_ms"] = result.p90_ms;
    j["p99_ms"] = result.p99_ms;
    j["read_length_histogram"] = result.read_length_histogram;
    j["collapse_gap_bytes"] = result.final_gap_bytes;
    j["collapse_off_tokens"] = result.collapse_off_tokens;
    j["flash_model"] = {{"name", o.flash_model.name},
                        {"overhead_us", o.flash_model.overhead_us},
                        {"bandwidth_mb_s", o.flash_model.bandwidth_mb_s},
                        {"queue_depth", o.flash_model.queue_depth},
                        {"mean_ms", result.predicted_mean_ms},
                        {"p50_ms", result.predicted_p50_ms},
                        {"p99_ms", result.predicted_p99_ms}};
    if (!result.warning.empty()) j["warning"] = result.warning;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s on %s\n%s", mode.c_str(), layout_path->c_str(), result.describe().c_str());
  auto fmt = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v);
    return std::string(b);
  };
  std::printf("\n");
  printTable({"", "MEAN MS", "P50 MS", "P99 MS"},
             {{"measured (this disk)", fmt(result.mean_ms), fmt(result.p50_ms), fmt(result.p99_ms)},
              {"predicted (" + o.flash_model.name + ")", fmt(result.predicted_mean_ms),
               fmt(result.predicted_p50_ms), fmt(result.predicted_p99_ms)}});
  std::printf("flash model: %s\n", o.flash_model.describe().c_str());
  if (run_id) std::printf("run %lld\n", static_cast<long long>(run_id));
  return 0;
}

}  // namespace darkroom::cli

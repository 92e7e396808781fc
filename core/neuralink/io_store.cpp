// Storing a replay of the I/O engine as a run (see storeIoRun in io_engine.h). Kept apart from
// io_engine.cpp so that the engine (darkroom_flashio) needs no SQLite; this file stays in
// darkroom_core.
#include <algorithm>

#include "darkroom/neuralink/io_engine.h"

namespace darkroom::neuralink {

std::int64_t storeIoRun(Store& store, const std::string& name, const Params& params,
                        const IoSummary& s) {
  const auto experiment =
      store.ensureExperiment("neuralink-io", "Neuralink: flash layout replays with real reads");
  const auto run = store.createRun(experiment, name, "iobench", params);
  try {
    std::vector<MetricPoint> points;
    const double n = double(std::max<std::size_t>(s.tokens.size(), 1));
    auto add = [&](const char* key, std::int64_t step, double value) {
      points.push_back({key, step, value, 0});
    };
    for (std::size_t t = 0; t < s.tokens.size(); ++t) {
      const auto& tok = s.tokens[t];
      const auto step = std::int64_t(t);
      add("io.reads", step, double(tok.reads));
      add("io.bytes_read", step, double(tok.bytes_read));
      add("io.bytes_useful", step, double(tok.bytes_useful));
      add("io.cache_hits", step, double(tok.cache_hits));
      add("io.latency_ms", step, tok.latency_ms);
      if (s.predicted_mean_ms > 0) add("io.predicted_ms", step, tok.predicted_ms);
    }
    add("io.iops", 0, s.iops);
    add("io.effective_mb_s", 0, s.effective_bandwidth_mb_s);
    add("io.mean_read_bytes", 0, s.mean_read_bytes);
    add("io.p50_ms", 0, s.p50_ms);
    add("io.p90_ms", 0, s.p90_ms);
    add("io.p99_ms", 0, s.p99_ms);
    add("io.mean_ms", 0, s.mean_ms);
    add("io.reads_per_token", 0, double(s.reads) / n);
    add("io.mb_per_token", 0, double(s.bytes_read) / n / 1e6);
    if (s.predicted_mean_ms > 0) add("io.predicted_mean_ms", 0, s.predicted_mean_ms);
    store.appendMetrics(run, points);
    store.finishRun(run, RunStatus::Finished);
  } catch (const std::exception& e) {
    store.finishRun(run, RunStatus::Failed, e.what());
    throw;
  }
  return run;
}

}  // namespace darkroom::neuralink

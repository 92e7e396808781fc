// `flash-replay`: replays an activation trace against a flash layout file with the host's own
// I/O engine (core/neuralink, built into darkroom_flashio), streaming one sample per token as the
// engine finishes it.
#include <any>
#include <chrono>
#include <exception>

#include "agent_error.h"
#include "commands.h"
#include "darkroom/jobs.h"
#include "darkroom/neuralink/flash_layout.h"
#include "darkroom/neuralink/io_engine.h"
#include "darkroom/neuralink/trace.h"
#include "stop_signal.h"
#include "test_file.h"

namespace darkroom::agent {
namespace nl = darkroom::neuralink;

std::vector<FlagSpec> flashReplayFlags() {
  return {
      {"layout", true, "FILE  flash layout file (read only; may lie outside the work directory)"},
      {"trace", true, "FILE  activation trace, safetensors (read only)"},
      {"policy", true, "P  neuron cache: none, lru, s3fifo or linked (none)"},
      {"cache-fraction", true, "F  cache size as a fraction of the FFN bytes (0.1)"},
      {"cache-mb", true, "N  cache size in MiB (overrides --cache-fraction)"},
      {"collapse", false, "merge reads across small gaps (access collapse)"},
      {"gap-kb", true, "N  initial collapse gap threshold in KiB (24)"},
      {"fixed-gap", false, "keep the gap threshold fixed (no startup sweep, no adaptation)"},
      {"per-neuron", false, "one read per activated neuron (the llama.cpp-style baseline)"},
      {"queue-depth", true, "N  reads in flight (32)"},
      {"tokens", true, "N  replay only the first N tokens (0: all)"},
      {"seed", true, "N  seed of the linked cache's admission coin (1)"},
      {"io-uring", false, "read with io_uring (builds with liburing only)"},
      {"buffered", false, "read through the page cache instead of O_DIRECT"},
  };
}

void runFlashReplay(const CommandContext& ctx) {
  const Args& a = ctx.args;
  const std::string layout_path = a.required("layout");
  const std::string trace_path = a.required("trace");
  nl::IoOptions options;
  const std::string policy = a.choice("policy", "none", {"none", "lru", "s3fifo", "linked"});
  options.cache = nl::parseCachePolicy(policy);
  options.cache_fraction = a.number("cache-fraction", 0.1, 0.0, 1.0);
  options.cache_bytes = a.integer("cache-mb", 0, 0, std::int64_t(1) << 30) << 20;
  options.collapse = a.flag("collapse");
  options.collapse_gap_bytes = a.integer("gap-kb", 24, 0, 1 << 20) * 1024;
  options.adaptive_collapse = !a.flag("fixed-gap");
  options.merge_adjacent = !a.flag("per-neuron");
  options.queue_depth = int(a.integer("queue-depth", 32, 1, 1024));
  options.max_tokens = a.integer("tokens", 0, 0, INT64_MAX);
  options.seed = std::uint64_t(a.integer("seed", 1, 0, INT64_MAX));
  options.io_uring = a.flag("io-uring");
  if (options.merge_adjacent == false && options.collapse)
    throw UsageError("--collapse", "flash-replay: --collapse and --per-neuron exclude each other "
                                   "(per-neuron reads are never merged)");

  const auto layout = nl::readFlashLayout(layout_path);
  const auto trace = nl::ActivationTrace::load(trace_path);

  std::string warning;
  if (a.flag("buffered")) {
    options.direct = false;
  } else {
    const ReadHandle probe = openForReading(layout.path);
    options.direct = probe.direct;
    warning = probe.warning;
  }

  // Samples stream from the replay's thread as each token finishes.
  options.on_token = [&](std::int64_t token, const nl::TokenIo& io) {
    if (ctx.out.broken()) throw AgentError("the output was closed");
    Json s;
    s["token"] = token;
    s["reads"] = io.reads;
    s["bytes_read"] = io.bytes_read;
    s["bytes_useful"] = io.bytes_useful;
    s["cache_hits"] = io.cache_hits;
    s["latency_ms"] = round6(io.latency_ms);
    s["collapse_on"] = io.collapse_on;
    if (!warning.empty()) {  // buffered or memory-backed reads: every sample says so
      s["direct"] = options.direct;
      s["warning"] = warning;
    }
    ctx.out.sample(s);
  };

  // The engine runs as a job (the only way to get a JobContext), so a signal cancels it.
  JobQueue queue(1);
  auto last_progress = std::chrono::steady_clock::now();
  queue.setListener([&](const JobEvent& e) {
    // Progress at most once a second: the per-token samples already show how far it got.
    if (e.state != JobState::Running) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress < std::chrono::seconds(1)) return;
    last_progress = now;
    ctx.out.progress(e.fraction, 1.0, e.message);
  });
  nl::IoSummary sum;
  std::exception_ptr failure;
  const auto id = queue.submit("flash-replay", "flash-replay", [&](JobContext& job) -> std::any {
    try {
      sum = nl::replay(layout, trace, options, job);
    } catch (const JobCancelled&) {
      throw;
    } catch (...) {
      failure = std::current_exception();
    }
    return {};
  });
  JobState state = JobState::Running;
  while (!isFinal(state = queue.wait(id, std::chrono::milliseconds(100))))
    if (stopRequested()) queue.cancel(id);
  if (failure) std::rethrow_exception(failure);
  if (state != JobState::Succeeded)
    throw AgentError(std::string("flash-replay interrupted by ") +
                     (stopSignalName() ? stopSignalName() : "cancellation"));

  Json r;
  r["tokens"] = std::int64_t(sum.tokens.size());
  r["iops"] = significant6(sum.iops);
  r["effective_mb_s"] = significant6(sum.effective_bandwidth_mb_s);
  r["p50_ms"] = round6(sum.p50_ms);
  r["p90_ms"] = round6(sum.p90_ms);
  r["p99_ms"] = round6(sum.p99_ms);
  r["mean_ms"] = round6(sum.mean_ms);
  r["reads"] = sum.reads;
  r["bytes_read"] = sum.bytes_read;
  r["bytes_useful"] = sum.bytes_useful;
  r["cache_hits"] = sum.cache_hits;
  r["activated"] = sum.activated;
  r["mean_read_bytes"] = round3(sum.mean_read_bytes);
  r["read_length_histogram"] = sum.read_length_histogram;
  r["cache_capacity_bytes"] = sum.cache_capacity_bytes;
  r["final_gap_bytes"] = round3(sum.final_gap_bytes);
  r["collapse_off_tokens"] = sum.collapse_off_tokens;
  r["peak_mb_s"] = significant6(sum.peak_mb_s);
  r["engine"] = sum.engine;
  r["policy"] = policy;
  r["direct"] = options.direct;
  r["layout"] = layout.path.string();
  r["trace"] = trace_path;
  std::string warnings = warning;
  if (!sum.warning.empty()) warnings += (warnings.empty() ? "" : "; ") + sum.warning;
  if (!warnings.empty()) r["warning"] = warnings;
  ctx.out.result(r);
}

}  // namespace darkroom::agent

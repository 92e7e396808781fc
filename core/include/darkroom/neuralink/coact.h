// Co-activation statistics of FFN neurons (PAPERS.md §2, Neuralink's offline stage): per layer,
// how often each neuron fired, f(i), and how often each pair fired for the same token, f(i,j),
// counted exactly from bit-packed masks with popcount, on threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/neuralink/trace.h"
#include "darkroom/workspace.h"

namespace darkroom::neuralink {

struct LayerCoact {
  std::int64_t neurons = 0;
  std::int64_t tokens = 0;
  std::vector<std::uint32_t> count;  // f(i), [neurons]
  std::vector<std::uint32_t> pair;   // f(i,j), [neurons * neurons], symmetric, diagonal = f(i)
  std::uint32_t pairCount(std::int64_t i, std::int64_t j) const { return pair[i * neurons + j]; }
  // P(i) = f(i) / tokens; P(ij) = f(i,j) / tokens (the probability that one token needs both).
  double p(std::int64_t i) const;
  double p(std::int64_t i, std::int64_t j) const;
};

struct CoactStats {
  std::string source;
  std::vector<LayerCoact> layers;
  // Safetensors: "count.N" U32... stored as I32/I64 where the format lacks U32; errors name the
  // file. The views read them back with load().
  void save(const std::filesystem::path& path) const;
  static CoactStats load(const std::filesystem::path& path);
};

// Counts one layer (threads: 0 = all cores).
LayerCoact countCoactivations(const LayerTrace& trace, int threads = 0);
CoactStats countCoactivations(const ActivationTrace& trace, JobContext& ctx);

// Records a model's FFN activations (activation > threshold counts as active) on calibration
// text: `tokens` tokens of the built-in corpus or of text_file, as the Analyze path reads them.
struct TraceRequest {
  std::string model = "demo-opt";  // demo name or Hugging Face folder
  std::string text_file;           // empty: the built-in corpus
  std::int64_t tokens = 4096;
  std::int64_t sequence = 128;
  double threshold = 0.0;
};
ActivationTrace recordTrace(Workspace& workspace, const TraceRequest& request, JobContext& ctx);

// A synthetic trace with power-law neuron frequencies and clustered co-activation (groups of
// neurons that tend to fire together), for 7B-shaped benchmarks without a 7B model.
ActivationTrace syntheticTrace(int layers, std::int64_t neurons, std::int64_t tokens,
                               double mean_active_fraction, std::uint64_t seed);

// One "coact" run in the workspace's store, as `darkroom-cli coact` and the Co-activation panel
// make it: a recorded (or synthetic) trace and, when `count`, its co-activation counts, saved as
// the run's artifacts trace.safetensors and coact.safetensors, with per-layer metrics
// coact/active_per_token and coact/mean_frequency (step = layer) and the times taken.
struct CoactRunRequest {
  bool synthetic = false;
  TraceRequest trace;  // when not synthetic
  int layers = 32;     // when synthetic
  std::int64_t neurons = 11008;
  std::int64_t tokens = 2000;
  double active_fraction = 0.1;
  std::uint64_t seed = 1;
  bool count = true;
};
struct CoactRun {
  std::int64_t run_id = 0;
  ActivationTrace trace;
  CoactStats stats;  // empty unless counted
  std::filesystem::path trace_file, coact_file;  // coact_file empty unless counted
  double record_seconds = 0, count_seconds = 0;
};
CoactRun recordCoactRun(Workspace& workspace, const CoactRunRequest& request, JobContext& ctx);
// Mean activated neurons per token of a layer.
double activePerToken(const LayerTrace& layer);

}  // namespace darkroom::neuralink

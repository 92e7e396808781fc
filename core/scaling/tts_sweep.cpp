// The test-time-scaling sweep: model × method × budget over held-out word problems, one stored
// run per model × method, and the frontier read back from the store.
// Torch first: its headers use the identifier `slots`, which Qt would define as a macro.
#include <ATen/ATen.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "darkroom/analysis.h"
#include "darkroom/demo_models.h"
#include "darkroom/run_outcome.h"
#include "darkroom/scaling.h"
#include "model/checkpoint.h"
#include "quant/quantized_model.h"
#include "scaling/batch_decoder.h"
#include "scaling/rewards.h"
#include "scaling/search.h"

namespace darkroom {
namespace fs = std::filesystem;
namespace {

constexpr const char* kExperiment = "test-time-scaling";
constexpr const char* kRunKind = "tts";
// The held-out problems come from a seed far from any the math models train on (their corpus
// uses the training seed, 7 by default), so the questions differ from the training text.
constexpr std::uint64_t kHeldOutOffset = 1000003;

double cpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

std::string joined(const std::vector<int>& values) {
  std::string out;
  for (int v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

}  // namespace

void validateTtsOptions(const TtsOptions& o) {
  if (o.models.empty()) throw std::invalid_argument("test-time scaling needs at least one model");
  for (const auto& m : o.models)
    if (!isDemoModelName(m) && !fs::is_directory(m))
      throw std::invalid_argument("'" + m + "' is neither a model folder nor a built-in model (" +
                                  mathModelNames()[0] + ", " + mathModelNames()[1] + ")");
  if (o.reward != "verifier" && !fs::is_directory(o.reward))
    throw std::invalid_argument("--reward must be 'verifier' or a reward-model folder; '" +
                                o.reward + "' is neither");
  if (o.methods.empty()) throw std::invalid_argument("test-time scaling needs a method (bon, beam)");
  for (const auto& m : o.methods)
    if (m != "bon" && m != "beam")
      throw std::invalid_argument("unknown method '" + m + "' (bon: Best-of-N, beam: beam search)");
  if (o.budgets.empty()) throw std::invalid_argument("test-time scaling needs at least one budget N");
  for (int n : o.budgets)
    if (n < 1 || n > 1024)
      throw std::invalid_argument("a budget N must be in 1…1024, got " + std::to_string(n));
  if (o.problems < 1) throw std::invalid_argument("test-time scaling needs at least one problem");
  if (o.weights != "float32") quant::parseQuantSpec(o.weights);  // throws naming what is accepted
  scaling::SearchOptions search;
  search.beam_width = o.beam_width;
  search.sampling.temperature = o.temperature;
  search.sampling.top_p = o.top_p;
  search.sampling.max_new_tokens = o.max_new_tokens;
  scaling::checkSearchOptions(search);
}

namespace {

// A model ready to decode: float32, or quantized in memory (its hooks run the LUT kernels).
struct LoadedModel {
  std::unique_ptr<model::Transformer> fp32;
  std::unique_ptr<quant::QuantizedModel> quantized;
  std::unique_ptr<Tokenizer> tokenizer;
  scaling::DecodeModel decode;
};

std::unique_ptr<LoadedModel> loadModel(const fs::path& dir, const std::string& weights) {
  auto m = std::make_unique<LoadedModel>();
  m->fp32 = std::make_unique<model::Transformer>(model::loadCheckpointFor(dir, "float32", "cpu"));
  m->tokenizer = loadTokenizer(dir);
  m->decode.tokenizer = m->tokenizer.get();
  m->decode.add_bos = model::addsBos(dir, m->fp32->config());
  if (weights == "float32") {
    m->decode.transformer = m->fp32.get();
  } else {
    m->quantized = std::make_unique<quant::QuantizedModel>(*m->fp32, quant::parseQuantSpec(weights));
    m->decode.transformer = &m->quantized->transformer();
    m->decode.hooks = &m->quantized->hooks();
  }
  return m;
}

}  // namespace

TtsReport runTestTimeScaling(Workspace& ws, const TtsOptions& options, JobContext& ctx) {
  validateTtsOptions(options);
  // Each budget once, smallest first: a run holds one point per budget (step = N).
  std::vector<int> budgets = options.budgets;
  std::sort(budgets.begin(), budgets.end());
  budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());
  std::vector<std::string> methods;
  for (const auto& m : options.methods)
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
  auto reward = scaling::makeReward(options.reward);
  const auto problems =
      wordProblems(options.seed + kHeldOutOffset, std::size_t(options.problems));

  auto& store = ws.store();
  const auto experiment = store.ensureExperiment(
      kExperiment, "Best-of-N and beam search over held-out word problems: accuracy vs. cost");
  TtsReport report;
  const double per_model = 1.0 / double(options.models.size());
  const double units = double(methods.size() * budgets.size()) * double(problems.size());
  for (std::size_t mi = 0; mi < options.models.size(); ++mi) {
    const auto& name = options.models[mi];
    const double base = double(mi) * per_model;
    // A demo model trains on first use: that takes the first fifth of this model's share.
    auto resolving = ctx.slice(base, per_model * 0.2);
    const auto dir = resolveModel(ws, name, resolving);
    ctx.progress(base + per_model * 0.2, name + ": loading (" + options.weights + ")");
    auto loaded = loadModel(dir, options.weights);
    scaling::BatchDecoder decoder(loaded->decode);
    double done = 0;

    for (const auto& method : methods) {
      const Params params = {{"model", name},
                             {"model_dir", dir.string()},
                             {"weights", options.weights},
                             {"method", method},
                             {"reward", reward->name()},
                             {"problems", std::to_string(options.problems)},
                             {"seed", std::to_string(options.seed)},
                             {"temperature", std::to_string(options.temperature)},
                             {"top_p", std::to_string(options.top_p)},
                             {"beam_width", std::to_string(options.beam_width)},
                             {"max_new_tokens", std::to_string(options.max_new_tokens)},
                             {"budgets", joined(budgets)}};
      const auto run = store.createRun(experiment, name + " " + options.weights + " " + method,
                                       kRunKind, params);
      recordRunOutcome(store, run, [&] {
        for (int budget : budgets) {
          scaling::SearchOptions search;
          search.budget = budget;
          search.beam_width = options.beam_width;
          search.sampling.temperature = options.temperature;
          search.sampling.top_p = options.top_p;
          search.sampling.max_new_tokens = options.max_new_tokens;
          TtsPoint point;
          point.model = name;
          point.weights = options.weights;
          point.method = method;
          point.reward = reward->name();
          point.budget = budget;
          point.problems = std::int64_t(problems.size());
          point.run_id = run;
          std::int64_t tokens = 0;
          const auto wall0 = std::chrono::steady_clock::now();
          const double cpu0 = cpuSeconds();
          for (std::size_t p = 0; p < problems.size(); ++p) {
            // The same problem gets the same seed at every budget: Best-of-N's first N
            // candidates are then those of every larger budget too.
            search.seed = scaling::rowSeed(options.seed, p);
            auto result = method == "bon"
                              ? scaling::bestOfN(decoder, *reward, problems[p], search)
                              : scaling::beamSearch(decoder, *reward, problems[p], search);
            if (checkSolution(problems[p], result.solution).correct) ++point.solved;
            tokens += result.tokens;
            done += 1;
            ctx.progress(base + per_model * (0.2 + 0.8 * done / units),
                         name + " " + method + " N=" + std::to_string(budget) + ": problem " +
                             std::to_string(p + 1) + "/" + std::to_string(problems.size()));
          }
          const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
          const double n = double(problems.size());
          point.accuracy = double(point.solved) / n;
          point.tokens = double(tokens) / n;
          point.wall_seconds = wall / n;
          point.cpu_seconds = (cpuSeconds() - cpu0) / n;
          store.appendMetrics(run, {{"tts/accuracy", budget, point.accuracy, 0},
                                    {"tts/solved", budget, double(point.solved), 0},
                                    {"tts/tokens", budget, point.tokens, 0},
                                    {"tts/wall_s", budget, point.wall_seconds, 0},
                                    {"tts/cpu_s", budget, point.cpu_seconds, 0}});
          report.points.push_back(point);
        }
      });
    }
  }
  ctx.progress(1.0, "done");
  return report;
}

std::vector<TtsPoint> loadFrontier(Workspace& ws) {
  auto& store = ws.store();
  std::vector<TtsPoint> out;
  for (const auto& experiment : store.experiments()) {
    if (experiment.name != kExperiment) continue;
    for (const auto& run : store.runs(experiment.id)) {
      if (run.kind != kRunKind ||
          (run.status != RunStatus::Finished && run.status != RunStatus::Killed))
        continue;
      auto params = store.params(run.id);
      auto param = [&](const char* key) {
        auto it = params.find(key);
        return it == params.end() ? std::string() : it->second;
      };
      std::int64_t problems = 0;
      try {
        problems = std::stoll(param("problems"));
      } catch (const std::exception&) {
        problems = 0;  // an older or hand-edited run: the count is unknown
      }
      // step (= budget) → value, per key; a point needs all four.
      std::map<std::int64_t, std::map<std::string, double>> by_budget;
      for (const char* key : {"tts/accuracy", "tts/solved", "tts/tokens", "tts/wall_s", "tts/cpu_s"})
        for (const auto& m : store.metrics(run.id, key)) by_budget[m.step][key] = m.value;
      for (const auto& [budget, values] : by_budget) {
        if (!values.count("tts/accuracy") || !values.count("tts/tokens") ||
            !values.count("tts/wall_s") || !values.count("tts/cpu_s"))
          continue;
        TtsPoint p;
        p.model = param("model");
        p.weights = param("weights");
        p.method = param("method");
        p.reward = param("reward");
        p.budget = int(budget);
        p.problems = problems;
        p.accuracy = values.at("tts/accuracy");
        p.solved = values.count("tts/solved") ? std::llround(values.at("tts/solved"))
                                              : std::llround(p.accuracy * double(problems));
        p.tokens = values.at("tts/tokens");
        p.wall_seconds = values.at("tts/wall_s");
        p.cpu_seconds = values.at("tts/cpu_s");
        p.run_id = run.id;
        out.push_back(p);
      }
    }
  }
  return out;
}

std::vector<std::size_t> paretoFront(const std::vector<TtsPoint>& points, FrontierCost cost) {
  auto costOf = [cost](const TtsPoint& p) {
    switch (cost) {
      case FrontierCost::Tokens: return p.tokens;
      case FrontierCost::WallTime: return p.wall_seconds;
      case FrontierCost::CpuTime: return p.cpu_seconds;
    }
    return p.tokens;
  };
  auto usable = [&](const TtsPoint& p) { return std::isfinite(costOf(p)) && std::isfinite(p.accuracy); };
  std::vector<std::size_t> front;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (!usable(points[i])) continue;  // a point with no measured cost is on no frontier
    const double ci = costOf(points[i]), ai = points[i].accuracy;
    bool beaten = false;
    for (std::size_t j = 0; j < points.size() && !beaten; ++j) {
      if (j == i || !usable(points[j])) continue;
      const double cj = costOf(points[j]), aj = points[j].accuracy;
      beaten = cj <= ci && aj >= ai && (cj < ci || aj > ai);
    }
    if (!beaten) front.push_back(i);
  }
  return front;
}

}  // namespace darkroom

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "command.h"
#include "darkroom/scaling.h"

namespace darkroom::cli {

static const char* kTtsHelp = R"(usage: darkroom-cli tts [--models NAME|DIR,...] [--weights float32|tile-q4_0|rows-q4_0|tile-iq4_nl|...]
                       [--method bon|beam|bon,beam] [--n 1,2,4,8,16] [--problems N] [--seed S]
                       [--temperature T] [--top-p P] [--beam-width M] [--reward verifier|DIR]
                       [--max-new N] [--json]

Test-time scaling on held-out arithmetic word problems: every model × method × budget N decodes
N candidates at once (quantized to --weights first, unless float32) and picks one. Best-of-N
(bon) scores whole solutions with the outcome reward; beam search (beam) keeps N/M beams, grows
each into M one-step continuations and keeps the best by the process reward. Each point is the
accuracy, the generated tokens, and the wall and CPU seconds per problem; one "tts" run per
model × method in the "test-time-scaling" experiment (metrics at step = N). Ctrl-C keeps the
finished points of the run in progress, as killed.

defaults  --models demo-math-s,demo-math-m (trained on first use) --weights tile-q4_0
          --method bon,beam --n 1,2,4,8,16 --problems 64 --seed 1 --temperature 0.8
          --top-p 0.95 --beam-width 4 --max-new 160 --reward verifier
reward    verifier: the exact checker (outcome: the answer is right; process: the share of
          right steps so far); DIR: a causal LM folder, scored by its score.weight head, or by
          logit(" yes") - logit(" no") after "<problem><solution> correct?"
table     PARETO lists the costs on which no other point has at most the cost and at least the
          accuracy, one of them strictly: tok (tokens), wall, cpu
)";

namespace {

std::vector<std::string> splitList(const std::string& text, const std::string& what) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto end = text.find(',', start);
    auto item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (item.empty())
      throw UsageError(what + " expects names separated by commas, got '" + text + "'");
    out.push_back(item);
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

TtsOptions parseOptions(Args& args) {
  TtsOptions o;
  if (auto v = args.option("--models")) o.models = splitList(*v, "--models");
  if (auto v = args.option("--weights")) o.weights = *v;
  if (auto v = args.option("--method")) {
    o.methods = splitList(*v, "--method");
    for (const auto& m : o.methods)
      if (m != "bon" && m != "beam")
        throw UsageError("--method takes bon, beam or bon,beam, got '" + *v + "'");
  }
  if (auto v = args.option("--n")) {
    o.budgets.clear();
    for (double n : parseNumbers(*v, "--n")) {
      if (n < 1 || n > 1024 || n != std::floor(n))
        throw UsageError("--n expects whole budgets in 1…1024, got '" + *v + "'");
      o.budgets.push_back(static_cast<int>(n));
    }
  }
  if (auto v = args.option("--problems")) o.problems = static_cast<int>(parseId(*v, "--problems"));
  if (auto v = args.option("--seed")) o.seed = static_cast<std::uint64_t>(parseCount(*v, "--seed"));
  if (auto v = args.option("--temperature")) o.temperature = parseNumber(*v, "--temperature");
  if (auto v = args.option("--top-p")) o.top_p = parseNumber(*v, "--top-p");
  if (auto v = args.option("--beam-width"))
    o.beam_width = static_cast<int>(parseId(*v, "--beam-width"));
  if (auto v = args.option("--reward")) o.reward = *v;
  if (auto v = args.option("--max-new"))
    o.max_new_tokens = static_cast<int>(parseId(*v, "--max-new"));
  // Everything the sweep would refuse is a usage error, reported before any model is trained.
  try {
    validateTtsOptions(o);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("tts: ") + e.what());
  }
  return o;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

int ttsCommand(const Context& ctx, Args& args) {
  if (args.flag("--help")) return std::printf("%s", kTtsHelp), 0;
  const bool json = args.flag("--json");
  auto options = parseOptions(args);
  args.finish();

  auto ws = Workspace::create(ctx.workspace);
  auto report = std::any_cast<TtsReport>(runWithProgress(
      "tts", [&](JobContext& job) -> std::any { return runTestTimeScaling(ws, options, job); }));

  const auto& points = report.points;
  std::vector<bool> on_tokens(points.size()), on_wall(points.size()), on_cpu(points.size());
  for (auto i : paretoFront(points, FrontierCost::Tokens)) on_tokens[i] = true;
  for (auto i : paretoFront(points, FrontierCost::WallTime)) on_wall[i] = true;
  for (auto i : paretoFront(points, FrontierCost::CpuTime)) on_cpu[i] = true;

  if (json) {
    nlohmann::ordered_json j;
    std::vector<std::int64_t> runs;
    j["points"] = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < points.size(); ++i) {
      const auto& p = points[i];
      if (runs.empty() || runs.back() != p.run_id) runs.push_back(p.run_id);
      nlohmann::ordered_json e;
      e["run"] = p.run_id;
      e["model"] = p.model;
      e["weights"] = p.weights;
      e["method"] = p.method;
      e["reward"] = p.reward;
      e["budget"] = p.budget;
      e["problems"] = p.problems;
      e["solved"] = p.solved;
      e["accuracy"] = p.accuracy;
      e["tokens"] = p.tokens;
      e["wall_s"] = p.wall_seconds;
      e["cpu_s"] = p.cpu_seconds;
      e["pareto"] = {{"tokens", bool(on_tokens[i])}, {"wall", bool(on_wall[i])},
                     {"cpu", bool(on_cpu[i])}};
      j["points"].push_back(e);
    }
    j["runs"] = runs;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    std::string front;
    if (on_tokens[i]) front += "tok ";
    if (on_wall[i]) front += "wall ";
    if (on_cpu[i]) front += "cpu ";
    if (front.empty()) front = "-";
    else front.pop_back();
    rows.push_back({p.model, p.weights, p.method, std::to_string(p.budget),
                    fixed(p.accuracy, 3) + " (" + std::to_string(p.solved) + "/" +
                        std::to_string(p.problems) + ")",
                    fixed(p.tokens, 1), fixed(p.wall_seconds, 3), fixed(p.cpu_seconds, 3), front});
  }
  printTable({"MODEL", "WEIGHTS", "METHOD", "N", "ACCURACY", "TOKENS/PROBLEM", "WALL S/PROBLEM",
              "CPU S/PROBLEM", "PARETO"},
             rows);
  std::printf("reward %s; points stored as runs of the \"test-time-scaling\" experiment\n",
              options.reward.c_str());
  return 0;
}

}  // namespace darkroom::cli

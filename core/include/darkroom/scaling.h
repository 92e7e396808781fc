// Test-time scaling (PAPERS.md §3): decode N candidates at once with a (quantized) model and
// pick one — Best-of-N scored by an outcome reward, or step-level beam search scored by a process
// reward — on the built-in multi-step arithmetic word problems (darkroom/corpus.h), sweeping the
// budget N to draw accuracy against cost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "darkroom/corpus.h"
#include "darkroom/jobs.h"
#include "darkroom/workspace.h"

namespace darkroom {

// How a generated solution to a word problem checks out, step by step.
struct SolutionCheck {
  int steps = 0;          // "a op b is c" steps found
  int correct_steps = 0;  // whose arithmetic is right and whose operands follow the problem
  bool answered = false;  // an "answer N ." was given
  bool correct = false;   // ... and N is the problem's answer
};
// The exact verifier: parses `generated` (the text after the prompt) against the problem.
SolutionCheck checkSolution(const WordProblem& problem, const std::string& generated);

struct TtsOptions {
  // Model folders or built-in names; each is quantized first when `weights` is not "float32".
  std::vector<std::string> models = {"demo-math-s", "demo-math-m"};
  std::string weights = "tile-q4_0";  // "float32", or "<layout>-<codes>" as in QuantizeOptions
  std::vector<std::string> methods = {"bon", "beam"};  // Best-of-N, step-level beam search
  std::vector<int> budgets = {1, 2, 4, 8, 16};         // candidates decoded at once
  int problems = 64;                                   // held-out problems (seed below)
  std::uint64_t seed = 1;
  double temperature = 0.8, top_p = 0.95;
  int max_new_tokens = 160;  // a 3-step solution with its clauses is ~150 bytes
  int beam_width = 4;  // beam search: continuations of each kept beam per step
  // "verifier" (the exact checker: outcome = solved, process = share of correct steps so far),
  // or a reward-model folder: a causal LM with a scalar head (score.weight) or, without one, the
  // yes/no-token score of "… correct? yes|no".
  std::string reward = "verifier";
};

// One point of the frontier: a model × method × budget, over all problems.
struct TtsPoint {
  std::string model, weights, method, reward;
  int budget = 1;
  std::int64_t problems = 0, solved = 0;
  double accuracy = 0;
  double tokens = 0;        // generated tokens per problem (all candidates)
  double wall_seconds = 0;  // per problem
  double cpu_seconds = 0;   // per problem: the energy proxy
  std::int64_t run_id = 0;
};

struct TtsReport {
  std::vector<TtsPoint> points;
};

// Throws std::invalid_argument saying which option is wrong: unknown method or weights, budgets
// outside 1…1024, a model that is neither a folder nor a built-in name, a reward that is
// neither "verifier" nor a folder, sampling numbers out of range.
void validateTtsOptions(const TtsOptions& options);

// Runs the sweep (model × method × budget), one stored run per model × method with metrics
// tts/accuracy, tts/tokens, tts/wall_s, tts/cpu_s at step = budget. Progress per problem;
// cancellable (a cancelled run is stored as killed with the points finished so far).
TtsReport runTestTimeScaling(Workspace& workspace, const TtsOptions& options, JobContext& ctx);
// Every point of every finished or killed test-time-scaling run in the workspace.
std::vector<TtsPoint> loadFrontier(Workspace& workspace);

enum class FrontierCost { Tokens, WallTime, CpuTime };
// Indices of the points no other point beats: at most the cost and at least the accuracy, one
// of them strictly.
std::vector<std::size_t> paretoFront(const std::vector<TtsPoint>& points, FrontierCost cost);

}  // namespace darkroom

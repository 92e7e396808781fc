// Rewards for generated solutions of word problems (PAPERS.md §3): the exact verifier, and a
// reward model loaded from a causal-LM folder (a scalar head, or the yes/no-token score).
// Private to core (LibTorch inside).
#pragma once

#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "darkroom/scaling.h"
#include "darkroom/tokenizer.h"
#include "model/transformer.h"

namespace darkroom::scaling {

// What checkSolution finds, with the count of every segment judged (steps, the answer, and
// garbage: anything of neither shape), which the process reward needs.
struct SolutionParse {
  SolutionCheck check;
  int segments = 0;
  bool line_ended = false;  // a '\n' ended the solution line
};
SolutionParse parseSolution(const WordProblem& problem, const std::string& generated);

// Scores solutions of one problem; texts are what follows problem.prompt(). Higher is better.
class Reward {
 public:
  virtual ~Reward() = default;
  virtual std::string name() const = 0;  // "verifier", or the model folder
  // Whole solutions (Best-of-N, and the final pick of beam search).
  virtual std::vector<double> outcome(const WordProblem& problem,
                                      const std::vector<std::string>& solutions) = 0;
  // Partial solutions, a whole number of steps each (beam search).
  virtual std::vector<double> process(const WordProblem& problem,
                                      const std::vector<std::string>& partials) = 0;
};

// The exact checker as a reward. Outcome: 1 when the answer is right, else 0 (no share for
// correct steps: ties then go to the first candidate, which keeps Best-of-N with budget N a
// superset of budget N/2). Process: (correct steps + 1 for a right answer) / segments so far,
// garbage segments counting against; 0 for a text with no finished segment.
class VerifierReward final : public Reward {
 public:
  std::string name() const override { return "verifier"; }
  std::vector<double> outcome(const WordProblem& problem,
                              const std::vector<std::string>& solutions) override;
  std::vector<double> process(const WordProblem& problem,
                              const std::vector<std::string>& partials) override;
};

struct ModelRewardOptions {
  // Without a scalar head: score = logit(yes) − logit(no) after "<prompt><solution><question>".
  // When the two words' tokens share a prefix (byte-level vocabularies: " "), the prefix is fed
  // too and the first tokens where they differ are compared.
  std::string question = " correct?";
  std::string yes = " yes", no = " no";
  int batch = 16;  // texts per forward
};

// A causal LM as reward model: loaded with model::loadCheckpointFor (float32, CPU). With a
// "score.weight" tensor [1, hidden] (Hugging Face *ForSequenceClassification), the score is the
// last token's final hidden state · score (+ "score.bias" when present); otherwise the yes/no
// score above. The solution is cut at its first '\n'. Outcome and process scores are the same.
class ModelReward final : public Reward {
 public:
  explicit ModelReward(const std::filesystem::path& dir, ModelRewardOptions options = {});
  std::string name() const override { return dir_.string(); }
  bool hasScalarHead() const { return score_.defined(); }
  // Scores of whole texts (prompt and solution), batched with right padding.
  std::vector<double> score(const std::vector<std::string>& texts) const;
  std::vector<double> outcome(const WordProblem& problem,
                              const std::vector<std::string>& solutions) override;
  std::vector<double> process(const WordProblem& problem,
                              const std::vector<std::string>& partials) override;

 private:
  std::vector<double> scoreSolutions(const WordProblem& problem,
                                     const std::vector<std::string>& solutions) const;

  std::filesystem::path dir_;
  ModelRewardOptions options_;
  model::Transformer model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  bool bos_ = false;
  at::Tensor score_, score_bias_;            // scalar head: [hidden], [] (bias may be undefined)
  std::vector<std::int32_t> answer_prefix_;  // yes/no: the tokens both words start with
  std::int32_t yes_ = 0, no_ = 0;            // ... and the first ones where they differ
};

// "verifier", or a reward-model folder. Throws std::invalid_argument for anything else.
std::unique_ptr<Reward> makeReward(const std::string& spec);

// The final hidden state [batch, length, e] that the LM head multiplies (after the last norm and
// OPT's project_out), recovered through ForwardHooks::linear by following the residual stream.
at::Tensor finalHidden(const model::Transformer& model, const at::Tensor& tokens);

}  // namespace darkroom::scaling

// The two test-time searches of PAPERS.md §3 over one word problem: Best-of-N scored by an
// outcome reward, and step-level beam search scored by a process reward. Both decode through a
// Decoder, so every forward holds at most `budget` rows. Private to core.
#pragma once

#include <cstdint>
#include <string>

#include "darkroom/corpus.h"
#include "scaling/batch_decoder.h"
#include "scaling/rewards.h"

namespace darkroom::scaling {

struct SearchOptions {
  int budget = 4;      // N: candidates (Best-of-N), or rows decoding at once (beam search)
  int beam_width = 4;  // M: continuations of each kept beam per step, min(M, N)
  int max_steps = 12;  // beam search: expansion rounds at most (the problems need 3 to 5)
  // Temperature, top-p and max new tokens; the searches set the stop strings.
  SamplingOptions sampling;
  std::uint64_t seed = 1;  // candidate i of Best-of-N samples from rowSeed(seed, 0, i)
};

struct SearchResult {
  std::string solution;     // the text picked (what follows the prompt)
  double reward = 0;        // its outcome reward
  std::int64_t tokens = 0;  // sampled tokens of every row, kept or not
  int max_rows = 0;         // the most rows one forward decoded
  int steps = 0;            // beam search: expansion rounds run (the first included)
};

// N candidates decoded together until "\n" (or EOS, or max new tokens); the one with the highest
// outcome reward, the first of equals.
SearchResult bestOfN(Decoder& decoder, Reward& reward, const WordProblem& problem,
                     const SearchOptions& options);

// Step-level beam search with budget N and width M = min(beam_width, N), keeping K = N / M
// beams: N first steps from the prompt, then each round keeps the K best rows by process
// reward (a finished beam competes with its old score and is not extended) and extends every
// unfinished kept beam into M continuations of one step (to " ." or the end of the line), so a
// round never decodes more than K·M ≤ N rows. A beam is finished once it gave its answer, ended
// its line, hit EOS or the token limit. After the last round (all kept beams finished, or
// max_steps) the kept beam with the highest outcome reward wins, ties to the better ranked.
SearchResult beamSearch(Decoder& decoder, Reward& reward, const WordProblem& problem,
                        const SearchOptions& options);

// Validates a search's options; throws std::invalid_argument saying which is wrong.
void checkSearchOptions(const SearchOptions& options);

}  // namespace darkroom::scaling

// Darkroom's built-in synthetic corpus: a small generated language with structure — sentences
// from a grammar with nested relative clauses, and arithmetic facts — so that models trained on
// it learn something real (and show learned sparsity) in a few CPU minutes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace darkroom {

// `count` sentences, one per line, the same for the same seed.
std::vector<std::string> syntheticSentences(std::uint64_t seed, std::size_t count);
// Sentences joined with '\n' until at least `bytes` bytes.
std::string syntheticCorpus(std::uint64_t seed, std::size_t bytes);

}  // namespace darkroom

namespace darkroom {

// A multi-step arithmetic word problem of the synthetic language, with its worked solution:
//   Q: the farmer has 7 eggs . he finds 5 more . he gives away 3 . how many now ?
//   A: 7 plus 5 is 12 . 12 minus 3 is 9 . answer 9 .
// Every step is one checkable fact, so a verifier can score each step and the outcome.
struct WordProblem {
  std::string question;            // "the farmer has 7 eggs . … how many now ?"
  std::vector<std::string> steps;  // "7 plus 5 is 12", "12 minus 3 is 9"
  int answer = 0;
  std::string prompt() const;      // "Q: <question>\nA:"
  std::string solution() const;    // " 7 plus 5 is 12 . 12 minus 3 is 9 . answer 9 .\n"
};

// `count` problems, the same for the same seed (2 to 4 steps, values 0…99).
std::vector<WordProblem> wordProblems(std::uint64_t seed, std::size_t count);
// The math models' training text: worked problems (prompt + solution), one per line, with a
// share of grammar sentences, until at least `bytes` bytes.
std::string wordProblemCorpus(std::uint64_t seed, std::size_t bytes);

}  // namespace darkroom

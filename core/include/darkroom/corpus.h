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
//   Q: the farmer has 7 eggs . they find 5 more . they give away 3 . how many now ?
//   A: they find 5 more , 7 plus 5 is 12 . they give away 3 , 12 minus 3 is 9 . answer 9 .
// Each step restates the clause it works on, then computes one checkable fact, so a verifier can
// score each step and the outcome, and a small model only has to copy the next clause and know
// one sum at a time.
struct WordProblem {
  std::string question;              // "the farmer has 7 eggs . … how many now ?"
  std::vector<std::string> clauses;  // "they find 5 more", "they give away 3"
  std::vector<std::string> steps;    // "7 plus 5 is 12", "12 minus 3 is 9"
  int answer = 0;
  std::string prompt() const;        // "Q: <question>\nA:"
  // " they find 5 more , 7 plus 5 is 12 . they give away 3 , 12 minus 3 is 9 . answer 9 .\n"
  std::string solution() const;
};

// `count` problems, the same for the same seed (2 or 3 steps, values 0…60).
std::vector<WordProblem> wordProblems(std::uint64_t seed, std::size_t count);
// The math models' training text: worked problems (prompt + solution), one per line, with a
// share of grammar sentences, until at least `bytes` bytes.
std::string wordProblemCorpus(std::uint64_t seed, std::size_t bytes);

}  // namespace darkroom

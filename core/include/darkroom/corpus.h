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

#include <random>

#include "darkroom/corpus.h"

namespace darkroom {
namespace {

const std::vector<std::string> kNouns = {"cat", "dog", "bird", "fox", "child", "teacher",
                                         "robot", "farmer", "horse", "painter", "owl", "sailor"};
const std::vector<std::string> kAdjectives = {"small", "red", "quiet", "old", "clever", "tired",
                                              "bright", "green"};
const std::vector<std::string> kTransitive = {"saw", "chased", "liked", "helped", "found",
                                              "followed", "painted", "called"};
const std::vector<std::string> kIntransitive = {"ran", "slept", "sang", "left", "laughed",
                                                "waited"};

class Grammar {
 public:
  explicit Grammar(std::uint64_t seed) : rng_(seed) {}

  std::string sentence() {
    // Arithmetic facts are exact: a model can only predict the answer by learning the sums.
    if (chance(0.4)) return arithmetic();
    return nounPhrase(0) + " " + verbPhrase(0) + " .";
  }

 private:
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  const std::string& pick(const std::vector<std::string>& words) {
    return words[std::uniform_int_distribution<std::size_t>(0, words.size() - 1)(rng_)];
  }
  int number(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  // NP -> the [ADJ] N [that NP Vt | who VP]; clauses nest up to depth 2.
  std::string nounPhrase(int depth) {
    std::string np = "the ";
    if (chance(0.4)) np += pick(kAdjectives) + " ";
    np += pick(kNouns);
    if (depth < 2 && chance(0.35)) {
      if (chance(0.5))
        np += " that " + nounPhrase(depth + 1) + " " + pick(kTransitive);
      else
        np += " who " + verbPhrase(depth + 1);
    }
    return np;
  }
  std::string verbPhrase(int depth) {
    if (chance(0.45)) return pick(kIntransitive);
    return pick(kTransitive) + " " + nounPhrase(depth + 1);
  }
  std::string arithmetic() {
    int a = number(0, 20), b = number(0, 20);
    switch (number(0, 2)) {
      case 0: return std::to_string(a) + " plus " + std::to_string(b) + " is " + std::to_string(a + b) + " .";
      case 1:
        if (a < b) std::swap(a, b);
        return std::to_string(a) + " minus " + std::to_string(b) + " is " + std::to_string(a - b) + " .";
      default:
        a %= 10;
        b %= 10;
        return std::to_string(a) + " times " + std::to_string(b) + " is " + std::to_string(a * b) + " .";
    }
  }

  std::mt19937_64 rng_;
};

}  // namespace

std::vector<std::string> syntheticSentences(std::uint64_t seed, std::size_t count) {
  Grammar grammar(seed);
  std::vector<std::string> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.push_back(grammar.sentence());
  return out;
}

std::string syntheticCorpus(std::uint64_t seed, std::size_t bytes) {
  Grammar grammar(seed);
  std::string out;
  while (out.size() < bytes) out += grammar.sentence() + "\n";
  return out;
}

}  // namespace darkroom

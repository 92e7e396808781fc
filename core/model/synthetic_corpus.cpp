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

// Word problems: a start value, then 2–4 operations told in words; every intermediate value
// stays in 0…99 so each step is a fact a small model can learn.
class ProblemMaker {
 public:
  explicit ProblemMaker(std::uint64_t seed) : rng_(seed) {}

  WordProblem next() {
    static const std::vector<std::string> kThings = {"eggs", "apples", "stones", "coins",
                                                     "books", "shells", "cards", "seeds"};
    WordProblem p;
    int value = number(1, 20);
    // Values stay in 0…60: few enough sums for a small model to learn in minutes.
    p.question = "the " + pick(kNouns) + " has " + std::to_string(value) + " " + pick(kThings) + " .";
    const int operations = number(2, 3);
    for (int i = 0; i < operations; ++i) {
      int before = value;
      std::string told, step;
      int kind = number(0, 3);  // plus, minus, double, triple
      if ((kind == 2 && value > 30) || (kind == 3 && value > 20)) kind = number(0, 1);
      if (kind == 1 && value == 0) kind = 0;
      if (kind == 0 && value > 51) kind = 1;
      if (kind == 0) {
        int b = number(1, 9);
        value += b;
        told = "they find " + std::to_string(b) + " more";
        step = std::to_string(before) + " plus " + std::to_string(b);
      } else if (kind == 1) {
        int b = number(1, std::min(9, value));
        value -= b;
        told = "they give away " + std::to_string(b);
        step = std::to_string(before) + " minus " + std::to_string(b);
      } else {
        int b = kind == 2 ? 2 : 3;
        value *= b;
        told = b == 2 ? "they double them" : "they get " + std::to_string(b) + " times as many";
        step = std::to_string(before) + " times " + std::to_string(b);
      }
      p.question += " " + told + " .";
      p.clauses.push_back(told);
      p.steps.push_back(step + " is " + std::to_string(value));
    }
    p.question += " how many now ?";
    p.answer = value;
    return p;
  }

 private:
  int number(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  const std::string& pick(const std::vector<std::string>& words) {
    return words[std::uniform_int_distribution<std::size_t>(0, words.size() - 1)(rng_)];
  }
  std::mt19937_64 rng_;
};

}  // namespace

std::string WordProblem::prompt() const { return "Q: " + question + "\nA:"; }

std::string WordProblem::solution() const {
  std::string out;
  for (std::size_t i = 0; i < steps.size(); ++i) out += " " + clauses[i] + " , " + steps[i] + " .";
  return out + " answer " + std::to_string(answer) + " .\n";
}

std::vector<WordProblem> wordProblems(std::uint64_t seed, std::size_t count) {
  ProblemMaker maker(seed);
  std::vector<WordProblem> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.push_back(maker.next());
  return out;
}

std::string wordProblemCorpus(std::uint64_t seed, std::size_t bytes) {
  ProblemMaker maker(seed);
  Grammar grammar(seed ^ 0x9e3779b97f4a7c15ULL);
  std::mt19937_64 mix(seed + 1);
  std::string out;
  while (out.size() < bytes) {
    // One line in five is plain language, so the models keep the words the problems use.
    if (std::uniform_int_distribution<int>(0, 4)(mix) == 0) {
      out += grammar.sentence() + "\n";
    } else {
      auto p = maker.next();
      out += p.prompt() + p.solution();
    }
  }
  return out;
}

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

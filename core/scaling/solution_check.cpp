// The exact verifier of the word problems' worked solutions. A solution is one line of segments
// ended by " .": steps "a op b is c" (op plus, minus or times), each optionally led by the
// clause it works on and a comma ("they find 5 more , 7 plus 5 is 12"), and a final "answer N".
// The restated clause is not judged: the operands are. The parser takes any bytes: what has
// neither shape is a garbage segment.
#include <cctype>

#include "darkroom/scaling.h"
#include "scaling/rewards.h"

namespace darkroom {
namespace {

// One step of the problem's own chain: the operands the words of the question tell.
struct Expected {
  long long a = 0, b = 0;
  std::string op;
};

// Words of one line; '.' and ',' are words of their own even when written against a word
// ("12.", "more,").
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) out.push_back(std::move(word));
    word.clear();
  };
  for (char c : line) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      flush();
    } else if (c == '.' || c == ',') {
      flush();
      out.emplace_back(1, c);
    } else {
      word += c;
    }
  }
  flush();
  return out;
}

// A non-negative decimal number of at most 9 digits (no sign, no overflow), or -1.
long long number(const std::string& word) {
  if (word.empty() || word.size() > 9) return -1;
  long long v = 0;
  for (char c : word) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

bool isOperator(const std::string& w) { return w == "plus" || w == "minus" || w == "times"; }

long long apply(const std::string& op, long long a, long long b) {
  if (op == "plus") return a + b;
  if (op == "minus") return a - b;
  return a * b;
}

// "a op b is c" as words, or nothing.
bool parseFact(const std::vector<std::string>& w, long long& a, std::string& op, long long& b,
               long long& c) {
  if (w.size() != 5 || !isOperator(w[1]) || w[3] != "is") return false;
  a = number(w[0]);
  b = number(w[2]);
  c = number(w[4]);
  op = w[1];
  return a >= 0 && b >= 0 && c >= 0;
}

// A step: the fact alone, or after a clause and a comma.
bool parseStep(const std::vector<std::string>& w, long long& a, std::string& op, long long& b,
               long long& c) {
  if (w.size() == 5) return parseFact(w, a, op, b, c);
  if (w.size() < 6 || w[w.size() - 6] != ",") return false;
  return parseFact(std::vector<std::string>(w.end() - 5, w.end()), a, op, b, c);
}

std::vector<Expected> expectedChain(const WordProblem& problem) {
  std::vector<Expected> chain;
  for (const auto& step : problem.steps) {
    Expected e;
    long long c = 0;
    // The generator writes its steps in the very format it asks for; a step that does not
    // parse leaves the chain short, so the solution's steps from there on count as wrong.
    if (!parseFact(words(step), e.a, e.op, e.b, c)) break;
    chain.push_back(e);
  }
  return chain;
}

}  // namespace

namespace scaling {

SolutionParse parseSolution(const WordProblem& problem, const std::string& generated) {
  SolutionParse out;
  const auto newline = generated.find('\n');
  out.line_ended = newline != std::string::npos;
  const auto w = words(generated.substr(0, newline));
  const auto chain = expectedChain(problem);

  std::vector<std::string> segment;
  auto judge = [&](const std::vector<std::string>& seg) {
    ++out.segments;
    long long a = 0, b = 0, c = 0;
    std::string op;
    if (parseStep(seg, a, op, b, c)) {
      const auto k = static_cast<std::size_t>(out.check.steps++);
      // Right arithmetic on the operands the problem tells: the value so far (the start value
      // first) and the step's own number.
      const bool follows = k < chain.size() && chain[k].a == a && chain[k].op == op &&
                           chain[k].b == b;
      if (follows && apply(op, a, b) == c) ++out.check.correct_steps;
      return;
    }
    if (seg.size() == 2 && seg[0] == "answer" && number(seg[1]) >= 0) {
      out.check.answered = true;
      out.check.correct = number(seg[1]) == problem.answer;
    }
  };
  for (const auto& word : w) {
    if (word != ".") {
      segment.push_back(word);
      continue;
    }
    judge(segment);
    segment.clear();
    if (out.check.answered) return out;  // what follows the answer is not part of the solution
  }
  // An unterminated last segment counts only once the line is over; otherwise it is a step
  // still being written.
  if (!segment.empty() && out.line_ended) judge(segment);
  return out;
}

}  // namespace scaling

SolutionCheck checkSolution(const WordProblem& problem, const std::string& generated) {
  return scaling::parseSolution(problem, generated).check;
}

}  // namespace darkroom

#include "scaling/search.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace darkroom::scaling {
namespace {

std::vector<std::string> textsOf(const Decoder& decoder, const std::vector<int>& rows) {
  std::vector<std::string> out;
  out.reserve(rows.size());
  for (int r : rows) out.push_back(decoder.text(r));
  return out;
}

// The first of the highest.
std::size_t best(const std::vector<double>& scores) {
  std::size_t pick = 0;
  for (std::size_t i = 1; i < scores.size(); ++i)
    if (scores[i] > scores[pick]) pick = i;
  return pick;
}

// A beam that takes no more steps: it answered, ended its line, or cannot grow.
bool finished(const Decoder& decoder, const WordProblem& problem, int row) {
  const auto end = decoder.end(row);
  if (end == RowEnd::Eos || end == RowEnd::Length) return true;
  const auto& text = decoder.text(row);
  return text.find('\n') != std::string::npos || parseSolution(problem, text).check.answered;
}

void fillStats(SearchResult& result, const Decoder& decoder) {
  result.tokens = decoder.stats().tokens;
  result.max_rows = decoder.stats().maxRows();
}

}  // namespace

void checkSearchOptions(const SearchOptions& o) {
  if (o.budget < 1) throw std::invalid_argument("the budget N must be at least 1");
  if (o.beam_width < 1) throw std::invalid_argument("the beam width must be at least 1");
  if (o.max_steps < 1) throw std::invalid_argument("beam search needs at least one step");
  if (!std::isfinite(o.sampling.temperature) || o.sampling.temperature < 0)
    throw std::invalid_argument("the temperature must be a number >= 0 (0: greedy)");
  if (!(o.sampling.top_p > 0 && o.sampling.top_p <= 1))
    throw std::invalid_argument("top-p must be in (0, 1]");
  if (o.sampling.max_new_tokens < 1)
    throw std::invalid_argument("max new tokens must be at least 1");
}

SearchResult bestOfN(Decoder& decoder, Reward& reward, const WordProblem& problem,
                     const SearchOptions& options) {
  checkSearchOptions(options);
  std::vector<std::uint64_t> seeds;
  for (int i = 0; i < options.budget; ++i) seeds.push_back(rowSeed(options.seed, 0, std::uint64_t(i)));
  decoder.start(problem.prompt(), {}, seeds);
  auto sampling = options.sampling;
  sampling.stops = {"\n"};  // a solution is one line
  decoder.extend(allRows(decoder), sampling);

  const auto texts = textsOf(decoder, allRows(decoder));
  const auto scores = reward.outcome(problem, texts);
  const auto pick = best(scores);
  SearchResult result;
  result.solution = texts[pick];
  result.reward = scores[pick];
  fillStats(result, decoder);
  return result;
}

SearchResult beamSearch(Decoder& decoder, Reward& reward, const WordProblem& problem,
                        const SearchOptions& options) {
  checkSearchOptions(options);
  const int budget = options.budget;
  const int width = std::min(options.beam_width, budget);
  const int keep = std::max(1, budget / width);
  auto sampling = options.sampling;
  sampling.stops = {" .", "\n"};  // one step, or the end of the line

  // Round 1: the whole budget on first steps from the prompt.
  std::vector<std::uint64_t> seeds;
  for (int i = 0; i < budget; ++i) seeds.push_back(rowSeed(options.seed, 0, std::uint64_t(i)));
  decoder.start(problem.prompt(), {}, seeds);
  decoder.extend(allRows(decoder), sampling);
  auto scores = reward.process(problem, textsOf(decoder, allRows(decoder)));
  int round = 1;

  std::vector<int> kept;
  for (;;) {
    std::vector<int> order = allRows(decoder);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return scores[std::size_t(a)] > scores[std::size_t(b)]; });
    order.resize(std::min<std::size_t>(order.size(), std::size_t(keep)));
    kept = std::move(order);
    const bool open = std::any_of(kept.begin(), kept.end(),
                                  [&](int r) { return !finished(decoder, problem, r); });
    if (!open || round >= options.max_steps) break;

    // Finished beams stay once, with their score; open ones fork into `width` children.
    std::vector<int> parents, grow;
    std::vector<double> next_scores;
    seeds.clear();
    for (int r : kept) {
      const bool done = finished(decoder, problem, r);
      for (int j = 0; j < (done ? 1 : width); ++j) {
        if (!done) grow.push_back(int(parents.size()));
        seeds.push_back(rowSeed(options.seed, std::uint64_t(round), parents.size()));
        parents.push_back(r);
        next_scores.push_back(scores[std::size_t(r)]);
      }
    }
    decoder.select(parents, seeds);
    decoder.extend(grow, sampling);
    const auto grown = reward.process(problem, textsOf(decoder, grow));
    for (std::size_t i = 0; i < grow.size(); ++i) next_scores[std::size_t(grow[i])] = grown[i];
    scores = std::move(next_scores);
    ++round;
  }

  const auto outcomes = reward.outcome(problem, textsOf(decoder, kept));
  const auto pick = best(outcomes);
  SearchResult result;
  result.solution = decoder.text(kept[pick]);
  result.reward = outcomes[pick];
  result.steps = round;
  fillStats(result, decoder);
  return result;
}

}  // namespace darkroom::scaling

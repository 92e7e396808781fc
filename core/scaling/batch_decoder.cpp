// Torch first: its headers use the identifier `slots`, which Qt would define as a macro.
#include "scaling/batch_decoder.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>

namespace darkroom::scaling {
namespace {

std::uint64_t splitMix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * (1.0 / 9007199254740992.0); }

at::Tensor idsTensor(const std::vector<std::int64_t>& ids, std::int64_t rows) {
  return at::tensor(ids, at::kLong).view({rows, std::int64_t(ids.size()) / rows});
}

// Whether a stop string ends inside text[from, end): matches may begin before `from`, in what
// earlier extensions wrote, but must take at least one byte of this one.
bool completesStop(const std::string& text, std::size_t from,
                   const std::vector<std::string>& stops) {
  for (const auto& stop : stops) {
    if (stop.empty() || text.size() < stop.size() || text.size() <= from) continue;
    std::size_t begin = from >= stop.size() - 1 ? from - (stop.size() - 1) : 0;
    if (text.find(stop, begin) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

int DecodeStats::maxRows() const {
  return rows_per_forward.empty() ? 0
                                  : *std::max_element(rows_per_forward.begin(), rows_per_forward.end());
}

std::uint64_t rowSeed(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  return splitMix(splitMix(splitMix(seed) ^ a) ^ (b * 0xd1342543de82ef95ULL));
}

std::vector<int> allRows(const Decoder& decoder) {
  std::vector<int> rows(static_cast<std::size_t>(decoder.rows()));
  std::iota(rows.begin(), rows.end(), 0);
  return rows;
}

BatchDecoder::BatchDecoder(const DecodeModel& model) : model_(model) {
  if (!model_.transformer || !model_.tokenizer)
    throw std::invalid_argument("a batch decoder needs a model and its tokenizer");
}

const BatchDecoder::Row& BatchDecoder::at(int row) const {
  if (row < 0 || row >= rows())
    throw std::out_of_range("row " + std::to_string(row) + " of " + std::to_string(rows()));
  return rows_[static_cast<std::size_t>(row)];
}

std::int64_t BatchDecoder::cachedRows() const {
  std::vector<const Group*> seen;
  std::int64_t total = 0;
  for (const auto& row : rows_) {
    const Group* g = row.group.get();
    if (std::find(seen.begin(), seen.end(), g) != seen.end()) continue;
    seen.push_back(g);
    if (!g->cache.keys.empty() && g->cache.keys[0].defined()) total += g->cache.keys[0].size(0);
  }
  return total;
}

void BatchDecoder::start(const std::string& prompt, const std::vector<std::string>& partials,
                         const std::vector<std::uint64_t>& seeds) {
  if (seeds.empty()) throw std::invalid_argument("decoding needs at least one row (one seed)");
  if (!partials.empty() && partials.size() != seeds.size())
    throw std::invalid_argument("one partial text per row: " + std::to_string(partials.size()) +
                                " texts for " + std::to_string(seeds.size()) + " rows");
  const auto& model = *model_.transformer;
  const auto& config = model.config();
  std::vector<std::int64_t> ids;
  if (model_.add_bos && config.bos_token_id) ids.push_back(*config.bos_token_id);
  for (auto id : model_.tokenizer->encode(prompt)) ids.push_back(id);
  if (ids.empty())
    throw std::invalid_argument("the prompt is empty and the model has no BOS token to start from");
  if (config.family == ModelFamily::Opt && std::int64_t(ids.size()) >= config.max_positions)
    throw std::invalid_argument("the prompt has " + std::to_string(ids.size()) +
                                " tokens; the model sees at most " +
                                std::to_string(config.max_positions));

  at::NoGradGuard no_grad;
  stats_ = DecodeStats{};
  rows_.clear();
  // The prompt once, at batch 1; its last token waits for the rows' first forward.
  auto base = std::make_shared<Group>();
  const std::int64_t pending = ids.back();
  ids.pop_back();
  if (!ids.empty()) {
    model.forward(idsTensor(ids, 1), &base->cache, nullptr, model_.hooks);
    stats_.prefill_tokens += std::int64_t(ids.size());
  }
  base->length = std::int64_t(ids.size());

  struct Continued {
    std::shared_ptr<Group> group;
    std::vector<std::int32_t> ids;
  };
  std::map<std::string, Continued> continued;  // rows with the same partial text share one
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    Row row;
    row.rng.seed(seeds[i]);
    row.pending = std::int32_t(pending);
    row.group = base;
    const std::string partial = partials.empty() ? std::string() : partials[i];
    if (!partial.empty()) {
      auto it = continued.find(partial);
      if (it == continued.end()) {
        Continued c;
        c.ids = model_.tokenizer->encode(partial);
        if (c.ids.empty())
          throw std::invalid_argument("the partial text '" + partial + "' has no tokens");
        c.group = std::make_shared<Group>();
        c.group->cache = base->cache;  // the forward below replaces, never writes, its tensors
        std::vector<std::int64_t> feed = {pending};
        feed.insert(feed.end(), c.ids.begin(), c.ids.end() - 1);
        model.forward(idsTensor(feed, 1), &c.group->cache, nullptr, model_.hooks);
        c.group->length = base->length + std::int64_t(feed.size());
        stats_.prefill_tokens += std::int64_t(feed.size());
        it = continued.emplace(partial, std::move(c)).first;
      }
      row.group = it->second.group;
      row.ids = it->second.ids;
      row.pending = row.ids.back();
      row.text = partial;
    }
    rows_.push_back(std::move(row));
  }
}

void BatchDecoder::select(const std::vector<int>& parents, const std::vector<std::uint64_t>& seeds) {
  if (!seeds.empty() && seeds.size() != parents.size())
    throw std::invalid_argument("select: " + std::to_string(seeds.size()) + " seeds for " +
                                std::to_string(parents.size()) + " rows");
  std::vector<Row> next;
  next.reserve(parents.size());
  for (std::size_t i = 0; i < parents.size(); ++i) {
    next.push_back(at(parents[i]));
    if (!seeds.empty()) next.back().rng.seed(seeds[i]);
  }
  rows_ = std::move(next);
}

void BatchDecoder::extend(const std::vector<int>& which, const SamplingOptions& options) {
  if (!(options.top_p > 0 && options.top_p <= 1))
    throw std::invalid_argument("top-p must be in (0, 1], got " + std::to_string(options.top_p));
  if (!std::isfinite(options.temperature))
    throw std::invalid_argument("the temperature must be a finite number");
  if (options.max_new_tokens < 0)
    throw std::invalid_argument("max new tokens must not be negative");
  const auto& config = model_.transformer->config();
  const std::int64_t position_limit =
      config.family == ModelFamily::Opt ? config.max_positions : INT64_MAX;

  std::vector<std::size_t> call_start(rows_.size(), 0);
  std::vector<bool> seen(rows_.size(), false);
  std::vector<int> live;
  for (int r : which) {
    at(r);  // range check
    if (seen[std::size_t(r)]) throw std::invalid_argument("row " + std::to_string(r) + " listed twice");
    seen[std::size_t(r)] = true;
    auto& row = rows_[std::size_t(r)];
    if (row.end == RowEnd::Eos) continue;  // over for good; a row at the length limit is
    row.end = RowEnd::Open;                 // judged again below, against this call's limit
    call_start[std::size_t(r)] = row.text.size();
    live.push_back(r);
  }
  at::NoGradGuard no_grad;
  for (;;) {
    std::vector<int> open;
    for (int r : live) {
      auto& row = rows_[std::size_t(r)];
      if (row.end != RowEnd::Open) continue;
      if (std::int64_t(row.ids.size()) >= options.max_new_tokens ||
          row.group->length + 1 > position_limit) {
        row.end = RowEnd::Length;
        continue;
      }
      open.push_back(r);
    }
    live = std::move(open);
    if (live.empty()) return;
    // The shortest rows go first, so that rows of different lengths (beams whose steps took
    // different numbers of tokens) catch up and then decode together.
    std::int64_t shortest = INT64_MAX;
    for (int r : live) shortest = std::min(shortest, rows_[std::size_t(r)].group->length);
    std::vector<int> batch;
    for (int r : live)
      if (rows_[std::size_t(r)].group->length == shortest) batch.push_back(r);
    step(batch, options, call_start);
  }
}

std::shared_ptr<BatchDecoder::Group> BatchDecoder::gather(
    const std::vector<std::pair<const Group*, std::int64_t>>& picks, std::int64_t length) {
  auto group = std::make_shared<Group>();
  group->length = length;
  if (length == 0) return group;  // nothing cached yet: the next forward starts the cache
  const auto layers = picks.front().first->cache.keys.size();
  group->cache.keys.resize(layers);
  group->cache.values.resize(layers);
  for (std::size_t l = 0; l < layers; ++l) {
    std::vector<at::Tensor> keys, values;
    for (std::size_t i = 0; i < picks.size();) {
      // A run of consecutive picks from one source group: one index_select.
      const Group* source = picks[i].first;
      std::vector<std::int64_t> slots;
      for (; i < picks.size() && picks[i].first == source; ++i) slots.push_back(picks[i].second);
      auto index = at::tensor(slots, at::kLong).to(source->cache.keys[l].device());
      keys.push_back(source->cache.keys[l].index_select(0, index));
      values.push_back(source->cache.values[l].index_select(0, index));
    }
    group->cache.keys[l] = keys.size() == 1 ? keys[0] : at::cat(keys, 0);
    group->cache.values[l] = values.size() == 1 ? values[0] : at::cat(values, 0);
  }
  return group;
}

void BatchDecoder::compact(const std::shared_ptr<Group>& group) {
  if (group->length == 0 || group->cache.keys.empty()) return;
  std::vector<std::int64_t> used;
  for (const auto& row : rows_)
    if (row.group == group) used.push_back(row.slot);
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  if (used.empty() || std::int64_t(used.size()) == group->cache.keys[0].size(0)) return;
  std::vector<std::pair<const Group*, std::int64_t>> picks;
  for (auto slot : used) picks.emplace_back(group.get(), slot);
  auto smaller = gather(picks, group->length);
  for (auto& row : rows_) {
    if (row.group != group) continue;
    row.slot = std::lower_bound(used.begin(), used.end(), row.slot) - used.begin();
    row.group = smaller;
  }
}

void BatchDecoder::step(const std::vector<int>& batch, const SamplingOptions& options,
                        const std::vector<std::size_t>& call_start) {
  const auto B = std::int64_t(batch.size());
  // The batch's cache: the group itself when the batch is exactly its rows in slot order,
  // otherwise gathered (index_select per source group, then concatenated) into a new group.
  auto first = rows_[std::size_t(batch[0])].group;
  bool direct = true;
  for (std::int64_t i = 0; i < B && direct; ++i) {
    const auto& row = rows_[std::size_t(batch[std::size_t(i)])];
    direct = row.group == first && row.slot == i;
  }
  if (direct) {
    const std::int64_t batch_size = first->cache.keys.empty() || !first->cache.keys[0].defined()
                                        ? -1
                                        : first->cache.keys[0].size(0);
    direct = batch_size == B || (batch_size == -1 && B == 1);
    for (std::size_t r = 0; r < rows_.size() && direct; ++r)
      direct = rows_[r].group != first ||
               std::find(batch.begin(), batch.end(), int(r)) != batch.end();
  }
  std::shared_ptr<Group> group = first;
  if (!direct) {
    std::vector<std::pair<const Group*, std::int64_t>> picks;
    std::vector<std::shared_ptr<Group>> sources;
    for (int r : batch) {
      const auto& row = rows_[std::size_t(r)];
      picks.emplace_back(row.group.get(), row.slot);
      if (std::find(sources.begin(), sources.end(), row.group) == sources.end())
        sources.push_back(row.group);
    }
    group = gather(picks, first->length);
    for (std::int64_t i = 0; i < B; ++i) {
      auto& row = rows_[std::size_t(batch[std::size_t(i)])];
      row.group = group;
      row.slot = i;
    }
    // What stays behind (rows that ended, rows not being extended) keeps only its own slots, so
    // the cache never holds more than the rows there are.
    for (const auto& source : sources) compact(source);
  }

  std::vector<std::int64_t> pending;
  for (int r : batch) pending.push_back(rows_[std::size_t(r)].pending);
  auto logits = model_.transformer->forward(idsTensor(pending, B), &group->cache, nullptr,
                                            model_.hooks);
  group->length += 1;
  logits = logits.select(1, 0).to(at::kCPU, at::kFloat).contiguous();
  stats_.rows_per_forward.push_back(int(B));
  stats_.tokens += B;

  const auto vocab = logits.size(1);
  const float* data = logits.data_ptr<float>();
  const auto& config = model_.transformer->config();
  std::optional<std::int64_t> eos = config.eos_token_id;
  if (!eos && model_.tokenizer->eosId()) eos = *model_.tokenizer->eosId();
  for (std::int64_t i = 0; i < B; ++i) {
    const int r = batch[std::size_t(i)];
    auto& row = rows_[std::size_t(r)];
    const auto token = sample(data + i * vocab, options, row);
    row.pending = token;
    if (options.stop_at_eos && eos && token == *eos) {
      row.end = RowEnd::Eos;
      continue;
    }
    row.ids.push_back(token);
    row.text = model_.tokenizer->decode(row.ids);
    if (completesStop(row.text, call_start[std::size_t(r)], options.stops))
      row.end = RowEnd::Stop;
    else if (std::int64_t(row.ids.size()) >= options.max_new_tokens)
      row.end = RowEnd::Length;
  }
}

std::int32_t BatchDecoder::sample(const float* logits, const SamplingOptions& options,
                                  Row& row) const {
  const auto vocab = std::int64_t(model_.tokenizer->vocabSize());
  const auto width = model_.transformer->config().vocab_size;
  // The model's rows may be padded past the tokenizer's vocabulary; those ids are never drawn.
  const std::int64_t n = std::min(vocab, width);
  std::int64_t best = 0;
  for (std::int64_t j = 1; j < n; ++j)
    if (logits[j] > logits[best]) best = j;
  if (options.temperature <= 0) return std::int32_t(best);
  // Tokens more than 40 temperature units below the best carry < e^-40 of the mass: leaving
  // them out keeps the sort short for large vocabularies and changes nothing measurable.
  const double top = logits[best], t = options.temperature;
  std::vector<std::pair<double, std::int32_t>> weights;
  double total = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    const double z = (double(logits[j]) - top) / t;
    if (z > -40) {
      weights.emplace_back(std::exp(z), std::int32_t(j));
      total += weights.back().first;
    }
  }
  std::sort(weights.begin(), weights.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  // The nucleus: tokens whose predecessors' mass is still below top_p (the best always).
  double kept = 0;
  std::size_t count = 0;
  while (count < weights.size() && (count == 0 || kept < options.top_p * total))
    kept += weights[count++].first;
  double u = uniform01(row.rng) * kept;
  for (std::size_t k = 0; k < count; ++k) {
    u -= weights[k].first;
    if (u < 0) return weights[k].second;
  }
  return weights[count - 1].second;
}

}  // namespace darkroom::scaling

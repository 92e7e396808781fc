#include "finetune/dataset.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "darkroom/corpus.h"

namespace darkroom::training {
namespace {

namespace fs = std::filesystem;

std::string readWhole(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    throw FinetuneError("dataset file " + path.string() + " does not exist");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FinetuneError("dataset file " + path.string() + " cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find_first_not_of(" \t\r\n") == std::string::npos)
    throw FinetuneError("dataset file " + path.string() +
                        " is empty: put training text in it (or pick the built-in corpus)");
  return text.str();
}

at::Tensor toTensor(const std::vector<std::int32_t>& ids) {
  auto t = at::empty({static_cast<std::int64_t>(ids.size())}, at::kLong);
  auto* p = t.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < ids.size(); ++i) p[i] = ids[i];
  return t;
}

}  // namespace

std::int64_t Dataset::Examples::count() const {
  return stream.defined() ? stream.size(0) : static_cast<std::int64_t>(tokens.size());
}

Dataset Dataset::load(const DatasetSpec& spec, const Tokenizer& tokenizer, int sequence,
                      bool add_bos) {
  Dataset d;
  d.sequence_ = sequence;
  d.pad_ = tokenizer.eosId().value_or(0);
  const std::int64_t need = sequence + 1;
  if (spec.kind != DatasetSpec::Kind::Jsonl) {
    // The corpus seed differs from the demo models' pretraining seed: new sentences, same
    // language.
    std::string text = spec.kind == DatasetSpec::Kind::Corpus ? syntheticCorpus(7919, 400000)
                                                              : readWhole(spec.path);
    auto stream = toTensor(tokenizer.encode(text));
    const std::int64_t n = stream.size(0);
    if (n < need)
      throw FinetuneError("the dataset has " + std::to_string(n) + " tokens; sequence length " +
                          std::to_string(sequence) + " needs at least " + std::to_string(need) +
                          ": add text or lower the sequence length");
    // Hold out the last 10% for evaluation when both halves still fill a window; a tiny file
    // is evaluated on its training text (said so in describe()).
    std::int64_t held = std::max<std::int64_t>(n / 10, need);
    bool split = n - held >= need;
    d.train_.stream = split ? stream.slice(0, 0, n - held) : stream;
    d.eval_.stream = split ? stream.slice(0, n - held) : stream;
    d.description_ = (spec.kind == DatasetSpec::Kind::Corpus ? std::string("built-in corpus")
                                                             : spec.path.filename().string()) +
                     ": " + std::to_string(n) + " tokens" +
                     (split ? " (10% held out for evaluation)" : " (too small to hold any out)");
    return d;
  }
  std::istringstream lines(readWhole(spec.path));
  std::string line;
  std::vector<at::Tensor> all;
  std::vector<std::int64_t> prompts;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto where = spec.path.filename().string() + " line " + std::to_string(number);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw FinetuneError(where + " is not JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("prompt") || !j.contains("completion") ||
        !j["prompt"].is_string() || !j["completion"].is_string())
      throw FinetuneError(where + " needs string fields \"prompt\" and \"completion\"");
    std::vector<std::int32_t> ids;
    if (add_bos && tokenizer.bosId()) ids.push_back(*tokenizer.bosId());
    auto prompt = tokenizer.encode(j["prompt"].get<std::string>());
    auto completion = tokenizer.encode(j["completion"].get<std::string>());
    if (completion.empty()) throw FinetuneError(where + " has an empty completion");
    ids.insert(ids.end(), prompt.begin(), prompt.end());
    prompts.push_back(static_cast<std::int64_t>(ids.size()));
    ids.insert(ids.end(), completion.begin(), completion.end());
    if (auto eos = tokenizer.eosId()) ids.push_back(*eos);
    all.push_back(toTensor(ids));
  }
  const std::int64_t n = static_cast<std::int64_t>(all.size());
  std::int64_t held = n >= 2 ? std::max<std::int64_t>(1, n / 10) : 0;
  for (std::int64_t i = 0; i < n; ++i) {
    auto& part = i < n - held ? d.train_ : d.eval_;
    part.tokens.push_back(all[static_cast<std::size_t>(i)]);
    part.prompt_length.push_back(prompts[static_cast<std::size_t>(i)]);
  }
  if (held == 0) d.eval_ = d.train_;
  d.description_ = spec.path.filename().string() + ": " + std::to_string(n) +
                   " prompt/completion pairs" +
                   (held ? " (" + std::to_string(held) + " held out for evaluation)"
                         : " (one pair: evaluated on itself)");
  return d;
}

Batch Dataset::windows(const Examples& from, const at::Tensor& starts) const {
  auto offsets = at::arange(sequence_ + 1, at::kLong);
  auto positions = (starts.unsqueeze(1) + offsets.unsqueeze(0)).reshape(-1);
  auto w = from.stream.index_select(0, positions).view({starts.size(0), sequence_ + 1});
  Batch b{w.slice(1, 0, sequence_).contiguous(), w.slice(1, 1).contiguous(),
          starts.size(0) * sequence_};
  return b;
}

Batch Dataset::examples(const Examples& from, const std::vector<std::int64_t>& picks) const {
  const auto rows = static_cast<std::int64_t>(picks.size());
  auto inputs = at::full({rows, sequence_}, pad_, at::kLong);
  auto targets = at::full({rows, sequence_}, kIgnore, at::kLong);
  std::int64_t loss_tokens = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto& ids = from.tokens[static_cast<std::size_t>(picks[static_cast<std::size_t>(r)])];
    const std::int64_t prompt = from.prompt_length[static_cast<std::size_t>(picks[static_cast<std::size_t>(r)])];
    // Too long: keep the end, so the completion (where the loss is) survives.
    const std::int64_t len = std::min<std::int64_t>(ids.size(0), sequence_ + 1);
    auto kept = ids.slice(0, ids.size(0) - len);
    const std::int64_t first_loss = std::max<std::int64_t>(prompt - (ids.size(0) - len), 1);
    inputs[r].slice(0, 0, len - 1).copy_(kept.slice(0, 0, len - 1));
    // Target t predicts token t + 1; only completion tokens count.
    if (first_loss < len) {
      targets[r].slice(0, first_loss - 1, len - 1).copy_(kept.slice(0, first_loss, len));
      loss_tokens += len - first_loss;
    }
  }
  return {inputs, targets, loss_tokens};
}

Batch Dataset::pick(const Examples& from, const at::Tensor& indices) const {
  if (from.stream.defined()) return windows(from, indices);
  std::vector<std::int64_t> picks(indices.data_ptr<std::int64_t>(),
                                  indices.data_ptr<std::int64_t>() + indices.numel());
  return examples(from, picks);
}

Batch Dataset::trainBatch(int batch, at::Generator& gen) const {
  const std::int64_t range =
      train_.stream.defined() ? train_.count() - sequence_ : train_.count();
  return pick(train_, at::randint(range, {batch}, gen, at::kLong));
}

Batch Dataset::evalBatch(int index, int batch) const {
  // Evenly spread, deterministic windows (or examples, round robin).
  const std::int64_t range = eval_.stream.defined() ? eval_.count() - sequence_ : eval_.count();
  auto i = at::arange(batch, at::kLong) + std::int64_t(index) * batch;
  auto positions = eval_.stream.defined() ? (i * 7919) % range : i % range;
  return pick(eval_, positions);
}

std::string Dataset::describe() const { return description_; }

}  // namespace darkroom::training

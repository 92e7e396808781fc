// Test-time scaling: the solution verifier, the batched decoder (against one-row decoding and a
// plain full-sequence greedy loop), Best-of-N and beam search on scripted candidates, the
// reward models on tiny random models written by the test, and the Pareto front.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <set>

#include "darkroom/jobs.h"
#include "darkroom/safetensors.h"
#include "darkroom/scaling.h"
#include "model/byte_tokenizer_json.h"
#include "model/checkpoint.h"
#include "scaling/batch_decoder.h"
#include "scaling/rewards.h"
#include "scaling/search.h"
#include "test_util.h"

using namespace darkroom;
using namespace darkroom::scaling;

namespace {

WordProblem handProblem() {
  WordProblem p;
  p.question = "the farmer has 7 eggs . they find 5 more . they give away 3 . how many now ?";
  p.steps = {"7 plus 5 is 12", "12 minus 3 is 9"};
  p.answer = 9;
  return p;
}

// ---- tiny random models with the demo models' byte vocabulary ----

ModelConfig tinyConfig(ModelFamily family, bool post_ln = false, bool project = false) {
  ModelConfig c;
  c.family = family;
  c.model_type = family == ModelFamily::Opt ? "opt" : "llama";
  c.vocab_size = byte_tokens::kVocabSize;
  c.hidden_size = 32;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = family == ModelFamily::Opt ? 4 : 2;
  c.intermediate_size = 48;
  c.max_positions = 256;
  c.activation = "relu";
  c.eos_token_id = byte_tokens::kEos;
  c.tie_embeddings = family == ModelFamily::Opt;
  c.layer_norm_before = !post_ln;
  c.word_embed_proj_dim = project ? 24 : 32;
  return c;
}

model::Weights randomWeights(const ModelConfig& c, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  model::Weights w;
  for (const auto& spec : model::expectedTensors(c)) {
    bool norm = spec.name.find("norm") != std::string::npos;
    bool bias = spec.name.find(".bias") != std::string::npos;
    auto t = at::randn(spec.shape, gen) * (norm && !bias ? 0.1 : 0.4);
    if (norm && !bias) t += 1.0;
    w[spec.name] = t;
  }
  return w;
}

// The decoding tests' models have the 256 byte tokens only and no EOS, so every generated
// text turns back into the same ids (a sampled <eos> or <pad> would come back as its name).
model::Transformer byteModel(ModelFamily family, std::uint64_t seed) {
  auto c = tinyConfig(family);
  c.vocab_size = 256;
  c.eos_token_id.reset();
  return model::Transformer(c, randomWeights(c, seed));
}

// Writes a model folder with these tensors (extra ones, such as a score head, included).
void writeFolder(const std::filesystem::path& dir, const ModelConfig& config,
                 const model::Weights& weights) {
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "config.json") << modelConfigJson(config); }
  writeByteTokenizerJson(dir / "tokenizer.json");
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, t] : weights) {
    keep.push_back(t.to(at::kFloat).contiguous());
    tensors.push_back({name, DType::F32, t.sizes().vec(), keep.back().data_ptr(),
                       std::size_t(keep.back().nbytes())});
  }
  writeSafetensors(dir / "model.safetensors", tensors);
}

struct Fixture {
  model::Transformer model;
  std::unique_ptr<Tokenizer> tokenizer = makeByteTokenizer();
  model::ForwardHooks hooks;
  std::vector<std::int64_t> batches;  // the batch of every forward, seen by a hook

  explicit Fixture(ModelFamily family = ModelFamily::Llama, std::uint64_t seed = 11)
      : model(byteModel(family, seed)) {
    hooks.linear = [this](const std::string& module, const at::Tensor& x, const at::Tensor& w,
                          const at::Tensor* b) {
      if (module == model.layerPrefix(0) + "self_attn.q_proj") batches.push_back(x.size(0));
      return b ? at::linear(x, w, *b) : at::linear(x, w);
    };
  }
  DecodeModel decodeModel() { return {&model, &hooks, tokenizer.get(), false}; }
};

std::vector<std::uint64_t> seedsFor(std::uint64_t seed, int n) {
  std::vector<std::uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(rowSeed(seed, 0, std::uint64_t(i)));
  return out;
}

// Greedy decoding of exactly `tokens` tokens (EOS does not stop it), so every length is known.
SamplingOptions greedyFor(int tokens) {
  SamplingOptions o;
  o.temperature = 0;
  o.max_new_tokens = tokens;
  o.stop_at_eos = false;
  return o;
}

// Greedy decoding the plain way: the whole sequence through the model for every token.
std::vector<std::int32_t> plainGreedy(const model::Transformer& m, const std::string& prompt, int n) {
  std::vector<std::int64_t> ids;
  for (unsigned char c : prompt) ids.push_back(c);
  std::vector<std::int32_t> out;
  at::NoGradGuard no_grad;
  for (int i = 0; i < n; ++i) {
    auto logits = m.forward(at::tensor(ids, at::kLong).unsqueeze(0));
    auto next = logits[0][-1].argmax().item<std::int64_t>();
    out.push_back(std::int32_t(next));
    ids.push_back(next);
  }
  return out;
}

const std::string kPrompt = "Q: the owl has 4 coins . how many now ?\nA:";

}  // namespace

// ---- the verifier ----

TEST(CheckSolution, HandWrittenSolutions) {
  auto p = handProblem();
  auto c = checkSolution(p, " 7 plus 5 is 12 . 12 minus 3 is 9 . answer 9 .\n");
  EXPECT_EQ(c.steps, 2);
  EXPECT_EQ(c.correct_steps, 2);
  EXPECT_TRUE(c.answered);
  EXPECT_TRUE(c.correct);

  // Wrong arithmetic in the first step: the second then starts from the wrong value.
  c = checkSolution(p, " 7 plus 5 is 13 . 13 minus 3 is 10 . answer 10 .\n");
  EXPECT_EQ(c.steps, 2);
  EXPECT_EQ(c.correct_steps, 0);
  EXPECT_TRUE(c.answered);
  EXPECT_FALSE(c.correct);

  // Right arithmetic on operands the problem did not tell.
  c = checkSolution(p, " 7 plus 4 is 11 . 12 minus 3 is 9 . answer 9 .");
  EXPECT_EQ(c.steps, 2);
  EXPECT_EQ(c.correct_steps, 1);
  EXPECT_TRUE(c.correct);
  c = checkSolution(p, " 7 times 5 is 35 .");
  EXPECT_EQ(c.correct_steps, 0);
  // The steps in the wrong order, and one step too many.
  c = checkSolution(p, " 12 minus 3 is 9 . 7 plus 5 is 12 .");
  EXPECT_EQ(c.correct_steps, 0);
  c = checkSolution(p, " 7 plus 5 is 12 . 12 minus 3 is 9 . 9 plus 1 is 10 . answer 10 .");
  EXPECT_EQ(c.steps, 3);
  EXPECT_EQ(c.correct_steps, 2);
  EXPECT_FALSE(c.correct);

  // Each step led by the clause it works on (the format the problems are written in).
  c = checkSolution(p, " they find 5 more , 7 plus 5 is 12 . they give away 3 , 12 minus 3 is 9 ."
                       " answer 9 .\n");
  EXPECT_EQ(c.steps, 2);
  EXPECT_EQ(c.correct_steps, 2);
  EXPECT_TRUE(c.correct);
  c = checkSolution(p, " they find 5 more, 7 plus 5 is 12 . they give away 3 , 12 minus 4 is 8 .");
  EXPECT_EQ(c.steps, 2);
  EXPECT_EQ(c.correct_steps, 1);
  // Without the comma the clause and the fact do not make a step.
  EXPECT_EQ(checkSolution(p, " they find 5 more 7 plus 5 is 12 .").steps, 0);

  // The answer alone, a dot written against the number, spacing.
  c = checkSolution(p, " answer 9 .");
  EXPECT_TRUE(c.correct);
  EXPECT_EQ(c.steps, 0);
  c = checkSolution(p, "7 plus 5 is 12.  12   minus 3 is 9. answer 9.");
  EXPECT_EQ(c.correct_steps, 2);
  EXPECT_TRUE(c.correct);

  // Only the first line and only up to the answer count.
  c = checkSolution(p, " answer 3 .\n answer 9 .");
  EXPECT_TRUE(c.answered);
  EXPECT_FALSE(c.correct);
  c = checkSolution(p, " answer 9 . answer 3 .");
  EXPECT_TRUE(c.correct);
  // An unterminated answer counts once the line is over, not while it is being written.
  EXPECT_TRUE(checkSolution(p, " answer 9\n").correct);
  EXPECT_FALSE(checkSolution(p, " answer 9").answered);
}

TEST(CheckSolution, GarbageIsNeitherAStepNorAnAnswer) {
  auto p = handProblem();
  for (const std::string& text : std::vector<std::string>{"", ".", " . . .", "\n", "answer", "answer nine .", " answer 9 9 .", " answer -9 .",
        "7 plus 5 is .", "7 plus five is 12 .", "7 pluss 5 is 12 .", "7 plus 5 = 12 .",
        "99999999999 plus 1 is 100000000000 .", "answer 99999999999 .",
        std::string("7 plus 5 is 12\0 .", 17), "\xff\xfe plus \x80 is 1 ."}) {
    auto c = checkSolution(p, text);
    EXPECT_EQ(c.correct_steps, 0) << text;
    EXPECT_FALSE(c.correct) << text;
  }
  EXPECT_EQ(checkSolution(p, "7 plus five is 12 .").steps, 0);
}

TEST(CheckSolution, EveryGeneratedProblemsOwnSolutionIsCorrect) {
  const auto seed = test::rng()();
  for (const auto& p : wordProblems(seed, 400)) {
    auto c = checkSolution(p, p.solution());
    ASSERT_EQ(c.steps, int(p.steps.size())) << p.prompt() << p.solution();
    ASSERT_EQ(c.correct_steps, c.steps) << p.prompt() << p.solution();
    ASSERT_TRUE(c.answered && c.correct) << p.prompt() << p.solution();
    // The same solution with the answer off by one is answered but wrong.
    auto wrong = p.solution();
    auto at = wrong.rfind("answer ");
    wrong = wrong.substr(0, at) + "answer " + std::to_string(p.answer + 1) + " .\n";
    EXPECT_FALSE(checkSolution(p, wrong).correct);
    EXPECT_EQ(checkSolution(p, wrong).correct_steps, c.steps);
  }
}

TEST(CheckSolution, RandomTextNeverThrowsAndStaysConsistent) {
  auto& rng = test::rng();
  const auto problems = wordProblems(rng(), 20);
  const std::vector<std::string> words = {"plus", "minus", "times", "is", ".", "answer", "\n",
                                          "7", "12", "5", "9", "x", " ", "."};
  for (int i = 0; i < 2000; ++i) {
    const auto& p = problems[std::size_t(i) % problems.size()];
    std::string text;
    const int n = int(rng() % 30);
    for (int k = 0; k < n; ++k) {
      if (i % 2) text += char(rng() % 256);
      else text += " " + words[rng() % words.size()];
    }
    auto c = checkSolution(p, text);
    ASSERT_LE(c.correct_steps, c.steps);
    ASSERT_TRUE(!c.correct || c.answered);
    auto process = VerifierReward().process(p, {text});
    ASSERT_GE(process[0], 0.0);
    ASSERT_LE(process[0], 1.0);
  }
}

TEST(VerifierReward, OutcomeIsTheAnswerAndProcessTheShareOfGoodSegments) {
  auto p = handProblem();
  VerifierReward r;
  EXPECT_EQ(r.outcome(p, {" answer 9 .", " 7 plus 5 is 12 . answer 8 .", ""}),
            (std::vector<double>{1, 0, 0}));
  auto process = r.process(p, {"", " 7 plus 5 is 12 .", " 7 plus 5 is 12 . blah .",
                               " 7 plus 5 is 12 . 12 minus 3 is 9 . answer 9 .", " 7 plus 5 is 13 ."});
  EXPECT_EQ(process, (std::vector<double>{0, 1, 0.5, 1, 0}));
}

// ---- the batched decoder ----

TEST(BatchDecoder, GreedyRowsEqualOneGreedyRowAndThePlainLoop) {
  Fixture f;
  const SamplingOptions o = greedyFor(24);
  BatchDecoder one(f.decodeModel());
  one.start(kPrompt, {}, {1});
  one.extend({0}, o);
  ASSERT_EQ(one.ids(0), plainGreedy(f.model, kPrompt, 24));

  for (int n : {2, 5}) {
    BatchDecoder many(f.decodeModel());
    many.start(kPrompt, {}, seedsFor(3, n));
    many.extend(allRows(many), o);
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(many.ids(r), one.ids(0)) << "row " << r << " of " << n;
      EXPECT_EQ(many.text(r), one.text(0));
      EXPECT_EQ(many.end(r), RowEnd::Length);
    }
    // One forward per token, all rows in it.
    EXPECT_EQ(many.stats().rows_per_forward, std::vector<int>(24, n));
    EXPECT_EQ(many.stats().tokens, 24 * n);
    EXPECT_EQ(many.stats().prefill_tokens, std::int64_t(kPrompt.size()) - 1);
  }
}

TEST(BatchDecoder, ACandidatesSamplesDependOnlyOnItsSeed) {
  Fixture f(ModelFamily::Opt, 5);
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_p = 0.9;
  o.max_new_tokens = 20;
  o.stops = {"\n", "e"};
  std::vector<std::vector<std::int32_t>> reference;
  for (int n : {6, 1, 3, 4}) {
    BatchDecoder d(f.decodeModel());
    d.start(kPrompt, {}, seedsFor(99, n));
    d.extend(allRows(d), o);
    for (int r = 0; r < n; ++r) {
      if (std::size_t(r) >= reference.size()) reference.push_back(d.ids(r));
      EXPECT_EQ(d.ids(r), reference[std::size_t(r)]) << "candidate " << r << " with N = " << n;
    }
  }
  std::set<std::vector<std::int32_t>> distinct(reference.begin(), reference.end());
  EXPECT_GT(distinct.size(), 3u) << "different seeds should sample different candidates";
}

TEST(BatchDecoder, FinishedRowsLeaveTheBatchAndEveryTokenIsCounted) {
  Fixture f;
  SamplingOptions o;
  o.temperature = 1.3;
  o.top_p = 1.0;
  o.max_new_tokens = 30;
  for (char c = 'a'; c <= 'z'; ++c) o.stops.push_back(std::string(1, c));
  for (char c = '0'; c <= '9'; ++c) o.stops.push_back(std::string(1, c));
  const int n = 9;
  BatchDecoder d(f.decodeModel());
  d.start(kPrompt, {}, seedsFor(test::rng()(), n));
  d.extend(allRows(d), o);

  std::vector<std::int64_t> sampled;
  std::set<RowEnd> ends;
  for (int r = 0; r < n; ++r) {
    const auto& text = d.text(r);
    ends.insert(d.end(r));
    std::size_t first_stop = std::string::npos;
    for (const auto& s : o.stops) first_stop = std::min(first_stop, text.find(s));
    switch (d.end(r)) {
      case RowEnd::Stop: EXPECT_EQ(first_stop, text.size() - 1) << text; break;
      case RowEnd::Length: EXPECT_EQ(d.ids(r).size(), 30u); break;
      case RowEnd::Eos: EXPECT_EQ(first_stop, std::string::npos); break;
      case RowEnd::Open: ADD_FAILURE() << "row " << r << " still open"; break;
    }
    sampled.push_back(std::int64_t(d.ids(r).size()) + (d.end(r) == RowEnd::Eos ? 1 : 0));
  }
  EXPECT_GT(std::set<std::int64_t>(sampled.begin(), sampled.end()).size(), 1u)
      << "the rows should end after different numbers of tokens";
  // Forward t decodes exactly the rows that sample a (t+1)-th token.
  const auto& rows = d.stats().rows_per_forward;
  std::int64_t total = 0;
  for (std::size_t t = 0; t < rows.size(); ++t) {
    int live = 0;
    for (auto s : sampled) live += s > std::int64_t(t);
    EXPECT_EQ(rows[t], live) << "forward " << t;
    total += rows[t];
  }
  EXPECT_EQ(d.stats().tokens, total);
  std::int64_t sum = 0;
  for (auto s : sampled) sum += s;
  EXPECT_EQ(total, sum);
  // What ended stayed behind cut down to its own rows: one cache row per candidate.
  EXPECT_EQ(d.cachedRows(), n);
  // The model saw the same batches: the prompt at batch 1, then each decoding forward.
  std::vector<std::int64_t> want = {1};
  want.insert(want.end(), rows.begin(), rows.end());
  EXPECT_EQ(f.batches, want);
}

TEST(BatchDecoder, StopStringsEndTheTextWhereTheyComplete) {
  Fixture f;
  const SamplingOptions greedy = greedyFor(40);
  BatchDecoder d(f.decodeModel());
  d.start(kPrompt, {}, {1});
  d.extend({0}, greedy);
  const std::string full = d.text(0);
  ASSERT_EQ(full.size(), 40u);

  // A two-byte stop taken from the middle: the text ends right after its first occurrence.
  const std::string stop = full.substr(20, 2);
  auto o = greedy;
  o.stops = {std::string("\x01\x02never"), stop};
  d.start(kPrompt, {}, {1});
  d.extend({0}, o);
  EXPECT_EQ(d.text(0), full.substr(0, full.find(stop) + 2));
  EXPECT_EQ(d.end(0), RowEnd::Stop);

  // Continuing from a partial text gives the same greedy continuation; a stop that begins in
  // the partial text and ends in the first new token ends the extension after that token.
  const std::string partial = full.substr(0, 12);
  o.stops = {full.substr(11, 2)};
  BatchDecoder c(f.decodeModel());
  c.start(kPrompt, {partial}, {1});
  EXPECT_EQ(c.stats().prefill_tokens, std::int64_t(kPrompt.size() + partial.size()) - 1);
  c.extend({0}, o);
  EXPECT_EQ(c.text(0), full.substr(0, 13));
  // The next extension continues from there: the stop must be completed by new text.
  c.extend({0}, greedy);
  EXPECT_EQ(c.text(0), full);
  EXPECT_EQ(c.end(0), RowEnd::Length);
}

TEST(BatchDecoder, EosEndsARowAndCountsAsAGeneratedToken) {
  Fixture f;
  SamplingOptions o;
  o.temperature = 0;
  o.max_new_tokens = 30;
  BatchDecoder d(f.decodeModel());
  d.start(kPrompt, {}, {1});
  d.extend({0}, o);
  const auto ids = d.ids(0);
  // The same weights with the greedy text's 6th token as EOS: decoding ends there.
  auto config = f.model.config();
  config.eos_token_id = ids[5];
  model::Transformer with_eos(config, f.model.weights());
  const auto first = std::find(ids.begin(), ids.end(), ids[5]) - ids.begin();
  BatchDecoder e({&with_eos, nullptr, f.tokenizer.get(), false});
  e.start(kPrompt, {}, {1, 2});
  e.extend({0, 1}, o);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(e.end(r), RowEnd::Eos);
    EXPECT_EQ(e.ids(r), std::vector<std::int32_t>(ids.begin(), ids.begin() + first));
  }
  EXPECT_EQ(e.stats().tokens, 2 * (first + 1));
  // A row that ended with EOS takes no more tokens.
  e.extend({0}, o);
  EXPECT_EQ(e.stats().tokens, 2 * (first + 1));
  // Without stopping at EOS it is an ordinary token.
  o.stop_at_eos = false;
  e.start(kPrompt, {}, {1});
  e.extend({0}, o);
  EXPECT_EQ(e.ids(0), ids);
}

TEST(BatchDecoder, ForkedRowsContinueLikeFreshRowsFromTheirText) {
  Fixture f;
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_p = 0.95;
  o.max_new_tokens = 60;
  o.stops = {" ", "e", "a"};
  o.stop_at_eos = false;
  BatchDecoder d(f.decodeModel());
  d.start(kPrompt, {}, {7, 8});
  d.extend({0, 1}, o);
  const std::string t0 = d.text(0), t1 = d.text(1);
  // Rows of different lengths after the fork: the shorter ones catch up first.
  d.select({1, 1, 0}, {100, 101, 102});
  o.stops = {"\n"};
  o.max_new_tokens = 30 + int(std::max(t0.size(), t1.size()));
  d.extend(allRows(d), o);
  ASSERT_EQ(d.rows(), 3);
  const std::vector<std::string> parents = {t1, t1, t0};
  const std::vector<std::uint64_t> seeds = {100, 101, 102};
  for (int r = 0; r < 3; ++r) {
    BatchDecoder fresh(f.decodeModel());
    fresh.start(kPrompt, {parents[std::size_t(r)]}, {seeds[std::size_t(r)]});
    fresh.extend({0}, o);
    EXPECT_EQ(d.text(r), fresh.text(0)) << "row " << r;
    EXPECT_EQ(d.end(r), fresh.end(0)) << "row " << r;
  }
  for (int rows : d.stats().rows_per_forward) EXPECT_LE(rows, 3);
  EXPECT_EQ(d.cachedRows(), 3);
  // Dropping rows frees their cache once the rest decodes on.
  d.select({2}, {5});
  o.max_new_tokens += 5;
  d.extend({0}, o);
  EXPECT_EQ(d.cachedRows(), 1);
}

TEST(BatchDecoder, BadCallsSayWhatIsWrong) {
  Fixture f;
  BatchDecoder d(f.decodeModel());
  EXPECT_THROW(d.start(kPrompt, {}, {}), std::invalid_argument);
  EXPECT_THROW(d.start(kPrompt, {"a", "b"}, {1}), std::invalid_argument);
  EXPECT_THROW(d.start("", {}, {1}), std::invalid_argument);
  d.start(kPrompt, {}, {1, 2});
  SamplingOptions o;
  EXPECT_THROW(d.extend({0, 0}, o), std::invalid_argument);
  EXPECT_THROW(d.extend({2}, o), std::out_of_range);
  EXPECT_THROW(d.select({0, 5}), std::out_of_range);
  EXPECT_THROW(d.select({0}, {1, 2}), std::invalid_argument);
  o.top_p = 0;
  EXPECT_THROW(d.extend({0}, o), std::invalid_argument);
}

// ---- the searches, on scripted candidates ----

namespace {

// Rows whose continuations a script decides: script(seed of the row, its text, its position
// in the extend call) returns the next piece, which ends the extension. Records how many rows
// every extension (one "forward") decoded.
class ScriptedDecoder final : public Decoder {
 public:
  using Script = std::function<std::string(std::uint64_t seed, const std::string& text, int position)>;
  explicit ScriptedDecoder(Script script) : script_(std::move(script)) {}
  void start(const std::string&, const std::vector<std::string>& partials,
             const std::vector<std::uint64_t>& seeds) override {
    rows_.clear();
    stats_ = {};
    for (std::size_t i = 0; i < seeds.size(); ++i)
      rows_.push_back({seeds[i], partials.empty() ? "" : partials[i], RowEnd::Open});
    most_rows = std::max(most_rows, rows());
  }
  void select(const std::vector<int>& parents, const std::vector<std::uint64_t>& seeds) override {
    std::vector<Row> next;
    for (std::size_t i = 0; i < parents.size(); ++i) {
      next.push_back(rows_.at(std::size_t(parents[i])));
      if (!seeds.empty()) next.back().seed = seeds[i];
    }
    rows_ = next;
    most_rows = std::max(most_rows, rows());
  }
  void extend(const std::vector<int>& which, const SamplingOptions&) override {
    int position = 0;
    for (int r : which) {
      auto& row = rows_.at(std::size_t(r));
      auto piece = script_(row.seed, row.text, position++);
      row.text += piece;
      row.end = RowEnd::Stop;
      stats_.tokens += std::int64_t(piece.size());
    }
    stats_.rows_per_forward.push_back(int(which.size()));
    extensions.push_back(int(which.size()));
  }
  int rows() const override { return int(rows_.size()); }
  const std::string& text(int row) const override { return rows_.at(std::size_t(row)).text; }
  RowEnd end(int row) const override { return rows_.at(std::size_t(row)).end; }
  const DecodeStats& stats() const override { return stats_; }

  int most_rows = 0;            // the most rows held at once, over every search
  std::vector<int> extensions;  // rows of every extension, over every search

 private:
  struct Row {
    std::uint64_t seed;
    std::string text;
    RowEnd end;
  };
  Script script_;
  std::vector<Row> rows_;
  DecodeStats stats_;
};

// Scores "v=<number>" texts by their number; process scores the share of " g ." steps.
class ToyReward final : public Reward {
 public:
  std::string name() const override { return "toy"; }
  std::vector<double> outcome(const WordProblem&, const std::vector<std::string>& texts) override {
    std::vector<double> out;
    for (const auto& t : texts) {
      if (t.rfind("v=", 0) == 0) {
        out.push_back(std::stod(t.substr(2)));
        continue;
      }
      out.push_back(t == " g . g . g .\n" ? 1.0 : 0.0);
    }
    return out;
  }
  std::vector<double> process(const WordProblem&, const std::vector<std::string>& texts) override {
    std::vector<double> out;
    for (const auto& t : texts) {
      double good = 0, steps = 0;
      for (std::size_t i = 0; i + 2 < t.size(); ++i)
        if ((t[i] == 'g' || t[i] == 'b') && t[i + 1] == ' ' && t[i + 2] == '.') {
          steps += 1;
          good += t[i] == 'g';
        }
      out.push_back(steps == 0 ? 0 : good / steps);
    }
    return out;
  }
};

}  // namespace

TEST(Search, BestOfNPicksTheHighestOutcomeTheFirstOfEquals) {
  // Values 0…4 by seed: several candidates share the maximum.
  ScriptedDecoder decoder([](std::uint64_t seed, const std::string&, int) {
    return "v=" + std::to_string(seed % 5) + "\n";
  });
  ToyReward reward;
  auto problem = handProblem();
  for (int n : {1, 2, 3, 8, 16}) {
    SearchOptions o;
    o.budget = n;
    o.seed = test::rng()();
    auto result = bestOfN(decoder, reward, problem, o);
    int want = 0;
    for (int r = 1; r < n; ++r)
      if (std::stoi(decoder.text(r).substr(2)) > std::stoi(decoder.text(want).substr(2))) want = r;
    EXPECT_EQ(result.solution, decoder.text(want)) << "N = " << n;
    EXPECT_EQ(result.reward, double(std::stoi(decoder.text(want).substr(2))));
    EXPECT_EQ(decoder.rows(), n);
    EXPECT_EQ(result.max_rows, n);
  }
}

TEST(Search, BeamSearchFollowsTheProcessRewardWithinItsBudget) {
  // Of the rows extended together, every width-th is good: so of each beam's children exactly
  // one is, and only a search that keeps the best children reaches " g . g . g .\n".
  int width = 1;
  ScriptedDecoder decoder([&](std::uint64_t, const std::string& text, int position) {
    std::size_t steps = 0;
    for (char c : text) steps += c == '.';
    if (steps == 3) return std::string("\n");
    return std::string(position % width == width - 1 ? " g ." : " b .");
  });
  ToyReward reward;
  auto problem = handProblem();
  for (int n = 1; n <= 9; ++n) {
    for (int m = 1; m <= 4; ++m) {
      width = std::min(m, n);
      decoder.extensions.clear();
      decoder.most_rows = 0;
      SearchOptions o;
      o.budget = n;
      o.beam_width = m;
      auto result = beamSearch(decoder, reward, problem, o);
      EXPECT_EQ(result.solution, " g . g . g .\n") << "N = " << n << ", M = " << m;
      EXPECT_EQ(result.reward, 1.0);
      EXPECT_EQ(result.steps, 4);
      EXPECT_LE(decoder.most_rows, n);
      const int keep = std::max(1, n / width);
      ASSERT_FALSE(decoder.extensions.empty());
      EXPECT_EQ(decoder.extensions[0], n);
      for (std::size_t i = 1; i < decoder.extensions.size(); ++i)
        EXPECT_EQ(decoder.extensions[i], keep * width) << "N = " << n << ", M = " << m;
    }
  }
}

TEST(Search, BeamSearchStopsAtTheStepLimitAndKeepsFinishedBeams) {
  // Rows whose seed is even finish (their line ends) at once; the others never do.
  ScriptedDecoder decoder([](std::uint64_t seed, const std::string&, int) {
    return std::string(seed % 2 ? " g ." : " b .\n");
  });
  ToyReward reward;
  SearchOptions o;
  o.budget = 8;
  o.beam_width = 2;
  o.max_steps = 5;
  auto result = beamSearch(decoder, reward, handProblem(), o);
  EXPECT_EQ(result.steps, 5);
  EXPECT_LE(decoder.most_rows, 8);
  for (int rows : decoder.extensions) EXPECT_LE(rows, 8);
}

TEST(Search, RealDecoderRespectsTheBudgetInEveryForward) {
  Fixture f;
  VerifierReward reward;
  BatchDecoder decoder(f.decodeModel());
  const auto problem = wordProblems(test::rng()(), 1)[0];
  for (int n : {1, 3, 4, 6}) {
    SearchOptions o;
    o.budget = n;
    o.beam_width = 2;
    o.max_steps = 4;
    o.sampling.max_new_tokens = 24;
    o.sampling.temperature = 1.0;
    for (bool beam : {false, true}) {
      f.batches.clear();
      auto result = beam ? beamSearch(decoder, reward, problem, o) : bestOfN(decoder, reward, problem, o);
      EXPECT_LE(result.max_rows, n);
      for (auto b : f.batches) EXPECT_LE(b, n) << (beam ? "beam" : "bon") << " N = " << n;
      std::int64_t sum = 0;
      for (int rows : decoder.stats().rows_per_forward) sum += rows;
      EXPECT_EQ(result.tokens, sum);
      EXPECT_GT(result.tokens, 0);
      if (!beam) {
        EXPECT_EQ(decoder.stats().rows_per_forward.front(), n);
      }
    }
  }
}

// ---- reward models ----

class RewardModels : public ::testing::TestWithParam<int> {};

TEST_P(RewardModels, FinalHiddenTimesTheHeadIsTheLogits) {
  const int kind = GetParam();  // 0 llama, 1 opt, 2 post-LN opt with project_in/out
  auto c = tinyConfig(kind == 0 ? ModelFamily::Llama : ModelFamily::Opt, kind == 2, kind == 2);
  model::Transformer m(c, randomWeights(c, test::rng()()));
  auto tokens = at::randint(0, 256, {3, 11}, at::kLong);
  at::NoGradGuard no_grad;
  auto logits = m.forward(tokens);
  auto hidden = scaling::finalHidden(m, tokens);
  const auto& head = c.tie_embeddings ? m.weights().at(c.family == ModelFamily::Opt
                                                           ? "model.decoder.embed_tokens.weight"
                                                           : "model.embed_tokens.weight")
                                      : m.weights().at("lm_head.weight");
  EXPECT_TRUE(at::allclose(at::linear(hidden, head), logits, 1e-5, 1e-5));
}

TEST_P(RewardModels, ScalarHeadScoresTheLastTokensHiddenState) {
  const int kind = GetParam();
  auto c = tinyConfig(kind == 0 ? ModelFamily::Llama : ModelFamily::Opt, kind == 2, kind == 2);
  auto w = randomWeights(c, test::rng()());
  const std::int64_t width = c.word_embed_proj_dim;
  // The head is one row of the LM head plus a bias, so the score is that token's logit + bias.
  const auto& head = c.tie_embeddings ? w.at(c.family == ModelFamily::Opt
                                                 ? "model.decoder.embed_tokens.weight"
                                                 : "model.embed_tokens.weight")
                                      : w.at("lm_head.weight");
  const std::int64_t token = 65;
  w["score.weight"] = head[token].clone().view({1, width});
  w["score.bias"] = at::full({1}, 0.25);
  test::TempDir dir;
  writeFolder(dir / "rm", c, w);
  ModelRewardOptions options;
  options.batch = 2;  // three texts of different lengths: two batches, one padded
  ModelReward reward(dir / "rm", options);
  ASSERT_TRUE(reward.hasScalarHead());
  const std::vector<std::string> texts = {"Q: one\nA: answer 1 .", "Q: a longer one\nA:",
                                          "x"};
  auto scores = reward.score(texts);
  auto model = model::loadCheckpointFor(dir / "rm", "float32", "cpu");
  at::NoGradGuard no_grad;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::vector<std::int64_t> ids(texts[i].begin(), texts[i].end());
    auto logits = model.forward(at::tensor(ids, at::kLong).unsqueeze(0));
    EXPECT_NEAR(scores[i], logits[0][-1][token].item<double>() + 0.25, 1e-4) << texts[i];
  }
  // As the outcome of a solution: the prompt and the solution's first line.
  auto problem = handProblem();
  auto outcome = reward.outcome(problem, {" answer 9 .\nQ: more"});
  EXPECT_NEAR(outcome[0], reward.score({problem.prompt() + " answer 9 ."})[0], 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Families, RewardModels, ::testing::Values(0, 1, 2));

TEST(ModelReward, WithoutAHeadTheScoreIsYesMinusNo) {
  auto c = tinyConfig(ModelFamily::Llama);
  auto w = randomWeights(c, test::rng()());
  test::TempDir dir;
  writeFolder(dir / "lm", c, w);
  ModelReward reward(dir / "lm");
  ASSERT_FALSE(reward.hasScalarHead());
  auto problem = handProblem();
  const std::vector<std::string> solutions = {" 7 plus 5 is 12 .", " answer 9 .\n", ""};
  auto scores = reward.process(problem, solutions);
  auto model = model::loadCheckpointFor(dir / "lm", "float32", "cpu");
  at::NoGradGuard no_grad;
  for (std::size_t i = 0; i < solutions.size(); ++i) {
    // " yes" and " no" share the byte " ": it is fed, then 'y' and 'n' are compared.
    auto text = problem.prompt() + solutions[i].substr(0, solutions[i].find('\n')) + " correct? ";
    std::vector<std::int64_t> ids(text.begin(), text.end());
    auto last = model.forward(at::tensor(ids, at::kLong).unsqueeze(0))[0][-1];
    EXPECT_NEAR(scores[i], (last['y'] - last['n']).item<double>(), 1e-4);
  }
}

TEST(ModelReward, BadFoldersAndHeadsAreNamed) {
  EXPECT_THROW(makeReward("/nonexistent/reward"), std::invalid_argument);
  EXPECT_NE(dynamic_cast<VerifierReward*>(makeReward("verifier").get()), nullptr);
  auto c = tinyConfig(ModelFamily::Llama);
  auto w = randomWeights(c, 3);
  w["score.weight"] = at::randn({2, c.hidden_size});
  test::TempDir dir;
  writeFolder(dir / "two", c, w);
  try {
    ModelReward reward(dir / "two");
    ADD_FAILURE() << "a two-label head was accepted";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("score.weight"), std::string::npos) << e.what();
  }
  w.erase("score.weight");
  writeFolder(dir / "lm", c, w);
  ModelRewardOptions same;
  same.yes = " same";
  same.no = " same";
  EXPECT_THROW(ModelReward(dir / "lm", same), std::invalid_argument);
}

// ---- the frontier ----

TEST(ParetoFront, KeepsThePointsNoOtherBeats) {
  auto point = [](double tokens, double wall, double accuracy) {
    TtsPoint p;
    p.tokens = tokens;
    p.wall_seconds = wall;
    p.cpu_seconds = wall * 2;
    p.accuracy = accuracy;
    return p;
  };
  std::vector<TtsPoint> points = {
      point(10, 1.0, 0.5),   // 0: on the front
      point(20, 0.5, 0.5),   // 1: beaten by 0 on tokens; the cheapest on time
      point(20, 2.0, 0.7),   // 2: on the token front
      point(5, 3.0, 0.2),    // 3: the cheapest in tokens
      point(10, 1.0, 0.5),   // 4: equal to 0: neither beats the other
      point(30, 0.4, 0.6),   // 5: beaten by 2 on tokens; the cheapest on time
      point(NAN, NAN, 0.9),  // 6: no cost measured: on no front
      point(40, 5.0, 0.7),   // 7: as accurate as 2 but dearer
  };
  EXPECT_EQ(paretoFront(points, FrontierCost::Tokens), (std::vector<std::size_t>{0, 2, 3, 4}));
  EXPECT_EQ(paretoFront(points, FrontierCost::WallTime), (std::vector<std::size_t>{2, 5}));
  EXPECT_EQ(paretoFront(points, FrontierCost::CpuTime), (std::vector<std::size_t>{2, 5}));
  EXPECT_TRUE(paretoFront({}, FrontierCost::Tokens).empty());
}

// ---- the sweep ----

namespace {

// Runs the sweep as a job; cancels it once a progress message contains `cancel_at`.
JobState sweep(Workspace& ws, const TtsOptions& o, TtsReport& report, const std::string& cancel_at = {}) {
  JobQueue queue(1);
  std::atomic<bool> cancelled{false};
  std::string error;
  queue.setListener([&](const JobEvent& e) {
    if (e.state == JobState::Failed) error = e.message;
    if (!cancel_at.empty() && e.state == JobState::Running &&
        e.message.find(cancel_at) != std::string::npos && !cancelled.exchange(true))
      queue.cancel(e.id);  // progress events come without the queue's lock held
  });
  auto id = queue.submit("tts", "sweep", [&](JobContext& ctx) -> std::any {
    report = runTestTimeScaling(ws, o, ctx);
    return {};
  });
  auto state = queue.wait(id);
  EXPECT_TRUE(error.empty()) << error;
  return state;
}

}  // namespace

TEST(Sweep, StoresOnePointPerBudgetAndACancelledRunKeepsWhatItFinished) {
  test::TempDir dir;
  auto c = tinyConfig(ModelFamily::Llama);
  writeFolder(dir / "m", c, randomWeights(c, test::rng()()));
  auto ws = Workspace::create(dir / "ws");
  TtsOptions o;
  o.models = {(dir / "m").string()};
  o.weights = "float32";
  o.methods = {"bon", "beam", "bon"};
  o.budgets = {2, 1, 2};
  o.problems = 3;
  o.max_new_tokens = 20;
  o.beam_width = 2;
  o.temperature = 1.0;

  TtsReport report;
  ASSERT_EQ(sweep(ws, o, report), JobState::Succeeded);
  // Each method and budget once, budgets in increasing order.
  ASSERT_EQ(report.points.size(), 4u);
  const std::vector<std::pair<std::string, int>> want = {{"bon", 1}, {"bon", 2}, {"beam", 1}, {"beam", 2}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& p = report.points[i];
    EXPECT_EQ(p.method, want[i].first);
    EXPECT_EQ(p.budget, want[i].second);
    EXPECT_EQ(p.model, o.models[0]);
    EXPECT_EQ(p.weights, "float32");
    EXPECT_EQ(p.reward, "verifier");
    EXPECT_EQ(p.problems, 3);
    EXPECT_GT(p.tokens, 0);
    EXPECT_LE(p.tokens, 20.0 * p.budget * 12);
    EXPECT_GT(p.wall_seconds, 0);
    EXPECT_GE(p.cpu_seconds, 0);
  }
  // Best-of-N at budget 1 samples one candidate of at most 20 tokens per problem.
  EXPECT_LE(report.points[0].tokens, 20.0);

  auto stored = loadFrontier(ws);
  ASSERT_EQ(stored.size(), 4u);
  for (std::size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(stored[i].run_id, report.points[i].run_id);
    EXPECT_EQ(stored[i].method, report.points[i].method);
    EXPECT_EQ(stored[i].budget, report.points[i].budget);
    EXPECT_EQ(stored[i].solved, report.points[i].solved);
    EXPECT_EQ(stored[i].problems, 3);
    EXPECT_DOUBLE_EQ(stored[i].tokens, report.points[i].tokens);
    EXPECT_DOUBLE_EQ(stored[i].cpu_seconds, report.points[i].cpu_seconds);
  }
  for (const auto& run : ws.store().runs()) {
    EXPECT_EQ(run.kind, "tts");
    EXPECT_EQ(run.status, RunStatus::Finished);
    EXPECT_EQ(ws.store().params(run.id).at("budgets"), "1,2");
  }

  // Cancelled during budget 2 of Best-of-N: that run is killed with its budget-1 point, and
  // beam search never starts.
  ASSERT_EQ(sweep(ws, o, report, "bon N=2: problem 1/"), JobState::Cancelled);
  auto runs = ws.store().runs();
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs.back().status, RunStatus::Killed);
  auto after = loadFrontier(ws);
  ASSERT_EQ(after.size(), 5u);
  EXPECT_EQ(after.back().run_id, runs.back().id);
  EXPECT_EQ(after.back().budget, 1);

  // Options the sweep refuses, before it touches the store.
  for (auto bad : {&TtsOptions::methods, &TtsOptions::models}) {
    auto b = o;
    b.*bad = {"nonsense"};
    EXPECT_THROW(validateTtsOptions(b), std::invalid_argument);
  }
  auto b = o;
  b.budgets = {0};
  EXPECT_THROW(validateTtsOptions(b), std::invalid_argument);
  b = o;
  b.weights = "tile-q3";
  EXPECT_THROW(validateTtsOptions(b), std::invalid_argument);
  b = o;
  b.reward = (dir / "none").string();
  EXPECT_THROW(validateTtsOptions(b), std::invalid_argument);
}

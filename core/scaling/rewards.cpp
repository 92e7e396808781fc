// Torch first: its headers use the identifier `slots`, which Qt would define as a macro.
#include "scaling/rewards.h"

#include <algorithm>
#include <stdexcept>

#include "model/checkpoint.h"

namespace darkroom::scaling {
namespace fs = std::filesystem;
namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The transformer's own norms, so that the recovered hidden state matches its own bit for bit.
using model::layerNorm;
using model::rmsNorm;

std::string solutionLine(const std::string& solution) {
  return solution.substr(0, solution.find('\n'));
}

}  // namespace

// ---- the verifier ----

std::vector<double> VerifierReward::outcome(const WordProblem& problem,
                                            const std::vector<std::string>& solutions) {
  std::vector<double> out;
  for (const auto& s : solutions) out.push_back(checkSolution(problem, s).correct ? 1.0 : 0.0);
  return out;
}

std::vector<double> VerifierReward::process(const WordProblem& problem,
                                            const std::vector<std::string>& partials) {
  std::vector<double> out;
  for (const auto& s : partials) {
    auto p = parseSolution(problem, s);
    const int good = p.check.correct_steps + (p.check.correct ? 1 : 0);
    out.push_back(p.segments == 0 ? 0.0 : double(good) / p.segments);
  }
  return out;
}

// ---- the final hidden state ----

at::Tensor finalHidden(const model::Transformer& m, const at::Tensor& tokens) {
  const auto& c = m.config();
  const auto& w = m.weights();
  const bool opt = c.family == ModelFamily::Opt;
  auto ids = tokens.to(m.device(), at::kLong);
  // The residual stream: the embeddings, then every attention and MLP output added in the order
  // the forward adds them (post-LN OPT normalises after each addition).
  at::Tensor residual;
  if (opt) {
    residual = at::embedding(w.at("model.decoder.embed_tokens.weight"), ids);
    if (w.count("model.decoder.project_in.weight"))
      residual = at::linear(residual, w.at("model.decoder.project_in.weight"));
    auto positions = at::arange(tokens.size(1), ids.options()) + 2;
    residual = residual +
               at::embedding(w.at("model.decoder.embed_positions.weight"), positions).unsqueeze(0);
  } else {
    residual = at::embedding(w.at("model.embed_tokens.weight"), ids);
  }
  model::ForwardHooks hooks;
  hooks.linear = [&](const std::string& module, const at::Tensor& x, const at::Tensor& weight,
                     const at::Tensor* bias) {
    auto y = bias ? at::linear(x, weight, *bias) : at::linear(x, weight);
    const std::string attention_out = opt ? ".self_attn.out_proj" : ".self_attn.o_proj";
    const std::string mlp_out = opt ? ".fc2" : ".mlp.down_proj";
    std::string suffix, norm;  // post-LN OPT: the norm that follows this addition
    if (endsWith(module, attention_out)) {
      suffix = attention_out;
      norm = "self_attn_layer_norm";
    } else if (endsWith(module, mlp_out)) {
      suffix = mlp_out;
      norm = "final_layer_norm";
    } else {
      return y;
    }
    residual = residual + y;
    if (opt && !c.layer_norm_before) {
      const auto prefix = module.substr(0, module.size() - suffix.size() + 1);  // "...layers.3."
      residual = layerNorm(residual, w.at(prefix + norm + ".weight"),
                           w.at(prefix + norm + ".bias"), c.norm_eps);
    }
    return y;
  };
  m.forward(tokens, nullptr, nullptr, &hooks);
  if (!opt) return rmsNorm(residual, w.at("model.norm.weight"), c.norm_eps);
  if (c.layer_norm_before)
    residual = layerNorm(residual, w.at("model.decoder.final_layer_norm.weight"),
                         w.at("model.decoder.final_layer_norm.bias"), c.norm_eps);
  if (w.count("model.decoder.project_out.weight"))
    residual = at::linear(residual, w.at("model.decoder.project_out.weight"));
  return residual;
}

// ---- a reward model ----

ModelReward::ModelReward(const fs::path& dir, ModelRewardOptions options)
    : dir_(dir),
      options_(std::move(options)),
      model_(model::loadCheckpointFor(dir, "float32", "cpu")),
      tokenizer_(loadTokenizer(dir)),
      bos_(model::addsBos(dir, model_.config())) {
  if (options_.batch < 1) throw std::invalid_argument("the reward model's batch must be >= 1");
  const auto& w = model_.weights();
  const auto& c = model_.config();
  if (auto it = w.find("score.weight"); it != w.end()) {
    const std::int64_t width = c.family == ModelFamily::Opt && c.word_embed_proj_dim > 0
                                   ? c.word_embed_proj_dim
                                   : c.hidden_size;
    const auto& s = it->second;
    if (s.dim() != 2 || s.size(0) != 1 || s.size(1) != width)
      throw ModelError(dir.string() + ": score.weight has shape [" +
                       std::to_string(s.size(0)) + (s.dim() > 1 ? ", " + std::to_string(s.size(1)) : "") +
                       "]; a reward head needs [1, " + std::to_string(width) +
                       "] (one label over the final hidden state)");
    score_ = s.reshape({width}).to(at::kFloat);
    if (auto b = w.find("score.bias"); b != w.end()) {
      if (b->second.numel() != 1)
        throw ModelError(dir.string() + ": score.bias must hold one value");
      score_bias_ = b->second.reshape({}).to(at::kFloat);
    }
    return;
  }
  // The yes/no score: feed what the two words' tokens share, compare the first that differ.
  auto yes = tokenizer_->encode(options_.yes), no = tokenizer_->encode(options_.no);
  std::size_t k = 0;
  while (k < yes.size() && k < no.size() && yes[k] == no[k]) ++k;
  if (k == yes.size() || k == no.size())
    throw std::invalid_argument(dir.string() + ": the reward words '" + options_.yes + "' and '" +
                                options_.no + "' must differ in a token that neither begins "
                                "with the other (this model has no score.weight head)");
  answer_prefix_.assign(yes.begin(), yes.begin() + std::ptrdiff_t(k));
  yes_ = yes[k];
  no_ = no[k];
  if (yes_ >= c.vocab_size || no_ >= c.vocab_size)
    throw ModelError(dir.string() + ": the tokenizer's ids for the reward words lie outside the "
                     "model's vocabulary");
}

std::vector<double> ModelReward::score(const std::vector<std::string>& texts) const {
  const auto& c = model_.config();
  const bool scalar = score_.defined();
  std::vector<double> out;
  out.reserve(texts.size());
  at::NoGradGuard no_grad;
  for (std::size_t begin = 0; begin < texts.size(); begin += std::size_t(options_.batch)) {
    const auto end = std::min(texts.size(), begin + std::size_t(options_.batch));
    std::vector<std::vector<std::int64_t>> rows;
    std::size_t longest = 0;
    for (auto i = begin; i < end; ++i) {
      std::vector<std::int64_t> ids;
      if (bos_ && c.bos_token_id) ids.push_back(*c.bos_token_id);
      for (auto id : tokenizer_->encode(texts[i])) ids.push_back(id);
      if (!scalar) ids.insert(ids.end(), answer_prefix_.begin(), answer_prefix_.end());
      if (ids.empty()) throw std::invalid_argument("a reward text is empty");
      if (c.family == ModelFamily::Opt && std::int64_t(ids.size()) > c.max_positions)
        throw std::invalid_argument("a reward text has " + std::to_string(ids.size()) +
                                    " tokens; the reward model sees at most " +
                                    std::to_string(c.max_positions));
      longest = std::max(longest, ids.size());
      rows.push_back(std::move(ids));
    }
    // Right padding: causal attention keeps the pads out of every real position, so each row
    // is read at its own last token.
    const std::int64_t pad = c.eos_token_id.value_or(0);
    auto tokens = at::full({std::int64_t(rows.size()), std::int64_t(longest)}, pad, at::kLong);
    auto last = at::empty({std::int64_t(rows.size())}, at::kLong);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      tokens[std::int64_t(r)].slice(0, 0, std::int64_t(rows[r].size()))
          .copy_(at::tensor(rows[r], at::kLong));
      last[std::int64_t(r)] = std::int64_t(rows[r].size()) - 1;
    }
    auto batch_index = at::arange(std::int64_t(rows.size()), at::kLong);
    at::Tensor values;
    if (scalar) {
      auto hidden = finalHidden(model_, tokens).to(at::kCPU, at::kFloat);
      values = at::matmul(hidden.index({batch_index, last}), score_);
      if (score_bias_.defined()) values = values + score_bias_;
    } else {
      auto logits = model_.forward(tokens).to(at::kCPU);
      auto at_last = logits.index({batch_index, last});
      values = at_last.select(1, yes_) - at_last.select(1, no_);
    }
    values = values.to(at::kDouble).contiguous();
    out.insert(out.end(), values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
  }
  return out;
}

std::vector<double> ModelReward::scoreSolutions(const WordProblem& problem,
                                                const std::vector<std::string>& solutions) const {
  std::vector<std::string> texts;
  texts.reserve(solutions.size());
  const auto suffix = score_.defined() ? std::string() : options_.question;
  for (const auto& s : solutions) texts.push_back(problem.prompt() + solutionLine(s) + suffix);
  return score(texts);
}

std::vector<double> ModelReward::outcome(const WordProblem& problem,
                                         const std::vector<std::string>& solutions) {
  return scoreSolutions(problem, solutions);
}

std::vector<double> ModelReward::process(const WordProblem& problem,
                                         const std::vector<std::string>& partials) {
  return scoreSolutions(problem, partials);
}

std::unique_ptr<Reward> makeReward(const std::string& spec) {
  if (spec == "verifier") return std::make_unique<VerifierReward>();
  if (spec.empty() || !fs::is_directory(spec))
    throw std::invalid_argument("the reward must be 'verifier' or a reward-model folder "
                                "(config.json, model.safetensors, tokenizer); '" + spec +
                                "' is neither");
  return std::make_unique<ModelReward>(spec);
}

}  // namespace darkroom::scaling

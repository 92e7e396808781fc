#include "sparsity/sparsity_accumulator.h"

#include <stdexcept>

namespace darkroom::sparsity {

at::Tensor inactiveMlpBlocks(const at::Tensor& activation, std::int64_t block, double p,
                             double inactive_fraction) {
  auto peak = activation.abs().to(at::kFloat).reshape({-1, activation.size(-1)}).amax(0);
  const std::int64_t neurons = peak.size(0), blocks = (neurons + block - 1) / block;
  // Pad the last block with zeros that count as neither below nor above: track real sizes.
  auto padded = at::zeros({blocks * block}, peak.options());
  padded.slice(0, 0, neurons).copy_(peak);
  auto grid = padded.view({blocks, block});
  auto block_max = grid.amax(1, true);
  auto below = (grid < p * block_max).to(at::kFloat);
  auto sizes = at::full({blocks}, double(block), peak.options());
  sizes[blocks - 1] = double(neurons - (blocks - 1) * block);
  below.select(0, blocks - 1).slice(0, neurons - (blocks - 1) * block).zero_();
  // A block whose neurons are all silent (max 0) is inactive too.
  auto silent = block_max.squeeze(1) <= 0;
  return (below.sum(1) / sizes > inactive_fraction) | silent;
}

at::Tensor attentionBlockMass(const at::Tensor& probabilities, std::int64_t block) {
  const std::int64_t heads = probabilities.size(1), q = probabilities.size(2),
                     k = probabilities.size(3);
  const std::int64_t nq = (q + block - 1) / block, nk = (k + block - 1) / block;
  auto summed = probabilities.to(at::kFloat).sum(0);  // [heads, q, k]
  auto padded = at::zeros({heads, nq * block, nk * block}, summed.options());
  padded.slice(1, 0, q).slice(2, 0, k).copy_(summed);
  return padded.view({heads, nq, block, nk, block}).sum(at::IntArrayRef{2, 4});
}

std::pair<at::Tensor, double> keptBlockFractions(const at::Tensor& mass, double threshold) {
  const std::int64_t nq = mass.size(1), nk = mass.size(2);
  auto causal = at::tril(at::ones({nq, nk}, mass.options().dtype(at::kBool)), nk - nq);
  const double total = causal.sum().item<double>();
  auto kept = (mass > threshold) & causal;
  auto per_head = kept.sum(at::IntArrayRef{1, 2}).to(at::kDouble) / total;
  double shared = kept.any(0).sum().item<double>() / total;
  return {per_head, shared};
}

SparsityAccumulator::SparsityAccumulator(int layers, SparsityOptions options)
    : options_(std::move(options)), layers_(static_cast<std::size_t>(layers)) {
  if (options_.mlp_block < 1 || options_.attention_block < 1)
    throw std::invalid_argument("block sizes must be positive");
}

void SparsityAccumulator::addMlp(int layer, const at::Tensor& activation) {
  auto& l = layers_.at(static_cast<std::size_t>(layer));
  auto a = activation.to(at::kFloat);
  auto inactive = a.abs() <= options_.epsilon;  // [B, L, F]
  l.per_token_sum += inactive.to(at::kDouble).mean(-1).sum().item<double>();
  l.aggregated_sequence_sum += inactive.all(1).to(at::kDouble).mean(-1).sum().item<double>();
  l.tokens += a.size(0) * a.size(1);
  l.sequences += a.size(0);
  l.aggregated_batch_sum += inactive.all(1).all(0).to(at::kDouble).mean().item<double>();
  auto active = (~inactive).sum(at::IntArrayRef{0, 1});
  l.active_count = l.active_count.defined() ? l.active_count + active : active;
  l.block_sparsity_sum.resize(options_.block_p.size());
  for (std::size_t i = 0; i < options_.block_p.size(); ++i)
    l.block_sparsity_sum[i] += inactiveMlpBlocks(a, options_.mlp_block, options_.block_p[i],
                                                 options_.block_inactive_fraction)
                                   .to(at::kDouble).mean().item<double>();
  ++l.batches;
  if (!l.sample.defined()) l.sample = a[0].abs().cpu();
}

void SparsityAccumulator::addAttention(int layer, const at::Tensor& probabilities) {
  auto& l = layers_.at(static_cast<std::size_t>(layer));
  auto mass = attentionBlockMass(probabilities, options_.attention_block);
  if (l.mass_sum.defined() && l.mass_sum.sizes() != mass.sizes())
    throw std::invalid_argument("attention maps of one analysis must have the same shape");
  l.mass_sum = l.mass_sum.defined() ? l.mass_sum + mass : mass;
  auto [per_head, shared] = keptBlockFractions(mass, options_.attention_threshold);
  l.kept_per_head_sum += per_head.mean().item<double>();
  l.kept_shared_sum += shared;
  ++l.attention_batches;
}

namespace {
Array2D toArray(const at::Tensor& t) {
  auto c = t.to(at::kFloat).contiguous().cpu();
  Array2D out;
  out.rows = c.size(0);
  out.cols = c.numel() / std::max<std::int64_t>(1, out.rows);
  out.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return out;
}
}  // namespace

SparsityAnalysis SparsityAccumulator::finish() const {
  SparsityAnalysis out;
  out.options = options_;
  std::vector<at::Tensor> frequency, sample;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = layers_[i];
    if (l.tokens == 0) throw std::logic_error("layer " + std::to_string(i) + " saw no activations");
    LayerSparsity s;
    s.layer = static_cast<int>(i);
    s.mlp_per_token = l.per_token_sum / double(l.tokens);
    s.mlp_aggregated_sequence = l.aggregated_sequence_sum / double(l.sequences);
    s.mlp_aggregated_batch = l.aggregated_batch_sum / double(l.batches);
    for (double sum : l.block_sparsity_sum) s.mlp_block_sparsity.push_back(sum / double(l.batches));
    if (l.attention_batches > 0) {
      s.attention_kept_per_head = l.kept_per_head_sum / double(l.attention_batches);
      s.attention_kept_shared = l.kept_shared_sum / double(l.attention_batches);
      auto mean_mass = l.mass_sum / double(l.attention_batches);
      out.heads = mean_mass.size(0);
      out.attention_blocks = mean_mass.size(1);
      for (std::int64_t h = 0; h < mean_mass.size(0); ++h) out.attention_mass.push_back(toArray(mean_mass[h]));
    }
    out.layers.push_back(s);
    frequency.push_back(l.active_count.to(at::kDouble) / double(l.tokens));
    sample.push_back(l.sample);
    out.sequences = l.sequences;
    out.tokens = l.tokens;
  }
  out.neuron_frequency = toArray(at::stack(frequency));
  auto per_token = at::stack(sample, 1);  // [tokens, layers, neurons]
  out.sample_tokens = per_token.size(0);
  out.sample_magnitude = toArray(per_token.reshape({per_token.size(0), -1}));
  return out;
}

}  // namespace darkroom::sparsity

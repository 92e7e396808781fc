// Sparsity maths on hand-built activations and attention maps whose answers are worked out by
// hand, plus the ordering every real model must satisfy.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "sparsity/sparsity_accumulator.h"
#include "test_util.h"

using namespace darkroom;
using namespace darkroom::sparsity;

TEST(Sparsity, PerTokenVersusAggregatedOnAKnownExample) {
  // 2 sequences × 3 tokens × 4 neurons; each token fires one neuron.
  auto a = at::zeros({2, 3, 4});
  a[0][0][0] = 1.0; a[0][1][1] = 2.0; a[0][2][0] = 0.5;
  a[1][0][2] = 1.0; a[1][1][2] = -3.0; a[1][2][0] = 1.0;
  SparsityAccumulator acc(1, SparsityOptions{});
  acc.addMlp(0, a);
  auto r = acc.finish();
  ASSERT_EQ(r.layers.size(), 1u);
  EXPECT_DOUBLE_EQ(r.layers[0].mlp_per_token, 0.75);
  EXPECT_DOUBLE_EQ(r.layers[0].mlp_aggregated_sequence, 0.5);  // {0,1} and {0,2} fire
  EXPECT_DOUBLE_EQ(r.layers[0].mlp_aggregated_batch, 0.25);    // only neuron 3 never fires
  EXPECT_EQ(r.tokens, 6);
  ASSERT_EQ(r.neuron_frequency.cols, 4);
  EXPECT_FLOAT_EQ(r.neuron_frequency.at(0, 0), 3.0f / 6);
  EXPECT_FLOAT_EQ(r.neuron_frequency.at(0, 1), 1.0f / 6);
  EXPECT_FLOAT_EQ(r.neuron_frequency.at(0, 2), 2.0f / 6);
  EXPECT_FLOAT_EQ(r.neuron_frequency.at(0, 3), 0.0f);
  // The per-token sample is the first sequence's magnitudes.
  EXPECT_EQ(r.sample_tokens, 3);
  EXPECT_FLOAT_EQ(r.sample_magnitude.at(1, 1), 2.0f);
}

TEST(Sparsity, EpsilonTreatsSmallActivationsAsInactive) {
  auto a = at::full({1, 2, 3}, 0.05);
  a[0][0][0] = 1.0;
  SparsityOptions options;
  options.epsilon = 0.1;
  SparsityAccumulator acc(1, options);
  acc.addMlp(0, a);
  EXPECT_DOUBLE_EQ(acc.finish().layers[0].mlp_per_token, (2.0 / 3 + 1.0) / 2);
}

TEST(Sparsity, ExposerBlockRuleOnAKnownExample) {
  // 45 neurons in blocks of 20: [20, 20, 5].
  auto a = at::full({1, 1, 45}, 0.001);
  a[0][0][0] = 1.0;                                   // block 0: 19 of 20 below 1% of max
  for (int i = 20; i < 23; ++i) a[0][0][i] = 1.0;     // block 1: only 17 of 20 below
  a.slice(2, 40, 45).zero_();                         // block 2 (partial): silent
  auto mask = inactiveMlpBlocks(a, 20, 0.01, 0.9);
  ASSERT_EQ(mask.size(0), 3);
  EXPECT_TRUE(mask[0].item<bool>());
  EXPECT_FALSE(mask[1].item<bool>());
  EXPECT_TRUE(mask[2].item<bool>());
  // With p = 0.0005 nothing is below in block 0 any more.
  EXPECT_FALSE(inactiveMlpBlocks(a, 20, 0.0005, 0.9)[0].item<bool>());
}

TEST(Sparsity, AttentionBlocksPerHeadAndSharedOnAKnownExample) {
  auto p = at::zeros({1, 2, 4, 4});
  for (int i = 0; i < 4; ++i) {
    p[0][0][i][i] = 1.0;  // head 0 attends to itself
    p[0][1][i][0] = 1.0;  // head 1 attends to the first token
  }
  auto mass = attentionBlockMass(p, 2);
  ASSERT_EQ(mass.sizes().vec(), (std::vector<std::int64_t>{2, 2, 2}));
  EXPECT_FLOAT_EQ(mass[0][0][0].item<float>(), 2);
  EXPECT_FLOAT_EQ(mass[0][1][0].item<float>(), 0);
  EXPECT_FLOAT_EQ(mass[0][1][1].item<float>(), 2);
  EXPECT_FLOAT_EQ(mass[1][1][0].item<float>(), 2);
  auto [per_head, shared] = keptBlockFractions(mass, 1.0);
  EXPECT_DOUBLE_EQ(per_head[0].item<double>(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(per_head[1].item<double>(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(shared, 1.0);  // the union of two different layouts covers every block
}

TEST(Sparsity, AggregationNeverExceedsPerTokenSparsity) {
  at::manual_seed(static_cast<std::uint64_t>(test::rng()()));
  std::uniform_int_distribution<int> dim(1, 37);
  const int layers = 3;
  const std::int64_t batch = dim(test::rng()), length = dim(test::rng()), neurons = dim(test::rng()) * 7;
  SparsityOptions options;
  options.mlp_block = 16;
  SparsityAccumulator acc(layers, options);
  for (int batches = 0; batches < 2; ++batches)
    for (int l = 0; l < layers; ++l) {
      acc.addMlp(l, at::relu(at::randn({batch, length, neurons}) - 0.8 * l));
      acc.addAttention(l, at::softmax(at::randn({batch, 2, length, length}), -1).tril());
    }
  auto r = acc.finish();
  for (const auto& s : r.layers) {
    EXPECT_LE(s.mlp_aggregated_batch, s.mlp_aggregated_sequence + 1e-12);
    EXPECT_LE(s.mlp_aggregated_sequence, s.mlp_per_token + 1e-12);
    EXPECT_LE(s.attention_kept_per_head, s.attention_kept_shared + 1e-12);
    ASSERT_EQ(s.mlp_block_sparsity.size(), options.block_p.size());
    for (std::size_t i = 1; i < s.mlp_block_sparsity.size(); ++i)  // larger p: more inactive
      EXPECT_LE(s.mlp_block_sparsity[i - 1], s.mlp_block_sparsity[i] + 1e-12);
  }
  // Deeper layers were shifted further below zero: sparser.
  EXPECT_LT(r.layers[0].mlp_per_token, r.layers[2].mlp_per_token);
  EXPECT_EQ(r.neuron_frequency.rows, layers);
  EXPECT_EQ(r.sample_magnitude.cols, layers * neurons);
  EXPECT_EQ(static_cast<int>(r.attention_mass.size()), layers * 2);
}

TEST(Sparsity, BatchAggregationIsPerBatchAndAveraged) {
  // Batch 1 leaves neurons 2 and 3 silent (0.5); batch 2 leaves only neuron 3 silent (0.25).
  auto first = at::zeros({1, 2, 4}), second = at::zeros({1, 2, 4});
  first[0][0][0] = 1.0; first[0][1][1] = 1.0;
  second[0][0][0] = 1.0; second[0][0][1] = 1.0; second[0][1][2] = 1.0;
  SparsityAccumulator acc(1, SparsityOptions{});
  acc.addMlp(0, first);
  acc.addMlp(0, second);
  EXPECT_DOUBLE_EQ(acc.finish().layers[0].mlp_aggregated_batch, (0.5 + 0.25) / 2);
}

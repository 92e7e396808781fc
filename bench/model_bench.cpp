// Forward throughput of the built-in demo models and of one LLaMA-7B-shaped layer on the CPU,
// and what activation recording costs on top (SparsityAccumulator fed by the forward observer).
// Run: build/bench/model_bench, or bench/compare-recording for the ratios.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include "darkroom/demo_models.h"
#include "model/transformer.h"
#include "sparsity/sparsity_accumulator.h"

using namespace darkroom;

namespace {

model::Transformer randomModel(const ModelConfig& c) {
  at::manual_seed(1);
  model::Weights w;
  for (const auto& spec : model::expectedTensors(c)) w[spec.name] = at::randn(spec.shape) * 0.02;
  return model::Transformer(c, w);
}

// One decoder layer of LLaMA-2-7B: hidden 4096, 32 heads, MLP 11008, ReLU-fied (ProSparse).
ModelConfig llama7bLayer() {
  ModelConfig c;
  c.family = ModelFamily::Llama;
  c.model_type = "llama";
  c.vocab_size = 32;  // the layer is what is measured, not the embeddings
  c.hidden_size = 4096;
  c.num_layers = 1;
  c.num_heads = c.num_kv_heads = 32;
  c.intermediate_size = 11008;
  c.max_positions = 4096;
  c.activation = "relu";
  c.tie_embeddings = true;
  return c;
}

void forward(benchmark::State& state, const ModelConfig& config, bool record) {
  static std::map<std::string, model::Transformer> cache;  // build each model once
  auto key = config.model_type + std::to_string(config.hidden_size);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, randomModel(config)).first;
  const auto& model = it->second;
  const std::int64_t batch = state.range(0), length = state.range(1);
  auto tokens = at::randint(config.vocab_size, {batch, length}, at::kLong);
  at::NoGradGuard no_grad;
  for (auto _ : state) {
    if (record) {
      sparsity::SparsityAccumulator acc(int(config.num_layers), SparsityOptions{});
      model::ForwardObserver observer;
      observer.on_mlp = [&](int l, const at::Tensor& a) { acc.addMlp(l, a); };
      observer.on_attention = [&](int l, const at::Tensor& p) { acc.addAttention(l, p); };
      model.forward(tokens, nullptr, &observer);
      benchmark::DoNotOptimize(acc.finish());
    } else {
      benchmark::DoNotOptimize(model.forward(tokens));
    }
  }
  state.counters["tokens/s"] =
      benchmark::Counter(double(batch * length), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_DemoOpt(benchmark::State& s) { forward(s, demoModelConfig("demo-opt"), false); }
void BM_DemoOptRecording(benchmark::State& s) { forward(s, demoModelConfig("demo-opt"), true); }
void BM_DemoLlama(benchmark::State& s) { forward(s, demoModelConfig("demo-llama"), false); }
void BM_DemoLlamaRecording(benchmark::State& s) { forward(s, demoModelConfig("demo-llama"), true); }
void BM_Llama7BLayer(benchmark::State& s) { forward(s, llama7bLayer(), false); }
void BM_Llama7BLayerRecording(benchmark::State& s) { forward(s, llama7bLayer(), true); }

}  // namespace

BENCHMARK(BM_DemoOpt)->Args({8, 128})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DemoOptRecording)->Args({8, 128})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DemoLlama)->Args({8, 128})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DemoLlamaRecording)->Args({8, 128})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Llama7BLayer)->Args({1, 128})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Llama7BLayerRecording)->Args({1, 128})->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

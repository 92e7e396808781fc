// Neuron placement: the baselines, the dispatch to the greedy path (greedy_path.cpp), expected
// I/O, and the safetensors form of a placement.
#include "darkroom/neuralink/placement.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <chrono>
#include <cstring>
#include <map>
#include <numeric>

#include "darkroom/safetensors.h"
#include "neuralink/greedy_path.h"

namespace darkroom::neuralink {
namespace fs = std::filesystem;
namespace {

struct MethodName {
  PlacementMethod method;
  const char* name;
};
constexpr MethodName kMethods[] = {{PlacementMethod::Identity, "identity"},
                                   {PlacementMethod::Frequency, "frequency"},
                                   {PlacementMethod::HotCold, "hot-cold"},
                                   {PlacementMethod::ClosestFriend, "closest-friend"},
                                   {PlacementMethod::Greedy, "greedy"},
                                   {PlacementMethod::GreedyAllPairs, "greedy-all"},
                                   {PlacementMethod::GreedyTopK, "greedy-top-k"}};

std::vector<std::int32_t> identityOrder(std::int64_t n) {
  std::vector<std::int32_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

std::vector<std::int32_t> frequencyOrder(const LayerCoact& s) {
  auto order = identityOrder(s.neurons);
  std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    return s.count[std::size_t(a)] > s.count[std::size_t(b)];
  });
  return order;
}

std::vector<std::int32_t> hotColdOrder(const LayerCoact& s) {
  const auto by_heat = frequencyOrder(s);
  const std::size_t hot = (std::size_t(s.neurons) * 2 + 9) / 10;  // top 20%, rounded up
  std::vector<char> is_hot(std::size_t(s.neurons), 0);
  for (std::size_t k = 0; k < hot; ++k) is_hot[std::size_t(by_heat[k])] = 1;
  std::vector<std::int32_t> order;
  order.reserve(std::size_t(s.neurons));
  for (int pass = 1; pass >= 0; --pass)
    for (std::int32_t v = 0; v < s.neurons; ++v)
      if (is_hot[std::size_t(v)] == pass) order.push_back(v);
  return order;
}

// LLM in a flash's co-activation bundling: hottest free neuron first, followed by the free
// neuron it fires with most often (its "closest friend"); bundles of two.
std::vector<std::int32_t> closestFriendOrder(const LayerCoact& s) {
  const std::int64_t n = s.neurons;
  std::vector<char> placed(std::size_t(n), 0);
  std::vector<std::int32_t> order;
  order.reserve(std::size_t(n));
  for (std::int32_t v : frequencyOrder(s)) {
    if (placed[std::size_t(v)]) continue;
    placed[std::size_t(v)] = 1;
    order.push_back(v);
    std::int64_t best = -1;
    std::uint32_t best_w = 0;
    const std::uint32_t* row = s.pair.data() + std::int64_t(v) * n;
    for (std::int64_t j = 0; j < n; ++j)
      if (!placed[std::size_t(j)] && (best < 0 || row[j] > best_w)) best = j, best_w = row[j];
    if (best >= 0) {
      placed[std::size_t(best)] = 1;
      order.push_back(std::int32_t(best));
    }
  }
  return order;
}

void checkStats(const LayerCoact& s) {
  if (s.neurons < 0 || s.count.size() != std::size_t(s.neurons) ||
      s.pair.size() != std::size_t(s.neurons * s.neurons))
    throw NeuralinkError("co-activation counts do not match their " + std::to_string(s.neurons) +
                         " neurons");
}

bool isPermutation(const std::vector<std::int32_t>& order) {
  std::vector<char> seen(order.size(), 0);
  for (std::int32_t v : order) {
    if (v < 0 || std::size_t(v) >= order.size() || seen[std::size_t(v)]) return false;
    seen[std::size_t(v)] = 1;
  }
  return true;
}

}  // namespace

const char* toString(PlacementMethod method) {
  for (const auto& m : kMethods)
    if (m.method == method) return m.name;
  return "unknown";
}

PlacementMethod parsePlacementMethod(const std::string& text) {
  std::string known;
  for (const auto& m : kMethods) {
    if (text == m.name) return m.method;
    known += std::string(known.empty() ? "" : ", ") + m.name;
  }
  throw NeuralinkError("unknown placement method \"" + text + "\" (known: " + known + ")");
}

double expectedIo(const LayerCoact& stats, const std::vector<std::int32_t>& order) {
  checkStats(stats);
  if (order.size() != std::size_t(stats.neurons) || !isPermutation(order))
    throw NeuralinkError("expectedIo: the order is not a permutation of the layer's " +
                         std::to_string(stats.neurons) + " neurons");
  if (stats.tokens == 0) return 0;
  std::uint64_t active = 0, adjacent = 0;
  for (std::uint32_t c : stats.count) active += c;
  for (std::size_t k = 0; k + 1 < order.size(); ++k) adjacent += stats.pairCount(order[k], order[k + 1]);
  return double(active - adjacent) / double(stats.tokens);
}

LayerPlacement placeLayer(const LayerCoact& stats, const PlacementOptions& options) {
  checkStats(stats);
  LayerPlacement out;
  const auto start = std::chrono::steady_clock::now();
  switch (options.method) {
    case PlacementMethod::Identity: out.order = identityOrder(stats.neurons); break;
    case PlacementMethod::Frequency: out.order = frequencyOrder(stats); break;
    case PlacementMethod::HotCold: out.order = hotColdOrder(stats); break;
    case PlacementMethod::ClosestFriend: out.order = closestFriendOrder(stats); break;
    case PlacementMethod::Greedy:
      // The exact all-pairs path in count bands is faster than the top-k variant (its row
      // rescans dominate) wherever its packed pair indices fit; the top-k variant takes larger
      // layers.
      if (options.top_k < 1) throw NeuralinkError("greedy placement needs top-k >= 1");
      out.order = stats.neurons <= detail::kPhasedMaxNeurons
                      ? detail::greedyPhased(stats, options.threads, nullptr,
                                             stats.neurons * detail::kPhasedBatchPerNeuron)
                      : detail::greedyTopK(stats, options.top_k, options.threads, nullptr);
      break;
    case PlacementMethod::GreedyAllPairs: out.order = detail::greedyAllPairs(stats, nullptr); break;
    case PlacementMethod::GreedyTopK:
      if (options.top_k < 1) throw NeuralinkError("greedy placement needs top-k >= 1");
      out.order = detail::greedyTopK(stats, options.top_k, options.threads, nullptr);
      break;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.expected_io = expectedIo(stats, out.order);
  return out;
}

Placement place(const CoactStats& stats, const PlacementOptions& options, JobContext& ctx) {
  // Layers are placed side by side, one thread each (a layer's search is mostly sequential).
  Placement p;
  p.method = options.method;
  const std::size_t layers = stats.layers.size();
  p.layers.resize(layers);
  const int threads = std::max(1, std::min<int>(int(layers), options.threads > 0
                                                                 ? options.threads
                                                                 : int(std::max(1u, std::thread::hardware_concurrency()))));
  PlacementOptions one = options;
  one.threads = 1;
  std::atomic<std::size_t> next{0}, done{0};
  std::mutex error_lock;
  std::exception_ptr error;
  auto worker = [&] {
    try {
      for (std::size_t l; (l = next.fetch_add(1)) < layers && !ctx.cancelled();) {
        p.layers[l] = placeLayer(stats.layers[l], threads == 1 ? options : one);
        done.fetch_add(1);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_lock);
      if (!error) error = std::current_exception();
      next = layers;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  ctx.progress(0, std::string("placing ") + std::to_string(layers) + " layers (" + toString(options.method) + ")");
  worker();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
  ctx.progress(1.0, "placed " + std::to_string(done.load()) + " layers");  // throws if cancelled
  return p;
}

double Placement::expectedIo() const {
  double sum = 0;
  for (const auto& l : layers) sum += l.expected_io;
  return sum;
}

void Placement::save(const fs::path& path) const {
  std::vector<std::string> names(layers.size());
  std::vector<double> io, secs;
  std::vector<TensorToWrite> tensors;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    if (!isPermutation(layers[l].order))
      throw NeuralinkError(path.string() + ": layer " + std::to_string(l) +
                           "'s order is not a permutation");
    names[l] = "order." + std::to_string(l);
    tensors.push_back({names[l], DType::I32, {std::int64_t(layers[l].order.size())},
                       layers[l].order.data(), layers[l].order.size() * sizeof(std::int32_t)});
    io.push_back(layers[l].expected_io);
    secs.push_back(layers[l].seconds);
  }
  const auto count = std::int64_t(layers.size());
  tensors.push_back({"expected_io", DType::F64, {count}, io.data(), io.size() * sizeof(double)});
  tensors.push_back({"seconds", DType::F64, {count}, secs.data(), secs.size() * sizeof(double)});
  try {
    writeSafetensors(path, tensors,
                     {{"darkroom.kind", "neuron-placement"},
                      {"method", toString(method)},
                      {"layers", std::to_string(layers.size())}});
  } catch (const SafetensorsError& e) {
    throw NeuralinkError(e.what());
  }
}

Placement Placement::load(const fs::path& path) {
  const std::string where = path.string() + ": ";
  Placement p;
  try {
    auto file = SafetensorsFile::open(path);
    const auto& meta = file.metadata();
    auto method = meta.find("method");
    if (method == meta.end()) throw NeuralinkError(where + "metadata lacks \"method\"");
    try {
      p.method = parsePlacementMethod(method->second);
    } catch (const NeuralinkError& e) {
      throw NeuralinkError(where + e.what());
    }
    auto layers = meta.find("layers");
    std::int64_t count = -1;
    if (layers != meta.end()) {
      std::size_t used = 0;
      try {
        count = std::stoll(layers->second, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != layers->second.size()) count = -1;
    }
    if (count < 0 || count > (1 << 20))
      throw NeuralinkError(where + "metadata \"layers\" is missing or not a count");
    auto f64 = [&](const char* name) {
      std::vector<double> v(static_cast<std::size_t>(count), 0.0);
      if (const TensorView* t = file.find(name)) {
        if (t->dtype != DType::F64 || t->shape != std::vector<std::int64_t>{count})
          throw NeuralinkError(where + name + " should be F64 [" + std::to_string(count) + "]");
        if (t->bytes) std::memcpy(v.data(), t->data, t->bytes);
      }
      return v;
    };
    const auto io = f64("expected_io"), secs = f64("seconds");
    for (std::int64_t l = 0; l < count; ++l) {
      const std::string name = "order." + std::to_string(l);
      const TensorView* t = file.find(name);
      if (!t) throw NeuralinkError(where + "missing tensor " + name);
      if (t->dtype != DType::I32 || t->shape.size() != 1)
        throw NeuralinkError(where + name + " should be I32 [neurons]");
      LayerPlacement lp;
      lp.order.resize(std::size_t(t->shape[0]));
      if (t->bytes) std::memcpy(lp.order.data(), t->data, t->bytes);
      if (!isPermutation(lp.order))
        throw NeuralinkError(where + name + " is not a permutation of 0.." +
                             std::to_string(t->shape[0] - 1));
      lp.expected_io = io[std::size_t(l)];
      lp.seconds = secs[std::size_t(l)];
      p.layers.push_back(std::move(lp));
    }
  } catch (const SafetensorsError& e) {
    throw NeuralinkError(e.what());
  }
  return p;
}

}  // namespace darkroom::neuralink

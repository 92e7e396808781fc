// Exact co-activation counts: the trace is turned neuron-major (one bit row over tokens per
// neuron), and f(i,j) = popcount(row_i & row_j), computed tile by tile (64 × 64 neurons, so both
// tiles' rows stay in L1) on all threads. Only tiles on or above the diagonal are computed; each
// is written to both halves of the symmetric matrix.
#include "darkroom/neuralink/coact.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <map>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "darkroom/safetensors.h"

namespace darkroom::neuralink {
namespace fs = std::filesystem;
namespace {

constexpr std::int64_t kTile = 64;

// Neuron-major bits: rows of `stride` words (a multiple of 8, zero padded), bit t = token t.
struct Columns {
  std::int64_t neurons = 0, stride = 0;
  std::vector<std::uint64_t> bits;
  const std::uint64_t* row(std::int64_t n) const { return bits.data() + n * stride; }
};

Columns transpose(const LayerTrace& trace) {
  Columns c;
  c.neurons = trace.neurons;
  c.stride = ((trace.tokens + 63) / 64 + 7) / 8 * 8;
  c.bits.assign(std::size_t(c.neurons * c.stride), 0);
  for (std::int64_t t = 0; t < trace.tokens; ++t) {
    const std::uint64_t* r = trace.row(t);
    const std::uint64_t bit = std::uint64_t{1} << (t & 63);
    const std::int64_t word = t >> 6;
    for (std::int64_t w = 0; w < trace.words(); ++w)
      for (std::uint64_t b = r[w]; b; b &= b - 1) {
        const std::int64_t n = w * 64 + __builtin_ctzll(b);
        if (n < c.neurons) c.bits[std::size_t(n * c.stride + word)] |= bit;
      }
  }
  return c;
}

using TileFn = void (*)(const Columns&, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                        std::uint32_t*);

// out[(i - i0) * kTile + (j - j0)] = f(i, j) for i in [i0, i1), j in [j0, j1).
void tileScalar(const Columns& c, std::int64_t i0, std::int64_t i1, std::int64_t j0,
                std::int64_t j1, std::uint32_t* out) {
  for (std::int64_t i = i0; i < i1; ++i) {
    const std::uint64_t* a = c.row(i);
    for (std::int64_t j = j0; j < j1; ++j) {
      const std::uint64_t* b = c.row(j);
      std::uint64_t sum = 0;
      for (std::int64_t w = 0; w < c.stride; ++w) sum += std::uint64_t(__builtin_popcountll(a[w] & b[w]));
      out[(i - i0) * kTile + (j - j0)] = std::uint32_t(sum);
    }
  }
}

#if defined(__x86_64__)
__attribute__((target("popcnt"))) void tilePopcnt(const Columns& c, std::int64_t i0,
                                                  std::int64_t i1, std::int64_t j0,
                                                  std::int64_t j1, std::uint32_t* out) {
  for (std::int64_t i = i0; i < i1; ++i) {
    const std::uint64_t* a = c.row(i);
    for (std::int64_t j = j0; j < j1; ++j) {
      const std::uint64_t* b = c.row(j);
      std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (std::int64_t w = 0; w < c.stride; w += 4) {  // stride is a multiple of 8
        s0 += std::uint64_t(__builtin_popcountll(a[w] & b[w]));
        s1 += std::uint64_t(__builtin_popcountll(a[w + 1] & b[w + 1]));
        s2 += std::uint64_t(__builtin_popcountll(a[w + 2] & b[w + 2]));
        s3 += std::uint64_t(__builtin_popcountll(a[w + 3] & b[w + 3]));
      }
      out[(i - i0) * kTile + (j - j0)] = std::uint32_t(s0 + s1 + s2 + s3);
    }
  }
}

// Horizontal sum through memory (GCC 12's _mm512_reduce_add_epi64 trips -Wmaybe-uninitialized).
__attribute__((target("avx512f"))) inline std::uint32_t sum8(__m512i v) {
  alignas(64) std::uint64_t lanes[8];
  _mm512_store_si512(lanes, v);
  return std::uint32_t(lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] +
                       lanes[6] + lanes[7]);
}

// AVX-512 VPOPCNTDQ: one row of i against four rows of j at a time.
__attribute__((target("avx512f,avx512vpopcntdq"))) void tileAvx512(const Columns& c,
                                                                   std::int64_t i0,
                                                                   std::int64_t i1,
                                                                   std::int64_t j0,
                                                                   std::int64_t j1,
                                                                   std::uint32_t* out) {
  for (std::int64_t i = i0; i < i1; ++i) {
    const std::uint64_t* a = c.row(i);
    std::uint32_t* o = out + (i - i0) * kTile - j0;
    std::int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
      const std::uint64_t *b0 = c.row(j), *b1 = c.row(j + 1), *b2 = c.row(j + 2),
                          *b3 = c.row(j + 3);
      __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
      for (std::int64_t w = 0; w < c.stride; w += 8) {
        const __m512i va = _mm512_loadu_si512(a + w);
        s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_and_si512(va, _mm512_loadu_si512(b0 + w))));
        s1 = _mm512_add_epi64(s1, _mm512_popcnt_epi64(_mm512_and_si512(va, _mm512_loadu_si512(b1 + w))));
        s2 = _mm512_add_epi64(s2, _mm512_popcnt_epi64(_mm512_and_si512(va, _mm512_loadu_si512(b2 + w))));
        s3 = _mm512_add_epi64(s3, _mm512_popcnt_epi64(_mm512_and_si512(va, _mm512_loadu_si512(b3 + w))));
      }
      o[j] = sum8(s0);
      o[j + 1] = sum8(s1);
      o[j + 2] = sum8(s2);
      o[j + 3] = sum8(s3);
    }
    for (; j < j1; ++j) {
      const std::uint64_t* b = c.row(j);
      __m512i s = _mm512_setzero_si512();
      for (std::int64_t w = 0; w < c.stride; w += 8)
        s = _mm512_add_epi64(s, _mm512_popcnt_epi64(_mm512_and_si512(_mm512_loadu_si512(a + w),
                                                                     _mm512_loadu_si512(b + w))));
      o[j] = sum8(s);
    }
  }
}
#endif

TileFn pickTile() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq"))
    return tileAvx512;
  if (__builtin_cpu_supports("popcnt")) return tilePopcnt;
#endif
  return tileScalar;
}

int threadCount(int threads) {
  if (threads > 0) return threads;
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

double LayerCoact::p(std::int64_t i) const {
  return tokens > 0 ? double(count[std::size_t(i)]) / double(tokens) : 0.0;
}

double LayerCoact::p(std::int64_t i, std::int64_t j) const {
  return tokens > 0 ? double(pairCount(i, j)) / double(tokens) : 0.0;
}

LayerCoact countCoactivations(const LayerTrace& trace, int threads) {
  if (trace.neurons < 0 || trace.tokens < 0 ||
      trace.bits.size() != std::size_t(trace.tokens * trace.words()))
    throw NeuralinkError("countCoactivations: the trace's bit array does not match its " +
                         std::to_string(trace.tokens) + " tokens and " +
                         std::to_string(trace.neurons) + " neurons");
  if (trace.tokens > std::numeric_limits<std::int32_t>::max())
    throw NeuralinkError("countCoactivations: more than 2^31 tokens");
  LayerCoact out;
  out.neurons = trace.neurons;
  out.tokens = trace.tokens;
  const std::int64_t n = trace.neurons;
  out.pair.assign(std::size_t(n * n), 0);
  out.count.assign(std::size_t(n), 0);
  if (n == 0) return out;
  const Columns cols = transpose(trace);
  const TileFn tile = pickTile();
  const std::int64_t tiles = (n + kTile - 1) / kTile;
  // Tile pairs (I, J) with J >= I, in row order; threads take them from a shared counter.
  std::vector<std::pair<std::int32_t, std::int32_t>> work;
  work.reserve(std::size_t(tiles * (tiles + 1) / 2));
  for (std::int64_t I = 0; I < tiles; ++I)
    for (std::int64_t J = I; J < tiles; ++J) work.emplace_back(std::int32_t(I), std::int32_t(J));
  std::atomic<std::size_t> next{0};
  std::uint32_t* pair = out.pair.data();
  auto worker = [&] {
    std::vector<std::uint32_t> buf(std::size_t(kTile * kTile));
    for (std::size_t k; (k = next.fetch_add(1, std::memory_order_relaxed)) < work.size();) {
      const std::int64_t i0 = work[k].first * kTile, j0 = work[k].second * kTile;
      const std::int64_t i1 = std::min(n, i0 + kTile), j1 = std::min(n, j0 + kTile);
      tile(cols, i0, i1, j0, j1, buf.data());
      for (std::int64_t i = i0; i < i1; ++i)
        std::memcpy(pair + i * n + j0, buf.data() + (i - i0) * kTile,
                    std::size_t(j1 - j0) * sizeof(std::uint32_t));
      if (i0 != j0)
        for (std::int64_t j = j0; j < j1; ++j)
          for (std::int64_t i = i0; i < i1; ++i)
            pair[j * n + i] = buf[std::size_t((i - i0) * kTile + (j - j0))];
    }
  };
  const int nthreads = int(std::min<std::size_t>(std::size_t(threadCount(threads)), work.size()));
  std::vector<std::thread> pool;
  for (int t = 1; t < nthreads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  for (std::int64_t i = 0; i < n; ++i) out.count[std::size_t(i)] = pair[i * n + i];
  return out;
}

CoactStats countCoactivations(const ActivationTrace& trace, JobContext& ctx) {
  CoactStats stats;
  stats.source = trace.source;
  const std::size_t layers = trace.layers.size();
  for (std::size_t l = 0; l < layers; ++l) {
    ctx.progress(double(l) / double(std::max<std::size_t>(layers, 1)),
                 "counting co-activations of layer " + std::to_string(l));
    stats.layers.push_back(countCoactivations(trace.layers[l]));
  }
  ctx.progress(1.0, "counted " + std::to_string(layers) + " layers");
  return stats;
}

void CoactStats::save(const fs::path& path) const {
  std::vector<std::string> names;
  names.reserve(layers.size() * 2);
  std::vector<TensorToWrite> tensors;
  std::map<std::string, std::string> metadata = {{"darkroom.kind", "coactivation-counts"},
                                                 {"source", source},
                                                 {"layers", std::to_string(layers.size())}};
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& layer = layers[l];
    const std::int64_t n = layer.neurons;
    if (n < 0 || layer.count.size() != std::size_t(n) || layer.pair.size() != std::size_t(n * n))
      throw NeuralinkError(path.string() + ": layer " + std::to_string(l) +
                           " has arrays that do not match its " + std::to_string(n) + " neurons");
    if (layer.tokens > std::numeric_limits<std::int32_t>::max())
      throw NeuralinkError(path.string() + ": layer " + std::to_string(l) +
                           " counts more tokens than an I32 holds");
    // Counts never exceed the token count, so U32 values fit I32 bit for bit.
    names.push_back("count." + std::to_string(l));
    tensors.push_back({names.back(), DType::I32, {n}, layer.count.data(),
                       layer.count.size() * sizeof(std::uint32_t)});
    names.push_back("pair." + std::to_string(l));
    tensors.push_back({names.back(), DType::I32, {n, n}, layer.pair.data(),
                       layer.pair.size() * sizeof(std::uint32_t)});
    metadata["tokens." + std::to_string(l)] = std::to_string(layer.tokens);
  }
  try {
    writeSafetensors(path, tensors, metadata);
  } catch (const SafetensorsError& e) {
    throw NeuralinkError(e.what());
  }
}

CoactStats CoactStats::load(const fs::path& path) {
  const std::string where = path.string() + ": ";
  CoactStats stats;
  try {
    auto file = SafetensorsFile::open(path);
    const auto& meta = file.metadata();
    auto number = [&](const std::string& key, std::int64_t max) {
      auto it = meta.find(key);
      if (it == meta.end()) throw NeuralinkError(where + "metadata lacks \"" + key + "\"");
      std::size_t used = 0;
      long long v = -1;
      try {
        v = std::stoll(it->second, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != it->second.size() || v < 0 || v > max)
        throw NeuralinkError(where + "metadata \"" + key + "\" is not a count up to " +
                             std::to_string(max) + ": \"" + it->second + "\"");
      return std::int64_t(v);
    };
    if (auto it = meta.find("source"); it != meta.end()) stats.source = it->second;
    const std::int64_t layers = number("layers", 1 << 20);
    for (std::int64_t l = 0; l < layers; ++l) {
      LayerCoact layer;
      layer.tokens = number("tokens." + std::to_string(l), std::numeric_limits<std::int32_t>::max());
      const std::string cname = "count." + std::to_string(l), pname = "pair." + std::to_string(l);
      const TensorView* count = file.find(cname);
      const TensorView* pair = file.find(pname);
      if (!count) throw NeuralinkError(where + "missing tensor " + cname);
      if (!pair) throw NeuralinkError(where + "missing tensor " + pname);
      if (count->dtype != DType::I32 || count->shape.size() != 1)
        throw NeuralinkError(where + cname + " should be I32 [neurons]");
      layer.neurons = count->shape[0];
      if (pair->dtype != DType::I32 || pair->shape.size() != 2 ||
          pair->shape[0] != layer.neurons || pair->shape[1] != layer.neurons)
        throw NeuralinkError(where + pname + " should be I32 [" + std::to_string(layer.neurons) +
                             ", " + std::to_string(layer.neurons) + "]");
      layer.count.resize(std::size_t(layer.neurons));
      layer.pair.resize(std::size_t(layer.neurons * layer.neurons));
      if (count->bytes) std::memcpy(layer.count.data(), count->data, count->bytes);
      if (pair->bytes) std::memcpy(layer.pair.data(), pair->data, pair->bytes);
      const auto limit = std::uint32_t(layer.tokens);  // also catches negative I32 values
      for (std::int64_t i = 0; i < layer.neurons; ++i)
        if (layer.count[std::size_t(i)] > limit || layer.pairCount(i, i) != layer.count[std::size_t(i)])
          throw NeuralinkError(where + cname + "[" + std::to_string(i) +
                               "] is not a count of at most " + std::to_string(layer.tokens) +
                               " tokens equal to the diagonal of " + pname);
      if (std::any_of(layer.pair.begin(), layer.pair.end(), [&](std::uint32_t v) { return v > limit; }))
        throw NeuralinkError(where + pname + " holds a count above the " +
                             std::to_string(layer.tokens) + " tokens");
      stats.layers.push_back(std::move(layer));
    }
  } catch (const SafetensorsError& e) {
    throw NeuralinkError(e.what());
  }
  return stats;
}

}  // namespace darkroom::neuralink

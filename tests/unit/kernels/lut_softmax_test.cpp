// LUT softmax and cached attention: the table against exp2 in double, the softmax of every mode
// against a double-precision softmax, the blocked reference attention against a naive double
// attention, every other back end against the reference on awkward shapes, and bad arguments.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "darkroom/kernels/half.h"
#include "darkroom/kernels/lut_softmax.h"
#include "test_sizes.h"

#ifdef DARKROOM_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace dk = darkroom::kernels;
using dk::Backend;
using dk::SoftmaxExp;
using i64 = std::int64_t;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::mt19937 freshRng() { return std::mt19937(std::random_device{}()); }

std::vector<float> randomVector(i64 n, std::mt19937& rng, float sigma) {
  std::normal_distribution<float> dist(0.f, sigma);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (float& x : out) x = dist(rng);
  return out;
}

// softmax(scale · x) of one row in double.
std::vector<double> softmaxDouble(const float* x, i64 n, float scale) {
  double max = -std::numeric_limits<double>::infinity();
  for (i64 j = 0; j < n; ++j) max = std::max(max, double(scale) * x[j]);
  std::vector<double> p(static_cast<std::size_t>(n));
  double sum = 0.0;
  for (i64 j = 0; j < n; ++j) sum += p[j] = std::exp(double(scale) * x[j] - max);
  for (double& e : p) e /= sum;
  return p;
}

#ifdef DARKROOM_HAVE_CUDA
// Runs `body(device copies)` on GPU copies of the host arrays and copies `out` back.
struct DeviceBuffer {
  float* ptr = nullptr;
  explicit DeviceBuffer(const std::vector<float>& host) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&ptr), host.size() * sizeof(float)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(ptr, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice),
              cudaSuccess);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr); }
  void copyTo(std::vector<float>& host) const {
    EXPECT_EQ(cudaMemcpy(host.data(), ptr, host.size() * sizeof(float), cudaMemcpyDeviceToHost),
              cudaSuccess);
  }
};
#endif

// softmaxRows on host data with any back end (device copies for Cuda).
void runSoftmax(Backend backend, SoftmaxExp mode, std::vector<float>& x, i64 rows, i64 cols,
                float scale) {
  if (backend != Backend::Cuda) return dk::softmaxRows(backend, mode, x.data(), rows, cols, scale);
#ifdef DARKROOM_HAVE_CUDA
  DeviceBuffer dx(x);
  dk::softmaxRows(backend, mode, dx.ptr, rows, cols, scale);
  dx.copyTo(x);
#endif
}

std::vector<float> runAttention(Backend backend, SoftmaxExp mode, const dk::AttentionShape& s,
                                const std::vector<float>& q, const std::vector<float>& k,
                                const std::vector<float>& v, float scale) {
  std::vector<float> out(q.size(), std::nanf(""));
  if (backend != Backend::Cuda) {
    dk::cachedAttention(backend, mode, s, q.data(), k.data(), v.data(), scale, out.data());
    return out;
  }
#ifdef DARKROOM_HAVE_CUDA
  DeviceBuffer dq(q), dkk(k), dv(v), dout(out);
  dk::cachedAttention(backend, mode, s, dq.ptr, dkk.ptr, dv.ptr, scale, dout.ptr);
  dout.copyTo(out);
#endif
  return out;
}

// Naive causal GQA attention in double: full softmax per query, no blocks.
std::vector<double> attentionDouble(const dk::AttentionShape& s, const std::vector<float>& q,
                                    const std::vector<float>& k, const std::vector<float>& v,
                                    float scale) {
  const i64 D = s.head_dim, group = s.heads / s.kv_heads;
  std::vector<double> out(q.size(), 0.0);
  for (i64 b = 0; b < s.batch; ++b)
    for (i64 h = 0; h < s.heads; ++h)
      for (i64 i = 0; i < s.queries; ++i) {
        const i64 row = (b * s.heads + h) * s.queries + i, kv = b * s.kv_heads + h / group;
        const i64 seen = s.keys - s.queries + i + 1;
        std::vector<double> sc(static_cast<std::size_t>(seen));
        double max = -std::numeric_limits<double>::infinity();
        for (i64 j = 0; j < seen; ++j) {
          double dot = 0.0;
          for (i64 d = 0; d < D; ++d) dot += double(q[row * D + d]) * k[(kv * s.keys + j) * D + d];
          max = std::max(max, sc[j] = scale * dot);
        }
        double sum = 0.0;
        for (double& e : sc) sum += e = std::exp(e - max);
        for (i64 j = 0; j < seen; ++j)
          for (i64 d = 0; d < D; ++d)
            out[row * D + d] += sc[j] / sum * v[(kv * s.keys + j) * D + d];
      }
  return out;
}

std::string describe(const dk::AttentionShape& s) {
  return "batch " + std::to_string(s.batch) + ", heads " + std::to_string(s.heads) + "/" +
         std::to_string(s.kv_heads) + ", queries " + std::to_string(s.queries) + ", keys " +
         std::to_string(s.keys) + ", head_dim " + std::to_string(s.head_dim);
}

struct Inputs {
  std::vector<float> q, k, v;
  float scale;
};

Inputs randomInputs(const dk::AttentionShape& s, std::mt19937& rng) {
  // Unit-variance q and k give scores of spread about √d; with scale 1/√d the softmax is neither
  // flat nor one-hot.
  return Inputs{randomVector(s.batch * s.heads * s.queries * s.head_dim, rng, 1.f),
                randomVector(s.batch * s.kv_heads * s.keys * s.head_dim, rng, 1.f),
                randomVector(s.batch * s.kv_heads * s.keys * s.head_dim, rng, 1.f),
                1.f / std::sqrt(static_cast<float>(s.head_dim))};
}

float maxAbs(const std::vector<float>& x) {
  float m = 0.f;
  for (float e : x) m = std::max(m, std::abs(e));
  return m;
}

// The awkward shapes of the back-end comparisons. The small sizes (test_sizes.h) drop the
// longest cache (CpuKeySplitsMatchReference still has one) and one batch.
std::vector<dk::AttentionShape> awkwardShapes() {
  const bool small = dk::smallTestSizes();
  std::vector<dk::AttentionShape> shapes;
  for (i64 kv_heads : {2, 3, 6})
    for (i64 queries : {1, 5})
      for (i64 keys : {1, 17, 1000, 4099})
        for (i64 dim : {40, 64, 128}) {
          if (keys < queries) continue;  // the cache holds the new tokens too
          // The longest cache once per head_dim, with a different grouping each: the scalar
          // reference is slow.
          if (keys == 4099 && (small || kv_heads != (dim == 40 ? 2 : dim == 64 ? 3 : 6))) continue;
          shapes.push_back(dk::AttentionShape{small ? 2 : 3, 6, kv_heads, queries, keys, dim});
        }
  // head_dim off the multiples of 8 and of 4: the vector kernels' tails.
  shapes.push_back(dk::AttentionShape{2, 4, 2, 5, 300, 37});
  shapes.push_back(dk::AttentionShape{1, 3, 3, 2, 77, 6});
  return shapes;
}

}  // namespace

// --- the table -------------------------------------------------------------------------------

TEST(LutExp2, TableIsTheNearestHalfOfExp2) {
  const std::uint16_t* table = dk::exp2Table();
  EXPECT_EQ(table[0], 0x3c00);  // 2^-0 = 1
  for (int i = 0x7c00; i < dk::kExp2TableSize; ++i) {
    ASSERT_EQ(table[i], 0) << "Inf/NaN entry " << i;
  }
  for (int i = 0; i < 0x7c00; ++i) {
    const double want = std::exp2(-double(dk::halfToFloat(static_cast<std::uint16_t>(i))));
    const double got = dk::halfToFloat(table[i]);
    // No other half is nearer: compare with the neighbours of the entry.
    for (int nb : {int(table[i]) - 1, int(table[i]) + 1}) {
      if (nb < 0 || nb >= 0x7c00) continue;
      ASSERT_LE(std::abs(got - want), std::abs(dk::halfToFloat(static_cast<std::uint16_t>(nb)) - want))
          << "entry " << i;
    }
    if (i > 0) {
      ASSERT_LE(table[i], table[i - 1]) << "the table must not increase, entry " << i;
    }
  }
}

// |lutExp2(t) − 2^t| ≤ 2^t · (1 + ln2·|t|) · 2^-11 (t rounded to fp16, then the result) plus
// half the smallest fp16 subnormal, 2^-25, where the result underflows. Over t ≤ 0 that is at
// most 4.3e-4 in absolute terms (2^-12 from the result's rounding, 1.8e-4 from t's).
TEST(LutExp2, MatchesExp2OnASweep) {
  auto rng = freshRng();
  std::vector<float> ts;
  std::uniform_real_distribution<float> wide(-40.f, 0.f), narrow(-1.f, 0.f);
  for (int n = 0; n < 200000; ++n) ts.push_back(n % 2 ? wide(rng) : narrow(rng));
  for (float t = 0.f; t > -30.f; t -= 1.f / 64) ts.push_back(t);  // a regular sweep too
  ts.insert(ts.end(), {0.f, -0.f, -1e-30f, -6.1e-5f, -65504.f, -1e6f});
  double worst_abs = 0.0, worst_rel_excess = 0.0;
  for (float t : ts) {
    const double want = std::exp2(double(t)), got = dk::lutExp2(t);
    const double bound = want * (1.0 + std::log(2.0) * std::abs(double(t))) * std::ldexp(1.0, -11) *
                             1.0001 + std::ldexp(1.0, -25);
    ASSERT_LE(std::abs(got - want), bound) << "t = " << t;
    worst_abs = std::max(worst_abs, std::abs(got - want));
    worst_rel_excess = std::max(worst_rel_excess, std::abs(got - want) / bound);
  }
  EXPECT_LE(worst_abs, 4.3e-4);
  // The sign is dropped: a t > 0 (rounding of the max's own product) reads as −t.
  EXPECT_EQ(dk::lutExp2(0.5f), dk::lutExp2(-0.5f));
  EXPECT_EQ(dk::lutExp2(-kInf), 0.f);
  EXPECT_EQ(dk::lutExp2(std::nanf("")), 0.f);
  EXPECT_EQ(dk::lutExp2(-70000.f), 0.f);  // beyond fp16: the Inf pattern
  std::cout << "lutExp2 worst |error| " << worst_abs << ", worst error / bound " << worst_rel_excess
            << "\n";
}

// --- softmaxRows ------------------------------------------------------------------------------

// Lut against a double softmax: measured worst |p − p_double| 1.3e-4 to 1.5e-4 over repeated
// runs, row sums within 2e-7 of 1 (the sum is of the table's own values); the limits are 1e-3
// and 2e-3. Float: measured 1.4e-7 and 1.7e-7; limits 1e-6 and 1e-5.
TEST(SoftmaxRows, MatchesDoubleSoftmax) {
  auto rng = freshRng();
  double worst_p[2] = {0.0, 0.0}, worst_sum[2] = {0.0, 0.0};  // [Float, Lut]
  for (Backend backend : {Backend::Reference, Backend::Cpu}) {
    if (!dk::backendAvailable(backend)) continue;
    for (SoftmaxExp mode : {SoftmaxExp::Lut, SoftmaxExp::Float})
      for (i64 cols : {1, 2, 5, 37, 1000, 4099})
        for (float sigma : {0.3f, 3.f, 30.f}) {
          const i64 rows = 7;
          std::vector<float> x = randomVector(rows * cols, rng, sigma);
          const std::vector<float> in = x;
          const float scale = 0.7f;
          dk::softmaxRows(backend, mode, x.data(), rows, cols, scale);
          double worst = 0.0;
          for (i64 r = 0; r < rows; ++r) {
            const auto want = softmaxDouble(in.data() + r * cols, cols, scale);
            double sum = 0.0;
            for (i64 j = 0; j < cols; ++j) {
              worst = std::max(worst, std::abs(x[r * cols + j] - want[j]));
              sum += x[r * cols + j];
            }
            EXPECT_NEAR(sum, 1.0, mode == SoftmaxExp::Lut ? 2e-3 : 1e-5)
                << dk::backendName(backend) << " row " << r;
            worst_sum[mode == SoftmaxExp::Lut] =
                std::max(worst_sum[mode == SoftmaxExp::Lut], std::abs(sum - 1.0));
          }
          worst_p[mode == SoftmaxExp::Lut] = std::max(worst_p[mode == SoftmaxExp::Lut], worst);
          EXPECT_LE(worst, mode == SoftmaxExp::Lut ? 1e-3 : 1e-6)
              << dk::backendName(backend) << " " << dk::softmaxExpName(mode) << " cols " << cols
              << " sigma " << sigma;
        }
  }
  std::cout << "worst |p - p_double|: lut " << worst_p[1] << ", float " << worst_p[0]
            << "; worst |row sum - 1|: lut " << worst_sum[1] << ", float " << worst_sum[0] << "\n";
}

TEST(SoftmaxRows, NegativeInfinityRowsAndEntries) {
  for (Backend backend : {Backend::Reference, Backend::Cpu})
    for (SoftmaxExp mode : {SoftmaxExp::Lut, SoftmaxExp::Float}) {
      if (!dk::backendAvailable(backend)) continue;
      const i64 cols = 19;
      std::vector<float> x(static_cast<std::size_t>(2 * cols), -kInf);
      x[cols + 3] = 2.f;  // row 1: two finite scores among -inf
      x[cols + 11] = 2.f;
      dk::softmaxRows(backend, mode, x.data(), 2, cols, 1.f);
      for (i64 j = 0; j < cols; ++j) {
        EXPECT_EQ(x[j], 0.f) << "all -inf row, column " << j;
        EXPECT_EQ(x[cols + j], j == 3 || j == 11 ? 0.5f : 0.f) << "column " << j;
      }
    }
}

TEST(SoftmaxRows, BackEndsMatchReference) {
  auto rng = freshRng();
  for (Backend backend : {Backend::Cpu, Backend::Cuda}) {
    std::string why;
    if (!dk::backendAvailable(backend, &why)) {
      std::cout << dk::backendName(backend) << " skipped: " << why << "\n";
      continue;
    }
    double worst[2] = {0.0, 0.0};  // |got − ref| / its bound, [Float, Lut]
    for (SoftmaxExp mode : {SoftmaxExp::Lut, SoftmaxExp::Float})
      for (i64 cols : {1, 3, 8, 31, 33, 1000, 4097, 16385}) {
        const i64 rows = 5;
        std::vector<float> ref = randomVector(rows * cols, rng, 4.f);
        std::vector<float> got = ref;
        dk::softmaxRows(Backend::Reference, mode, ref.data(), rows, cols, 0.125f);
        runSoftmax(backend, mode, got, rows, cols, 0.125f);
        for (std::size_t e = 0; e < ref.size(); ++e) {
          const float bound = 1e-6f + 1e-5f * ref[e];
          ASSERT_NEAR(got[e], ref[e], bound)
              << dk::backendName(backend) << " " << dk::softmaxExpName(mode) << " cols " << cols
              << " entry " << e;
          double& w = worst[mode == SoftmaxExp::Lut];
          w = std::max(w, double(std::abs(got[e] - ref[e]) / bound));
        }
      }
    std::cout << dk::backendName(backend) << " vs reference, worst |error| / bound: lut "
              << worst[1] << ", float " << worst[0] << "\n";
  }
}

// --- cachedAttention --------------------------------------------------------------------------

// The blocked reference against naive attention in double. Float: measured worst 1.2e-7 · max|v|,
// limit 2e-6 · max|v|. Lut: the probabilities carry the table's error (≤ 4.3e-4 each, about 5e-4
// relative near the max), which mostly averages out in Σ p·v: measured worst 6e-5 to 1.5e-4 ·
// max|v| over repeated runs; the limit is 1e-3 · max|v|.
TEST(CachedAttention, ReferenceMatchesNaiveDouble) {
  auto rng = freshRng();
  double worst[2] = {0.0, 0.0};
  for (const dk::AttentionShape& s :
       {dk::AttentionShape{2, 4, 2, 3, 150, 40}, dk::AttentionShape{1, 3, 1, 1, 1, 16},
        dk::AttentionShape{1, 2, 2, 7, 7, 33}, dk::AttentionShape{2, 2, 1, 2, 1000, 64}}) {
    const Inputs in = randomInputs(s, rng);
    const auto want = attentionDouble(s, in.q, in.k, in.v, in.scale);
    const float vmax = maxAbs(in.v);
    for (SoftmaxExp mode : {SoftmaxExp::Float, SoftmaxExp::Lut}) {
      const auto got = runAttention(Backend::Reference, mode, s, in.q, in.k, in.v, in.scale);
      const double limit = (mode == SoftmaxExp::Lut ? 1e-3 : 2e-6) * vmax;
      double& w = worst[mode == SoftmaxExp::Lut];
      for (std::size_t e = 0; e < got.size(); ++e) {
        ASSERT_NEAR(got[e], want[e], limit) << dk::softmaxExpName(mode) << ", " << describe(s)
                                            << ", entry " << e;
        w = std::max(w, std::abs(got[e] - want[e]) / vmax);
      }
    }
  }
  std::cout << "worst |error| / max|v|: float " << worst[0] << ", lut " << worst[1] << "\n";
}

namespace {

// Every awkward shape, both modes, against the reference. The exponentials of the two sides can
// differ by one fp16 step where a score's last bits (summation order) move t across a rounding
// boundary, and key splits rescale at other points: measured worst 8e-5 · max|v| for Lut (limit
// 5e-4) and 3e-7 · max|v| for Float (limit 5e-6) on the cpu back end.
void checkAgainstReference(Backend backend, const std::vector<dk::AttentionShape>& shapes) {
  auto rng = freshRng();
  double worst[2] = {0.0, 0.0};  // |got − want| / max|v|, [Float, Lut]
  for (const dk::AttentionShape& s : shapes) {
    const Inputs in = randomInputs(s, rng);
    const float vmax = maxAbs(in.v);
    for (SoftmaxExp mode : {SoftmaxExp::Float, SoftmaxExp::Lut}) {
      const auto want = runAttention(Backend::Reference, mode, s, in.q, in.k, in.v, in.scale);
      const auto got = runAttention(backend, mode, s, in.q, in.k, in.v, in.scale);
      const float limit = (mode == SoftmaxExp::Lut ? 5e-4f : 5e-6f) * vmax;
      for (std::size_t e = 0; e < got.size(); ++e) {
        ASSERT_NEAR(got[e], want[e], limit) << dk::backendName(backend) << " "
                                            << dk::softmaxExpName(mode) << ", " << describe(s)
                                            << ", entry " << e;
        worst[mode == SoftmaxExp::Lut] =
            std::max(worst[mode == SoftmaxExp::Lut], double(std::abs(got[e] - want[e]) / vmax));
      }
    }
  }
  std::cout << dk::backendName(backend) << " vs reference, worst |error| / max|v|: float "
            << worst[0] << ", lut " << worst[1] << "\n";
}

}  // namespace

TEST(CachedAttention, CpuMatchesReference) {
  std::string why;
  if (!dk::backendAvailable(Backend::Cpu, &why)) GTEST_SKIP() << why;
  checkAgainstReference(Backend::Cpu, awkwardShapes());
}

// Decode with one or two kv heads: fewer tasks than threads, so the keys are split among the
// threads and the splits merged (forced here with more threads than this machine may have).
TEST(CachedAttention, CpuKeySplitsMatchReference) {
  std::string why;
  if (!dk::backendAvailable(Backend::Cpu, &why)) GTEST_SKIP() << why;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(8);
  checkAgainstReference(Backend::Cpu, {dk::AttentionShape{1, 4, 1, 1, 4099, 128},
                                       dk::AttentionShape{1, 2, 2, 3, 1000, 80},
                                       dk::AttentionShape{2, 3, 1, 1, 300, 64}});
  omp_set_num_threads(threads);
}

TEST(CachedAttention, CudaMatchesReference) {
  std::string why;
  if (!dk::backendAvailable(Backend::Cuda, &why)) GTEST_SKIP() << why;
  auto shapes = awkwardShapes();
  shapes.push_back(dk::AttentionShape{1, 32, 8, 1, 16384, 128});  // decode, split keys
  checkAgainstReference(Backend::Cuda, shapes);
}

// --- arguments -----------------------------------------------------------------------------------

TEST(LutSoftmaxArguments, BadArgumentsThrow) {
  std::vector<float> x(64, 0.f), out(64);
  for (Backend backend : {Backend::Reference, Backend::Cpu}) {
    if (!dk::backendAvailable(backend)) continue;
    EXPECT_THROW(dk::softmaxRows(backend, SoftmaxExp::Lut, x.data(), -1, 4, 1.f), std::invalid_argument);
    EXPECT_THROW(dk::softmaxRows(backend, SoftmaxExp::Lut, x.data(), 2, -4, 1.f), std::invalid_argument);
    EXPECT_THROW(dk::softmaxRows(backend, SoftmaxExp::Lut, nullptr, 2, 4, 1.f), std::invalid_argument);
    EXPECT_THROW(dk::softmaxRows(backend, SoftmaxExp::Float, x.data(), 2, 4, 0.f), std::invalid_argument);
    EXPECT_THROW(dk::softmaxRows(backend, SoftmaxExp::Float, x.data(), 2, 4, kInf), std::invalid_argument);
    EXPECT_THROW(dk::softmaxRows(backend, static_cast<SoftmaxExp>(7), x.data(), 2, 4, 1.f),
                 std::invalid_argument);
    EXPECT_NO_THROW(dk::softmaxRows(backend, SoftmaxExp::Lut, nullptr, 0, 4, 1.f));  // nothing to do

    const dk::AttentionShape ok{1, 2, 1, 1, 4, 8};
    auto attention = [&](const dk::AttentionShape& s, const float* q, float scale = 0.5f) {
      dk::cachedAttention(backend, SoftmaxExp::Lut, s, q, x.data(), x.data(), scale, out.data());
    };
    EXPECT_NO_THROW(attention(ok, x.data()));
    for (auto field : {&dk::AttentionShape::batch, &dk::AttentionShape::heads,
                       &dk::AttentionShape::kv_heads, &dk::AttentionShape::queries,
                       &dk::AttentionShape::keys, &dk::AttentionShape::head_dim}) {
      dk::AttentionShape s = ok;
      s.*field = 0;
      EXPECT_THROW(attention(s, x.data()), std::invalid_argument);
    }
    EXPECT_THROW(attention(dk::AttentionShape{1, 3, 2, 1, 4, 8}, x.data()), std::invalid_argument);
    EXPECT_THROW(attention(dk::AttentionShape{1, 2, 1, 5, 4, 8}, x.data()), std::invalid_argument);
    EXPECT_THROW(attention(ok, nullptr), std::invalid_argument);
    EXPECT_THROW(attention(ok, x.data(), -1.f), std::invalid_argument);
    EXPECT_THROW(dk::cachedAttention(backend, SoftmaxExp::Float, ok, x.data(), x.data(), x.data(),
                                     0.5f, nullptr),
                 std::invalid_argument);
    try {
      attention(dk::AttentionShape{1, 2, 1, 5, 4, 8}, x.data());
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("keys (4) must be at least queries (5)"), std::string::npos)
          << e.what();
    }
  }
}

TEST(LutSoftmaxArguments, UnavailableCudaThrows) {
  std::string why;
  if (dk::backendAvailable(Backend::Cuda, &why)) GTEST_SKIP() << "a GPU is usable here";
  std::vector<float> x(8, 0.f);
  EXPECT_THROW(dk::softmaxRows(Backend::Cuda, SoftmaxExp::Lut, x.data(), 1, 8, 1.f),
               dk::KernelUnavailable);
  EXPECT_THROW(dk::cachedAttention(Backend::Cuda, SoftmaxExp::Lut, dk::AttentionShape{1, 1, 1, 1, 1, 8},
                                   x.data(), x.data(), x.data(), 1.f, x.data()),
               dk::KernelUnavailable);
}

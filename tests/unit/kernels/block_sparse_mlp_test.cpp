// The block-sparse MLP products of every back end against the scalar reference, on fresh random
// inputs of awkward sizes, plus the identities the sparse trainer's autograd relies on.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "darkroom/kernels/block_sparse_mlp.h"
#include "fresh_seed.h"
#include "test_sizes.h"

#ifdef DARKROOM_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace darkroom::kernels {
namespace {

using Index = std::int64_t;
using Blocks = std::vector<std::int32_t>;

std::vector<float> randomVector(std::mt19937& rng, Index size) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(size));
  for (float& x : v) x = dist(rng);
  return v;
}

Index blockCount(Index n, Index block) { return (n + block - 1) / block; }

// Weight row of every compact column (the test's own, independent of the kernels').
std::vector<Index> activeRows(Index n, Index block, const Blocks& blocks) {
  std::vector<Index> rows;
  for (std::int32_t b : blocks)
    for (Index r = b * block; r < std::min(n, (b + 1) * block); ++r) rows.push_back(r);
  return rows;
}

// The layouts worth testing for n weight rows: all, none, the first, the (possibly short) last,
// and a random half.
std::vector<Blocks> layoutsFor(Index n, Index block, std::mt19937& rng) {
  const auto total = static_cast<std::int32_t>(blockCount(n, block));
  Blocks all(static_cast<std::size_t>(total));
  for (std::int32_t i = 0; i < total; ++i) all[static_cast<std::size_t>(i)] = i;
  Blocks half;
  for (std::int32_t i = 0; i < total; ++i)
    if (rng() % 2) half.push_back(i);
  std::vector<Blocks> out{all, Blocks{}, Blocks{0}, Blocks{total - 1}, half};
  return out;
}

#ifdef DARKROOM_HAVE_CUDA
// Device copies for one call; everything is copied back (and synchronized) by cudaMemcpy.
template <typename T>
struct DeviceArray {
  T* ptr = nullptr;
  explicit DeviceArray(const std::vector<T>& host) {
    if (host.empty()) return;
    EXPECT_EQ(cudaMalloc(&ptr, host.size() * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
              cudaSuccess);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { cudaFree(ptr); }
  void copyTo(std::vector<T>& host) const {
    if (host.empty()) return;
    EXPECT_EQ(cudaMemcpy(host.data(), ptr, host.size() * sizeof(T), cudaMemcpyDeviceToHost),
              cudaSuccess);
  }
};
#endif

// Runs one product on `backend`, taking and returning host vectors.
std::vector<float> runGather(Backend backend, const std::vector<float>& a, Index rows, Index k,
                             const std::vector<float>& w, Index n, const Blocks& blocks,
                             Index block, const std::vector<float>* bias) {
  std::vector<float> out(static_cast<std::size_t>(rows * compactWidth(n, blocks.data(),
                                                                      Index(blocks.size()),
                                                                      block)));
  if (backend != Backend::Cuda) {
    gatherNT(backend, a.data(), rows, k, w.data(), n,
             BlockLayout{blocks.data(), Index(blocks.size()), block},
             bias ? bias->data() : nullptr, out.data());
    return out;
  }
#ifdef DARKROOM_HAVE_CUDA
  DeviceArray<float> da(a), dw(w), dout(out), dbias(bias ? *bias : std::vector<float>{});
  DeviceArray<std::int32_t> dblocks(blocks);
  gatherNT(backend, da.ptr, rows, k, dw.ptr, n,
           BlockLayout{dblocks.ptr, Index(blocks.size()), block}, bias ? dbias.ptr : nullptr,
           dout.ptr);
  dout.copyTo(out);
#endif
  return out;
}

std::vector<float> runScatter(Backend backend, const std::vector<float>& a, Index rows,
                              const std::vector<float>& w, Index n, Index k,
                              const Blocks& blocks, Index block,
                              const std::vector<float>* bias) {
  // Filled with garbage: scatterNN must overwrite, never accumulate into, its output.
  std::vector<float> out(static_cast<std::size_t>(rows * k), 12345.0f);
  if (backend != Backend::Cuda) {
    scatterNN(backend, a.data(), rows, w.data(), n, k,
              BlockLayout{blocks.data(), Index(blocks.size()), block},
              bias ? bias->data() : nullptr, out.data());
    return out;
  }
#ifdef DARKROOM_HAVE_CUDA
  DeviceArray<float> da(a), dw(w), dout(out), dbias(bias ? *bias : std::vector<float>{});
  DeviceArray<std::int32_t> dblocks(blocks);
  scatterNN(backend, da.ptr, rows, dw.ptr, n, k,
            BlockLayout{dblocks.ptr, Index(blocks.size()), block}, bias ? dbias.ptr : nullptr,
            dout.ptr);
  dout.copyTo(out);
#endif
  return out;
}

// The largest |got − want| and the largest ratio of it to its tolerance over the comparisons of
// one test, for the line the back-end comparison prints.
struct WorstError {
  double abs = 0, ratio = 0;
};

// Float sums of `terms` products may differ from the double reference by a few ulps of the sum
// of magnitudes; 1e-5 of it is generous for every depth tested, and still catches a wrong term.
void expectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const std::vector<double>& magnitude, const std::string& what,
                 WorstError* worst = nullptr) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tol = 1e-5 * magnitude[i] + 1e-6;
    const double error = std::abs(double{got[i]} - want[i]);
    if (worst) {
      worst->abs = std::max(worst->abs, error);
      worst->ratio = std::max(worst->ratio, error / tol);
    }
    if (!(error <= tol) && reported++ < 5)
      ADD_FAILURE() << what << " element " << i << ": got " << got[i] << ", want " << want[i]
                    << " (tolerance " << tol << ", seed " << freshSeed() << ")";
  }
}

struct Shape {
  Index rows, k, n, block;
};

std::string describe(const char* op, Backend backend, const Shape& s, const Blocks& blocks,
                     bool bias) {
  std::string list;
  for (std::int32_t b : blocks) list += (list.empty() ? "" : ",") + std::to_string(b);
  return std::string(op) + " " + backendName(backend) + " rows=" + std::to_string(s.rows) +
         " k=" + std::to_string(s.k) + " n=" + std::to_string(s.n) +
         " block=" + std::to_string(s.block) + " blocks={" + list + "}" +
         (bias ? " +bias" : "") + " seed=" + std::to_string(freshSeed());
}

// Both products for one shape and layout, `backend` against Reference, with magnitudes computed
// here from the definition.
void checkBoth(Backend backend, const Shape& s, const Blocks& blocks, bool withBias,
               std::mt19937& rng, WorstError& worst) {
  const std::vector<Index> active = activeRows(s.n, s.block, blocks);
  const auto width = Index(active.size());
  ASSERT_EQ(width, compactWidth(s.n, blocks.data(), Index(blocks.size()), s.block));

  // gatherNT: a [rows, k], w [n, k], bias [n].
  {
    const auto a = randomVector(rng, s.rows * s.k);
    const auto w = randomVector(rng, s.n * s.k);
    const auto bias = randomVector(rng, s.n);
    const std::vector<float>* b = withBias ? &bias : nullptr;
    std::vector<double> mag(static_cast<std::size_t>(s.rows * width));
    for (Index r = 0; r < s.rows; ++r)
      for (Index c = 0; c < width; ++c) {
        double sum = withBias ? std::abs(bias[active[c]]) : 0.0;
        for (Index t = 0; t < s.k; ++t)
          sum += std::abs(a[r * s.k + t]) * std::abs(w[active[c] * s.k + t]);
        mag[r * width + c] = sum;
      }
    const auto want = runGather(Backend::Reference, a, s.rows, s.k, w, s.n, blocks, s.block, b);
    const auto got = runGather(backend, a, s.rows, s.k, w, s.n, blocks, s.block, b);
    expectClose(got, want, mag, describe("gatherNT", backend, s, blocks, withBias), &worst);
  }
  // scatterNN: a [rows, width], w [n, k], bias [k].
  {
    const auto a = randomVector(rng, s.rows * width);
    const auto w = randomVector(rng, s.n * s.k);
    const auto bias = randomVector(rng, s.k);
    const std::vector<float>* b = withBias ? &bias : nullptr;
    std::vector<double> mag(static_cast<std::size_t>(s.rows * s.k));
    for (Index r = 0; r < s.rows; ++r)
      for (Index c = 0; c < s.k; ++c) {
        double sum = withBias ? std::abs(bias[c]) : 0.0;
        for (Index t = 0; t < width; ++t)
          sum += std::abs(a[r * width + t]) * std::abs(w[active[t] * s.k + c]);
        mag[r * s.k + c] = sum;
      }
    const auto want = runScatter(Backend::Reference, a, s.rows, w, s.n, s.k, blocks, s.block, b);
    const auto got = runScatter(backend, a, s.rows, w, s.n, s.k, blocks, s.block, b);
    expectClose(got, want, mag, describe("scatterNN", backend, s, blocks, withBias), &worst);
  }
}

// Awkward sizes: nothing a multiple of a vector or tile, partial last blocks, block 128 and 32,
// plus shapes that cross the CPU kernel's K passes (K > 256), row blocks (rows > 144) and packed
// column chunks (K * N > 4M floats), in both the one-thread and the threaded path. The small
// sizes (test_sizes.h) cross each of those boundaries once, with fewer rows.
void checkAllShapes(Backend backend) {
  std::mt19937 rng(freshSeed());
  std::vector<Shape> shapes;
  const bool small = smallTestSizes();
  for (Index block : {128, 32})
    for (Index rows : {1, 7, 33, 257})
      for (Index k : {1, 5, 64, 130})
        for (Index n : {1, 100, 128, 300, 513})
          if (!small || (rows < 257 && n != 100)) shapes.push_back({rows, k, n, block});
  shapes.push_back({0, 64, 300, 128});
  shapes.push_back({50, 0, 300, 128});
  if (small) {
    shapes.push_back({145, 300, 300, 128});  // row blocks; K passes in both products; threaded
    shapes.push_back({2, 1100, 4000, 128});  // gatherNT: k * width > 4M when all are active
    shapes.push_back({2, 4500, 1000, 32});   // both: k * width > 4M when all are active
  } else {
    shapes.push_back({150, 600, 700, 128});  // three K passes for gatherNT, threaded
    shapes.push_back({151, 300, 1000, 32});  // K passes for scatterNN (width up to 1000)
    shapes.push_back({7, 1100, 4000, 128});  // gatherNT: k * width > 4M when all are active
    shapes.push_back({7, 4500, 1000, 32});   // both: k * width > 4M when all are active
  }
  int index = 0;
  WorstError worst;
  for (const Shape& s : shapes)
    for (const Blocks& blocks : layoutsFor(s.n, s.block, rng)) {
      checkBoth(backend, s, blocks, index++ % 2 == 0, rng, worst);
      if (::testing::Test::HasFailure()) return;  // one broken case says enough
    }
  std::cout << backendName(backend) << " vs reference, worst |error| " << worst.abs
            << ", worst |error| / tolerance " << worst.ratio << "\n";
}

TEST(BlockSparseMlp, CpuMatchesReference) {
  std::string why;
  if (!backendAvailable(Backend::Cpu, &why)) GTEST_SKIP() << why;
  checkAllShapes(Backend::Cpu);
}

TEST(BlockSparseMlp, CudaMatchesReference) {
  std::string why;
  if (!backendAvailable(Backend::Cuda, &why)) GTEST_SKIP() << why;
  checkAllShapes(Backend::Cuda);
}

TEST(BlockSparseMlp, BiasOnlyWhenNothingIsActive) {
  const std::vector<float> a(3 * 4, 1.0f), w(5 * 4, 1.0f), bias{1, 2, 3, 4};
  for (Backend backend : {Backend::Reference, bestHostBackend()}) {
    std::vector<float> out(3 * 4, 99.0f);
    scatterNN(backend, a.data(), 3, w.data(), 5, 4, BlockLayout{nullptr, 0, 2}, bias.data(),
              out.data());
    for (Index r = 0; r < 3; ++r)
      for (Index c = 0; c < 4; ++c) EXPECT_EQ(out[r * 4 + c], bias[c]) << backendName(backend);
    scatterNN(backend, a.data(), 3, w.data(), 5, 4, BlockLayout{nullptr, 0, 2}, nullptr,
              out.data());
    for (float x : out) EXPECT_EQ(x, 0.0f) << backendName(backend);
  }
}

// fc1 forward then fc1 backward with every block active is the dense A · Wᵀ · W.
TEST(BlockSparseMlp, AllActiveRoundTripIsDense) {
  std::mt19937 rng(freshSeed());
  const Index rows = 37, k = 70, n = 300, block = 128;
  const auto a = randomVector(rng, rows * k);
  const auto w = randomVector(rng, n * k);
  const Blocks all{0, 1, 2};
  for (Backend backend : {Backend::Reference, bestHostBackend()}) {
    const auto h = runGather(backend, a, rows, k, w, n, all, block, nullptr);
    const auto back = runScatter(backend, h, rows, w, n, k, all, block, nullptr);
    std::vector<double> dense(static_cast<std::size_t>(rows * n));
    for (Index r = 0; r < rows; ++r)
      for (Index j = 0; j < n; ++j)
        for (Index t = 0; t < k; ++t) dense[r * n + j] += double{a[r * k + t]} * w[j * k + t];
    std::vector<float> want(static_cast<std::size_t>(rows * k));
    std::vector<double> mag(want.size());
    for (Index r = 0; r < rows; ++r)
      for (Index c = 0; c < k; ++c) {
        double sum = 0.0, m = 0.0;
        for (Index j = 0; j < n; ++j) {
          sum += dense[r * n + j] * w[j * k + c];
          m += std::abs(dense[r * n + j] * w[j * k + c]);
        }
        want[r * k + c] = static_cast<float>(sum);
        mag[r * k + c] = m;
      }
    // Two chained products: the rounding of h enters too, so compare with the magnitude of
    // the second product, which bounds it.
    expectClose(back, want, mag, std::string("round trip ") + backendName(backend));
  }
}

// fc2 backward: with W2 [hidden, ffn] packed transposed as W2ᵀ [ffn, hidden], gatherNT(dY, W2ᵀ)
// is dY · W2 restricted to the active ffn columns.
TEST(BlockSparseMlp, Fc2BackwardIsDenseRestrictedToActiveColumns) {
  std::mt19937 rng(freshSeed());
  const Index rows = 29, hidden = 48, ffn = 200, block = 32;
  const Blocks blocks{1, 3, 6};  // 6 is the short last block: ffn 192 .. 199
  const auto dy = randomVector(rng, rows * hidden);
  const auto w2 = randomVector(rng, hidden * ffn);
  std::vector<float> w2t(w2.size());
  for (Index o = 0; o < hidden; ++o)
    for (Index i = 0; i < ffn; ++i) w2t[i * hidden + o] = w2[o * ffn + i];
  const std::vector<Index> active = activeRows(ffn, block, blocks);
  const auto width = Index(active.size());
  ASSERT_EQ(width, 72);
  std::vector<float> want(static_cast<std::size_t>(rows * width));
  std::vector<double> mag(want.size());
  for (Index r = 0; r < rows; ++r)
    for (Index c = 0; c < width; ++c) {
      double sum = 0.0, m = 0.0;
      for (Index o = 0; o < hidden; ++o) {
        sum += double{dy[r * hidden + o]} * w2[o * ffn + active[c]];
        m += std::abs(double{dy[r * hidden + o]} * w2[o * ffn + active[c]]);
      }
      want[r * width + c] = static_cast<float>(sum);
      mag[r * width + c] = m;
    }
  for (Backend backend : {Backend::Reference, bestHostBackend()})
    expectClose(runGather(backend, dy, rows, hidden, w2t, ffn, blocks, block, nullptr), want,
                mag, std::string("fc2 backward ") + backendName(backend));
}

TEST(BlockSparseMlp, CompactWidth) {
  const Blocks some{0, 2};
  EXPECT_EQ(compactWidth(300, some.data(), 2, 128), 128 + 44);
  EXPECT_EQ(compactWidth(300, some.data(), 1, 128), 128);
  EXPECT_EQ(compactWidth(256, some.data(), 1, 128), 128);
  EXPECT_EQ(compactWidth(300, nullptr, 0, 128), 0);
}

TEST(BlockSparseMlp, InvalidArgumentsThrow) {
  const std::vector<float> a(4 * 8, 1.0f), w(300 * 8, 1.0f);
  std::vector<float> out(4 * 300);
  auto gather = [&](Backend backend, const Blocks& blocks, Index count, Index block,
                    Index rows = 4, const float* ap = nullptr) {
    gatherNT(backend, ap ? ap : a.data(), rows, 8, w.data(), 300,
             BlockLayout{blocks.empty() ? nullptr : blocks.data(), count, block}, nullptr,
             out.data());
  };
  auto scatter = [&](Backend backend, const Blocks& blocks, Index count, Index block) {
    scatterNN(backend, a.data(), 4, w.data(), 300, 8,
              BlockLayout{blocks.empty() ? nullptr : blocks.data(), count, block}, nullptr,
              out.data());
  };
  for (Backend backend : {Backend::Reference, bestHostBackend()}) {
    SCOPED_TRACE(backendName(backend));
    EXPECT_THROW(gather(backend, {1, 0}, 2, 128), std::invalid_argument);  // descending
    EXPECT_THROW(gather(backend, {1, 1}, 2, 128), std::invalid_argument);  // duplicate
    EXPECT_THROW(gather(backend, {3}, 1, 128), std::invalid_argument);     // 3 blocks: 0..2
    EXPECT_THROW(gather(backend, {-1}, 1, 128), std::invalid_argument);
    EXPECT_THROW(gather(backend, {}, 1, 128), std::invalid_argument);      // null, count 1
    EXPECT_THROW(gather(backend, {0}, -1, 128), std::invalid_argument);
    EXPECT_THROW(gather(backend, {0}, 1, 0), std::invalid_argument);
    EXPECT_THROW(gather(backend, {0, 1, 2, 3}, 4, 128), std::invalid_argument);  // count > 3
    EXPECT_THROW(gather(backend, {0}, 1, 128, -1), std::invalid_argument);
    EXPECT_THROW(scatter(backend, {2, 1}, 2, 128), std::invalid_argument);
    EXPECT_THROW(scatter(backend, {0}, 1, -5), std::invalid_argument);
    const float* null = nullptr;
    EXPECT_THROW(gatherNT(backend, null, 4, 8, w.data(), 300, BlockLayout{nullptr, 0, 128},
                          nullptr, out.data()),
                 std::invalid_argument);
    EXPECT_THROW(scatterNN(backend, a.data(), 4, w.data(), 300, 8, BlockLayout{nullptr, 0, 128},
                           nullptr, nullptr),
                 std::invalid_argument);
    EXPECT_NO_THROW(gather(backend, {0, 2}, 2, 128));
  }
  const Blocks bad{2, 1};
  EXPECT_THROW(compactWidth(300, bad.data(), 2, 128), std::invalid_argument);
}

TEST(BlockSparseMlp, UnavailableBackendThrowsInsteadOfFallingBack) {
  std::string why;
  if (backendAvailable(Backend::Cuda, &why)) GTEST_SKIP() << "a GPU is usable here";
  const std::vector<float> a(4, 1.0f), w(4, 1.0f);
  std::vector<float> out(4);
  EXPECT_THROW(gatherNT(Backend::Cuda, a.data(), 1, 4, w.data(), 1, BlockLayout{nullptr, 0, 1},
                        nullptr, out.data()),
               KernelUnavailable);
  EXPECT_THROW(scatterNN(Backend::Cuda, a.data(), 1, w.data(), 1, 4, BlockLayout{nullptr, 0, 1},
                         nullptr, out.data()),
               KernelUnavailable);
}

}  // namespace
}  // namespace darkroom::kernels

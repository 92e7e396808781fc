// Block-sparse causal attention: the reference against a dense masked computation written here
// (full L × L scores, closed-form gradients, in double), a finite-difference check of the
// reference backward, every other back end against the reference, and bad layouts rejected.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "darkroom/kernels/block_sparse_attention.h"
#include "test_sizes.h"

#ifdef DARKROOM_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace dk = darkroom::kernels;
using i64 = std::int64_t;

namespace {

enum class Pattern { AllCausal, Diagonal, Random, MissingDiagonal };

const char* patternName(Pattern p) {
  switch (p) {
    case Pattern::AllCausal: return "all-causal";
    case Pattern::Diagonal: return "diagonal";
    case Pattern::Random: return "random";
    case Pattern::MissingDiagonal: return "missing-diagonal";
  }
  return "?";
}

// Owns a layout's arrays; view() is what the kernels take.
struct Layout {
  i64 heads = 0, length = 0, block = 0;
  std::vector<std::int32_t> row_ptr{0}, cols;
  dk::AttentionLayout view() const {
    return dk::AttentionLayout{heads, length, block, row_ptr.data(), cols.data(),
                               static_cast<i64>(cols.size())};
  }
  i64 blocks() const { return (length + block - 1) / block; }
  bool active(i64 h, i64 i, i64 j) const {
    const i64 r = h * blocks() + i;
    return std::binary_search(cols.begin() + row_ptr[r], cols.begin() + row_ptr[r + 1],
                              static_cast<std::int32_t>(j));
  }
};

// Per head and query block: which key blocks are active. Random keeps each off-diagonal block with
// probability 1/2 and always the diagonal; MissingDiagonal is Random, but about a third of the
// query blocks drop the diagonal (so their first rows, or all of them, see nothing).
Layout makeLayout(Pattern pattern, i64 heads, i64 length, i64 block, std::mt19937& rng) {
  Layout l;
  l.heads = heads;
  l.length = length;
  l.block = block;
  std::bernoulli_distribution half(0.5), third(1.0 / 3);
  for (i64 h = 0; h < heads; ++h)
    for (i64 i = 0; i < l.blocks(); ++i) {
      for (i64 j = 0; j <= i; ++j) {
        bool keep = false;
        switch (pattern) {
          case Pattern::AllCausal: keep = true; break;
          case Pattern::Diagonal: keep = j == i; break;
          case Pattern::Random: keep = j == i || half(rng); break;
          case Pattern::MissingDiagonal: keep = j == i ? !third(rng) : half(rng); break;
        }
        if (keep) l.cols.push_back(static_cast<std::int32_t>(j));
      }
      l.row_ptr.push_back(static_cast<std::int32_t>(l.cols.size()));
    }
  return l;
}

std::vector<float> randomVector(i64 n, std::mt19937& rng, float scale = 1.f) {
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> out(static_cast<std::size_t>(n));
  for (auto& x : out) x = dist(rng);
  return out;
}

struct Case {
  i64 batch, heads, length, dim, block;
};

std::string describe(const Case& c, Pattern p, unsigned seed) {
  return "batch " + std::to_string(c.batch) + ", heads " + std::to_string(c.heads) +
         ", length " + std::to_string(c.length) + ", dim " + std::to_string(c.dim) + ", block " +
         std::to_string(c.block) + ", layout " + patternName(p) + ", seed " + std::to_string(seed);
}

const std::vector<Case> kSmallCases = {
    {1, 1, 1, 8, 16},   {1, 2, 15, 8, 16},  {2, 1, 16, 32, 16},  {1, 3, 17, 32, 16},
    {2, 2, 100, 64, 16}, {1, 2, 257, 32, 32}, {1, 1, 257, 64, 16}, {2, 3, 100, 8, 32},
    {1, 1, 33, 32, 32}};

const Pattern kPatterns[] = {Pattern::AllCausal, Pattern::Diagonal, Pattern::Random,
                             Pattern::MissingDiagonal};

// Inputs, outputs and gradients of one problem.
struct Problem {
  Case c;
  Layout layout;
  float scale;
  std::vector<float> q, k, v, d_o;
  Problem(const Case& cs, Pattern pattern, std::mt19937& rng)
      : c(cs), layout(makeLayout(pattern, cs.heads, cs.length, cs.block, rng)) {
    const i64 n = c.batch * c.heads * c.length * c.dim;
    scale = 1.f / std::sqrt(static_cast<float>(c.dim));
    q = randomVector(n, rng, 1.5f);  // larger scores make the softmax peaked, a harder case
    k = randomVector(n, rng, 1.5f);
    v = randomVector(n, rng);
    d_o = randomVector(n, rng);
  }
  i64 size() const { return c.batch * c.heads * c.length * c.dim; }
  i64 probsSize() const { return dk::attentionProbsSize(layout.view(), c.batch); }
};

struct Result {
  std::vector<float> o, probs, dq, dk, dv;
};

Result runHost(dk::Backend backend, const Problem& pr) {
  Result r;
  r.o.assign(pr.size(), -7.f);  // garbage: the kernels must overwrite everything
  r.probs.assign(pr.probsSize() + 1, -7.f);
  r.dq.assign(pr.size(), -7.f);
  r.dk.assign(pr.size(), -7.f);
  r.dv.assign(pr.size(), -7.f);
  const auto lv = pr.layout.view();
  dk::blockSparseAttentionForward(backend, pr.q.data(), pr.k.data(), pr.v.data(), pr.c.batch,
                                  pr.c.dim, pr.scale, lv, r.o.data(), r.probs.data());
  dk::blockSparseAttentionBackward(backend, pr.q.data(), pr.k.data(), pr.v.data(), r.o.data(),
                                   r.probs.data(), pr.d_o.data(), pr.c.batch, pr.c.dim, pr.scale,
                                   lv, r.dq.data(), r.dk.data(), r.dv.data());
  EXPECT_EQ(r.probs.back(), -7.f) << "probs written beyond batch * nnz * block * block";
  r.probs.pop_back();
  return r;
}

// The same problem as dense L × L matrices per (batch, head), in double: visible = causal and in
// an active block. probs is rebuilt in the kernels' block layout for comparison.
Result dense(const Problem& pr) {
  const i64 L = pr.c.length, D = pr.c.dim, B = pr.c.block, H = pr.c.heads;
  const auto& lay = pr.layout;
  Result r;
  r.o.assign(pr.size(), 0.f);
  r.dq.assign(pr.size(), 0.f);
  r.dk.assign(pr.size(), 0.f);
  r.dv.assign(pr.size(), 0.f);
  r.probs.assign(pr.probsSize(), 0.f);
  std::vector<double> P(L * L), dS(L * L);
  for (i64 bh = 0; bh < pr.c.batch * H; ++bh) {
    const i64 b = bh / H, h = bh % H, off = bh * L * D;
    auto at = [&](const std::vector<float>& x, i64 row, i64 d) { return double(x[off + row * D + d]); };
    for (i64 i = 0; i < L; ++i) {
      double max = -INFINITY;
      for (i64 j = 0; j < L; ++j) {
        P[i * L + j] = -INFINITY;
        if (j > i || !lay.active(h, i / B, j / B)) continue;
        double s = 0;
        for (i64 d = 0; d < D; ++d) s += at(pr.q, i, d) * at(pr.k, j, d);
        P[i * L + j] = s * pr.scale;
        max = std::max(max, P[i * L + j]);
      }
      double sum = 0;
      for (i64 j = 0; j < L; ++j) {
        P[i * L + j] = max == -INFINITY ? 0.0 : std::exp(P[i * L + j] - max);
        sum += P[i * L + j];
      }
      for (i64 j = 0; j < L; ++j) P[i * L + j] = sum > 0 ? P[i * L + j] / sum : 0.0;
      for (i64 d = 0; d < D; ++d) {
        double acc = 0;
        for (i64 j = 0; j < L; ++j) acc += P[i * L + j] * at(pr.v, j, d);
        r.o[off + i * D + d] = float(acc);
      }
      // dS = P ∘ (dP − rowsum(P ∘ dP)), dP = dO Vᵀ.
      std::vector<double> dP(L);
      double delta = 0;
      for (i64 j = 0; j < L; ++j) {
        double acc = 0;
        for (i64 d = 0; d < D; ++d) acc += at(pr.d_o, i, d) * at(pr.v, j, d);
        dP[j] = acc;
        delta += P[i * L + j] * acc;
      }
      for (i64 j = 0; j < L; ++j) dS[i * L + j] = P[i * L + j] * (dP[j] - delta);
    }
    for (i64 i = 0; i < L; ++i)
      for (i64 d = 0; d < D; ++d) {
        double gq = 0, gk = 0, gv = 0;
        for (i64 j = 0; j < L; ++j) {
          gq += dS[i * L + j] * at(pr.k, j, d);
          gk += dS[j * L + i] * at(pr.q, j, d);
          gv += P[j * L + i] * at(pr.d_o, j, d);
        }
        r.dq[off + i * D + d] = float(gq * pr.scale);
        r.dk[off + i * D + d] = float(gk * pr.scale);
        r.dv[off + i * D + d] = float(gv);
      }
    for (i64 bi = 0; bi < lay.blocks(); ++bi)
      for (i64 p = lay.row_ptr[h * lay.blocks() + bi]; p < lay.row_ptr[h * lay.blocks() + bi + 1]; ++p)
        for (i64 rr = 0; rr < B; ++rr)
          for (i64 cc = 0; cc < B; ++cc) {
            const i64 i = bi * B + rr, j = lay.cols[p] * B + cc;
            if (i < L && j < L)
              r.probs[((b * lay.cols.size() + p) * B + rr) * B + cc] = float(P[i * L + j]);
          }
  }
  return r;
}

// |got − want| <= tol · (1 + max |want|), elementwise; reports the first few mismatches.
// The largest |got − want| / max(1, max |want|) over the comparisons of one test (the quantity
// the tolerance bounds), for the line the back-end comparison prints.
struct WorstError {
  double relative = 0;
};

void expectNear(const std::vector<float>& got, const std::vector<float>& want, double tol,
                const std::string& what, WorstError* worst) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1;
  for (float w : want) scale = std::max(scale, double(std::fabs(w)));
  int bad = 0;
  for (std::size_t n = 0; n < got.size() && bad < 5; ++n) {
    const double error = std::fabs(double(got[n]) - want[n]);
    if (worst) worst->relative = std::max(worst->relative, error / scale);
    if (!(error <= tol * scale)) {
      ADD_FAILURE() << what << "[" << n << "]: got " << got[n] << ", want " << want[n];
      ++bad;
    }
  }
}

void expectSame(const Result& got, const Result& want, double tol, WorstError* worst = nullptr) {
  expectNear(got.o, want.o, tol, "o", worst);
  expectNear(got.probs, want.probs, tol, "probs", worst);
  expectNear(got.dq, want.dq, tol, "dq", worst);
  expectNear(got.dk, want.dk, tol, "dk", worst);
  expectNear(got.dv, want.dv, tol, "dv", worst);
}

unsigned freshSeed() { return std::random_device{}(); }

}  // namespace

TEST(BlockSparseAttention, ReferenceMatchesDenseMaskedAttention) {
  const unsigned seed = freshSeed();
  std::mt19937 rng(seed);
  for (const Case& c : kSmallCases)
    for (Pattern pattern : kPatterns) {
      SCOPED_TRACE(describe(c, pattern, seed));
      const Problem pr(c, pattern, rng);
      expectSame(runHost(dk::Backend::Reference, pr), dense(pr), 2e-5);
    }
}

// d/dx of L = Σ o ∘ W by central differences against the reference backward (dO = W).
TEST(BlockSparseAttention, ReferenceBackwardMatchesFiniteDifferences) {
  const unsigned seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const Case c{1, 2, 7, 3, 3};
  Problem pr(c, Pattern::Random, rng);
  const Result r = runHost(dk::Backend::Reference, pr);
  auto loss = [&]() {
    std::vector<float> o(pr.size()), probs(pr.probsSize());
    dk::blockSparseAttentionForward(dk::Backend::Reference, pr.q.data(), pr.k.data(), pr.v.data(),
                                    c.batch, c.dim, pr.scale, pr.layout.view(), o.data(),
                                    probs.data());
    double s = 0;
    for (i64 n = 0; n < pr.size(); ++n) s += double(o[n]) * pr.d_o[n];
    return s;
  };
  const float eps = 1e-2f;
  auto check = [&](std::vector<float>& x, const std::vector<float>& grad, const char* name) {
    for (i64 n = 0; n < pr.size(); ++n) {
      const float keep = x[n];
      x[n] = keep + eps;
      const double up = loss();
      x[n] = keep - eps;
      const double down = loss();
      x[n] = keep;
      EXPECT_NEAR(grad[n], (up - down) / (2 * eps), 2e-3) << name << "[" << n << "]";
    }
  };
  check(pr.q, r.dq, "dq");
  check(pr.k, r.dk, "dk");
  check(pr.v, r.dv, "dv");
}

TEST(BlockSparseAttention, CpuMatchesReference) {
  std::string why;
  if (!dk::backendAvailable(dk::Backend::Cpu, &why)) GTEST_SKIP() << why;
  const unsigned seed = freshSeed();
  std::mt19937 rng(seed);
  std::vector<Case> cases = kSmallCases;
  // A long sequence (the small sizes, test_sizes.h: shorter, still many blocks per row).
  cases.push_back(darkroom::kernels::smallTestSizes() ? Case{1, 3, 300, 64, 16}
                                                      : Case{2, 3, 1000, 64, 16});
  cases.push_back({1, 2, 300, 128, 64});
  cases.push_back({1, 1, 200, 24, 8});   // dim and block not multiples of 16: the masked tails
  cases.push_back({1, 1, 130, 40, 20});
  cases.push_back({1, 2, 70, 13, 12});   // dim not a multiple of 4 either: the scalar tails
  cases.push_back({1, 1, 45, 6, 7});
  WorstError worst;
  for (const Case& c : cases)
    for (Pattern pattern : kPatterns) {
      SCOPED_TRACE(describe(c, pattern, seed));
      const Problem pr(c, pattern, rng);
      expectSame(runHost(dk::Backend::Cpu, pr), runHost(dk::Backend::Reference, pr), 2e-5, &worst);
    }
  std::cout << dk::backendName(dk::Backend::Cpu) << " vs reference, worst |error| / max(1, "
            << "max |want|): " << worst.relative << " (o, probs, dq, dk, dv)\n";
}

TEST(BlockSparseAttention, CudaMatchesReference) {
  std::string why;
  if (!dk::backendAvailable(dk::Backend::Cuda, &why)) GTEST_SKIP() << why;
#ifndef DARKROOM_HAVE_CUDA
  GTEST_SKIP() << "this build has no CUDA kernels";
#else
  auto ok = [](cudaError_t e) { ASSERT_EQ(e, cudaSuccess) << cudaGetErrorString(e); };
  // A device copy of a host vector, freed at scope exit.
  struct Buffer {
    void* ptr = nullptr;
    ~Buffer() { cudaFree(ptr); }
  };
  auto upload = [&](Buffer& buf, const void* src, std::size_t bytes) {
    ok(cudaMalloc(&buf.ptr, std::max<std::size_t>(bytes, 4)));
    if (src && bytes) ok(cudaMemcpy(buf.ptr, src, bytes, cudaMemcpyHostToDevice));
  };
  const unsigned seed = freshSeed();
  std::mt19937 rng(seed);
  std::vector<Case> cases = kSmallCases;
  cases.push_back({2, 3, 1000, 64, 16});
  cases.push_back({1, 2, 300, 128, 64});
  for (const Case& c : cases)
    for (Pattern pattern : kPatterns) {
      SCOPED_TRACE(describe(c, pattern, seed));
      const Problem pr(c, pattern, rng);
      const Result want = runHost(dk::Backend::Reference, pr);
      const std::size_t bytes = sizeof(float) * pr.size();
      const std::size_t pbytes = sizeof(float) * pr.probsSize();
      Buffer q, k, v, d_o, o, probs, dq, dkb, dv, rp, cl;
      upload(q, pr.q.data(), bytes);
      upload(k, pr.k.data(), bytes);
      upload(v, pr.v.data(), bytes);
      upload(d_o, pr.d_o.data(), bytes);
      upload(o, nullptr, bytes);
      upload(probs, nullptr, pbytes);
      upload(dq, nullptr, bytes);
      upload(dkb, nullptr, bytes);
      upload(dv, nullptr, bytes);
      upload(rp, pr.layout.row_ptr.data(), sizeof(std::int32_t) * pr.layout.row_ptr.size());
      upload(cl, pr.layout.cols.data(), sizeof(std::int32_t) * pr.layout.cols.size());
      dk::AttentionLayout lv = pr.layout.view();
      lv.row_ptr = static_cast<const std::int32_t*>(rp.ptr);
      lv.cols = static_cast<const std::int32_t*>(cl.ptr);
      auto f = [](const Buffer& b) { return static_cast<float*>(b.ptr); };
      dk::blockSparseAttentionForward(dk::Backend::Cuda, f(q), f(k), f(v), c.batch, c.dim,
                                      pr.scale, lv, f(o), f(probs));
      dk::blockSparseAttentionBackward(dk::Backend::Cuda, f(q), f(k), f(v), f(o), f(probs),
                                       f(d_o), c.batch, c.dim, pr.scale, lv, f(dq), f(dkb), f(dv));
      ok(cudaDeviceSynchronize());
      Result got;
      auto download = [&](std::vector<float>& dst, const Buffer& b, std::size_t n) {
        dst.resize(n);
        ok(cudaMemcpy(dst.data(), b.ptr, sizeof(float) * n, cudaMemcpyDeviceToHost));
      };
      download(got.o, o, pr.size());
      download(got.probs, probs, pr.probsSize());
      download(got.dq, dq, pr.size());
      download(got.dk, dkb, pr.size());
      download(got.dv, dv, pr.size());
      expectSame(got, want, 5e-5);  // other summation orders (and atomics): a little looser
    }
#endif
}

TEST(BlockSparseAttention, InvalidLayoutsAreRejected) {
  std::mt19937 rng(1);
  const Case c{1, 2, 40, 8, 16};  // 3 blocks per head
  const Problem pr(c, Pattern::AllCausal, rng);
  std::vector<float> o(pr.size()), probs(pr.probsSize() + 64), g1(pr.size()), g2(pr.size()),
      g3(pr.size());
  std::vector<dk::Backend> backends{dk::Backend::Reference};
  if (dk::backendAvailable(dk::Backend::Cpu)) backends.push_back(dk::Backend::Cpu);

  auto expectRejected = [&](const Layout& bad, const std::string& what) {
    SCOPED_TRACE(what);
    const auto lv = bad.view();
    for (dk::Backend be : backends) {
      EXPECT_THROW(dk::validateAttentionLayout(lv), std::invalid_argument);
      EXPECT_THROW(dk::blockSparseAttentionForward(be, pr.q.data(), pr.k.data(), pr.v.data(),
                                                   c.batch, c.dim, pr.scale, lv, o.data(),
                                                   probs.data()),
                   std::invalid_argument);
      EXPECT_THROW(dk::blockSparseAttentionBackward(be, pr.q.data(), pr.k.data(), pr.v.data(),
                                                    o.data(), probs.data(), pr.d_o.data(),
                                                    c.batch, c.dim, pr.scale, lv, g1.data(),
                                                    g2.data(), g3.data()),
                   std::invalid_argument);
    }
  };
  const Layout good = pr.layout;  // row_ptr 0 1 3 6 7 9 12, cols 0 | 0 1 | 0 1 2 per head
  EXPECT_NO_THROW(dk::validateAttentionLayout(good.view()));

  Layout l = good;
  l.cols[1] = 2;  // block 1 lists block 2: above the diagonal
  expectRejected(l, "not causal");
  l = good;
  std::swap(l.cols[3], l.cols[4]);
  expectRejected(l, "not ascending");
  l = good;
  l.cols[4] = 0;
  expectRejected(l, "duplicate");
  l = good;
  l.cols[0] = -1;
  expectRejected(l, "negative");
  l = good;
  l.row_ptr[2] = 0;
  expectRejected(l, "row_ptr decreasing");
  l = good;
  l.row_ptr[0] = 1;
  expectRejected(l, "row_ptr not starting at 0");
  {
    SCOPED_TRACE("nnz mismatch");
    auto lv = good.view();
    lv.nnz = 13;  // row_ptr ends at 12
    EXPECT_THROW(dk::validateAttentionLayout(lv), std::invalid_argument);
    lv.nnz = 11;
    EXPECT_THROW(dk::validateAttentionLayout(lv), std::invalid_argument);
  }
  l = good;
  l.row_ptr.back() = 13;  // beyond nnz
  expectRejected(l, "row_ptr beyond nnz");

  // Null pointers and bad sizes.
  const auto lv = good.view();
  EXPECT_THROW(dk::blockSparseAttentionForward(dk::Backend::Reference, nullptr, pr.k.data(),
                                               pr.v.data(), c.batch, c.dim, pr.scale, lv,
                                               o.data(), probs.data()),
               std::invalid_argument);
  EXPECT_THROW(dk::blockSparseAttentionForward(dk::Backend::Reference, pr.q.data(), pr.k.data(),
                                               pr.v.data(), c.batch, c.dim, pr.scale, lv,
                                               o.data(), nullptr),
               std::invalid_argument);
  EXPECT_THROW(dk::blockSparseAttentionBackward(dk::Backend::Reference, pr.q.data(), pr.k.data(),
                                                pr.v.data(), o.data(), probs.data(), nullptr,
                                                c.batch, c.dim, pr.scale, lv, g1.data(),
                                                g2.data(), g3.data()),
               std::invalid_argument);
  EXPECT_THROW(dk::blockSparseAttentionForward(dk::Backend::Reference, pr.q.data(), pr.k.data(),
                                               pr.v.data(), 0, c.dim, pr.scale, lv, o.data(),
                                               probs.data()),
               std::invalid_argument);
  auto zeroBlock = lv;
  zeroBlock.block = 0;
  EXPECT_THROW(dk::validateAttentionLayout(zeroBlock), std::invalid_argument);
  auto noRowPtr = lv;
  noRowPtr.row_ptr = nullptr;
  EXPECT_THROW(dk::validateAttentionLayout(noRowPtr), std::invalid_argument);
}

// A back end that cannot run says so; it never hands the work to another one.
TEST(BlockSparseAttention, UnavailableBackEndThrows) {
  std::string why;
  if (dk::backendAvailable(dk::Backend::Cuda, &why))
    GTEST_SKIP() << "CUDA is available here, so there is nothing to refuse";
  std::mt19937 rng(2);
  const Problem pr({1, 1, 20, 8, 16}, Pattern::AllCausal, rng);
  std::vector<float> o(pr.size()), probs(pr.probsSize()), g1(pr.size()), g2(pr.size()),
      g3(pr.size());
  EXPECT_THROW(dk::blockSparseAttentionForward(dk::Backend::Cuda, pr.q.data(), pr.k.data(),
                                               pr.v.data(), 1, 8, pr.scale, pr.layout.view(),
                                               o.data(), probs.data()),
               dk::KernelUnavailable);
  EXPECT_THROW(dk::blockSparseAttentionBackward(dk::Backend::Cuda, pr.q.data(), pr.k.data(),
                                                pr.v.data(), o.data(), probs.data(),
                                                pr.d_o.data(), 1, 8, pr.scale, pr.layout.view(),
                                                g1.data(), g2.data(), g3.data()),
               dk::KernelUnavailable);
}

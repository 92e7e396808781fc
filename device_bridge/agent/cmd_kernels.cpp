// `kernels`: the test-time-scaling kernels (kernels/) on random inputs, for each kernel × batch:
// the tile-layout Q4_0 GEMM with LUT dequantization and its float32 baseline, the LUT softmax
// and its expf baseline, and cached attention with either. A back end that cannot run ends the
// run with an error record naming it; nothing else runs in its place.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include <omp.h>

#include "agent_error.h"
#include "commands.h"
#include "darkroom/kernels/backend.h"
#include "darkroom/kernels/lut_softmax.h"
#include "darkroom/kernels/quant_gemm.h"
#include "darkroom/kernels/quant_matrix.h"
#include "npu_backend.h"
#include "stop_signal.h"

namespace darkroom::agent {
namespace k = darkroom::kernels;
namespace {

using Clock = std::chrono::steady_clock;

std::vector<float> randomFloats(std::size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct Timing {
  double ms = 0;  // per call
  int reps = 0;
};

// One untimed call, then calls until `min_ms` have passed and at least 3 were timed. `prepare`
// runs before each call, untimed (it restores an input the kernel overwrites).
Timing timeCalls(const std::function<void()>& call, const std::function<void()>& prepare,
                 double min_ms) {
  if (prepare) prepare();
  call();
  Timing t;
  double total_ms = 0;
  while ((total_ms < min_ms || t.reps < 3) && !stopRequested()) {
    if (prepare) prepare();
    const auto t0 = Clock::now();
    call();
    total_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    ++t.reps;
  }
  t.ms = t.reps ? total_ms / t.reps : 0;
  return t;
}

const std::vector<std::string> kKernelGroups = {"quant-gemm", "dense-gemm", "softmax",
                                                "attention"};

}  // namespace

std::vector<FlagSpec> kernelsFlags() {
  return {
      {"batches", true, "N,N,...  batch sizes (1,2,4,8,16)"},
      {"rows", true, "N  GEMM output rows (4096)"},
      {"cols", true, "N  GEMM input columns (4096)"},
      {"backend", true, "B  cpu, reference or npu (cpu)"},
      {"kernels", true, "K,K,...  quant-gemm, dense-gemm, softmax, attention (all)"},
      {"kv", true, "N  keys in the KV cache for softmax and attention (1024)"},
      {"heads", true, "N  attention heads (8)"},
      {"kv-heads", true, "N  KV heads, dividing --heads (2)"},
      {"head-dim", true, "N  head dimension (64)"},
      {"min-ms", true, "N  time spent on each point, at least 3 calls (200)"},
      {"seed", true, "N  seed of the random inputs (1)"},
  };
}

void runKernels(const CommandContext& ctx) {
  const Args& a = ctx.args;
  const auto batches = a.integers("batches", {1, 2, 4, 8, 16}, 1, 1024);
  const std::int64_t rows = a.integer("rows", 4096, 1, 1 << 16);
  const std::int64_t cols = a.integer("cols", 4096, 1, 1 << 16);
  if (rows * cols > (std::int64_t(1) << 28))
    throw UsageError("--rows", "kernels: --rows × --cols must stay within 2^28 weights (1 GiB "
                               "as float32), not " + std::to_string(rows) + " × " +
                               std::to_string(cols));
  const std::string backend_name = a.choice("backend", "cpu", {"cpu", "reference", "npu"});
  const auto groups = a.choices(
      "kernels", backend_name == "npu" ? std::vector<std::string>{"quant-gemm"} : kKernelGroups,
      kKernelGroups);
  const std::int64_t kv = a.integer("kv", 1024, 1, 1 << 20);
  const std::int64_t heads = a.integer("heads", 8, 1, 256);
  const std::int64_t kv_heads = a.integer("kv-heads", 2, 1, 256);
  if (heads % kv_heads)
    throw UsageError("--kv-heads", "kernels: --kv-heads " + std::to_string(kv_heads) +
                                       " must divide --heads " + std::to_string(heads));
  const std::int64_t head_dim = a.integer("head-dim", 64, 1, 512);
  const double min_ms = a.number("min-ms", 200, 0.001, 600000);
  const auto seed = std::uint32_t(a.integer("seed", 1, 0, UINT32_MAX));
  const std::int64_t max_batch = *std::max_element(batches.begin(), batches.end());
  if (max_batch * kv_heads * kv * head_dim > (std::int64_t(1) << 28))
    throw UsageError("--kv",
                     "kernels: the KV cache of the largest batch (batch × kv-heads × kv × "
                     "head-dim) must stay within 2^28 values");
  if (max_batch * heads * std::max(kv, head_dim) > (std::int64_t(1) << 28))
    throw UsageError("--heads",
                     "kernels: largest --batches × --heads × max(--kv, --head-dim) (the scores "
                     "and queries) must stay within 2^28 values");

  // The NPU plug-in decides for itself; when it cannot run, the run ends here with its reason
  // rather than measuring something else.
  std::unique_ptr<NpuBackend> npu;
  if (backend_name == "npu") {
    npu = loadNpuBackend();
    std::string why;
    if (!npu->available(&why))
      throw AgentError("kernels: the npu back end is unavailable: " + why);
    for (const auto& g : groups)
      if (g != "quant-gemm")
        throw UsageError("--kernels", "kernels: the npu back end runs quant-gemm only; pass "
                                      "--kernels quant-gemm");
  }
  const k::Backend backend = backend_name == "cpu" ? k::Backend::Cpu : k::Backend::Reference;
  if (!npu) {
    std::string why;
    if (!k::backendAvailable(backend, &why))
      throw AgentError(std::string("kernels: the ") + k::backendName(backend) +
                       " back end cannot run here: " + why);
  }
  const std::string backend_label = npu ? npu->name() : std::string(k::backendName(backend));

  std::mt19937 rng(seed);
  auto want = [&](const char* g) {
    return std::find(groups.begin(), groups.end(), g) != groups.end();
  };
  auto stopCheck = [&] {
    if (stopRequested())
      throw AgentError(std::string("kernels interrupted by ") + stopSignalName());
    if (ctx.out.broken()) throw AgentError("the output was closed");
  };
  std::int64_t samples = 0;
  auto emit = [&](const std::string& kernel, std::int64_t batch, std::int64_t r, std::int64_t c,
                  const Timing& t, double bytes, double flops, Json extra) {
    Json s;
    s["kernel"] = kernel;
    s["backend"] = backend_label;
    s["batch"] = batch;
    s["rows"] = r;
    s["cols"] = c;
    s["ms"] = significant6(t.ms);
    s["reps"] = t.reps;
    const double secs = std::max(t.ms, 1e-9) / 1e3;
    s["gb_s"] = significant6(bytes / secs / 1e9);
    if (flops > 0) s["gflop_s"] = significant6(flops / secs / 1e9);
    for (const auto& [key, value] : extra.items()) s[key] = value;
    ctx.out.sample(s);
    ++samples;
  };

  if (want("quant-gemm") || want("dense-gemm")) {
    const auto w = randomFloats(std::size_t(rows * cols), rng);
    const auto x = randomFloats(std::size_t(max_batch * cols), rng);
    std::vector<float> y(std::size_t(max_batch * rows));
    const double flops_per_row = 2.0 * double(rows) * double(cols);
    if (want("quant-gemm")) {
      const auto q = k::quantizeMatrix(w.data(), rows, cols, k::QuantType::Q4_0,
                                       k::QuantLayout::Tile);
      const auto view = q.view();
      Json extra;
      extra["weight_bytes"] = std::int64_t(q.data.size());
      if (!npu && backend == k::Backend::Cpu) extra["isa"] = k::quantGemmCpuIsa();
      for (auto b : batches) {
        stopCheck();
        auto t = timeCalls(
            [&] {
              if (npu) npu->gemv(view, x.data(), b, y.data());
              else k::quantGemm(backend, view, x.data(), b, y.data());
            },
            {}, min_ms);
        stopCheck();
        emit("quant-gemm-q4_0-tile", b, rows, cols, t, double(q.data.size()),
             flops_per_row * double(b), extra);
      }
    }
    if (want("dense-gemm")) {
      Json extra;
      extra["weight_bytes"] = rows * cols * 4;
      for (auto b : batches) {
        stopCheck();
        auto t = timeCalls(
            [&] { k::denseGemm(backend, w.data(), rows, cols, x.data(), b, y.data()); }, {},
            min_ms);
        stopCheck();
        emit("dense-gemm-f32", b, rows, cols, t, double(rows * cols * 4),
             flops_per_row * double(b), extra);
      }
    }
  }

  const float scale = 1.0f / std::sqrt(float(head_dim));
  if (want("softmax")) {
    const auto scores = randomFloats(std::size_t(max_batch * heads * kv), rng);
    std::vector<float> work(scores.size());
    for (auto mode : {k::SoftmaxExp::Lut, k::SoftmaxExp::Float}) {
      for (auto b : batches) {
        stopCheck();
        const std::int64_t r = b * heads;
        const std::size_t n = std::size_t(r * kv);
        auto t = timeCalls(
            [&] { k::softmaxRows(backend, mode, work.data(), r, kv, scale); },
            [&] { std::memcpy(work.data(), scores.data(), n * sizeof(float)); }, min_ms);
        stopCheck();
        Json extra;
        extra["heads"] = heads;
        extra["kv"] = kv;
        emit(std::string(k::softmaxExpName(mode)) + "-softmax", b, r, kv, t,
             double(n) * 4.0, 0, extra);
      }
    }
  }
  if (want("attention")) {
    const auto q = randomFloats(std::size_t(max_batch * heads * head_dim), rng);
    const auto kc = randomFloats(std::size_t(max_batch * kv_heads * kv * head_dim), rng);
    const auto vc = randomFloats(kc.size(), rng);
    std::vector<float> out(q.size());
    for (auto mode : {k::SoftmaxExp::Lut, k::SoftmaxExp::Float}) {
      for (auto b : batches) {
        stopCheck();
        k::AttentionShape shape;
        shape.batch = b;
        shape.heads = heads;
        shape.kv_heads = kv_heads;
        shape.queries = 1;
        shape.keys = kv;
        shape.head_dim = head_dim;
        auto t = timeCalls(
            [&] {
              k::cachedAttention(backend, mode, shape, q.data(), kc.data(), vc.data(), scale,
                                 out.data());
            },
            {}, min_ms);
        stopCheck();
        Json extra;
        extra["heads"] = heads;
        extra["kv_heads"] = kv_heads;
        extra["head_dim"] = head_dim;
        extra["kv"] = kv;
        const double kv_bytes = 2.0 * double(b * kv_heads * kv * head_dim) * 4.0;
        const double flops = 4.0 * double(b * heads * kv * head_dim);
        emit(std::string(k::softmaxExpName(mode)) + "-attention", b, b * heads, kv, t, kv_bytes,
             flops, extra);
      }
    }
  }

  Json r;
  r["backend"] = backend_label;
  r["points"] = samples;
  r["threads"] = omp_get_max_threads();  // OMP_NUM_THREADS narrows it
  ctx.out.result(r);
}

}  // namespace darkroom::agent

// runKernelBench: the quantized GEMV against batch (LUT vs unpack dequantization, tile vs row
// layout, float32 baseline) with its weight bandwidth next to a STREAM-like copy, and decode
// attention with the LUT softmax against expf. Stored as a "kbench" run.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "darkroom/kernels/cuda_device.h"
#include "darkroom/kernels/lut_softmax.h"
#include "darkroom/kernels/quant_gemm.h"
#include "darkroom/quant.h"
#include "darkroom/run_outcome.h"

#ifdef DARKROOM_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace darkroom {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
using kernels::Backend;

constexpr std::int64_t kHeads = 32, kHeadDim = 128;         // the decode attention measured
constexpr std::size_t kCopyBytes = std::size_t(128) << 20;  // per array: well past any LLC
constexpr const char* kReportArtifact = "kbench-report";

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Options name back ends as users do; the report says which kernels ran (backendName:
// "cpu-avx2", ...).
Backend parseBackend(const std::string& name) {
  if (name == "reference") return Backend::Reference;
  if (name == "cpu") return Backend::Cpu;
  if (name == "cuda") return Backend::Cuda;
  throw std::invalid_argument("unknown back end '" + name + "' (reference, cpu, cuda)");
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto name = line.substr(colon + 1);
        name.erase(0, name.find_first_not_of(' '));
        return name;
      }
    }
  return "unknown CPU";
}

// Memory the kernels of `backend` read: host vectors, or copies on the GPU.
class Buffer {
 public:
  Buffer(Backend backend, const void* host, std::size_t bytes) : backend_(backend), bytes_(bytes) {
    if (backend_ != Backend::Cuda) {
      host_.resize(bytes);
      if (host) std::memcpy(host_.data(), host, bytes);
      ptr_ = host_.data();
      return;
    }
#ifdef DARKROOM_HAVE_CUDA
    check(cudaMalloc(&ptr_, std::max<std::size_t>(bytes, 4)), "cudaMalloc");
    if (host) check(cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
#else
    throw kernels::KernelUnavailable("this build has no CUDA kernels");
#endif
  }
  ~Buffer() {
#ifdef DARKROOM_HAVE_CUDA
    if (backend_ == Backend::Cuda && ptr_) cudaFree(ptr_);
#endif
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  void download(void* host) const {
    if (backend_ != Backend::Cuda) return void(std::memcpy(host, ptr_, bytes_));
#ifdef DARKROOM_HAVE_CUDA
    check(cudaMemcpy(host, ptr_, bytes_, cudaMemcpyDeviceToHost), "cudaMemcpy");
#endif
  }

#ifdef DARKROOM_HAVE_CUDA
  static void check(cudaError_t status, const char* what) {
    if (status != cudaSuccess)
      throw std::runtime_error(std::string(what) + " failed: " + cudaGetErrorString(status));
  }
#endif

 private:
  Backend backend_;
  std::size_t bytes_;
  std::vector<std::uint8_t> host_;
  void* ptr_ = nullptr;
};

void synchronize(Backend backend) {
#ifdef DARKROOM_HAVE_CUDA
  if (backend == Backend::Cuda) Buffer::check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
#else
  (void)backend;
#endif
}

// One warm-up call, then calls until `budget` seconds have passed (at least three): the median.
double medianSeconds(Backend backend, double budget, JobContext& ctx,
                     const std::function<void()>& call) {
  call();
  synchronize(backend);
  std::vector<double> times;
  const auto begin = Clock::now();
  while (times.size() < 3 || (since(begin) < budget && times.size() < 1000000)) {
    ctx.checkCancelled();
    const auto t0 = Clock::now();
    call();
    synchronize(backend);
    times.push_back(since(t0));
  }
  auto mid = times.begin() + std::ptrdiff_t(times.size() / 2);
  std::nth_element(times.begin(), mid, times.end());
  return *mid;
}

// A STREAM-like copy (b = a over 128 MiB), counted as STREAM does: bytes read plus bytes
// written. Host: OpenMP with the threads the kernels use; Cuda: a device-to-device copy.
double copyGbPerSecond(Backend backend, int threads, double budget, JobContext& ctx) {
  const std::size_t n = kCopyBytes / sizeof(float);
  double best = 0;
  if (backend == Backend::Cuda) {
#ifdef DARKROOM_HAVE_CUDA
    Buffer a(backend, nullptr, kCopyBytes), b(backend, nullptr, kCopyBytes);
    Buffer::check(cudaMemset(a.as<void>(), 0, kCopyBytes), "cudaMemset");
    const double s = medianSeconds(backend, budget, ctx, [&] {
      Buffer::check(cudaMemcpy(b.as<void>(), a.as<void>(), kCopyBytes, cudaMemcpyDeviceToDevice),
                    "cudaMemcpy");
    });
    return 2.0 * double(kCopyBytes) / s / 1e9;
#endif
  }
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]);
  // First touch on the threads that copy, so pages sit near them.
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    a[i] = float(i & 1023);
    b[i] = 0;
  }
  const auto begin = Clock::now();
  int reps = 0;
  while (reps < 5 || since(begin) < budget) {
    ctx.checkCancelled();
    const auto t0 = Clock::now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::size_t i = 0; i < n; ++i) b[i] = a[i];
    best = std::max(best, 2.0 * double(kCopyBytes) / since(t0) / 1e9);
    ++reps;
  }
  if (b[n - 1] != a[n - 1]) throw std::logic_error("the copy benchmark copied wrongly");
  return best;
}

std::vector<float> randomFloats(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  // Threads fill their own chunks from their own engines: 45M values take a while otherwise.
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    std::mt19937_64 rng(seed * 1315423911u + std::uint64_t(t));
    std::normal_distribution<float> normal(0.f, 1.f);
    const std::size_t from = n * std::size_t(t) / std::size_t(nt),
                      to = n * std::size_t(t + 1) / std::size_t(nt);
    for (std::size_t i = from; i < to; ++i) v[i] = normal(rng);
  }
  return v;
}

std::string shapeKey(std::int64_t rows, std::int64_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

void storeMetrics(Store& store, std::int64_t run, const KernelBenchReport& r) {
  std::vector<MetricPoint> points = {{"copy/gb_per_s", 0, r.copy_gb_per_s, 0}};
  for (const auto& p : r.gemv) {
    const auto key = "gemv/" + p.kernel + "/" + shapeKey(p.rows, p.cols) + "/";
    points.push_back({key + "seconds", p.batch, p.seconds, 0});
    points.push_back({key + "weight_gb_per_s", p.batch, p.weight_gb_per_s, 0});
    points.push_back({key + "fraction_of_copy", p.batch, p.fraction_of_copy, 0});
  }
  for (const auto& p : r.softmax) {
    points.push_back({"softmax/" + p.kernel + "/seconds", p.keys, p.seconds, 0});
    points.push_back({"softmax/" + p.kernel + "/max_abs_error", p.keys, p.max_abs_error, 0});
  }
  store.appendMetrics(run, points);
}

// Max |p - p*| over 32 heads' probabilities for one query at `keys` keys: softmaxRows of the
// back end (the same exp as cachedAttention's) on the float scores q·k, against a softmax of the
// same scores in double precision.
double probabilityError(Backend backend, kernels::SoftmaxExp mode, const std::vector<float>& q,
                        const std::vector<float>& k, std::int64_t keys, float scale) {
  std::vector<float> scores(std::size_t(kHeads * keys));
  for (std::int64_t h = 0; h < kHeads; ++h)
    for (std::int64_t j = 0; j < keys; ++j) {
      const float* qh = q.data() + h * kHeadDim;
      const float* kj = k.data() + (h * keys + j) * kHeadDim;
      float s = 0;
      for (std::int64_t d = 0; d < kHeadDim; ++d) s += qh[d] * kj[d];
      scores[std::size_t(h * keys + j)] = s;
    }
  Buffer buffer(backend, scores.data(), scores.size() * sizeof(float));
  kernels::softmaxRows(backend, mode, buffer.as<float>(), kHeads, keys, scale);
  synchronize(backend);
  std::vector<float> probs(scores.size());
  buffer.download(probs.data());
  double worst = 0;
  for (std::int64_t h = 0; h < kHeads; ++h) {
    const float* row = scores.data() + h * keys;
    double max = -INFINITY, sum = 0;
    for (std::int64_t j = 0; j < keys; ++j) max = std::max(max, double(scale) * row[j]);
    for (std::int64_t j = 0; j < keys; ++j) sum += std::exp(double(scale) * row[j] - max);
    for (std::int64_t j = 0; j < keys; ++j) {
      const double exact = std::exp(double(scale) * row[j] - max) / sum;
      worst = std::max(worst, std::abs(double(probs[std::size_t(h * keys + j)]) - exact));
    }
  }
  return worst;
}

void checkOptions(const KernelBenchOptions& o) {
  for (const auto& [rows, cols] : o.shapes)
    if (rows < 1 || cols < 1)
      throw std::invalid_argument("kbench shape " + shapeKey(rows, cols) + " is not positive");
  for (int b : o.batches)
    if (b < 1)
      throw std::invalid_argument("kbench batch " + std::to_string(b) + " is not positive");
  for (auto k : o.kv_lengths)
    if (k < 1)
      throw std::invalid_argument("kbench KV length " + std::to_string(k) + " is not positive");
  if (!(o.seconds_per_point > 0)) throw std::invalid_argument("kbench needs seconds per point > 0");
  if (o.shapes.empty() && o.kv_lengths.empty())
    throw std::invalid_argument("kbench has nothing to measure: no shapes and no KV lengths");
  if (!o.shapes.empty() && o.batches.empty())
    throw std::invalid_argument("kbench has shapes but no batches");
}

}  // namespace

KernelBenchReport runKernelBench(Workspace& ws, const KernelBenchOptions& o, JobContext& ctx) {
  checkOptions(o);
  const Backend backend = parseBackend(o.backend);
  std::string why;
  if (!kernels::backendAvailable(backend, &why)) throw kernels::KernelUnavailable(why);

  KernelBenchReport report;
  report.backend = kernels::backendName(backend);
  // The reference kernels are single-threaded scalar loops; the copy runs as they do.
  report.threads = backend == Backend::Cpu ? omp_get_max_threads() : 1;
  report.machine = backend == Backend::Cuda
                       ? kernels::cudaDevices().status
                       : cpuModel() + ", " + std::to_string(std::thread::hardware_concurrency()) +
                             " logical cores";
  std::string shapes, batches, kv;
  for (const auto& [r, c] : o.shapes) shapes += (shapes.empty() ? "" : ",") + shapeKey(r, c);
  for (int b : o.batches) batches += (batches.empty() ? "" : ",") + std::to_string(b);
  for (auto k : o.kv_lengths) kv += (kv.empty() ? "" : ",") + std::to_string(k);
  Store& store = ws.store();
  const auto experiment = store.ensureExperiment(
      "kernels", "NPU kernels: quantized GEMV vs batch, LUT dequantization and softmax");
  report.run_id = store.createRun(experiment, "kbench " + report.backend, "kbench",
                                  {{"backend", report.backend},
                                   {"machine", report.machine},
                                   {"threads", std::to_string(report.threads)},
                                   {"shapes", shapes},
                                   {"batches", batches},
                                   {"kv_lengths", kv},
                                   {"seconds_per_point", std::to_string(o.seconds_per_point)}});
  recordRunOutcome(store, report.run_id, [&] {
    const std::size_t total = o.shapes.size() * o.batches.size() * 5 + o.kv_lengths.size() * 2 + 1;
    std::size_t done = 0;
    auto step = [&](const std::string& message) {
      ctx.progress(double(++done) / double(total), message);
    };
    ctx.progress(0, "measuring copy bandwidth");
    report.copy_gb_per_s = copyGbPerSecond(backend, report.threads, o.seconds_per_point, ctx);
    step("copy: " + std::to_string(report.copy_gb_per_s).substr(0, 6) + " GB/s");

    const int max_batch =
        o.batches.empty() ? 1 : *std::max_element(o.batches.begin(), o.batches.end());
    std::uint64_t seed = 1;
    for (const auto& [rows, cols] : o.shapes) {
      ctx.progress(double(done) / double(total), "preparing " + shapeKey(rows, cols));
      const auto w = randomFloats(std::size_t(rows * cols), seed++);
      const auto x = randomFloats(std::size_t(max_batch * cols), seed++);
      struct Packed {
        const char* layout;
        kernels::QuantMatrix matrix;
        std::unique_ptr<Buffer> data;
      };
      std::vector<Packed> packed;
      for (auto layout : {kernels::QuantLayout::Tile, kernels::QuantLayout::RowGroups}) {
        auto m = kernels::quantizeMatrix(w.data(), rows, cols, kernels::QuantType::Q4_0, layout);
        auto data = std::make_unique<Buffer>(backend, m.data.data(), m.data.size());
        packed.push_back({kernels::quantLayoutName(layout), std::move(m), std::move(data)});
        ctx.checkCancelled();
      }
      Buffer dense(backend, w.data(), w.size() * sizeof(float));
      Buffer input(backend, x.data(), x.size() * sizeof(float));
      Buffer output(backend, nullptr, std::size_t(max_batch * rows) * sizeof(float));
      for (int batch : o.batches) {
        auto point = [&](const std::string& kernel, std::size_t bytes,
                         const std::function<void()>& call) {
          GemvPoint p{rows, cols, batch, kernel, 0, 0, 0};
          p.seconds = medianSeconds(backend, o.seconds_per_point, ctx, call);
          p.weight_gb_per_s = double(bytes) / p.seconds / 1e9;
          p.fraction_of_copy =
              report.copy_gb_per_s > 0 ? p.weight_gb_per_s / report.copy_gb_per_s : 0;
          report.gemv.push_back(p);
          char message[160];
          std::snprintf(message, sizeof message, "%s %s batch %d: %.1f us", kernel.c_str(),
                        shapeKey(rows, cols).c_str(), batch, p.seconds * 1e6);
          step(message);
        };
        for (const auto& pk : packed)
          for (auto mode : {kernels::Dequant::Lut, kernels::Dequant::Unpack}) {
            kernels::QuantMatrixView view = pk.matrix.view();
            view.data = pk.data->as<std::uint8_t>();
            point(std::string(kernels::dequantName(mode)) + "-" + pk.layout, pk.matrix.data.size(),
                  [&] {
                    kernels::quantGemm(backend, view, input.as<float>(), batch, output.as<float>(),
                                       mode);
                  });
          }
        point("fp32", w.size() * sizeof(float), [&] {
          kernels::denseGemm(backend, dense.as<float>(), rows, cols, input.as<float>(), batch,
                             output.as<float>());
        });
      }
    }

    for (auto keys : o.kv_lengths) {
      ctx.progress(double(done) / double(total),
                   "preparing attention over " + std::to_string(keys) + " keys");
      const auto q = randomFloats(std::size_t(kHeads * kHeadDim), seed++);
      const auto k = randomFloats(std::size_t(kHeads * keys * kHeadDim), seed++);
      const auto v = randomFloats(std::size_t(kHeads * keys * kHeadDim), seed++);
      Buffer qb(backend, q.data(), q.size() * sizeof(float)),
          kb(backend, k.data(), k.size() * sizeof(float)),
          vb(backend, v.data(), v.size() * sizeof(float)),
          out(backend, nullptr, q.size() * sizeof(float));
      kernels::AttentionShape shape;
      shape.batch = 1;
      shape.heads = shape.kv_heads = kHeads;
      shape.queries = 1;
      shape.keys = keys;
      shape.head_dim = kHeadDim;
      const float scale = float(1.0 / std::sqrt(double(kHeadDim)));
      for (auto mode : {kernels::SoftmaxExp::Lut, kernels::SoftmaxExp::Float}) {
        SoftmaxPoint p{keys, kernels::softmaxExpName(mode), 0, 0};
        p.seconds = medianSeconds(backend, o.seconds_per_point, ctx, [&] {
          kernels::cachedAttention(backend, mode, shape, qb.as<float>(), kb.as<float>(),
                                   vb.as<float>(), scale, out.as<float>());
        });
        p.max_abs_error = probabilityError(backend, mode, q, k, keys, scale);
        report.softmax.push_back(p);
        char message[160];
        std::snprintf(message, sizeof message, "attention %s, %lld keys: %.1f us", p.kernel.c_str(),
                      static_cast<long long>(keys), p.seconds * 1e6);
        step(message);
      }
    }

    const auto file = ws.runDir(report.run_id) / "kbench.json";
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out << kernelBenchJson(report) << "\n";
      if (!out.flush()) throw std::runtime_error(file.string() + ": cannot write");
    }
    store.addArtifact(report.run_id, file, kReportArtifact);
    storeMetrics(store, report.run_id, report);
    ctx.progress(1.0, "stored kbench run " + std::to_string(report.run_id));
  });
  return report;
}

std::string kernelBenchJson(const KernelBenchReport& r) {
  nlohmann::ordered_json j;
  j["run"] = r.run_id;
  j["backend"] = r.backend;
  j["machine"] = r.machine;
  j["threads"] = r.threads;
  j["copy_gb_per_s"] = r.copy_gb_per_s;
  j["gemv"] = nlohmann::ordered_json::array();
  for (const auto& p : r.gemv)
    j["gemv"].push_back({{"rows", p.rows},
                         {"cols", p.cols},
                         {"batch", p.batch},
                         {"kernel", p.kernel},
                         {"seconds", p.seconds},
                         {"weight_gb_per_s", p.weight_gb_per_s},
                         {"fraction_of_copy", p.fraction_of_copy}});
  j["softmax"] = nlohmann::ordered_json::array();
  for (const auto& p : r.softmax)
    j["softmax"].push_back({{"keys", p.keys},
                            {"kernel", p.kernel},
                            {"seconds", p.seconds},
                            {"max_abs_error", p.max_abs_error}});
  return j.dump(2);
}

KernelBenchReport loadKernelBench(Workspace& ws, std::int64_t run_id) {
  const auto run = ws.store().run(run_id);
  if (!run) throw std::runtime_error("no run " + std::to_string(run_id) + " in this workspace");
  if (run->kind != "kbench")
    throw std::runtime_error("run " + std::to_string(run_id) + " is a " + run->kind +
                             " run, not a kbench run");
  std::optional<fs::path> file;
  for (const auto& a : ws.store().artifacts(run_id))
    if (a.kind == kReportArtifact)
      file = fs::path(a.path).is_absolute() ? fs::path(a.path) : ws.root() / a.path;
  if (!file)
    throw std::runtime_error("kbench run " + std::to_string(run_id) + " has no report (status " +
                             toString(run->status) + (run->note.empty() ? "" : ": " + run->note) +
                             ")");
  std::ifstream in(*file, std::ios::binary);
  if (!in) throw std::runtime_error(file->string() + ": cannot read the kbench report");
  KernelBenchReport r;
  try {
    std::stringstream text;
    text << in.rdbuf();
    const auto j = nlohmann::json::parse(text.str());
    r.backend = j.at("backend").get<std::string>();
    r.machine = j.at("machine").get<std::string>();
    r.threads = j.at("threads").get<int>();
    r.copy_gb_per_s = j.at("copy_gb_per_s").get<double>();
    for (const auto& p : j.at("gemv"))
      r.gemv.push_back({p.at("rows").get<std::int64_t>(), p.at("cols").get<std::int64_t>(),
                        p.at("batch").get<int>(), p.at("kernel").get<std::string>(),
                        p.at("seconds").get<double>(), p.at("weight_gb_per_s").get<double>(),
                        p.at("fraction_of_copy").get<double>()});
    for (const auto& p : j.at("softmax"))
      r.softmax.push_back({p.at("keys").get<std::int64_t>(), p.at("kernel").get<std::string>(),
                           p.at("seconds").get<double>(), p.at("max_abs_error").get<double>()});
  } catch (const std::exception& e) {
    throw std::runtime_error(file->string() + ": malformed kbench report: " + e.what());
  }
  r.run_id = run_id;
  return r;
}

}  // namespace darkroom

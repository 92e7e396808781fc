// darkroom-agent (host build) run as a child process, as adb shell runs it on a phone: every
// subcommand's JSON lines (docs/agent-protocol.md), its exit codes, its errors, and the rule that
// it writes nothing outside its work directory. flash-replay is checked against the host's I/O
// engine on the same synthetic layout and trace.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "darkroom/jobs.h"
#include "darkroom/neuralink/flash_layout.h"
#include "darkroom/neuralink/io_engine.h"
#include "darkroom/neuralink/trace.h"
#include "test_util.h"

using darkroom::test::rng;
using darkroom::test::TempDir;

namespace {

namespace fs = std::filesystem;
namespace nl = darkroom::neuralink;
using json = nlohmann::json;

struct AgentRun {
  int exit_code = -1;  // 128 + signal when killed
  std::string out, err;
  std::vector<json> records;
};

struct RunOptions {
  std::map<std::string, std::string> env;  // set (or replaced) in the child's environment
  // Called for each stdout line as it arrives, with the child's pid (to signal it).
  std::function<void(const std::string& line, pid_t pid)> on_line;
  // Closes our end of the child's stdout after this many lines (0: never), like a reader that
  // goes away.
  int close_after_lines = 0;
  int timeout_s = 150;
};

AgentRun runAgent(const std::vector<std::string>& args, const RunOptions& options = {}) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  std::vector<std::string> words = {DARKROOM_AGENT};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    for (const auto& [key, value] : options.env) ::setenv(key.c_str(), value.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  AgentRun run;
  std::string pending;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.timeout_s);
  bool out_open = true, err_open = true, timed_out = false;
  int lines = 0;
  while (out_open || err_open) {
    pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0},
                     {err_open ? err_pipe[0] : -1, POLLIN, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, int(left.count())) < 0) continue;
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      if (i == 1) {
        run.err.append(buf, std::size_t(n));
        continue;
      }
      run.out.append(buf, std::size_t(n));
      pending.append(buf, std::size_t(n));
      for (auto nl_at = pending.find('\n'); nl_at != std::string::npos;
           nl_at = pending.find('\n')) {
        const std::string line = pending.substr(0, nl_at);
        pending.erase(0, nl_at + 1);
        if (options.on_line) options.on_line(line, pid);
        if (++lines == options.close_after_lines) {
          ::close(out_pipe[0]);
          out_pipe[0] = -1;
          out_open = false;
          pending.clear();
          break;
        }
      }
    }
  }
  if (out_pipe[0] >= 0) ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (timed_out) throw std::runtime_error("darkroom-agent did not finish in time: " + run.err);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

// Parses stdout and checks what every record must have: one JSON object per line, v 1, the
// subcommand, a known type, seq 0, 1, 2, ... without gaps and t_ms that never goes back.
// Returns the records (also kept in run.records).
std::vector<json>& checkRecords(AgentRun& run, const std::string& cmd, bool simulated = false) {
  static const std::set<std::string> types = {"info", "sample", "progress", "result", "error"};
  std::size_t start = 0;
  double last_t = 0;
  while (start < run.out.size()) {
    const auto end = run.out.find('\n', start);
    EXPECT_NE(end, std::string::npos) << "the last line has no newline: " << run.out;
    if (end == std::string::npos) break;
    const std::string line = run.out.substr(start, end - start);
    start = end + 1;
    json r;
    try {
      r = json::parse(line);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << line << " (" << e.what() << ")";
      continue;
    }
    const std::size_t index = run.records.size();
    EXPECT_TRUE(r.is_object()) << line;
    EXPECT_EQ(r.value("v", -1), 1) << line;
    EXPECT_EQ(r.value("cmd", std::string()), cmd) << line;
    EXPECT_TRUE(types.count(r.value("type", std::string()))) << line;
    EXPECT_TRUE(r.contains("seq") && r["seq"].is_number_integer()) << line;
    if (r.contains("seq") && r["seq"].is_number_integer()) {
      EXPECT_EQ(r["seq"].get<std::int64_t>(), std::int64_t(index)) << "seq gap at " << line;
    }
    EXPECT_TRUE(r.contains("t_ms") && r["t_ms"].is_number()) << line;
    if (r.contains("t_ms") && r["t_ms"].is_number()) {
      EXPECT_GE(r["t_ms"].get<double>(), last_t) << line;
      last_t = r["t_ms"].get<double>();
    }
    if (simulated) {
      EXPECT_EQ(r.value("simulated", false), true) << line;
    } else {
      EXPECT_FALSE(r.contains("simulated")) << line;
    }
    run.records.push_back(r);
  }
  return run.records;
}

std::vector<json> ofType(const std::vector<json>& records, const std::string& type) {
  std::vector<json> out;
  for (const auto& r : records)
    if (r["type"] == type) out.push_back(r);
  return out;
}

// A failed run: exit code `code`, and its last record is an error; returns the message.
std::string expectFailure(AgentRun& run, const std::string& cmd, int code) {
  EXPECT_EQ(run.exit_code, code) << run.out << run.err;
  auto& records = checkRecords(run, cmd);
  EXPECT_FALSE(records.empty()) << run.err;
  if (records.empty()) return {};
  EXPECT_EQ(records.back()["type"], "error") << run.out;
  EXPECT_FALSE(run.err.empty());
  return records.back().value("message", std::string());
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// info

TEST(AgentInfo, DescribesCpuMemoryStorageAndBackEnds) {
  TempDir dir;
  auto run = runAgent({"info", "--workdir", (dir / "work").string()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto& records = checkRecords(run, "info");
  ASSERT_EQ(records.size(), 1u) << run.out;
  const auto& r = records[0];
  EXPECT_EQ(r["type"], "info");
  EXPECT_GT(r["cpu"]["cores"].get<int>(), 0);
  EXPECT_FALSE(r["cpu"]["abi"].get<std::string>().empty());
  EXPECT_TRUE(r["cpu"]["freq_khz"].is_array());
  for (const auto& f : r["cpu"]["freq_khz"]) {
    EXPECT_GE(f["cpu"].get<int>(), 0);
    if (f["min"].is_number() && f["max"].is_number()) {
      EXPECT_LE(f["min"].get<std::int64_t>(), f["max"].get<std::int64_t>());
    }
  }
  EXPECT_GT(r["memory"]["total_bytes"].get<std::int64_t>(), 0);
  EXPECT_GT(r["memory"]["available_bytes"].get<std::int64_t>(), 0);
  EXPECT_LE(r["memory"]["available_bytes"].get<std::int64_t>(),
            r["memory"]["total_bytes"].get<std::int64_t>());
  // The work directory was created, and its storage is described.
  EXPECT_TRUE(fs::is_directory(dir / "work"));
  EXPECT_EQ(r["storage"]["path"], (dir / "work").string());
  EXPECT_GT(r["storage"]["free_bytes"].get<std::int64_t>(), 0);
  EXPECT_FALSE(r["storage"]["filesystem"].get<std::string>().empty());
  if (!r["storage"]["device"].is_null()) {
    EXPECT_FALSE(r["storage"]["stack"].empty());
    EXPECT_TRUE(r["storage"]["logical_block_bytes"].is_number());
  }
  // Back ends: the SIMD CPU one, the reference, and the NPU plug-in, unavailable with a reason.
  std::map<std::string, json> backends;
  for (const auto& b : r["backends"]) backends[b["name"].get<std::string>()] = b;
  ASSERT_TRUE(backends.count("reference")) << r["backends"];
  EXPECT_TRUE(backends["reference"]["available"].get<bool>());
  EXPECT_TRUE(backends.count("cpu-avx2") || backends.count("cpu-neon") || backends.count("cpu"))
      << r["backends"];
  ASSERT_TRUE(backends.count("npu"));
  EXPECT_FALSE(backends["npu"]["available"].get<bool>());
  EXPECT_TRUE(contains(backends["npu"]["reason"].get<std::string>(), "libQnnHtp.so"))
      << backends["npu"];
  EXPECT_TRUE(r["agent"]["static"].is_boolean());
}

TEST(AgentInfo, SimulatedRunsMarkEveryRecord) {
  TempDir dir;
  RunOptions o;
  o.env["DARKROOM_SIMULATED"] = "1";
  auto run = runAgent({"info", "--workdir", dir.path().string()}, o);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  checkRecords(run, "info", /*simulated=*/true);
  // Any other value is not simulated.
  o.env["DARKROOM_SIMULATED"] = "0";
  auto plain = runAgent({"info", "--workdir", dir.path().string()}, o);
  checkRecords(plain, "info", false);
}

TEST(AgentInfo, AndroidPropertiesComeFromGetpropOnPath) {
  if (::access("/system/bin/getprop", X_OK) == 0) GTEST_SKIP() << "a real Android getprop exists";
  TempDir dir;
  fs::create_directories(dir / "bin");
  const auto model = "Phone " + std::to_string(rng()() % 100000);
  {
    std::ofstream s(dir / "bin" / "getprop");
    s << "#!/bin/sh\n"
      << "echo '[ro.product.model]: [" << model << "]'\n"
      << "echo '[ro.product.cpu.abi]: [arm64-v8a]'\n"
      << "echo '[ro.soc.model]: []'\n"
      << "echo '[persist.secret.token]: [do-not-report]'\n"
      << "echo 'not a property line'\n";
  }
  fs::permissions(dir / "bin" / "getprop", fs::perms::owner_all);
  RunOptions o;
  o.env["PATH"] = (dir / "bin").string() + ":" + std::getenv("PATH");
  auto run = runAgent({"info", "--workdir", (dir / "w").string()}, o);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto r = checkRecords(run, "info").at(0);
  ASSERT_TRUE(r.contains("android")) << r;
  EXPECT_EQ(r["android"]["ro.product.model"], model);
  EXPECT_EQ(r["android"]["ro.soc.model"], "");
  EXPECT_FALSE(r["android"].contains("persist.secret.token"));
  EXPECT_EQ(r["cpu"]["abi"], "arm64-v8a");  // the property wins over uname

  // A getprop that fails is a warning, not a failed info.
  {
    std::ofstream s(dir / "bin" / "getprop");
    s << "#!/bin/sh\nexit 3\n";
  }
  auto failing = runAgent({"info", "--workdir", (dir / "w").string()}, o);
  ASSERT_EQ(failing.exit_code, 0) << failing.err;
  const auto f = checkRecords(failing, "info").at(0);
  ASSERT_TRUE(f.contains("warnings")) << f;
  EXPECT_TRUE(contains(f["warnings"][0].get<std::string>(), "exit code 3")) << f;
}

TEST(AgentInfo, NpuRuntimeFoundButNotLoadableSaysWhy) {
  TempDir dir;
  fs::create_directories(dir / "vendor");
  std::ofstream(dir / "vendor" / "libQnnHtp.so") << "not really a library";
  RunOptions o;
  o.env["DARKROOM_NPU_LIB_DIRS"] = (dir / "vendor").string();
  auto run = runAgent({"info", "--workdir", (dir / "w").string()}, o);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto r = checkRecords(run, "info").at(0);
  json npu;
  for (const auto& b : r["backends"])
    if (b["name"] == "npu") npu = b;
  ASSERT_FALSE(npu.is_null());
  EXPECT_FALSE(npu["available"].get<bool>());
  const auto reason = npu["reason"].get<std::string>();
  EXPECT_TRUE(contains(reason, (dir / "vendor" / "libQnnHtp.so").string())) << reason;
  if (r["agent"]["static"].get<bool>()) {
    EXPECT_TRUE(contains(reason, "static binary")) << reason;
  } else {
    EXPECT_TRUE(contains(reason, "could not load")) << reason;
  }
}

// ---------------------------------------------------------------------------------------------
// flash-sweep

void checkSweepSample(const json& s) {
  const auto reads = s["reads"].get<std::int64_t>();
  const auto bytes = s["read_bytes"].get<std::int64_t>();
  const auto seconds = s["seconds"].get<double>();
  EXPECT_GT(reads, 0) << s;
  EXPECT_GT(seconds, 0) << s;
  EXPECT_NEAR(s["iops"].get<double>(), double(reads) / seconds,
              0.02 * double(reads) / seconds + 1) << s;
  EXPECT_NEAR(s["mb_s"].get<double>(), double(reads) * double(bytes) / seconds / 1e6,
              0.02 * double(reads) * double(bytes) / seconds / 1e6 + 0.01) << s;
  const auto& lat = s["lat_us"];
  EXPECT_GT(lat["mean"].get<double>(), 0) << s;
  EXPECT_LE(lat["min"].get<double>(), lat["p50"].get<double>()) << s;
  EXPECT_LE(lat["p50"].get<double>(), lat["p90"].get<double>()) << s;
  EXPECT_LE(lat["p90"].get<double>(), lat["p99"].get<double>()) << s;
  EXPECT_LE(lat["p99"].get<double>(), lat["max"].get<double>()) << s;
  EXPECT_LE(lat["mean"].get<double>(), lat["max"].get<double>()) << s;
  ASSERT_TRUE(s["direct"].is_boolean()) << s;
  // Buffered reads are only a fallback, and then every sample says so.
  if (!s["direct"].get<bool>()) {
    EXPECT_TRUE(s.contains("warning")) << s;
  }
}

TEST(AgentFlashSweep, EveryPointOnceWithConsistentNumbers) {
  TempDir dir;
  const fs::path work = dir / "work";
  auto run = runAgent({"flash-sweep", "--workdir", work.string(), "--file-mb", "8", "--sizes",
                       "4096,65536", "--patterns", "random,sequential", "--depths", "1,4",
                       "--seconds", "0.05"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto& records = checkRecords(run, "flash-sweep");
  const auto samples = ofType(records, "sample");
  ASSERT_EQ(samples.size(), 8u) << run.out;
  std::set<std::tuple<std::int64_t, std::string, int>> points;
  for (const auto& s : samples) {
    points.insert({s["read_bytes"].get<std::int64_t>(), s["pattern"].get<std::string>(),
                   s["queue_depth"].get<int>()});
    checkSweepSample(s);
  }
  EXPECT_EQ(points.size(), 8u);
  for (auto size : {4096, 65536}) {
    for (auto pattern : {"random", "sequential"}) {
      for (auto depth : {1, 4}) {
        EXPECT_TRUE(points.count({size, pattern, depth}));
      }
    }
  }
  // Writing the file reports progress in bytes.
  const auto progress = ofType(records, "progress");
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back()["done"], 8 << 20);
  EXPECT_EQ(progress.back()["total"], 8 << 20);
  const auto& result = records.back();
  EXPECT_EQ(result["type"], "result");
  EXPECT_EQ(result["points"], 8);
  EXPECT_EQ(result["file_bytes"], 8 << 20);
  EXPECT_EQ(result["kept"], false);
  // The test file is removed unless kept.
  EXPECT_FALSE(fs::exists(work / "flash-sweep.bin"));
}

TEST(AgentFlashSweep, ReadCountStopsEachPointAndKeepFileKeepsIt) {
  TempDir dir;
  const int cap = 20 + int(rng()() % 60);
  auto run = runAgent({"flash-sweep", "--workdir", dir.path().string(), "--file-mb", "3",
                       "--sizes", "12288", "--patterns", "random", "--depths", "1,3", "--seconds",
                       "60", "--reads", std::to_string(cap), "--file", "sub.bin",
                       "--keep-file"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto& records = checkRecords(run, "flash-sweep");
  const auto samples = ofType(records, "sample");
  ASSERT_EQ(samples.size(), 2u);
  for (const auto& s : samples) {
    EXPECT_EQ(s["reads"].get<int>(), cap) << s;
    checkSweepSample(s);
  }
  EXPECT_EQ(records.back()["kept"], true);
  ASSERT_TRUE(fs::exists(dir / "sub.bin"));
  EXPECT_EQ(fs::file_size(dir / "sub.bin"), 3u << 20);
  // Real data, not zeros: the first page has many distinct bytes.
  std::ifstream in(dir / "sub.bin", std::ios::binary);
  std::string page(4096, '\0');
  in.read(page.data(), 4096);
  EXPECT_GT(std::set<char>(page.begin(), page.end()).size(), 200u);
}

TEST(AgentFlashSweep, MemoryFileSystemIsFlaggedInEverySample) {
  if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  std::string pattern = "/dev/shm/darkroom-agent-test-XXXXXX";
  if (!::mkdtemp(pattern.data())) GTEST_SKIP() << "cannot create a folder in /dev/shm";
  const fs::path shm = pattern;
  auto run = runAgent({"flash-sweep", "--workdir", shm.string(), "--file-mb", "1", "--sizes",
                       "4096", "--patterns", "random,sequential", "--depths", "2", "--seconds",
                       "0.02"});
  std::error_code ec;
  fs::remove_all(shm, ec);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto& records = checkRecords(run, "flash-sweep");
  const auto samples = ofType(records, "sample");
  ASSERT_EQ(samples.size(), 2u);
  // tmpfs either refuses O_DIRECT (buffered fallback) or accepts it (Linux 6.6+) and still
  // serves memory: both are said in every sample.
  for (const auto& s : samples) {
    checkSweepSample(s);
    ASSERT_TRUE(s.contains("warning")) << s;
    EXPECT_TRUE(contains(s["warning"].get<std::string>(), "tmpfs")) << s;
  }
  EXPECT_TRUE(records.back().contains("warning"));
}

TEST(AgentFlashSweep, ASignalStopsItWithAnErrorAndRemovesTheFile) {
  TempDir dir;
  RunOptions o;
  o.on_line = [&](const std::string& line, pid_t pid) {
    if (contains(line, "\"type\":\"sample\"")) ::kill(pid, SIGTERM);
  };
  auto run = runAgent({"flash-sweep", "--workdir", dir.path().string(), "--file-mb", "2",
                       "--sizes", "4096", "--depths", "1,2,3", "--seconds", "0.2"},
                      o);
  const auto message = expectFailure(run, "flash-sweep", 1);
  EXPECT_TRUE(contains(message, "interrupted by SIGTERM")) << message;
  EXPECT_TRUE(contains(message, "of 6 points")) << message;
  EXPECT_LT(ofType(run.records, "sample").size(), 6u);
  EXPECT_FALSE(fs::exists(dir / "flash-sweep.bin"));
}

TEST(AgentFlashSweep, NotEnoughSpaceIsAClearError) {
  TempDir dir;
  auto run = runAgent({"flash-sweep", "--workdir", dir.path().string(), "--file-mb", "1048576",
                       "--sizes", "4096"});
  const auto message = expectFailure(run, "flash-sweep", 1);
  EXPECT_TRUE(contains(message, "not enough free space")) << message;
  EXPECT_TRUE(contains(message, "--file-mb")) << message;
  EXPECT_FALSE(fs::exists(dir / "flash-sweep.bin"));
}

// ---------------------------------------------------------------------------------------------
// flash-replay against the host engine

template <typename F>
auto runJob(F work) {
  darkroom::JobQueue queue(1);
  using R = decltype(work(std::declval<darkroom::JobContext&>()));
  R result{};
  std::exception_ptr error;
  auto id = queue.submit("agent-test", "replay", [&](darkroom::JobContext& ctx) -> std::any {
    try {
      result = work(ctx);
    } catch (...) {
      error = std::current_exception();
    }
    return {};
  });
  queue.wait(id);
  if (error) std::rethrow_exception(error);
  return result;
}

struct ReplayFixture {
  fs::path layout, trace;
  std::int64_t tokens = 0;
};

// A synthetic layout with awkward layer sizes, a bundle size that is not a multiple of 4 KiB and
// a random placement, and a trace of random activations with a per-layer density.
ReplayFixture makeReplayFixture(const fs::path& dir) {
  auto& g = rng();
  ReplayFixture f;
  const std::vector<std::int64_t> neurons = {std::int64_t(200 + g() % 300),
                                             std::int64_t(97 + g() % 50), 333};
  const std::int64_t bundle = 700 + std::int64_t(g() % 3000);
  nl::Placement placement;
  placement.method = nl::PlacementMethod::Frequency;
  for (auto n : neurons) {
    nl::LayerPlacement lp;
    lp.order.resize(std::size_t(n));
    std::iota(lp.order.begin(), lp.order.end(), 0);
    std::shuffle(lp.order.begin(), lp.order.end(), g);
    placement.layers.push_back(lp);
  }
  f.layout = dir / "synthetic.layout";
  nl::writeSyntheticLayout(neurons, bundle, placement, f.layout);

  nl::ActivationTrace trace;
  trace.source = "agent test";
  f.tokens = 25 + std::int64_t(g() % 20);
  for (auto n : neurons) {
    nl::LayerTrace lt;
    lt.neurons = n;
    const double density = 0.02 + 0.2 * double(g() % 1000) / 1000.0;
    std::bernoulli_distribution on(density);
    for (std::int64_t t = 0; t < f.tokens; ++t) {
      std::vector<std::int32_t> active;
      for (std::int64_t k = 0; k < n; ++k)
        if (on(g)) active.push_back(std::int32_t(k));
      lt.addToken(active);
    }
    trace.layers.push_back(lt);
  }
  f.trace = dir / "trace.safetensors";
  trace.save(f.trace);
  return f;
}

struct ReplayCase {
  std::vector<std::string> flags;
  std::function<void(nl::IoOptions&)> host;  // the same options for the host engine
};

TEST(AgentFlashReplay, PerTokenReadsMatchTheHostEngine) {
  TempDir dir;
  const auto fixture = makeReplayFixture(dir.path());
  const auto layout = nl::readFlashLayout(fixture.layout);
  const auto trace = nl::ActivationTrace::load(fixture.trace);

  const std::int64_t limited = 1 + std::int64_t(rng()() % std::uint64_t(fixture.tokens - 1));
  const std::vector<ReplayCase> cases = {
      {{}, [](nl::IoOptions&) {}},
      {{"--policy", "lru", "--cache-fraction", "0.2", "--queue-depth", "4"},
       [](nl::IoOptions& o) {
         o.cache = nl::CachePolicy::Lru;
         o.cache_fraction = 0.2;
         o.queue_depth = 4;
       }},
      {{"--policy", "linked", "--cache-mb", "1", "--seed", "7"},
       [](nl::IoOptions& o) {
         o.cache = nl::CachePolicy::S3FifoLinked;
         o.cache_bytes = 1 << 20;
         o.seed = 7;
       }},
      {{"--policy", "s3fifo", "--collapse", "--fixed-gap", "--gap-kb", "16"},
       [](nl::IoOptions& o) {
         o.cache = nl::CachePolicy::S3Fifo;
         o.collapse = true;
         o.adaptive_collapse = false;
         o.collapse_gap_bytes = 16 * 1024;
       }},
      {{"--per-neuron", "--tokens", std::to_string(limited)},
       [limited](nl::IoOptions& o) {
         o.merge_adjacent = false;
         o.max_tokens = limited;
       }},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"flash-replay", "--workdir", (dir / "work").string(),
                                     "--layout", fixture.layout.string(), "--trace",
                                     fixture.trace.string()};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    std::string label;
    for (const auto& f : c.flags) label += f + " ";
    SCOPED_TRACE(label);
    auto run = runAgent(args);
    ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
    auto& records = checkRecords(run, "flash-replay");
    const auto samples = ofType(records, "sample");
    const auto& result = records.back();
    ASSERT_EQ(result["type"], "result");

    nl::IoOptions options;
    c.host(options);
    options.direct = result["direct"].get<bool>();  // what the agent could use on this disk
    const auto host = runJob([&](darkroom::JobContext& ctx) {
      return nl::replay(layout, trace, options, ctx);
    });
    ASSERT_EQ(samples.size(), host.tokens.size());
    for (std::size_t t = 0; t < samples.size(); ++t) {
      const auto& s = samples[t];
      const auto& h = host.tokens[t];
      EXPECT_EQ(s["token"].get<std::int64_t>(), std::int64_t(t));
      EXPECT_EQ(s["reads"].get<std::int64_t>(), h.reads) << "token " << t;
      EXPECT_EQ(s["bytes_read"].get<std::int64_t>(), h.bytes_read) << "token " << t;
      EXPECT_EQ(s["bytes_useful"].get<std::int64_t>(), h.bytes_useful) << "token " << t;
      EXPECT_EQ(s["cache_hits"].get<std::int64_t>(), h.cache_hits) << "token " << t;
      EXPECT_GE(s["latency_ms"].get<double>(), 0);
      if (h.reads > 0) {
        EXPECT_GT(s["latency_ms"].get<double>(), 0);
      }
      EXPECT_GE(s["bytes_read"].get<std::int64_t>(), s["bytes_useful"].get<std::int64_t>());
    }
    EXPECT_EQ(result["tokens"].get<std::size_t>(), host.tokens.size());
    EXPECT_EQ(result["reads"].get<std::int64_t>(), host.reads);
    EXPECT_EQ(result["bytes_read"].get<std::int64_t>(), host.bytes_read);
    EXPECT_EQ(result["bytes_useful"].get<std::int64_t>(), host.bytes_useful);
    EXPECT_EQ(result["cache_hits"].get<std::int64_t>(), host.cache_hits);
    EXPECT_EQ(result["activated"].get<std::int64_t>(), host.activated);
    EXPECT_EQ(result["read_length_histogram"].get<std::vector<std::int64_t>>(),
              host.read_length_histogram);
    EXPECT_EQ(result["cache_capacity_bytes"].get<std::int64_t>(), host.cache_capacity_bytes);
    EXPECT_EQ(result["engine"].get<std::string>(), host.engine);
    EXPECT_GT(result["iops"].get<double>(), 0);
    EXPECT_LE(result["p50_ms"].get<double>(), result["p90_ms"].get<double>());
    EXPECT_LE(result["p90_ms"].get<double>(), result["p99_ms"].get<double>());
    // The agent reads; it does not write its inputs or anything next to them.
    EXPECT_TRUE(fs::is_empty(dir / "work"));
  }
}

TEST(AgentFlashReplay, BadInputsAreClearErrors) {
  TempDir dir;
  const auto fixture = makeReplayFixture(dir.path());
  // A file that is not a layout: exit 1 naming the file.
  std::ofstream(dir / "garbage.layout") << std::string(300, 'x');
  auto bad = runAgent({"flash-replay", "--workdir", (dir / "w").string(), "--layout",
                       (dir / "garbage.layout").string(), "--trace", fixture.trace.string()});
  auto message = expectFailure(bad, "flash-replay", 1);
  EXPECT_TRUE(contains(message, "garbage.layout")) << message;
  EXPECT_TRUE(contains(message, "not a Darkroom flash layout")) << message;
  // A trace that does not fit the layout.
  nl::ActivationTrace other;
  nl::LayerTrace lt;
  lt.neurons = 10;
  lt.addToken({1, 2});
  other.layers.push_back(lt);
  other.save(dir / "other.safetensors");
  auto mismatch = runAgent({"flash-replay", "--workdir", (dir / "w").string(), "--layout",
                            fixture.layout.string(), "--trace",
                            (dir / "other.safetensors").string()});
  message = expectFailure(mismatch, "flash-replay", 1);
  EXPECT_TRUE(contains(message, "layers")) << message;
  // A missing input file.
  auto missing = runAgent({"flash-replay", "--workdir", (dir / "w").string(), "--layout",
                           (dir / "nope.layout").string(), "--trace", fixture.trace.string()});
  message = expectFailure(missing, "flash-replay", 1);
  EXPECT_TRUE(contains(message, "nope.layout")) << message;
}

// ---------------------------------------------------------------------------------------------
// kernels

TEST(AgentKernels, CpuAndReferenceTimeEveryKernelAndBatch) {
  TempDir dir;
  auto info = runAgent({"info", "--workdir", dir.path().string()});
  ASSERT_EQ(info.exit_code, 0);
  const auto backends = checkRecords(info, "info").at(0)["backends"];
  auto& g = rng();
  const auto rows = std::to_string(17 + g() % 60), cols = std::to_string(9 + g() % 70);
  for (const std::string backend : {"cpu", "reference"}) {
    SCOPED_TRACE(backend);
    bool available = backend == "reference";
    std::string name = backend;
    for (const auto& b : backends) {
      const auto n = b["name"].get<std::string>();
      if (backend == "cpu" && n.rfind("cpu", 0) == 0) {
        available = b["available"].get<bool>();
        name = n;
      }
    }
    auto run = runAgent({"kernels", "--workdir", dir.path().string(), "--backend", backend,
                         "--rows", rows, "--cols", cols, "--batches", "1,3", "--kv", "37",
                         "--heads", "4", "--kv-heads", "2", "--head-dim", "24", "--min-ms",
                         "1"});
    if (!available) {
      const auto message = expectFailure(run, "kernels", 1);
      EXPECT_TRUE(contains(message, name)) << message;
      continue;
    }
    ASSERT_EQ(run.exit_code, 0) << run.err;
    auto& records = checkRecords(run, "kernels");
    const auto samples = ofType(records, "sample");
    std::set<std::pair<std::string, int>> seen;
    for (const auto& s : samples) {
      seen.insert({s["kernel"].get<std::string>(), s["batch"].get<int>()});
      EXPECT_EQ(s["backend"], name) << s;
      EXPECT_GT(s["ms"].get<double>(), 0) << s;
      EXPECT_GE(s["reps"].get<int>(), 3) << s;
      EXPECT_GT(s["gb_s"].get<double>(), 0) << s;
    }
    for (const char* k : {"quant-gemm-q4_0-tile", "dense-gemm-f32", "lut-softmax",
                          "float-softmax", "lut-attention", "float-attention"}) {
      for (int batch : {1, 3}) {
        EXPECT_TRUE(seen.count({k, batch})) << k << " batch " << batch;
      }
    }
    EXPECT_EQ(samples.size(), 12u);
    for (const auto& s : samples) {
      if (s["kernel"] == "quant-gemm-q4_0-tile") {
        EXPECT_EQ(s["rows"], std::stoi(rows));
        EXPECT_EQ(s["cols"], std::stoi(cols));
      }
    }
    EXPECT_EQ(records.back()["type"], "result");
    EXPECT_EQ(records.back()["points"], 12);
  }
}

TEST(AgentKernels, NpuIsAnErrorRecordNeverASubstitute) {
  TempDir dir;
  auto run = runAgent({"kernels", "--workdir", dir.path().string(), "--backend", "npu",
                       "--rows", "64", "--cols", "64", "--batches", "1"});
  const auto message = expectFailure(run, "kernels", 1);
  EXPECT_TRUE(contains(message, "npu")) << message;
  EXPECT_TRUE(contains(message, "unavailable")) << message;
  EXPECT_TRUE(ofType(run.records, "sample").empty()) << run.out;
}

// ---------------------------------------------------------------------------------------------
// monitor

TEST(AgentMonitor, CountSamplesThenAResult) {
  TempDir dir;
  auto info = runAgent({"info", "--workdir", dir.path().string()});
  const int cores = checkRecords(info, "info").at(0)["cpu"]["cores"].get<int>();
  auto run = runAgent({"monitor", "--workdir", dir.path().string(), "--interval-ms", "20",
                       "--count", "3"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto& records = checkRecords(run, "monitor");
  const auto samples = ofType(records, "sample");
  ASSERT_EQ(samples.size(), 3u);
  for (const auto& s : samples) {
    EXPECT_EQ(s["cpu_freq_khz"].size(), std::size_t(cores)) << s;
    ASSERT_TRUE(s["thermal"].is_array());
    for (const auto& z : s["thermal"]) {
      EXPECT_TRUE(z["zone"].is_number_integer()) << z;
      EXPECT_TRUE(z["type"].is_string()) << z;
      if (z["temp_c"].is_number()) {
        EXPECT_GT(z["temp_c"].get<double>(), -60) << z;
        EXPECT_LT(z["temp_c"].get<double>(), 200) << z;
      }
    }
    EXPECT_GT(s["mem_available_bytes"].get<std::int64_t>(), 0);
    EXPECT_GE(s["load1"].get<double>(), 0);
  }
  // Samples are spaced by the interval (the first one comes at once).
  EXPECT_GE(samples[2]["t_ms"].get<double>() - samples[0]["t_ms"].get<double>(), 20.0);
  EXPECT_EQ(records.back()["type"], "result");
  EXPECT_EQ(records.back()["samples"], 3);
  EXPECT_FALSE(records.back().contains("interrupted"));
}

TEST(AgentMonitor, SignalsEndItWithAResult) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    TempDir dir;
    int lines = 0;
    RunOptions o;
    o.on_line = [&](const std::string&, pid_t pid) {
      if (++lines == 2) ::kill(pid, sig);
    };
    auto run = runAgent({"monitor", "--workdir", dir.path().string(), "--interval-ms", "30"}, o);
    ASSERT_EQ(run.exit_code, 0) << "signal " << sig << ": " << run.err;
    auto& records = checkRecords(run, "monitor");
    ASSERT_GE(records.size(), 3u);
    const auto& last = records.back();
    EXPECT_EQ(last["type"], "result");
    EXPECT_EQ(last["samples"].get<std::size_t>(), records.size() - 1);
    EXPECT_EQ(last["interrupted"],
              sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP");
  }
}

TEST(AgentMonitor, AReaderThatGoesAwayEndsIt) {
  TempDir dir;
  RunOptions o;
  o.close_after_lines = 2;
  o.timeout_s = 20;
  const auto t0 = std::chrono::steady_clock::now();
  auto run = runAgent({"monitor", "--workdir", dir.path().string(), "--interval-ms", "10"}, o);
  EXPECT_EQ(run.exit_code, 1) << run.err;  // not killed by SIGPIPE, and not running on
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

// ---------------------------------------------------------------------------------------------
// Arguments, the work directory and writing outside it

TEST(AgentArguments, BadArgumentsExitTwoNamingTheFlag) {
  TempDir dir;
  const std::string w = dir.path().string();
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {{"flash-sweep", "--workdir", w, "--sizes", "4096,5000"}, "--sizes"},
      {{"flash-sweep", "--workdir", w, "--sizes", "4096,x"}, "--sizes"},
      {{"flash-sweep", "--workdir", w, "--sizes", "4096,4096"}, "--sizes"},
      {{"flash-sweep", "--workdir", w, "--patterns", "zigzag"}, "--patterns"},
      {{"flash-sweep", "--workdir", w, "--depths", "0"}, "--depths"},
      {{"flash-sweep", "--workdir", w, "--seconds", "soon"}, "--seconds"},
      {{"flash-sweep", "--workdir", w, "--file-mb", "1", "--sizes", "2097152"}, "--sizes"},
      {{"flash-sweep", "--workdir", w, "--bogus", "1"}, "--bogus"},
      {{"flash-sweep", "--workdir", w, "--file-mb"}, "--file-mb"},
      {{"flash-replay", "--workdir", w, "--trace", "t"}, "--layout"},
      {{"flash-replay", "--workdir", w, "--layout", "l", "--trace", "t", "--policy", "mru"},
       "--policy"},
      {{"flash-replay", "--workdir", w, "--layout", "l", "--trace", "t", "--queue-depth", "0"},
       "--queue-depth"},
      {{"kernels", "--workdir", w, "--batches", "1,,2"}, "--batches"},
      {{"kernels", "--workdir", w, "--backend", "gpu"}, "--backend"},
      {{"kernels", "--workdir", w, "--heads", "6", "--kv-heads", "4"}, "--kv-heads"},
      {{"kernels", "--workdir", w, "--kernels", "softmax", "--batches", "256", "--heads", "256",
        "--kv-heads", "1", "--head-dim", "1", "--kv", "1048576"},
       "--heads"},
      {{"monitor", "--workdir", w, "--interval-ms", "-5"}, "--interval-ms"},
      {{"monitor", "--workdir", w, "--count", "3", "--count", "4"}, "--count"},
      {{"monitor", "--workdir", w, "--help=yes"}, "--help"},
      {{"info", "--workdir", w, "stray"}, "stray"},
      {{"info", "--workdir", ""}, "--workdir"},
  };
  for (const auto& c : cases) {
    std::string label;
    for (const auto& a : c.args) label += a + " ";
    SCOPED_TRACE(label);
    auto run = runAgent(c.args);
    const auto message = expectFailure(run, c.args[0], 2);
    ASSERT_EQ(run.records.size(), 1u) << run.out;
    EXPECT_TRUE(contains(message, c.flag)) << message;
    EXPECT_EQ(run.records.back()["flag"], c.flag);
    EXPECT_EQ(run.records.back()["usage"], true);
    EXPECT_TRUE(contains(run.err, c.flag)) << run.err;
    EXPECT_TRUE(contains(run.err, "usage: darkroom-agent")) << run.err;
  }
  // No subcommand, or an unknown one.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{}, std::vector<std::string>{"benchmark"}}) {
    auto run = runAgent(args);
    const auto message = expectFailure(run, args.empty() ? "" : args[0], 2);
    EXPECT_TRUE(contains(message, "subcommand")) << message;
    EXPECT_TRUE(contains(message, "flash-sweep")) << message;
  }
}

TEST(AgentArguments, HelpPrintsUsage) {
  auto run = runAgent({"--help"});
  EXPECT_EQ(run.exit_code, 0);
  for (const char* c : {"info", "flash-sweep", "flash-replay", "kernels", "monitor"})
    EXPECT_TRUE(contains(run.out, c)) << run.out;
  auto sub = runAgent({"flash-sweep", "--help"});
  EXPECT_EQ(sub.exit_code, 0);
  EXPECT_TRUE(contains(sub.out, "--file-mb")) << sub.out;
  EXPECT_TRUE(contains(sub.out, "--workdir")) << sub.out;
}

TEST(AgentWorkDir, ADirectoryThatCannotBeCreatedIsAClearError) {
  TempDir dir;
  std::ofstream(dir / "plain-file") << "x";
  const auto impossible = (dir / "plain-file" / "work").string();
  for (const char* cmd : {"info", "monitor", "flash-sweep"}) {
    auto run = runAgent({cmd, "--workdir", impossible});
    const auto message = expectFailure(run, cmd, 1);
    EXPECT_TRUE(contains(message, "cannot create the work directory")) << message;
    EXPECT_TRUE(contains(message, impossible)) << message;
    EXPECT_TRUE(contains(message, "--workdir")) << message;
  }
  // A work directory that is a file.
  auto run = runAgent({"info", "--workdir", (dir / "plain-file").string()});
  const auto message = expectFailure(run, "info", 1);
  EXPECT_TRUE(contains(message, "not a directory")) << message;
}

TEST(AgentWorkDir, WritingOutsideTheWorkDirectoryIsRefused) {
  TempDir dir;
  const fs::path work = dir / "work", outside = dir / "outside";
  fs::create_directories(work);
  fs::create_directories(outside);
  fs::create_directory_symlink(outside, work / "escape");
  fs::create_symlink(outside / "dangling.bin", work / "dangling.bin");
  const std::vector<std::string> names = {
      "../outside/up.bin",                    // `..` out of it
      (outside / "absolute.bin").string(),    // an absolute path elsewhere
      "escape/through-link.bin",              // a directory link pointing out
      "dangling.bin",                         // a link to a file that does not exist yet
      "sub/../../outside/again.bin",          // `..` after a name
      work.string(),                          // the directory itself
  };
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto run = runAgent({"flash-sweep", "--workdir", work.string(), "--file-mb", "1", "--sizes",
                         "4096", "--seconds", "0.01", "--file", name});
    const auto message = expectFailure(run, "flash-sweep", 2);
    EXPECT_EQ(run.records.back()["flag"], "--file");
    EXPECT_TRUE(contains(message, "--file")) << message;
  }
  // Nothing was written outside, and a name inside (even an absolute one) works.
  EXPECT_TRUE(fs::is_empty(outside));
  auto ok = runAgent({"flash-sweep", "--workdir", work.string(), "--file-mb", "1", "--sizes",
                      "4096", "--patterns", "random", "--depths", "1", "--seconds", "0.01",
                      "--file", (work / "inside.bin").string(), "--keep-file"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(fs::exists(work / "inside.bin"));
  EXPECT_TRUE(fs::is_empty(outside));
}

}  // namespace

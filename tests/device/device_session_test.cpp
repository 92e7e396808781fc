// The profiling flow (darkroom/device/session.h): agent record parsing on random and broken
// lines, the agent lookup per ABI, headline numbers, stored profiles read back; then, with the
// real adb server on a private port and darkroom-simphone, the whole flow: describe, push the
// agent once, a large random push checked on the device, streamed agent runs, stored profiles,
// cancellation, and a phone unplugged in the middle of a push.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <any>
#include <atomic>
#include <fstream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "adb_server_fixture.h"
#include "darkroom/device/session.h"
#include "test_util.h"

using namespace darkroom;
using namespace darkroom::device;
using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using test::rng;

namespace {

// ---- record parsing ----

std::string randomKey(std::mt19937_64& g) {
  static const std::string chars = "abcdefghijklmnopqrstuvwxyz_0123456789";
  std::string k(1 + g() % 8, 'a');
  for (auto& c : k) c = chars[g() % chars.size()];
  return k;
}

json randomValue(std::mt19937_64& g, int depth) {
  switch (g() % (depth < 4 ? 8 : 5)) {
    case 0: return static_cast<std::int64_t>(g() % 2000001) - 1000000;
    case 1: return std::uniform_real_distribution<double>(-1e9, 1e9)(g);
    case 2: return randomKey(g) + " \"quoted\" é";
    case 3: return g() % 2 == 0;
    case 4: return nullptr;
    case 5:
    case 6: {
      json o = json::object();
      for (int i = 0, n = int(g() % 5); i < n; ++i) o[randomKey(g)] = randomValue(g, depth + 1);
      return o;
    }
    default: {
      json a = json::array();
      for (int i = 0, n = int(g() % 5); i < n; ++i) a.push_back(randomValue(g, depth + 1));
      return a;
    }
  }
}

// The flattening the header promises, written out independently.
void expectFlat(const json& v, const std::string& key, std::map<std::string, double>& numbers,
                std::map<std::string, std::string>& strings) {
  if (v.is_object()) {
    for (auto& [k, x] : v.items()) expectFlat(x, key.empty() ? k : key + "." + k, numbers, strings);
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i)
      expectFlat(v[i], key + "." + std::to_string(i), numbers, strings);
  } else if (v.is_boolean()) {
    numbers[key] = v.get<bool>() ? 1 : 0;
  } else if (v.is_number()) {
    numbers[key] = v.get<double>();
  } else if (v.is_string()) {
    strings[key] = v.get<std::string>();
  }
}

TEST(AgentRecord, FlattensRandomNestedObjects) {
  auto& g = rng();
  for (int trial = 0; trial < 300; ++trial) {
    json j = json::object();
    for (int i = 0, n = int(g() % 8); i < n; ++i) j[randomKey(g)] = randomValue(g, 0);
    j["v"] = 1;
    j["cmd"] = "flash-sweep";
    j["type"] = "sample";
    j["t_ms"] = double(g() % 100000) / 7;
    j["simulated"] = trial % 2 == 0;
    const std::string line = j.dump();
    auto r = parseAgentRecord(line);
    std::map<std::string, double> numbers;
    std::map<std::string, std::string> strings;
    expectFlat(j, "", numbers, strings);
    EXPECT_EQ(r.line, line);
    EXPECT_EQ(r.cmd, "flash-sweep");
    EXPECT_EQ(r.type, "sample");
    EXPECT_DOUBLE_EQ(r.t_ms, j["t_ms"].get<double>());
    EXPECT_EQ(r.simulated, trial % 2 == 0);
    EXPECT_EQ(r.strings, strings) << line;
    ASSERT_EQ(r.numbers.size(), numbers.size()) << line;
    for (const auto& [k, v] : numbers) EXPECT_DOUBLE_EQ(r.number(k, NAN), v) << k;
    EXPECT_EQ(r.number("no.such.key", -3), -3);
    EXPECT_EQ(r.text("no.such.key", "x"), "x");
  }
}

TEST(AgentRecord, ReadsTheProtocolsOwnExample) {
  auto r = parseAgentRecord(
      R"({"v":1,"cmd":"flash-sweep","type":"sample","t_ms":12.5,"seq":3,"read_bytes":4096,)"
      R"("pattern":"random","queue_depth":4,"lat_us":{"mean":80.5,"p99":210},"direct":true,)"
      R"("cpu_freq_khz":[1800000,2400000]})");
  EXPECT_EQ(r.number("lat_us.p99"), 210);
  EXPECT_EQ(r.number("lat_us.mean"), 80.5);
  EXPECT_EQ(r.number("direct"), 1);
  EXPECT_EQ(r.number("cpu_freq_khz.1"), 2400000);
  EXPECT_EQ(r.text("pattern"), "random");
  EXPECT_EQ(r.number("seq"), 3);
  EXPECT_FALSE(r.simulated);
  // A minor revision of version 1 is still version 1.
  EXPECT_NO_THROW(parseAgentRecord(R"({"v":1.2,"type":"info"})"));
}

TEST(AgentRecord, RefusesBadLinesNamingThem) {
  std::string deep = R"({"v":1,"x":)";
  for (int i = 0; i < 100; ++i) deep += "[";
  deep += "1";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "not a JSON line"},
      {"hello agent", "not a JSON line"},
      {R"({"v":1,"cmd":"info","type":"info","t_ms":)", "not a JSON line"},  // cut mid-record
      {R"({"v":1} trailing)", "not a JSON line"},
      {"[1,2,3]", "not a JSON object"},
      {"42", "not a JSON object"},
      {R"("v")", "not a JSON object"},
      {R"({"cmd":"info","type":"info"})", "no format version"},
      {R"({"v":"1","type":"info"})", "no format version"},
      {R"({"v":2,"cmd":"info","type":"info"})", "format version 2"},
      {R"({"v":17.5,"type":"info"})", "format version 17.5"},
      {R"({"v":0,"type":"info"})", "format version 0"},
      {deep, "nests deeper"},
  };
  for (const auto& [line, why] : bad) {
    try {
      parseAgentRecord(line);
      ADD_FAILURE() << "accepted: " << line;
    } catch (const DeviceError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(why), std::string::npos) << msg;
      // The line itself (its start) is quoted so a user can find it.
      EXPECT_NE(msg.find("'" + line.substr(0, 40)), std::string::npos) << msg;
    }
  }
  // Random bytes never crash the parser: they are refused or parsed, nothing else.
  auto& g = rng();
  for (int i = 0; i < 2000; ++i) {
    std::string junk(g() % 64, ' ');
    for (auto& c : junk) c = static_cast<char>(g() % 256);
    if (g() % 2) junk = R"({"v":1,"a":)" + junk;
    try {
      parseAgentRecord(junk);
    } catch (const DeviceError&) {
    }
  }
}

// ---- binaries ----

std::uint16_t elfMachine(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  unsigned char h[20] = {};
  in.read(reinterpret_cast<char*>(h), sizeof h);
  return static_cast<std::uint16_t>(h[18] | (h[19] << 8));
}

TEST(AgentBinary, HostAbiIsTheHostBuild) {
#if defined(__x86_64__)
  EXPECT_EQ(hostAbi(), "x86_64");
#elif defined(__aarch64__)
  EXPECT_EQ(hostAbi(), "arm64-v8a");
#endif
  auto p = agentBinaryForAbi(hostAbi());
  EXPECT_TRUE(fs::is_regular_file(p)) << p;
  EXPECT_EQ(p.filename(), "darkroom-agent");
  EXPECT_EQ(::access(p.c_str(), X_OK), 0) << p;
  EXPECT_TRUE(fs::is_regular_file(simphoneBinary()));
}

TEST(AgentBinary, OtherAbisSayWhatIsMissing) {
  for (const std::string abi : {"armeabi-v7a", "x86", "mips64", "riscv64"}) {
    try {
      agentBinaryForAbi(abi);
      ADD_FAILURE() << abi;
    } catch (const DeviceError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + abi + "'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not supported"), std::string::npos) << e.what();
    }
  }
  try {
    agentBinaryForAbi("");
    ADD_FAILURE();
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("ro.product.cpu.abi"), std::string::npos) << e.what();
  }
  if (hostAbi() == "arm64-v8a") return;
  // An arm64 phone on an x86-64 host needs the cross build: either it is there (an aarch64
  // ELF file), or the error says how to get it.
  try {
    auto p = agentBinaryForAbi("arm64-v8a");
    EXPECT_EQ(elfMachine(p), 183) << p;
  } catch (const DeviceError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("arm64-v8a"), std::string::npos) << msg;
    EXPECT_TRUE(msg.find("g++-aarch64-linux-gnu") != std::string::npos ||
                msg.find("ninja darkroom_aarch64") != std::string::npos)
        << msg;
  }
}

// ---- headlines and stored profiles (no device needed) ----

AgentRecord record(const json& j) { return parseAgentRecord(j.dump()); }

TEST(ProfileHeadline, FlashSweepPeakAndRandom4K) {
  auto& g = rng();
  std::vector<AgentRecord> records;
  double peak = 0, best4k = 0;
  int seq = 0;
  for (std::int64_t size : {4096, 16384, 1 << 20})
    for (const char* pattern : {"random", "sequential"})
      for (int qd : {1, 4, 32}) {
        const double mb_s = std::uniform_real_distribution<double>(1, 3000)(g);
        const double iops = mb_s * 1e6 / double(size);
        peak = std::max(peak, mb_s);
        if (size == 4096 && std::string(pattern) == "random") best4k = std::max(best4k, iops);
        records.push_back(record({{"v", 1}, {"cmd", "flash-sweep"}, {"type", "sample"},
                                  {"seq", seq++}, {"read_bytes", size}, {"pattern", pattern},
                                  {"queue_depth", qd}, {"iops", iops}, {"mb_s", mb_s},
                                  {"lat_us", {{"p50", 10}, {"p99", 99}}}}));
      }
  records.push_back(record({{"v", 1}, {"cmd", "flash-sweep"}, {"type", "result"}, {"points", 18}}));
  auto h = profileHeadline("flash-sweep", records);
  std::map<std::string, double> n(h.numbers.begin(), h.numbers.end());
  EXPECT_DOUBLE_EQ(n.at("peak_mb_s"), peak);
  EXPECT_DOUBLE_EQ(n.at("rand4k_iops"), best4k);
  EXPECT_NE(h.text.find("MB/s"), std::string::npos);
  EXPECT_NE(h.text.find("IOPS"), std::string::npos);
}

TEST(ProfileHeadline, KernelsReplayMonitorInfo) {
  std::vector<AgentRecord> k;
  for (int batch : {1, 2, 4, 8, 16})
    k.push_back(record({{"v", 1}, {"type", "sample"}, {"kernel", "quant-gemm-q4_0-tile"},
                        {"backend", "cpu-avx2"}, {"batch", batch}, {"ms", 0.5 * batch}}));
  auto h = profileHeadline("kernels", k);
  std::map<std::string, double> n(h.numbers.begin(), h.numbers.end());
  EXPECT_DOUBLE_EQ(n.at("gemv_ms_batch1"), 0.5);
  EXPECT_DOUBLE_EQ(n.at("gemv_ms_batch8"), 4.0);
  EXPECT_DOUBLE_EQ(n.at("batch8_over_batch1"), 8.0);

  auto r = profileHeadline(
      "flash-replay", {record({{"v", 1}, {"type", "result"}, {"p50_ms", 1.25}, {"p99_ms", 7.5},
                               {"effective_mb_s", 321}, {"iops", 1000}, {"policy", "lru"}})});
  std::map<std::string, double> rn(r.numbers.begin(), r.numbers.end());
  EXPECT_EQ(rn.at("p50_ms"), 1.25);
  EXPECT_EQ(rn.at("p99_ms"), 7.5);
  EXPECT_NE(r.text.find("lru"), std::string::npos);

  std::vector<AgentRecord> m;
  for (double t : {40.0, 55.5, 47.0})
    m.push_back(record({{"v", 1}, {"type", "sample"}, {"load1", 1.0},
                        {"thermal",
                         {{{"zone", 0}, {"temp_c", t}}, {{"zone", 1}, {"temp_c", 30}}}}}));
  auto mh = profileHeadline("monitor", m);
  std::map<std::string, double> mn(mh.numbers.begin(), mh.numbers.end());
  EXPECT_EQ(mn.at("samples"), 3);
  EXPECT_EQ(mn.at("max_temp_c"), 55.5);
  EXPECT_EQ(profileHeadline("flash-sweep", {}).text, "no samples");
}

TEST(StoredProfiles, LoadSplitsTheHeaderAndOrdersNewestFirst) {
  test::TempDir tmp;
  auto store = Store::open(tmp / "darkroom.db");
  Device phone{0, "SER1", "Pixel", "arm64-v8a", "fp", false, 0};
  Device sim{0, "127.0.0.1:5555", "Darkroom SimPhone", "x86_64", "", true, 0};
  auto a = store.upsertDevice(phone), b = store.upsertDevice(sim);
  auto payload = [](const std::string& kind, const std::string& label, int n) {
    std::string p = json{{"v", 1}, {"cmd", kind}, {"type", "request"}, {"t_ms", 0},
                         {"label", label}, {"args", {"--x", "1"}}}
                        .dump() +
                    "\n";
    for (int i = 0; i < n; ++i)
      p += json{{"v", 1}, {"cmd", kind}, {"type", "sample"}, {"seq", i}}.dump() + "\n";
    return p;
  };
  std::vector<std::int64_t> ids;
  ids.push_back(store.addDeviceProfile({0, a, std::nullopt, "kernels", "cpu-neon",
                                        payload("kernels", "first", 3), 0}));
  ids.push_back(store.addDeviceProfile({0, b, std::nullopt, "flash-sweep", "sda",
                                        payload("flash-sweep", "layout A", 5), 0}));
  ids.push_back(store.addDeviceProfile({0, a, std::nullopt, "flash-sweep", "mmcblk0",
                                        payload("flash-sweep", "", 0), 0}));
  auto all = loadProfiles(store);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].row.id, ids[2]);  // newest first
  EXPECT_EQ(all[2].row.id, ids[0]);
  EXPECT_EQ(all[2].label, "first");
  EXPECT_EQ(all[2].records.size(), 3u);
  EXPECT_EQ(all[2].request.type, "request");
  EXPECT_EQ(all[2].request.text("args.0"), "--x");
  EXPECT_EQ(all[2].device.serial, "SER1");
  auto sweeps = loadProfiles(store, "flash-sweep");
  ASSERT_EQ(sweeps.size(), 2u);
  EXPECT_EQ(sweeps[1].label, "layout A");
  EXPECT_TRUE(sweeps[1].device.simulated);
  EXPECT_EQ(sweeps[1].records.size(), 5u);
  EXPECT_TRUE(loadProfiles(store, "monitor").empty());

  // A damaged stored line is reported with the profile and line it is on.
  auto bad = store.addDeviceProfile({0, a, std::nullopt, "info", "", "{\"v\":1}\n{oops\n", 0});
  try {
    loadProfiles(store);
    ADD_FAILURE();
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("profile " + std::to_string(bad)), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
}

// ---- with the adb server and a simulated phone ----

// Runs work as a job (a JobContext only comes from a queue). `on_event` sees every progress event
// on the worker thread; cancel() may be called from anywhere, also from inside the job.
struct JobOutcome {
  JobState state = JobState::Queued;
  std::string error;
  std::exception_ptr exception;
  std::any result;
};
class TestJob {
 public:
  JobOutcome run(const std::function<std::any(JobContext&)>& work,
                 const std::function<void(const JobEvent&)>& on_event = {}) {
    JobOutcome out;
    std::mutex mutex;
    queue_.setListener([&](const JobEvent& e) {
      if (on_event && e.state == JobState::Running) on_event(e);
      if (isFinal(e.state)) {
        std::lock_guard lock(mutex);
        out.error = e.message;
        out.result = e.result;
      }
    });
    id_ = queue_.submit("device-test", "test", [&](JobContext& ctx) -> std::any {
      try {
        return work(ctx);
      } catch (const JobCancelled&) {
        throw;
      } catch (...) {
        std::lock_guard lock(mutex);
        out.exception = std::current_exception();
        throw;
      }
    });
    out.state = queue_.wait(id_);
    std::lock_guard lock(mutex);
    return out;
  }
  void cancel() {
    while (id_ == 0) std::this_thread::yield();
    queue_.cancel(id_);
  }

 private:
  JobQueue queue_{1};
  std::atomic<std::uint64_t> id_{0};
};
JobOutcome runJob(const std::function<std::any(JobContext&)>& work,
                  const std::function<void(const JobEvent&)>& on_event = {}) {
  return TestJob().run(work, on_event);
}

std::string hostSha256(const fs::path& file) {
  // Through stdin: GNU sha256sum escapes the hash line of a name holding '\\' or a newline.
  auto r = test::runHost({"sh", "-c", "sha256sum < \"$1\"", "sh", file.string()});
  EXPECT_EQ(r.code, 0) << r.describe();
  return r.out.substr(0, 64);
}

void writeRandom(const fs::path& file, std::size_t bytes) {
  std::ofstream out(file, std::ios::binary);
  std::vector<std::uint64_t> block(1 << 14);
  auto& g = rng();
  while (bytes > 0) {
    for (auto& w : block) w = g();
    auto n = std::min(bytes, block.size() * 8);
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    bytes -= n;
  }
}

// Processes whose program lives in `dir` (the agent running "on" a simulated phone).
int processesRunningFrom(const fs::path& dir) {
  int n = 0;
  std::error_code ec;
  const std::string prefix = fs::weakly_canonical(dir).string() + "/";
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    auto exe = fs::read_symlink(entry.path() / "exe", ec);
    if (!ec && exe.string().rfind(prefix, 0) == 0) ++n;
  }
  return n;
}

// A private adb server per test (never 5037, killed afterwards); each test starts its phones.
class DeviceFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::findOnPath("adb").empty())
      GTEST_SKIP() << "adb is not on PATH; install Debian's adb package to run these tests";
    server_ = std::make_unique<test::PrivateAdbServer>();
    adb::ClientOptions options;
    options.start_server = false;  // ours is running; another would not be private
    client_ = std::make_unique<adb::Client>(adb::ServerAddress{"127.0.0.1", server_->port()},
                                            options);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "simphone log:\n" << test::detail::readFile(log_);
    client_.reset();
    server_.reset();
  }
  adb::Client& client() { return *client_; }
  // The phones' messages go to a file, shown when a test fails.
  SimulatedPhone::Options quiet() const {
    SimulatedPhone::Options o;
    o.log = log_;
    return o;
  }

 private:
  test::TempDir logs_;
  fs::path log_ = logs_ / "simphone.log";
  std::unique_ptr<test::PrivateAdbServer> server_;
  std::unique_ptr<adb::Client> client_;
};

TEST_F(DeviceFlow, ASimulatedPhoneCleansUpAfterItself) {
  fs::path sandbox;
  std::string serial;
  {
    SimulatedPhone phone(client(), quiet());
    sandbox = phone.sandbox();
    serial = phone.serial();
    EXPECT_TRUE(fs::is_directory(sandbox / "data/local/tmp"));
  }
  EXPECT_FALSE(fs::exists(sandbox));
  for (const auto& d : client().devices()) EXPECT_NE(d.serial, serial) << "still connected";
  // A sandbox of the caller's stays.
  test::TempDir mine;
  auto options = quiet();
  options.sandbox = mine / "phone";
  options.model = "Bench Phone";
  {
    SimulatedPhone phone(client(), options);
    EXPECT_EQ(describeDevice(client(), phone.serial()).model, "Bench Phone");
  }
  EXPECT_TRUE(fs::is_directory(mine / "phone" / "data"));
}

// Pulling the cable ends everything the phone started, also what its commands left running in
// the background (their own sessions, out of reach of the phone's process group).
TEST_F(DeviceFlow, UnpluggingEndsEveryCommandThePhoneStarted) {
  SimulatedPhone phone(client(), quiet());
  const std::string marker = std::to_string(100000 + rng()() % 800000);
  auto r = client().shell(phone.serial(), {"sh", "-c", "(sleep " + marker + " >/dev/null 2>&1 &); echo started"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto sleepers = [&] {
    int n = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
      std::ifstream in(entry.path() / "cmdline", std::ios::binary);
      std::string cmdline((std::istreambuf_iterator<char>(in)), {});
      if (cmdline == std::string("sleep\0", 6) + marker + std::string(1, '\0')) ++n;
    }
    return n;
  };
  ASSERT_EQ(sleepers(), 1) << "the background command did not start";
  phone.unplug();
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (sleepers() > 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(sleepers(), 0) << "a command of the unplugged phone still runs";
}

// File names that GNU sha256sum would print escaped ('\\', a newline) are verified all the same.
TEST_F(DeviceFlow, PushVerifiesFilesWithAwkwardNames) {
  SimulatedPhone phone(client(), quiet());
  DeviceSession session(client(), phone.serial());
  test::TempDir tmp;
  for (const std::string name : {"back\\slash.bin", "new\nline.bin", "it's $(x) ; y.bin"}) {
    const auto file = tmp / name;
    writeRandom(file, 1 + rng()() % 200000);
    auto out = runJob([&](JobContext& ctx) -> std::any { return session.pushFile(file, ctx); });
    ASSERT_EQ(out.state, JobState::Succeeded) << name << ": " << out.error;
    auto report = std::any_cast<PushReport>(out.result);
    EXPECT_EQ(session.remoteSha256(report.remote), hostSha256(file)) << name;
    auto again = runJob([&](JobContext& ctx) -> std::any { return session.pushFile(file, ctx); });
    ASSERT_EQ(again.state, JobState::Succeeded) << name << ": " << again.error;
    EXPECT_TRUE(std::any_cast<PushReport>(again.result).skipped) << name;
  }
}

TEST_F(DeviceFlow, DescribesTheSimulatedPhone) {
  SimulatedPhone phone(client(), quiet());
  EXPECT_TRUE(phone.running());
  EXPECT_EQ(phone.serial(), "127.0.0.1:" + std::to_string(phone.port()));
  auto d = describeDevice(client(), phone.serial());
  EXPECT_EQ(d.state, "device");
  EXPECT_TRUE(d.simulated);
  EXPECT_EQ(d.abi, "x86_64");
  EXPECT_EQ(d.model, "Darkroom SimPhone");
  EXPECT_EQ(d.properties.at("ro.darkroom.simulated"), "1");
  DeviceSession session(client(), phone.serial());
  EXPECT_EQ(session.device().abi, "x86_64");
  try {
    DeviceSession none(client(), "no-such-serial");
    ADD_FAILURE();
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-serial"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(phone.serial()), std::string::npos) << e.what();
  }
}

TEST_F(DeviceFlow, EnsureAgentPushesOnceThenSkips) {
  SimulatedPhone phone(client(), quiet());
  DeviceSession session(client(), phone.serial());
  auto first = runJob([&](JobContext& ctx) -> std::any { return session.ensureAgent(ctx); });
  ASSERT_EQ(first.state, JobState::Succeeded) << first.error;
  auto a = std::any_cast<PushReport>(first.result);
  const auto local = agentBinaryForAbi("x86_64");
  EXPECT_FALSE(a.skipped);
  EXPECT_EQ(a.remote, std::string(kDeviceWorkDir) + "/darkroom-agent");
  EXPECT_EQ(a.bytes, std::int64_t(fs::file_size(local)));
  EXPECT_EQ(a.sha256, hostSha256(local));
  EXPECT_EQ(session.remoteSha256(a.remote), a.sha256);
  auto st = client().stat(phone.serial(), a.remote);
  EXPECT_TRUE(st.exists);
  EXPECT_EQ(st.mode & 0777, 0755u);

  auto second = runJob([&](JobContext& ctx) -> std::any { return session.ensureAgent(ctx); });
  ASSERT_EQ(second.state, JobState::Succeeded) << second.error;
  auto b = std::any_cast<PushReport>(second.result);
  EXPECT_TRUE(b.skipped);
  EXPECT_EQ(b.sha256, a.sha256);
  EXPECT_EQ(session.remoteSha256(std::string(kDeviceWorkDir) + "/absent"), "");
}

TEST_F(DeviceFlow, PushesALargeRandomFileVerifiedOnTheDevice) {
  SimulatedPhone phone(client(), quiet());
  DeviceSession session(client(), phone.serial());
  test::TempDir tmp;
  const auto file = tmp / "weights part.bin";  // a space in the name
  const std::size_t bytes = (std::size_t(64) << 20) + 1 + rng()() % 65535;
  writeRandom(file, bytes);
  std::vector<double> fractions;
  auto out = runJob([&](JobContext& ctx) -> std::any { return session.pushFile(file, ctx); },
                    [&](const JobEvent& e) { fractions.push_back(e.fraction); });
  ASSERT_EQ(out.state, JobState::Succeeded) << out.error;
  auto r = std::any_cast<PushReport>(out.result);
  EXPECT_FALSE(r.skipped);
  EXPECT_EQ(r.bytes, std::int64_t(bytes));
  EXPECT_EQ(r.remote, std::string(kDeviceWorkDir) + "/weights part.bin");
  EXPECT_EQ(r.sha256, hostSha256(file));
  EXPECT_EQ(session.remoteSha256(r.remote), r.sha256);  // sha256sum on the device
  EXPECT_GT(r.mb_s(), 0);
  EXPECT_GT(fractions.size(), 10u);  // progress along the way
  EXPECT_TRUE(std::is_sorted(fractions.begin(), fractions.end()));

  // The device's copy changed: pushing again sends it again and fixes it.
  const auto on_phone = phone.sandbox() / "data/local/tmp/darkroom/weights part.bin";
  ASSERT_TRUE(fs::exists(on_phone));
  {
    std::fstream f(on_phone, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(bytes / 2));
    f.put('\x5a');
  }
  auto again = runJob([&](JobContext& ctx) -> std::any { return session.pushFile(file, ctx); });
  ASSERT_EQ(again.state, JobState::Succeeded) << again.error;
  EXPECT_FALSE(std::any_cast<PushReport>(again.result).skipped);
  EXPECT_EQ(hostSha256(on_phone), r.sha256);
  auto third = runJob([&](JobContext& ctx) -> std::any { return session.pushFile(file, ctx); });
  EXPECT_TRUE(std::any_cast<PushReport>(third.result).skipped);
}

TEST_F(DeviceFlow, ACancelledPushLeavesNoPartialFile) {
  SimulatedPhone phone(client(), quiet());
  DeviceSession session(client(), phone.serial());
  test::TempDir tmp;
  const auto file = tmp / "big.bin";
  {
    std::ofstream out(file, std::ios::binary);
  }
  fs::resize_file(file, std::uint64_t(256) << 20);
  TestJob job;
  auto out = job.run([&](JobContext& ctx) -> std::any { return session.pushFile(file, ctx); },
                     [&](const JobEvent& e) {
                       if (e.message.find("pushing big.bin") != std::string::npos) job.cancel();
                     });
  ASSERT_EQ(out.state, JobState::Cancelled) << out.error;
  EXPECT_FALSE(client().stat(phone.serial(), std::string(kDeviceWorkDir) + "/big.bin").exists);
  EXPECT_FALSE(fs::exists(phone.sandbox() / "data/local/tmp/darkroom/big.bin"));
}

TEST_F(DeviceFlow, RunsTheAgentAndStreamsItsRecords) {
  SimulatedPhone phone(client(), quiet());
  DeviceSession session(client(), phone.serial());
  ASSERT_EQ(runJob([&](JobContext& ctx) -> std::any { return session.ensureAgent(ctx); }).state,
            JobState::Succeeded);
  auto info = runJob([&](JobContext& ctx) -> std::any {
    return session.runAgent("info", {}, {}, ctx);
  });
  ASSERT_EQ(info.state, JobState::Succeeded) << info.error;
  auto records = std::any_cast<std::vector<AgentRecord>>(info.result);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].type, "info");
  EXPECT_EQ(records[0].cmd, "info");
  EXPECT_TRUE(records[0].simulated);

  // A short sweep: samples reach us while the agent still measures the next points.
  std::vector<double> arrival_s;
  const auto t0 = Clock::now();
  auto sweep = runJob([&](JobContext& ctx) -> std::any {
    return session.runAgent("flash-sweep",
                            {"--file-mb", "8", "--sizes", "4096,65536", "--patterns",
                             "random,sequential", "--depths", "1,4", "--seconds", "0.25"},
                            [&](const AgentRecord&) {
                              arrival_s.push_back(
                                  std::chrono::duration<double>(Clock::now() - t0).count());
                            },
                            ctx);
  });
  const double total_s = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_EQ(sweep.state, JobState::Succeeded) << sweep.error;
  records = std::any_cast<std::vector<AgentRecord>>(sweep.result);
  ASSERT_EQ(arrival_s.size(), records.size());
  std::vector<std::size_t> samples;
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].number("seq", -1), double(i)) << "no line lost or reordered";
    if (records[i].type == "sample") samples.push_back(i);
  }
  ASSERT_EQ(samples.size(), 8u);
  EXPECT_EQ(records.back().type, "result");
  // 8 points of 0.25 s: the first sample arrived more than a second before the run ended, and
  // our arrival times are spaced as the agent's own clock says they were measured.
  const std::size_t first = samples.front(), last = samples.back();
  EXPECT_LT(arrival_s[first] + 1.0, total_s);
  const double agent_span = (records[last].t_ms - records[first].t_ms) / 1000;
  const double our_span = arrival_s[last] - arrival_s[first];
  EXPECT_GT(agent_span, 1.5);
  EXPECT_NEAR(our_span, agent_span, 0.5);

  // An agent may be silent for longer than the client's read timeout while it measures.
  adb::ClientOptions impatient_options = client().options();
  impatient_options.timeout = std::chrono::milliseconds(500);
  adb::Client impatient(client().address(), impatient_options);
  DeviceSession slow(impatient, phone.serial());
  auto quiet_point = runJob([&](JobContext& ctx) -> std::any {
    return slow.runAgent("flash-sweep",
                         {"--file-mb", "4", "--sizes", "4096", "--patterns", "random", "--depths",
                          "1", "--seconds", "1.2"},
                         {}, ctx);
  });
  EXPECT_EQ(quiet_point.state, JobState::Succeeded) << quiet_point.error;

  // Bad arguments: the agent's error reaches the exception.
  auto bad = runJob([&](JobContext& ctx) -> std::any {
    return session.runAgent("flash-sweep", {"--depths", "zero"}, {}, ctx);
  });
  EXPECT_EQ(bad.state, JobState::Failed);
  EXPECT_NE(bad.error.find("darkroom-agent flash-sweep failed"), std::string::npos) << bad.error;
  EXPECT_NE(bad.error.find("exit 2"), std::string::npos) << bad.error;
  EXPECT_NE(bad.error.find("depths"), std::string::npos) << bad.error;
}

TEST_F(DeviceFlow, RunProfileStoresWhatWasMeasured) {
  SimulatedPhone phone(client(), quiet());
  test::TempDir tmp;
  auto store = Store::open(tmp / "darkroom.db");
  ProfileRequest request;
  request.kind = "flash-sweep";
  request.args = {"--file-mb", "4", "--sizes", "4096", "--patterns", "random",
                  "--depths", "1,2", "--seconds", "0.1"};
  request.label = "sweep \"label\" ü";
  std::vector<std::string> streamed;
  auto out = runJob([&](JobContext& ctx) -> std::any {
    return runProfile(store, client(), phone.serial(), request,
                      [&](const AgentRecord& r) { streamed.push_back(r.line); }, ctx);
  });
  ASSERT_EQ(out.state, JobState::Succeeded) << out.error;
  auto result = std::any_cast<ProfileResult>(out.result);
  EXPECT_GT(result.profile_id, 0);
  EXPECT_TRUE(result.device.simulated);
  EXPECT_FALSE(result.backend.empty());  // the block device under the phone's work dir
  ASSERT_EQ(streamed.size(), result.records.size());

  auto devices = store.devices();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].serial, phone.serial());
  EXPECT_TRUE(devices[0].simulated);
  EXPECT_EQ(devices[0].abi, "x86_64");
  EXPECT_GT(devices[0].last_seen, 0);
  auto rows = store.deviceProfiles(devices[0].id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].kind, "flash-sweep");
  EXPECT_EQ(rows[0].backend, result.backend);
  EXPECT_GT(rows[0].created_at, 0);

  auto loaded = loadProfiles(store);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].label, request.label);
  ASSERT_EQ(loaded[0].records.size(), streamed.size());
  for (std::size_t i = 0; i < streamed.size(); ++i)
    EXPECT_EQ(loaded[0].records[i].line, streamed[i]);
  EXPECT_EQ(loaded[0].request.text("args.1"), "4");
  EXPECT_EQ(loaded[0].request.number("simulated"), 1);
  EXPECT_EQ(loaded[0].request.text("device.serial"), phone.serial());
  auto h = profileHeadline("flash-sweep", loaded[0].records);
  EXPECT_FALSE(h.numbers.empty()) << h.text;

  // A second profile on the same phone: one device row, two profiles; info needs no push.
  request = {};
  request.kind = "info";
  auto again = runJob([&](JobContext& ctx) -> std::any {
    return runProfile(store, client(), phone.serial(), request, {}, ctx);
  });
  ASSERT_EQ(again.state, JobState::Succeeded) << again.error;
  EXPECT_TRUE(std::any_cast<ProfileResult>(again.result).pushes.at(0).skipped);
  EXPECT_EQ(store.devices().size(), 1u);
  EXPECT_EQ(loadProfiles(store).size(), 2u);
  EXPECT_EQ(loadProfiles(store, "info").size(), 1u);

  // A failing agent stores nothing.
  request.kind = "kernels";
  request.args = {"--backend", "no-such-backend"};
  auto failed = runJob([&](JobContext& ctx) -> std::any {
    return runProfile(store, client(), phone.serial(), request, {}, ctx);
  });
  EXPECT_EQ(failed.state, JobState::Failed);
  EXPECT_EQ(loadProfiles(store).size(), 2u);
}

TEST_F(DeviceFlow, ACancelledProfileStoresNothingAndStopsTheAgent) {
  SimulatedPhone phone(client(), quiet());
  test::TempDir tmp;
  auto store = Store::open(tmp / "darkroom.db");
  ProfileRequest request;
  request.kind = "monitor";
  request.args = {"--interval-ms", "20"};  // endless until stopped
  int samples = 0;
  Clock::time_point cancelled_at{};
  TestJob job;
  auto out = job.run([&](JobContext& ctx) -> std::any {
    return runProfile(store, client(), phone.serial(), request,
                      [&](const AgentRecord& r) {
                        EXPECT_EQ(processesRunningFrom(phone.sandbox()), 1);
                        if (r.type == "sample" && ++samples == 5) {
                          cancelled_at = Clock::now();
                          job.cancel();
                        }
                      },
                      ctx);
  });
  ASSERT_EQ(out.state, JobState::Cancelled) << out.error;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - cancelled_at).count(), 5.0);
  EXPECT_GE(samples, 5);
  EXPECT_TRUE(store.devices().empty());
  EXPECT_TRUE(loadProfiles(store).empty());
  // The agent on the phone was stopped, not left running.
  EXPECT_EQ(processesRunningFrom(phone.sandbox()), 0);
  // And the phone is still usable.
  DeviceSession session(client(), phone.serial());
  auto info = runJob([&](JobContext& ctx) -> std::any {
    return session.runAgent("info", {}, {}, ctx);
  });
  EXPECT_EQ(info.state, JobState::Succeeded) << info.error;
}

TEST_F(DeviceFlow, UnpluggedMidPushGivesAClearErrorAndStoresNothing) {
  SimulatedPhone phone(client(), quiet());
  test::TempDir tmp;
  auto store = Store::open(tmp / "darkroom.db");
  // A large layout (sparse: its bytes cost nothing here) so the push is still going when the
  // cable is pulled.
  const auto layout = tmp / "big.layout";
  {
    std::ofstream out(layout, std::ios::binary);
  }
  fs::resize_file(layout, std::uint64_t(256) << 20);
  const auto trace = tmp / "small.trace";
  writeRandom(trace, 4096);
  ProfileRequest request;
  request.kind = "flash-replay";
  request.layout = layout;
  request.trace = trace;

  std::atomic<bool> pulled{false};
  Clock::time_point pulled_at{};
  std::thread puller;
  auto out = runJob(
      [&](JobContext& ctx) -> std::any {
        return runProfile(store, client(), phone.serial(), request, {}, ctx);
      },
      [&](const JobEvent& e) {
        // The agent's push takes 0..0.2 of the job, the layout's 0.2..0.3: pull the cable
        // when about 5% of the layout is across.
        if (e.fraction > 0.205 && e.message.find("pushing big.layout") != std::string::npos &&
            !pulled.exchange(true)) {
          pulled_at = Clock::now();
          puller = std::thread([&] { phone.unplug(); });
        }
      });
  if (puller.joinable()) puller.join();
  ASSERT_TRUE(pulled) << "the push ended before the phone could be unplugged";
  const double after_s = std::chrono::duration<double>(Clock::now() - pulled_at).count();
  ASSERT_EQ(out.state, JobState::Failed);
  EXPECT_NE(out.error.find("went away"), std::string::npos) << out.error;
  EXPECT_NE(out.error.find(phone.serial()), std::string::npos) << out.error;
  ASSERT_TRUE(out.exception);
  EXPECT_THROW(std::rethrow_exception(out.exception), DeviceError);
  EXPECT_LT(after_s, 8.0);
  EXPECT_FALSE(phone.running());
  EXPECT_TRUE(store.devices().empty());
  EXPECT_TRUE(loadProfiles(store).empty());
  for (const auto& d : client().devices())
    if (d.serial == phone.serial()) {
      EXPECT_NE(d.state, "device");
    }
}

}  // namespace

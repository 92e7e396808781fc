// darkroom-cli device end to end, against the real adb server on a private port and simulated
// phones started through the CLI itself (`device simphone`): list, track, push, shell, profile,
// profiles; their exit codes, --json output and usage errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../device/adb_server_fixture.h"
#include "cli_process.h"
#include "test_util.h"

using namespace darkroom;
using nlohmann::json;
using test::cli;
using test::contains;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// darkroom-cli running in the background (simphone, track), its stdout read as it comes.
class Background {
 public:
  Background(const std::vector<std::string>& args, const fs::path& err_file) {
    std::vector<std::string> argv{DARKROOM_CLI};
    argv.insert(argv.end(), args.begin(), args.end());
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = test::detail::spawn(argv, -1, out[1], err);
    ::close(out[1]);
    ::close(err);
    fd_ = out[0];
    err_file_ = err_file;
  }
  ~Background() {
    if (pid_ > 0) stop(SIGKILL);
    test::detail::closeFd(fd_);
  }

  // Reads stdout until `done(text so far)` holds; false after the timeout or at its end.
  bool readUntil(const std::function<bool(const std::string&)>& done,
                 std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(out_)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return done(out_);
      out_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  std::string firstLine() {
    readUntil([](const std::string& s) { return s.find('\n') != std::string::npos; });
    return out_.substr(0, out_.find('\n'));
  }
  // Sends `signal` (0: none) and waits for the exit code; -1 after the timeout.
  int stop(int signal, std::chrono::milliseconds timeout = 20s) {
    if (pid_ <= 0) return code_;
    if (signal) ::kill(pid_, signal);
    auto code = test::detail::waitFor(pid_, timeout);
    if (!code) {
      ::kill(pid_, SIGKILL);
      test::detail::waitFor(pid_, 5s);
      pid_ = -1;
      return code_ = -1;
    }
    pid_ = -1;
    readUntil([](const std::string&) { return false; }, 2s);  // what it printed last
    return code_ = *code;
  }
  const std::string& out() const { return out_; }
  std::string err() const { return test::slurp(err_file_); }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int code_ = -1;
  std::string out_;
  fs::path err_file_;
};

// A phone started with `darkroom-cli device simphone`: the CLI prints its serial first.
struct CliPhone {
  CliPhone(const fs::path& dir, const std::string& name)
      : sandbox(dir / (name + "-sandbox")),
        process({"device", "simphone", "--sandbox", sandbox.string()}, dir / (name + ".err")) {
    serial = process.firstLine();
    if (serial.rfind("127.0.0.1:", 0) != 0)
      throw std::runtime_error("device simphone printed '" + process.out() + "', stderr: " +
                               process.err());
  }
  fs::path sandbox;
  Background process;
  std::string serial;
};

std::string hostSha256(const fs::path& file) {
  return test::runHost({"sha256sum", file.string()}).out.substr(0, 64);
}

void writeRandom(const fs::path& file, std::size_t bytes) {
  std::string data(bytes, '\0');
  auto& g = test::rng();
  for (auto& c : data) c = static_cast<char>(g());
  std::ofstream(file, std::ios::binary) << data;
}

std::vector<json> jsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

class DeviceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::findOnPath("adb").empty())
      GTEST_SKIP() << "adb is not on PATH; install Debian's adb package to run these tests";
    // Sets ANDROID_ADB_SERVER_PORT, which the CLI processes inherit.
    server_ = std::make_unique<test::PrivateAdbServer>();
  }
  void TearDown() override { server_.reset(); }
  test::CliResult run(const std::vector<std::string>& args) { return cli(args, tmp_.path()); }
  // `device ARGS` in this test's workspace.
  test::CliResult device(std::vector<std::string> args) {
    args.insert(args.begin(), {"--workspace", ws_.string(), "device"});
    return run(args);
  }

  test::TempDir tmp_;
  fs::path ws_ = tmp_ / "ws";

 private:
  std::unique_ptr<test::PrivateAdbServer> server_;
};

TEST_F(DeviceCli, WithoutDevices) {
  auto list = device({"list", "--json"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(json::parse(list.out), json::array());
  auto shell = device({"shell", "--", "true"});
  EXPECT_EQ(shell.code, 1);
  EXPECT_TRUE(contains(shell.err, "no device is connected")) << shell.err;
  EXPECT_TRUE(contains(shell.err, "device simphone")) << shell.err;
}

TEST_F(DeviceCli, ListPushAndShell) {
  CliPhone phone(tmp_.path(), "phone");

  auto list = device({"list"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_TRUE(contains(list.out, "SIMULATED")) << list.out;
  EXPECT_TRUE(contains(list.out, phone.serial)) << list.out;
  EXPECT_TRUE(contains(list.out, "Darkroom SimPhone")) << list.out;
  auto list_json = device({"list", "--json"});
  ASSERT_EQ(list_json.code, 0) << list_json.err;
  auto devices = json::parse(list_json.out);
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0]["serial"], phone.serial);
  EXPECT_EQ(devices[0]["state"], "device");
  EXPECT_EQ(devices[0]["abi"], "x86_64");
  EXPECT_EQ(devices[0]["simulated"], true);

  // Push: an awkward size, checked on the device, then skipped; --to a file and a folder.
  const auto file = tmp_ / "data file.bin";
  writeRandom(file, (3 << 20) + 17 + test::rng()() % 4096);
  auto push = device({"push", file.string(), "--json"});
  ASSERT_EQ(push.code, 0) << push.err;
  auto p = json::parse(push.out);
  EXPECT_EQ(p["remote"], "/data/local/tmp/darkroom/data file.bin");
  EXPECT_EQ(p["bytes"], fs::file_size(file));
  EXPECT_EQ(p["sha256"], hostSha256(file));
  EXPECT_EQ(p["skipped"], false);
  EXPECT_EQ(p["verified"], true);
  EXPECT_EQ(hostSha256(phone.sandbox / "data/local/tmp/darkroom/data file.bin"), hostSha256(file));
  auto again = device({"push", file.string(), "--serial", phone.serial});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(contains(again.out, "already on")) << again.out;
  auto to_file = device({"push", file.string(), "--to", "/data/local/tmp/renamed.bin"});
  ASSERT_EQ(to_file.code, 0) << to_file.err;
  EXPECT_TRUE(contains(to_file.out, "MB/s")) << to_file.out;
  EXPECT_TRUE(contains(to_file.out, "verified on the device")) << to_file.out;
  EXPECT_EQ(hostSha256(phone.sandbox / "data/local/tmp/renamed.bin"), hostSha256(file));
  ASSERT_EQ(device({"push", file.string(), "--to", "/data/local/tmp"}).code, 0);
  EXPECT_TRUE(fs::exists(phone.sandbox / "data/local/tmp/data file.bin"));

  // Shell: output and exit code pass through; every word is one argument.
  auto sh = device({"shell", "--", "sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(sh.code, 7) << sh.err;
  EXPECT_EQ(sh.out, "out\n");
  EXPECT_TRUE(contains(sh.err, "err")) << sh.err;
  auto words = device({"shell", "--", "printf", "%s|", "a b", "it's", "--serial", "$(x)"});
  EXPECT_EQ(words.code, 0) << words.err;
  EXPECT_EQ(words.out, "a b|it's|--serial|$(x)|");

  // Usage errors and failures.
  EXPECT_EQ(device({"push", (tmp_ / "absent").string()}).code, 2);
  EXPECT_EQ(device({"shell"}).code, 2);
  EXPECT_EQ(device({"frobnicate"}).code, 2);
  EXPECT_EQ(device({"list", "--", "x"}).code, 2);
  auto nosuch = device({"shell", "--serial", "no-such-phone", "--", "true"});
  EXPECT_EQ(nosuch.code, 1);
  EXPECT_TRUE(contains(nosuch.err, "no-such-phone")) << nosuch.err;
  auto bad_to = device({"push", file.string(), "--to", "relative/path"});
  EXPECT_EQ(bad_to.code, 2) << bad_to.err;

  EXPECT_EQ(phone.process.stop(SIGINT), 0) << phone.process.err();
  EXPECT_TRUE(contains(phone.process.err(), "stopped and disconnected")) << phone.process.err();
  EXPECT_FALSE(contains(device({"list"}).out, phone.serial));  // disconnected
}

TEST_F(DeviceCli, ProfilesAreStoredAndCompared) {
  CliPhone phone(tmp_.path(), "phone");

  auto info = device({"profile", "info", "--label", "first phone", "--json"});
  ASSERT_EQ(info.code, 0) << info.err;
  auto lines = jsonLines(info.out);
  ASSERT_EQ(lines.size(), 2u) << info.out;
  EXPECT_EQ(lines[0]["type"], "info");
  EXPECT_EQ(lines[0]["simulated"], true);
  EXPECT_EQ(lines[1]["type"], "stored");
  const std::int64_t info_id = lines[1]["profile_id"];
  EXPECT_EQ(lines[1]["serial"], phone.serial);

  auto sweep = device({"profile", "flash-sweep", "--", "--file-mb", "4", "--sizes", "4096,65536",
                       "--patterns", "random,sequential", "--depths", "1,2", "--seconds", "0.05"});
  ASSERT_EQ(sweep.code, 0) << sweep.err;
  EXPECT_TRUE(contains(sweep.out, "PATTERN")) << sweep.out;
  EXPECT_TRUE(contains(sweep.out, "stored profile")) << sweep.out;
  EXPECT_TRUE(contains(sweep.out, "4K random")) << sweep.out;
  EXPECT_TRUE(contains(sweep.err, "already on the device")) << sweep.err;  // agent not re-sent

  auto monitor = device({"profile", "monitor", "--json", "--", "--interval-ms", "10", "--count",
                         "3"});
  ASSERT_EQ(monitor.code, 0) << monitor.err;

  auto all = device({"profiles", "--json"});
  ASSERT_EQ(all.code, 0) << all.err;
  auto profiles = json::parse(all.out);
  ASSERT_EQ(profiles.size(), 3u) << all.out;
  EXPECT_EQ(profiles[0]["kind"], "monitor");  // newest first
  EXPECT_EQ(profiles[0]["headline"]["samples"], 3);
  EXPECT_EQ(profiles[1]["kind"], "flash-sweep");
  EXPECT_GT(profiles[1]["headline"]["peak_mb_s"].get<double>(), 0);
  EXPECT_GT(profiles[1]["headline"]["rand4k_iops"].get<double>(), 0);
  EXPECT_FALSE(profiles[1]["backend"].get<std::string>().empty());
  EXPECT_EQ(profiles[1]["args"][1], "4");
  EXPECT_EQ(profiles[2]["id"], info_id);
  EXPECT_EQ(profiles[2]["label"], "first phone");
  for (const auto& p : profiles) {
    EXPECT_EQ(p["device"]["serial"], phone.serial);
    EXPECT_EQ(p["device"]["simulated"], true);
  }

  auto table = device({"profiles", "--kind", "info"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_TRUE(contains(table.out, "first phone")) << table.out;
  EXPECT_TRUE(contains(table.out, "(simulated)")) << table.out;
  EXPECT_FALSE(contains(table.out, "flash-sweep")) << table.out;

  auto show = device({"profiles", "show", std::to_string(info_id)});
  ASSERT_EQ(show.code, 0) << show.err;
  auto stored = jsonLines(show.out);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0]["type"], "request");
  EXPECT_EQ(stored[0]["label"], "first phone");
  EXPECT_EQ(stored[1], lines[0]);

  // Errors: nothing more is stored.
  EXPECT_EQ(device({"profile", "bogus"}).code, 2);
  EXPECT_EQ(device({"profile", "flash-replay"}).code, 2);
  auto failing = device({"profile", "kernels", "--", "--backend", "no-such-backend"});
  EXPECT_EQ(failing.code, 1);
  EXPECT_TRUE(contains(failing.err, "darkroom-agent kernels failed")) << failing.err;
  EXPECT_EQ(json::parse(device({"profiles", "--json"}).out).size(), 3u);
  EXPECT_EQ(device({"profiles", "show", "999"}).code, 1);
  EXPECT_EQ(run({"--workspace", (tmp_ / "none").string(), "device", "profiles"}).code, 1);
}

TEST_F(DeviceCli, TwoPhonesNeedASerialAndTrackSeesThemComeAndGo) {
  CliPhone first(tmp_.path(), "first");
  Background track({"device", "track", "--json", "--count", "1"}, tmp_ / "track.err");
  ASSERT_TRUE(track.readUntil([&](const std::string& s) { return contains(s, first.serial); }))
      << track.out() << track.err();
  EXPECT_TRUE(contains(track.out(), "\"present\""));

  auto second = std::make_unique<CliPhone>(tmp_.path(), "second");
  // track ends by itself after one event: the second phone appearing.
  EXPECT_EQ(track.stop(0, 20s), 0) << track.err();
  auto events = jsonLines(track.out());
  ASSERT_EQ(events.size(), 2u) << track.out();
  EXPECT_EQ(events[1]["event"], "plugged");
  EXPECT_EQ(events[1]["serial"], second->serial);

  auto ambiguous = device({"shell", "--", "true"});
  EXPECT_EQ(ambiguous.code, 1);
  EXPECT_TRUE(contains(ambiguous.err, "--serial")) << ambiguous.err;
  EXPECT_TRUE(contains(ambiguous.err, first.serial)) << ambiguous.err;
  EXPECT_TRUE(contains(ambiguous.err, second->serial)) << ambiguous.err;
  EXPECT_EQ(device({"shell", "--serial", second->serial, "--", "true"}).code, 0);

  Background untrack({"device", "track", "--count", "1"}, tmp_ / "untrack.err");
  ASSERT_TRUE(untrack.readUntil([&](const std::string& s) { return contains(s, second->serial); }));
  const std::string second_serial = second->serial;
  EXPECT_EQ(second->process.stop(SIGTERM), 0);
  second.reset();
  EXPECT_EQ(untrack.stop(0, 20s), 0) << untrack.err();
  EXPECT_TRUE(contains(untrack.out(), "unplugged  " + second_serial) ||
              contains(untrack.out(), "changed  " + second_serial))
      << untrack.out();
  EXPECT_EQ(device({"shell", "--", "true"}).code, 0);  // one phone again: no --serial needed
}

}  // namespace

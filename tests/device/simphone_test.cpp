// darkroom-simphone against the real adb server (a private one per test, see
// adb_server_fixture.h): adb connect/devices, getprop, shell exit codes, stderr, stdin and
// streaming, push/pull round trips of awkward sizes, paths with spaces, escapes out of the
// sandbox, a phone killed in the middle of a push, garbage on the wire, the host going away and
// coming back, and the host build of the agent pushed and run.
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "adb_server_fixture.h"
#include "darkroom/adb/client.h"
#include "darkroom/adb/protocol.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using darkroom::test::AdbSimphoneTest;
using darkroom::test::HostResult;
using darkroom::test::runHost;

namespace {

std::uint64_t freshSeed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

std::string randomBytes(std::size_t n, std::mt19937_64& rng) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t v = rng();
    for (std::size_t j = 0; j < 8 && i + j < n; ++j) s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

std::string readFile(const fs::path& path) { return darkroom::test::detail::readFile(path); }

void writeFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.flush()) << "cannot write " << path;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    out.push_back(text.substr(pos, eol - pos));
    pos = eol + 1;
  }
  return out;
}

class SimphoneTest : public AdbSimphoneTest {
 protected:
  SimphoneTest() : AdbSimphoneTest(DARKROOM_SIMPHONE) {}

  void SetUp() override {
    AdbSimphoneTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    local_ = darkroom::test::detail::makeTempDir("simphone-test-local");
  }
  void TearDown() override {
    std::error_code ec;
    if (!local_.empty()) fs::remove_all(local_, ec);
    AdbSimphoneTest::TearDown();
  }

  // `adb shell COMMAND` (one argument: adb sends it as the command text).
  HostResult shell(const std::string& command, std::chrono::milliseconds timeout = 30s) {
    return phone().adb({"shell", command}, timeout);
  }

  fs::path local_;
};

class CustomModelTest : public AdbSimphoneTest {
 protected:
  CustomModelTest() : AdbSimphoneTest(DARKROOM_SIMPHONE, {{}, "Pixel Sim 7"}) {}
};

TEST_F(CustomModelTest, DevicesListsThePhoneWithItsModel) {
  const HostResult r = server().adb({"devices", "-l"}, 20s);
  ASSERT_EQ(r.code, 0) << r.describe();
  bool found = false;
  for (const std::string& line : lines(r.out)) {
    if (line.rfind(phone().serial(), 0) != 0) continue;
    found = true;
    EXPECT_NE(line.find(" device "), std::string::npos) << line;
    // adb replaces the spaces of a model name with '_' in this listing.
    EXPECT_NE(line.find("model:Pixel_Sim_7"), std::string::npos) << line;
    EXPECT_NE(line.find("product:darkroom_simphone"), std::string::npos) << line;
  }
  EXPECT_TRUE(found) << r.out;

  const HostResult model = phone().adb({"shell", "getprop", "ro.product.model"}, 20s);
  EXPECT_EQ(model.code, 0) << model.describe();
  EXPECT_EQ(model.out, "Pixel Sim 7\n");
}

TEST_F(SimphoneTest, GetpropPrintsTheSimulatedProperties) {
  EXPECT_EQ(shell("getprop ro.product.model").out, "Darkroom SimPhone\n");
  EXPECT_EQ(shell("getprop ro.darkroom.simulated").out, "1\n");
#if defined(__x86_64__)
  EXPECT_EQ(shell("getprop ro.product.cpu.abi").out, "x86_64\n");
#elif defined(__aarch64__)
  EXPECT_EQ(shell("getprop ro.product.cpu.abi").out, "arm64-v8a\n");
#endif
  EXPECT_EQ(shell("getprop no.such.property").out, "\n");
  EXPECT_EQ(shell("getprop no.such.property 'fallback value'").out, "fallback value\n");

  const HostResult all = shell("getprop");
  ASSERT_EQ(all.code, 0) << all.describe();
  std::map<std::string, std::string> props;
  for (const std::string& line : lines(all.out)) {
    // Android's format: "[key]: [value]".
    ASSERT_TRUE(line.size() > 6 && line.front() == '[' && line.back() == ']') << line;
    const std::size_t sep = line.find("]: [");
    ASSERT_NE(sep, std::string::npos) << line;
    props[line.substr(1, sep - 1)] = line.substr(sep + 4, line.size() - sep - 5);
  }
  EXPECT_EQ(props["ro.product.model"], "Darkroom SimPhone");
  EXPECT_EQ(props["ro.darkroom.simulated"], "1");
  EXPECT_EQ(props["ro.serialno"], "simphone-" + std::to_string(phone().port()));
  EXPECT_EQ(props["ro.build.fingerprint"].rfind("darkroom/simphone/", 0), 0u);
  EXPECT_NE(props["ro.build.fingerprint"].find(":simulated"), std::string::npos);
  EXPECT_FALSE(props["ro.product.cpu.abilist"].empty());
  EXPECT_FALSE(props["ro.build.version.release"].empty());
}

TEST_F(SimphoneTest, ShellKeepsStdoutStderrAndTheExitCodeApart) {
  const HostResult r = shell("echo out; echo err >&2; exit 3");
  EXPECT_EQ(r.code, 3) << r.describe();
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");

  const std::uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 3; ++i) {
    const int code = static_cast<int>(rng() % 256);
    EXPECT_EQ(shell("exit " + std::to_string(code)).code, code);
  }
  // Every command knows it runs on the simulated phone.
  EXPECT_EQ(shell("echo $DARKROOM_SIMULATED").out, "1\n");
  // A command ended by a signal reports 128 + the signal, as a shell does.
  EXPECT_EQ(shell("kill -9 $$").code, 128 + 9);
}

TEST_F(SimphoneTest, ShellStreamsOutputAsItIsPrinted) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::vector<double> arrivals;  // seconds since start, per complete line
  std::string pending;
  const HostResult r = runHost(
      {"adb", "-P", std::to_string(server().port()), "-s", phone().serial(), "shell",
       "for i in 1 2 3 4; do echo line$i; sleep 0.5; done"},
      30s, {}, [&](std::string_view piece) {
        pending.append(piece);
        for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
          arrivals.push_back(std::chrono::duration<double>(Clock::now() - start).count());
          pending.erase(0, eol + 1);
        }
      });
  const double total = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "line1\nline2\nline3\nline4\n");
  ASSERT_EQ(arrivals.size(), 4u);
  // Buffered until the end, all four lines would arrive together after ~2 s.
  EXPECT_GE(arrivals[3] - arrivals[0], 1.0) << "lines arrived at " << arrivals[0] << ", "
                                            << arrivals[1] << ", " << arrivals[2] << ", "
                                            << arrivals[3] << " s";
  EXPECT_GE(arrivals[1] - arrivals[0], 0.3);
  EXPECT_LT(arrivals[0], total - 1.0);
}

TEST_F(SimphoneTest, ShellPassesStdinThrough) {
  const std::uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  // Printable text, longer than a pipe's buffer, so stdin needs several writes.
  std::string input;
  for (std::size_t i = 0; i < 200000 + rng() % 1000; ++i) {
    input += static_cast<char>('a' + rng() % 26);
    if (rng() % 50 == 0) input += '\n';
  }
  const HostResult r = runHost({"adb", "-P", std::to_string(server().port()), "-s",
                                phone().serial(), "shell", "cat"},
                               30s, input);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.size(), input.size());
  EXPECT_TRUE(r.out == input);
}

TEST_F(SimphoneTest, PushThenPullGivesTheSameBytes) {
  const std::uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::vector<std::size_t> sizes = {0,     1,     65535, 65536, 65537,
                                          1048583, (5u << 20) + rng() % 4096};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE("size " + std::to_string(sizes[i]));
    const std::string bytes = randomBytes(sizes[i], rng);
    const fs::path local = local_ / ("in" + std::to_string(i));
    writeFile(local, bytes);
    const std::string remote = "/data/local/tmp/rt/sub" + std::to_string(i) + "/f.bin";
    const HostResult push = phone().adb({"push", local.string(), remote}, 60s);
    ASSERT_EQ(push.code, 0) << push.describe();
    // The phone's file system is the sandbox: the file is there, byte for byte.
    const fs::path in_sandbox = phone().hostPath(remote);
    ASSERT_TRUE(fs::exists(in_sandbox)) << in_sandbox;
    EXPECT_TRUE(readFile(in_sandbox) == bytes);

    const fs::path back = local_ / ("out" + std::to_string(i));
    const HostResult pull = phone().adb({"pull", remote, back.string()}, 60s);
    ASSERT_EQ(pull.code, 0) << pull.describe();
    const std::string pulled = readFile(back);
    EXPECT_EQ(pulled.size(), bytes.size());
    EXPECT_TRUE(pulled == bytes);
  }
  // No temporary files are left next to the pushed ones.
  for (const auto& entry : fs::recursive_directory_iterator(phone().hostPath("/data/local/tmp/rt"))) {
    EXPECT_EQ(entry.path().filename().string().find(".simphone-partial"), std::string::npos)
        << entry.path();
  }
}

TEST_F(SimphoneTest, PushKeepsModeAndMtimeAsAdbdDoes) {
  const fs::path local = local_ / "tool.sh";
  writeFile(local, "#!/bin/sh\necho tool ran\nexit 7\n");
  ::chmod(local.c_str(), 0755);
  const HostResult push = phone().adb({"push", local.string(), "/data/local/tmp/tool.sh"}, 30s);
  ASSERT_EQ(push.code, 0) << push.describe();
  struct stat local_st{}, remote_st{};
  ASSERT_EQ(::stat(local.c_str(), &local_st), 0);
  ASSERT_EQ(::stat(phone().hostPath("/data/local/tmp/tool.sh").c_str(), &remote_st), 0);
  // adbd copies the owner's bits to group and others.
  EXPECT_EQ(remote_st.st_mode & 0777, 0777u);
  EXPECT_EQ(remote_st.st_mtime, local_st.st_mtime);
  const HostResult run = shell("/data/local/tmp/tool.sh");
  EXPECT_EQ(run.code, 7) << run.describe();
  EXPECT_EQ(run.out, "tool ran\n");
}

TEST_F(SimphoneTest, PushIntoAPathWithSpaces) {
  std::mt19937_64 rng(freshSeed());
  const std::string bytes = randomBytes(100000 + rng() % 1000, rng);
  const fs::path local = local_ / "local name with spaces.bin";
  writeFile(local, bytes);
  const std::string remote = "/data/local/tmp/dir with spaces/file name.bin";
  const HostResult push = phone().adb({"push", local.string(), remote}, 30s);
  ASSERT_EQ(push.code, 0) << push.describe();
  EXPECT_TRUE(readFile(phone().hostPath(remote)) == bytes);
  // The shell sees the same file through the quoted device path.
  const HostResult size = shell("wc -c < '" + remote + "'");
  EXPECT_EQ(size.code, 0) << size.describe();
  EXPECT_EQ(std::stoul(size.out), bytes.size());
}

TEST_F(SimphoneTest, Sha256OfAPushedFileMatches) {
  std::mt19937_64 rng(freshSeed());
  const std::string bytes = randomBytes(3000000 + rng() % 10000, rng);
  const fs::path local = local_ / "hashed.bin";
  writeFile(local, bytes);
  ASSERT_EQ(phone().adb({"push", local.string(), "/data/local/tmp/hashed.bin"}, 30s).code, 0);
  const HostResult device = shell("sha256sum /data/local/tmp/hashed.bin");
  const HostResult host = runHost({"sha256sum", local.string()}, 30s);
  ASSERT_EQ(device.code, 0) << device.describe();
  ASSERT_EQ(host.code, 0) << host.describe();
  EXPECT_EQ(device.out.substr(0, 64), host.out.substr(0, 64));
}

TEST_F(SimphoneTest, ShellOutputOfMegabytesArrivesWhole) {
  std::mt19937_64 rng(freshSeed());
  const std::string bytes = randomBytes((3u << 20) + rng() % 5000, rng);
  const fs::path local = local_ / "big.bin";
  writeFile(local, bytes);
  ASSERT_EQ(phone().adb({"push", local.string(), "/data/local/tmp/big.bin"}, 30s).code, 0);
  // Binary stdout through shell protocol v2 packets, larger than one message.
  const HostResult r = shell("cat /data/local/tmp/big.bin");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.size(), bytes.size());
  EXPECT_TRUE(r.out == bytes);
}

TEST_F(SimphoneTest, PullOfAFolderUsesTheListing) {
  std::mt19937_64 rng(freshSeed());
  std::map<std::string, std::string> files;
  for (int i = 0; i < 5; ++i) {
    const std::string name = "f" + std::to_string(i) + ".bin";
    files[name] = randomBytes(rng() % 200000, rng);
    writeFile(local_ / name, files[name]);
    ASSERT_EQ(phone().adb({"push", (local_ / name).string(), "/sdcard/folder/" + name}, 30s).code,
              0);
  }
  const fs::path dest = local_ / "pulled";
  fs::create_directories(dest);
  const HostResult pull = phone().adb({"pull", "/sdcard/folder", dest.string()}, 60s);
  ASSERT_EQ(pull.code, 0) << pull.describe();
  for (const auto& [name, bytes] : files) {
    EXPECT_TRUE(readFile(dest / "folder" / name) == bytes) << name;
  }
  const HostResult ls = phone().adb({"ls", "/sdcard/folder"}, 30s);
  EXPECT_EQ(ls.code, 0) << ls.describe();
  for (const auto& entry : files) EXPECT_NE(ls.out.find(entry.first), std::string::npos);
}

TEST_F(SimphoneTest, PathsOutsideTheSandboxAreRefused) {
  const fs::path local = local_ / "escape.bin";
  writeFile(local, "should never leave the sandbox");
  const fs::path outside = phone().sandbox().parent_path();
  for (const std::string remote : {"/../escape.bin", "/data/../../escape.bin",
                                   "/data/local/tmp/../../../../escape.bin"}) {
    const HostResult push = phone().adb({"push", local.string(), remote}, 30s);
    EXPECT_NE(push.code, 0) << remote << ": " << push.describe();
    // adb prints its error on stdout when that is not a terminal.
    EXPECT_NE((push.out + push.err).find("outside the simulated phone"), std::string::npos)
        << push.describe();
    EXPECT_FALSE(fs::exists(outside / "escape.bin"));
  }
  const HostResult pull = phone().adb({"pull", "/../../etc/hostname", (local_ / "x").string()});
  EXPECT_NE(pull.code, 0) << pull.describe();
  EXPECT_FALSE(fs::exists(local_ / "x"));

  // A symbolic link made by a shell command must not lead a push out of the sandbox either.
  const fs::path target = darkroom::test::detail::makeTempDir("simphone-outside");
  ASSERT_EQ(shell("ln -s " + target.string() + " /data/local/tmp/link").code, 0);
  const HostResult through_link =
      phone().adb({"push", local.string(), "/data/local/tmp/link/escape.bin"}, 30s);
  EXPECT_NE(through_link.code, 0) << through_link.describe();
  EXPECT_NE((through_link.out + through_link.err).find("symbolic link"), std::string::npos)
      << through_link.describe();
  EXPECT_TRUE(fs::is_empty(target));
  fs::remove_all(target);

  // The phone is still fine afterwards.
  EXPECT_EQ(shell("echo still here").out, "still here\n");
}

TEST_F(SimphoneTest, KillingThePhoneMidPushFailsThePushAndLeavesNoFile) {
  // A sparse 1 GiB file: nothing to write locally, but adb reads and sends every byte.
  const fs::path local = local_ / "huge.bin";
  {
    std::ofstream out(local, std::ios::binary);
  }
  fs::resize_file(local, std::uintmax_t{1} << 30);
  const std::string remote = "/data/local/tmp/huge/huge.bin";
  auto push = std::async(std::launch::async,
                         [&] { return phone().adb({"push", local.string(), remote}, 120s); });
  // Wait for the transfer to be under way: the hidden partial file grows in the target folder.
  const fs::path folder = phone().hostPath("/data/local/tmp/huge");
  bool underway = false;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!underway && std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (fs::is_directory(folder, ec)) {
      for (const auto& entry : fs::directory_iterator(folder, ec)) {
        if (entry.path().filename().string().rfind(".simphone-partial", 0) == 0 &&
            entry.file_size(ec) > (8u << 20)) {
          underway = true;
        }
      }
    }
    if (!underway) std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(underway) << "the push never started";
  phone().stop(SIGKILL);
  const HostResult r = push.get();
  EXPECT_NE(r.code, 0) << r.describe();
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(fs::exists(phone().hostPath(remote)));
}

TEST_F(SimphoneTest, ClosingTheStreamHangsUpTheCommand) {
  // adb is killed (by the timeout) while the command runs; the phone must end the command.
  const HostResult r =
      shell("echo $$ > /data/local/tmp/sleeper.pid; exec sleep 120", std::chrono::milliseconds(1500));
  EXPECT_TRUE(r.timed_out);
  const std::string pid_text = readFile(phone().hostPath("/data/local/tmp/sleeper.pid"));
  ASSERT_FALSE(pid_text.empty());
  const pid_t pid = std::stoi(pid_text);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (::kill(pid, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(::kill(pid, 0), 0) << "the command (pid " << pid << ") still runs";
}

TEST_F(SimphoneTest, StreamsRunConcurrently) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::future<HostResult>> runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(std::async(std::launch::async, [this, i] {
      return shell("sleep 2; echo done" + std::to_string(i));
    }));
  }
  for (int i = 0; i < 4; ++i) {
    const HostResult r = runs[static_cast<std::size_t>(i)].get();
    EXPECT_EQ(r.out, "done" + std::to_string(i) + "\n") << r.describe();
  }
  // One after another they would take 8 s; the bound leaves room for a loaded machine.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 6.0);
}

TEST_F(SimphoneTest, GarbageOnTheWireDropsOnlyThatConnection) {
  const auto sendRaw = [&](const std::string& bytes) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(phone().port()));
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    const ssize_t n = ::recv(fd, &c, 1, 0);  // 0: the phone closed the connection
    ::close(fd);
    return n;
  };
  std::mt19937_64 rng(freshSeed());
  EXPECT_EQ(sendRaw(randomBytes(24, rng)), 0);
  // A well-formed CNXN header that announces more payload than adb allows (1 MiB).
  std::string oversize;
  for (std::uint32_t word : {0x4e584e43u, 0x01000001u, 4096u, (1u << 20) + 1, 0u,
                             0x4e584e43u ^ 0xffffffffu}) {
    darkroom::adb::appendLe32(oversize, word);
  }
  EXPECT_EQ(sendRaw(oversize), 0);
  const std::string log = phone().log();
  EXPECT_NE(log.find("bad magic"), std::string::npos) << log;
  EXPECT_NE(log.find("over the limit"), std::string::npos) << log;
  EXPECT_TRUE(phone().running());
  EXPECT_EQ(shell("echo fine").out, "fine\n");
}

TEST_F(SimphoneTest, TheHostCanGoAwayAndComeBack) {
  const HostResult killed = server().adb({"kill-server"}, 20s);
  EXPECT_EQ(killed.code, 0) << killed.describe();
  // A new server on the same private port (the client starts it), connecting again.
  const HostResult again = server().adb({"connect", phone().serial()}, 30s);
  ASSERT_EQ(again.code, 0) << again.describe();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (server().adb({"devices"}, 10s).out.find(phone().serial() + "\tdevice") ==
             std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(shell("echo back").out, "back\n");
  EXPECT_TRUE(phone().running());
}

TEST_F(SimphoneTest, SigtermStopsThePhoneCleanly) {
  auto sleeper = std::async(std::launch::async, [&] { return shell("sleep 60", 30s); });
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(phone().stop(SIGTERM), 0);
  const HostResult r = sleeper.get();
  EXPECT_FALSE(r.timed_out) << "adb shell kept waiting after the phone stopped";
  EXPECT_NE(phone().log().find("stopped"), std::string::npos) << phone().log();
}

TEST_F(SimphoneTest, TheAgentRunsWithItsExitCode) {
  const fs::path agent = DARKROOM_AGENT;
  ASSERT_TRUE(fs::exists(agent)) << agent;
  const std::string remote = "/data/local/tmp/darkroom/darkroom-agent";
  const HostResult push = phone().adb({"push", agent.string(), remote}, 60s);
  ASSERT_EQ(push.code, 0) << push.describe();
  EXPECT_EQ(fs::file_size(phone().hostPath(remote)), fs::file_size(agent));
  // The same arguments on the host and on the phone end the same way.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"info", "--workdir", "."}, {"--no-such-option"}}) {
    std::vector<std::string> host_argv{agent.string()};
    host_argv.insert(host_argv.end(), args.begin(), args.end());
    const HostResult host = runHost(host_argv, 60s);
    std::string command = remote;
    for (const auto& a : args) command += " " + a;
    const HostResult device = shell("cd /data/local/tmp/darkroom && " + command, 60s);
    EXPECT_EQ(device.code, host.code) << command << ": " << device.describe();
  }
}

TEST_F(SimphoneTest, OurAdbClientWorksWithThePhone) {
  // ANDROID_ADB_SERVER_PORT points at the private server (set by the fixture).
  darkroom::adb::Client client;
  ASSERT_EQ(client.address().port, server().port());
  bool listed = false;
  for (const auto& d : client.devices()) {
    if (d.serial != phone().serial()) continue;
    listed = true;
    EXPECT_EQ(d.state, "device");
    EXPECT_EQ(d.attributes.count("model") ? d.attributes.at("model") : "", "Darkroom_SimPhone");
  }
  EXPECT_TRUE(listed);

  const auto props = client.properties(phone().serial());
  EXPECT_EQ(props.count("ro.darkroom.simulated") ? props.at("ro.darkroom.simulated") : "", "1");

  const auto r = client.shell(phone().serial(), {"sh", "-c", "echo out; echo err >&2; exit 5"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");

  // Streamed output arrives while the command still runs.
  using Clock = std::chrono::steady_clock;
  std::vector<double> arrivals;
  const auto start = Clock::now();
  const int code = client.shellStream(
      phone().serial(), "for i in 1 2 3; do echo $i; sleep 0.5; done",
      [&](std::string_view) {
        arrivals.push_back(std::chrono::duration<double>(Clock::now() - start).count());
      },
      [](std::string_view) {});
  EXPECT_EQ(code, 0);
  ASSERT_GE(arrivals.size(), 2u);
  EXPECT_GE(arrivals.back() - arrivals.front(), 0.6);

  std::mt19937_64 rng(freshSeed());
  const std::string bytes = randomBytes((2u << 20) + rng() % 70000, rng);
  writeFile(local_ / "ours.bin", bytes);
  client.push(phone().serial(), local_ / "ours.bin", "/data/local/tmp/ours/ours.bin");
  EXPECT_TRUE(readFile(phone().hostPath("/data/local/tmp/ours/ours.bin")) == bytes);
  const auto st = client.stat(phone().serial(), "/data/local/tmp/ours/ours.bin");
  EXPECT_TRUE(st.exists);
  EXPECT_EQ(st.size, static_cast<std::int64_t>(bytes.size()));
  client.pull(phone().serial(), "/data/local/tmp/ours/ours.bin", local_ / "back.bin");
  EXPECT_TRUE(readFile(local_ / "back.bin") == bytes);
  EXPECT_FALSE(client.stat(phone().serial(), "/data/local/tmp/ours/missing").exists);
  // The phone's refusal reaches the caller as an error with its message.
  try {
    client.push(phone().serial(), local_ / "ours.bin", "/../ours.bin");
    ADD_FAILURE() << "a push out of the sandbox succeeded";
  } catch (const darkroom::adb::AdbError& e) {
    EXPECT_NE(std::string(e.what()).find("outside the simulated phone"), std::string::npos)
        << e.what();
  }
}

}  // namespace

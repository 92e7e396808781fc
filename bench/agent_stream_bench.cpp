// How fast agent records stream back, and whether any are lost: `darkroom-agent monitor
// --interval-ms 0 --count N` (samples as fast as the agent can take them) run
//   1. through darkroom-simphone and the real adb server with DeviceSession::runAgent (shell v2
//      over the adb transport, line splitting, record parsing, the JobContext), and
//   2. directly on the host from a pipe, parsed the same way,
// counting records per second and checking that `seq` has no gap (no line dropped).
//
//   agent_stream_bench [--count N] [--repeat R]
//
// Starts its own adb server on a free loopback port (needs Debian's adb) and stops it after.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "darkroom/device/session.h"

extern char** environ;

using namespace darkroom;
using namespace darkroom::device;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Tally {
  std::int64_t samples = 0;   // "sample" records
  std::int64_t records = 0;   // all records
  std::int64_t bytes = 0;     // JSON text, newlines included
  std::int64_t gaps = 0;      // places where seq jumped
  std::int64_t expected_seq = 0;
  double seconds = 0;

  void add(const AgentRecord& r) {
    ++records;
    bytes += static_cast<std::int64_t>(r.line.size()) + 1;
    if (r.type == "sample") ++samples;
    const auto seq = static_cast<std::int64_t>(r.number("seq", -1));
    if (seq != expected_seq) ++gaps;
    expected_seq = seq + 1;
  }
  double perSecond() const { return seconds > 0 ? double(records) / seconds : 0; }
};

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("no free loopback port");
  ::close(fd);
  return ntohs(a.sin_port);
}

int runProgram(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs a job and returns its result, rethrowing its error (a JobContext lives only in a job).
template <typename T>
T runJob(const std::function<T(JobContext&)>& work) {
  JobQueue queue(1);
  std::any result;
  std::string error;
  queue.setListener([&](const JobEvent& e) {
    if (e.state == JobState::Succeeded) result = e.result;
    if (e.state == JobState::Failed) error = e.message;
  });
  auto id = queue.submit("bench", "bench", [&](JobContext& ctx) -> std::any { return work(ctx); });
  if (queue.wait(id) != JobState::Succeeded) throw std::runtime_error("job failed: " + error);
  return std::any_cast<T>(result);
}

// The same agent run on the host from a pipe, with the same line splitting and parsing.
Tally runOnHost(const fs::path& agent, const fs::path& workdir, std::int64_t count) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const std::string n = std::to_string(count), dir = workdir.string(), path = agent.string();
  std::vector<char*> argv{const_cast<char*>(path.c_str()), const_cast<char*>("monitor"),
                          const_cast<char*>("--interval-ms"), const_cast<char*>("0"),
                          const_cast<char*>("--count"), const_cast<char*>(n.c_str()),
                          const_cast<char*>("--workdir"), const_cast<char*>(dir.c_str()), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  Tally t;
  const auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ) != 0)
    throw std::runtime_error("cannot run " + path);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  std::string pending;
  char buf[65536];
  for (;;) {
    ssize_t got = ::read(fds[0], buf, sizeof buf);
    if (got <= 0) break;
    pending.append(buf, static_cast<std::size_t>(got));
    std::size_t start = 0;
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
      t.add(parseAgentRecord(pending.substr(start, nl - start)));
      start = nl + 1;
    }
    pending.erase(0, start);
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  t.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("the host agent failed");
  return t;
}

void print(const char* path, const Tally& t) {
  std::printf("%-26s %9lld %9lld %8.3f %12.0f %8.2f %6lld\n", path,
              static_cast<long long>(t.records), static_cast<long long>(t.samples), t.seconds,
              t.perSecond(), double(t.bytes) / 1e6 / t.seconds, static_cast<long long>(t.gaps));
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t count = 200000;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--count") count = std::atoll(argv[i + 1]);
    else if (a == "--repeat") repeat = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: agent_stream_bench [--count N] [--repeat R]\n");
      return 2;
    }
  }
  if (count < 1 || repeat < 1) {
    std::fprintf(stderr, "--count and --repeat must be positive\n");
    return 2;
  }

  const int port = freePort();
  int rc = 0;
  try {
    adb::Client client(adb::ServerAddress{"127.0.0.1", port});
    client.ensureServer();  // `adb -P PORT start-server`: a private server, stopped below
    const auto scratch =
        fs::temp_directory_path() / ("agent-stream-bench-" + std::to_string(::getpid()));
    fs::create_directories(scratch);
    std::vector<Tally> viaAdb, direct;
    {
      SimulatedPhone::Options options;
      options.log = scratch / "simphone.log";
      SimulatedPhone phone(client, options);
      DeviceSession session(client, phone.serial());
      runJob<PushReport>([&](JobContext& ctx) { return session.ensureAgent(ctx); });
      std::printf("agent monitor --interval-ms 0 --count %lld, %d runs each; adb server on port "
                  "%d, simulated phone %s\n\n",
                  static_cast<long long>(count), repeat, port, phone.serial().c_str());
      std::printf("%-26s %9s %9s %8s %12s %8s %6s\n", "path", "records", "samples", "seconds",
                  "records/s", "MB/s", "gaps");
      for (int r = 0; r < repeat; ++r) {
        Tally t;
        const auto t0 = Clock::now();
        runJob<int>([&](JobContext& ctx) {
          session.runAgent("monitor",
                           {"--interval-ms", "0", "--count", std::to_string(count)},
                           [&](const AgentRecord& rec) { t.add(rec); }, ctx);
          return 0;
        });
        t.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        print("simphone + adb (runAgent)", t);
        viaAdb.push_back(t);
      }
    }
    const auto agent = agentBinaryForAbi(hostAbi());
    for (int r = 0; r < repeat; ++r) {
      auto t = runOnHost(agent, scratch, count);
      print("host pipe", t);
      direct.push_back(t);
    }
    fs::remove_all(scratch);
    auto best = [](const std::vector<Tally>& v) {
      return std::max_element(v.begin(), v.end(), [](const Tally& a, const Tally& b) {
               return a.perSecond() < b.perSecond();
             })->perSecond();
    };
    std::int64_t gaps = 0, missing = 0;
    for (const auto* v : {&viaAdb, &direct})
      for (const auto& t : *v) {
        gaps += t.gaps;
        missing += (count + 1) - t.records;  // N samples + the result record
      }
    std::printf("\nbest records/s: through adb %.0f, on the host %.0f; adb / host = %.2f\n",
                best(viaAdb), best(direct), best(viaAdb) / best(direct));
    std::printf("seq gaps: %lld, records missing: %lld%s\n", static_cast<long long>(gaps),
                static_cast<long long>(missing),
                gaps == 0 && missing == 0 ? " (none dropped)" : "");
    rc = gaps == 0 && missing == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agent_stream_bench: %s\n", e.what());
    rc = 1;
  }
  runProgram({"adb", "-P", std::to_string(port), "kill-server"});
  return rc;
}

// Push throughput: darkroom::adb::Client::push against `adb push`, the same file to the same
// device through the same adb server, alternating so both see the same machine state.
//
//   push_bench --port ADB_SERVER_PORT --serial SERIAL [--mib 256] [--rounds 5] [--file PATH]
//
// Prints one line per push and then the median MB/s of each and the ratio ours/adb. Times are
// wall clock from start to end of the whole push, including, for adb, starting the adb program
// (a few milliseconds: noise against a 256 MiB file). bench/compare-push runs it against
// darkroom-simphone with a private adb server.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "darkroom/adb/client.h"

extern char** environ;

namespace fs = std::filesystem;

namespace {

struct Args {
  int port = 0;
  std::string serial;
  long mib = 256;
  int rounds = 5;
  std::string file;
};

[[noreturn]] void usage(const std::string& error) {
  std::fprintf(stderr,
               "push_bench: %s\nusage: push_bench --port ADB_SERVER_PORT --serial SERIAL "
               "[--mib N] [--rounds N] [--file PATH]\n",
               error.c_str());
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) usage(k + " needs a value");
    const std::string v = argv[++i];
    if (k == "--port") {
      a.port = std::atoi(v.c_str());
    } else if (k == "--serial") {
      a.serial = v;
    } else if (k == "--mib") {
      a.mib = std::atol(v.c_str());
    } else if (k == "--rounds") {
      a.rounds = std::atoi(v.c_str());
    } else if (k == "--file") {
      a.file = v;
    } else {
      usage("unknown argument " + k);
    }
  }
  if (a.port <= 0 || a.serial.empty()) usage("--port and --serial are required");
  if (a.mib <= 0 || a.rounds <= 0) usage("--mib and --rounds must be positive");
  return a;
}

// A file of random bytes (incompressible, nothing special about its content).
void makeFile(const fs::path& path, long mib) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) usage("cannot create " + path.string() + ": " + std::strerror(errno));
  std::mt19937_64 rng(std::random_device{}());
  std::vector<std::uint64_t> block(1 << 17);  // 1 MiB
  for (long m = 0; m < mib; ++m) {
    for (auto& v : block) v = rng();
    if (::write(fd, block.data(), block.size() * 8) != static_cast<ssize_t>(block.size() * 8)) {
      usage("cannot write " + path.string());
    }
  }
  ::close(fd);
}

int runAdbPush(const Args& a, const fs::path& file, const std::string& remote) {
  const std::string port = std::to_string(a.port);
  std::vector<std::string> args{"adb", "-P", port, "-s", a.serial, "push", file.string(), remote};
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "adb", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) usage(std::string("cannot run adb: ") + std::strerror(rc));
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  fs::path file = a.file;
  fs::path temp_dir;
  if (file.empty()) {
    std::string pattern = (fs::temp_directory_path() / "push_bench-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) usage("cannot make a temporary folder");
    temp_dir = pattern;
    file = temp_dir / "push.bin";
    makeFile(file, a.mib);
  }
  const auto bytes = static_cast<double>(fs::file_size(file));

  darkroom::adb::ServerAddress address;
  address.port = a.port;
  darkroom::adb::ClientOptions options;
  options.start_server = false;
  darkroom::adb::Client client(address, options);

  const std::string ours_remote = "/data/local/tmp/push_bench_ours.bin";
  const std::string adb_remote = "/data/local/tmp/push_bench_adb.bin";
  std::vector<double> ours, theirs;
  using Clock = std::chrono::steady_clock;
  std::printf("pushing %.0f MiB to %s, %d rounds\n", bytes / (1 << 20), a.serial.c_str(),
              a.rounds);
  for (int r = 0; r < a.rounds; ++r) {
    // Alternate who goes first, so neither always gets the warmer page cache.
    for (int turn = 0; turn < 2; ++turn) {
      const bool ours_turn = (turn == 0) == (r % 2 == 0);
      const auto t0 = Clock::now();
      if (ours_turn) {
        try {
          client.push(a.serial, file, ours_remote);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "push_bench: our push failed: %s\n", e.what());
          return 1;
        }
      } else if (const int code = runAdbPush(a, file, adb_remote); code != 0) {
        std::fprintf(stderr, "push_bench: adb push exited with %d\n", code);
        return 1;
      }
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      const double mb_s = bytes / 1e6 / s;
      (ours_turn ? ours : theirs).push_back(mb_s);
      std::printf("round %d  %-4s %8.1f MB/s  (%.3f s)\n", r + 1, ours_turn ? "ours" : "adb",
                  mb_s, s);
      std::fflush(stdout);
    }
  }
  // Both copies must be whole, or the numbers mean nothing.
  for (const std::string& remote : {ours_remote, adb_remote}) {
    const auto st = client.stat(a.serial, remote);
    if (!st.exists || static_cast<double>(st.size) != bytes) {
      std::fprintf(stderr, "push_bench: %s has %lld bytes on the device, expected %.0f\n",
                   remote.c_str(), static_cast<long long>(st.size), bytes);
      return 1;
    }
  }
  const double m_ours = median(ours), m_adb = median(theirs);
  std::printf("median  ours %.1f MB/s  adb %.1f MB/s  ours/adb %.2f\n", m_ours, m_adb,
              m_ours / m_adb);
  if (!temp_dir.empty()) fs::remove_all(temp_dir);
  return 0;
}

// A small stand-in for libFuzzer where the compiler has none (g++): runs a fuzz target on its
// seed corpus, then on random and mutated inputs from a printed, time-based seed, for a number
// of runs or a time budget. A failed invariant aborts; the input is then written to
// fuzz-crash-<target>.bin and its path printed, so `<program> fuzz-crash-<target>.bin` replays it.
//
//   fuzz_<target> [-runs=N] [-max_time=SECONDS] [-seed=S] [corpus dir or file]...
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

const std::string* g_current = nullptr;
char g_crash_path[512] = "fuzz-crash.bin";

// Writes the input being run; only async-signal-safe calls.
extern "C" void onAbort(int) {
  if (g_current != nullptr) {
    const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t ignored = ::write(fd, g_current->data(), g_current->size());
      (void)ignored;
      ::close(fd);
    }
    const char msg[] = "fuzz driver: the failing input was written to ";
    ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    ignored = ::write(2, g_crash_path, std::strlen(g_crash_path));
    ignored = ::write(2, "\n", 1);
    (void)ignored;
  }
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}

void runOne(const std::string& input) {
  g_current = &input;
  try {
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz driver: the target let an exception escape: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz driver: the target let a non-standard exception escape\n");
    std::abort();
  }
  g_current = nullptr;
}

std::string readWhole(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Tokens that steer mutations towards the adb formats.
const char* const kDictionary[] = {"OKAY", "FAIL", "DATA", "DONE", "STAT", "SEND", "RECV",
                                   "QUIT", "0000", "ffff", "FFFF", "\t",   "\n",   "\r\n",
                                   " ",    ":",    "]: [", "]\n",  "[",    "device",
                                   "no permissions", "\xff\xff\xff\xff", "\x01\x00\x00\x00",
                                   "\x00\x00\x01\x00", "\x03\x01\x00\x00\x00"};

std::string mutate(std::string s, const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  const int steps = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < steps; ++i) {
    const std::size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!s.empty()) s[rng() % s.size()] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // set a byte
        if (!s.empty()) s[rng() % s.size()] = static_cast<char>(rng());
        break;
      case 2:  // insert random bytes
        s.insert(pos, std::string(1 + rng() % 4, static_cast<char>(rng())));
        break;
      case 3:  // delete a range
        if (!s.empty()) s.erase(rng() % s.size(), 1 + rng() % 8);
        break;
      case 4:  // insert a dictionary token
        s.insert(pos, kDictionary[rng() % (sizeof kDictionary / sizeof kDictionary[0])]);
        break;
      case 5:  // splice in part of another corpus entry
        if (!corpus.empty()) {
          const std::string& other = corpus[rng() % corpus.size()];
          if (!other.empty()) {
            const std::size_t from = rng() % other.size();
            s.insert(pos, other.substr(from, 1 + rng() % 64));
          }
        }
        break;
      default:  // truncate
        if (!s.empty()) s.resize(rng() % s.size());
        break;
    }
  }
  if (s.size() > 4096) s.resize(4096);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 20000;
  double max_time = 4.0;
  std::uint64_t seed = static_cast<std::uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count());
  std::vector<std::string> corpus;
  std::string name = std::filesystem::path(argv[0]).filename().string();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0) {
      runs = std::atol(a.c_str() + 6);
    } else if (a.rfind("-max_time=", 0) == 0) {
      max_time = std::atof(a.c_str() + 10);
    } else if (a.rfind("-seed=", 0) == 0) {
      seed = std::strtoull(a.c_str() + 6, nullptr, 10);
    } else if (std::filesystem::is_directory(a)) {
      for (const auto& e : std::filesystem::directory_iterator(a)) {
        if (e.is_regular_file()) corpus.push_back(readWhole(e.path()));
      }
    } else if (std::filesystem::is_regular_file(a)) {
      corpus.push_back(readWhole(a));
      runs = 0;  // a single file given: replay it only
    } else {
      std::fprintf(stderr, "%s: no such corpus directory or file: %s\n", name.c_str(), a.c_str());
      return 2;
    }
  }
  std::snprintf(g_crash_path, sizeof g_crash_path, "fuzz-crash-%s.bin", name.c_str());
  std::signal(SIGABRT, onAbort);
  std::printf("%s: seed %llu (replay with -seed=%llu), %zu corpus inputs\n", name.c_str(),
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
              corpus.size());
  std::fflush(stdout);

  for (const std::string& input : corpus) runOne(input);
  runOne(std::string());

  std::mt19937_64 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  long done = 0;
  for (; done < runs; ++done) {
    if ((done & 255) == 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                           start).count() > max_time) {
      break;
    }
    std::string input;
    if (corpus.empty() || rng() % 8 == 0) {
      input.resize(rng() % 256);
      for (char& c : input) c = static_cast<char>(rng());
    } else {
      input = mutate(corpus[rng() % corpus.size()], corpus, rng);
    }
    runOne(input);
  }
  std::printf("%s: %zu corpus + %ld generated inputs, no failures\n", name.c_str(),
              corpus.size(), done);
  return 0;
}

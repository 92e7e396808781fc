#include "test_util.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace darkroom::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "darkroom-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = std::filesystem::canonical(pattern);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::mt19937_64& rng() {
  static std::mt19937_64 engine = [] {
    std::uint64_t seed = std::random_device{}();
    if (const char* env = std::getenv("DARKROOM_TEST_SEED")) seed = std::strtoull(env, nullptr, 10);
    std::cerr << "[darkroom] random seed " << seed << " (DARKROOM_TEST_SEED to replay)\n";
    return std::mt19937_64(seed);
  }();
  return engine;
}

std::string randomBytes(std::size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng()() & 0xff);
  return s;
}

}  // namespace darkroom::test

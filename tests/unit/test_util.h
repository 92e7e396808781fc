// Helpers shared by the unit tests.
#pragma once

#include <cstddef>
#include <filesystem>
#include <random>
#include <string>

namespace darkroom::test {

// A fresh, empty folder under the system temp dir (its canonical path), removed when the object
// dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A random engine seeded freshly per test run; the seed is printed so a failure can be replayed
// (set DARKROOM_TEST_SEED to reuse one).
std::mt19937_64& rng();
// n bytes from rng(), every value 0..255 possible.
std::string randomBytes(std::size_t n);

}  // namespace darkroom::test

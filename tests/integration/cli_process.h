// Runs darkroom-cli as a child process for the end-to-end tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"

namespace darkroom::test {

struct CliResult {
  int code = -1;  // exit status, or 128 + the signal that ended it
  std::string out, err;
};

std::string slurp(const std::filesystem::path& file);

// Whether `part` occurs in `text` (the tests' check on what the CLI printed).
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Runs darkroom-cli with these arguments (no shell: each one reaches argv as it is); its
// stdout and stderr go through files in `scratch`.
CliResult cli(const std::vector<std::string>& args, const std::filesystem::path& scratch);
inline CliResult cli(const std::vector<std::string>& args, const TempDir& scratch) {
  return cli(args, scratch.path());
}

}  // namespace darkroom::test

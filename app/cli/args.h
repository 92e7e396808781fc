// A small command-line parser: named options and flags are taken out by name, what remains are
// positionals; anything left over that starts with "--" is a usage error.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace darkroom::cli {

// Bad usage: exit code 2, with the message and a pointer to --help.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  Args(std::vector<std::string> words) : words_(std::move(words)) {}

  bool flag(const std::string& name);
  std::optional<std::string> option(const std::string& name);
  std::string option(const std::string& name, const std::string& fallback) {
    return option(name).value_or(fallback);
  }
  // The next positional word (the subcommand, an id, a path), if any.
  std::optional<std::string> next();
  std::string required(const std::string& what);
  std::vector<std::string> rest();
  // Throws UsageError when unused words remain.
  void finish() const;
  bool empty() const { return words_.empty(); }

 private:
  std::vector<std::string> words_;
};

std::int64_t parseId(const std::string& text, const std::string& what);     // > 0
std::int64_t parseCount(const std::string& text, const std::string& what);  // >= 0
double parseNumber(const std::string& text, const std::string& what);
std::vector<double> parseNumbers(const std::string& text, const std::string& what);  // "a,b,c"

}  // namespace darkroom::cli

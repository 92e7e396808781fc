// Command-line flags of one subcommand: `--name value`, `--name=value` or a bare `--name` switch.
// Every accessor checks its value and throws UsageError naming the flag and what it accepts, so
// a typo never runs a benchmark with a default the user did not ask for.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace darkroom::agent {

struct FlagSpec {
  std::string name;   // without the dashes: "file-mb"
  bool takes_value;   // false: a switch
  std::string help;   // one line for the usage text ("N  MiB of the test file (256)")
};

class Args {
 public:
  // Parses `argv` (the words after the subcommand) against `specs`. Throws UsageError for an
  // unknown flag, a flag given twice, a missing value or a word that is not a flag.
  Args(std::string command, const std::vector<std::string>& argv, std::vector<FlagSpec> specs);

  const std::string& command() const { return command_; }
  const std::vector<FlagSpec>& specs() const { return specs_; }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  bool flag(const std::string& name) const;  // a switch
  std::optional<std::string> text(const std::string& name) const;
  std::string text(const std::string& name, const std::string& fallback) const;
  // A required value: UsageError "--layout is required" when absent.
  std::string required(const std::string& name) const;
  std::int64_t integer(const std::string& name, std::int64_t fallback, std::int64_t min,
                       std::int64_t max) const;
  double number(const std::string& name, double fallback, double min, double max) const;
  // Comma-separated integers, each in [min, max]; at least one; duplicates refused.
  std::vector<std::int64_t> integers(const std::string& name,
                                     const std::vector<std::int64_t>& fallback, std::int64_t min,
                                     std::int64_t max) const;
  // One word out of `allowed`.
  std::string choice(const std::string& name, const std::string& fallback,
                     const std::vector<std::string>& allowed) const;
  // Comma-separated words out of `allowed`; at least one; duplicates refused.
  std::vector<std::string> choices(const std::string& name,
                                   const std::vector<std::string>& fallback,
                                   const std::vector<std::string>& allowed) const;

 private:
  [[noreturn]] void bad(const std::string& name, const std::string& what) const;
  std::string command_;
  std::vector<FlagSpec> specs_;
  std::map<std::string, std::string> values_;  // a switch has ""
};

// "  --file-mb N      MiB of the test file (256)\n" for each spec.
std::string flagHelp(const std::vector<FlagSpec>& specs);

}  // namespace darkroom::agent

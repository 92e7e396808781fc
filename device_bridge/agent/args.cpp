#include "args.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include "agent_error.h"

namespace darkroom::agent {
namespace {

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

std::vector<std::string> splitCommas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string::npos ? std::string::npos
                                                                  : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}

// Whole-string integer: "12", "-3"; no suffixes, no spaces.
bool parseInteger(const std::string& text, std::int64_t& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return false;
  out = v;
  return true;
}

bool parseNumber(const std::string& text, double& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

}  // namespace

Args::Args(std::string command, const std::vector<std::string>& argv, std::vector<FlagSpec> specs)
    : command_(std::move(command)), specs_(std::move(specs)) {
  auto find = [&](const std::string& name) -> const FlagSpec* {
    for (const auto& s : specs_)
      if (s.name == name) return &s;
    return nullptr;
  };
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    if (word.size() < 3 || word.compare(0, 2, "--") != 0)
      throw UsageError(word, command_ + ": unexpected argument \"" + word +
                                 "\" (flags start with --; see darkroom-agent " + command_ +
                                 " --help)");
    std::string name = word.substr(2), value;
    bool inline_value = false;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const FlagSpec* spec = find(name);
    if (!spec) {
      std::vector<std::string> known;
      for (const auto& s : specs_) known.push_back("--" + s.name);
      throw UsageError("--" + name, command_ + ": unknown flag --" + name + " (known: " +
                                        joined(known) + ")");
    }
    if (values_.count(name))
      throw UsageError("--" + name, command_ + ": --" + name + " is given twice");
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= argv.size())
        throw UsageError("--" + name, command_ + ": --" + name + " needs a value");
      value = argv[++i];
    }
    if (!spec->takes_value && inline_value)
      throw UsageError("--" + name, command_ + ": --" + name + " is a switch and takes no value");
    values_[name] = value;
  }
}

void Args::bad(const std::string& name, const std::string& what) const {
  throw UsageError("--" + name, command_ + ": --" + name + " " + what);
}

bool Args::flag(const std::string& name) const { return has(name); }

std::optional<std::string> Args::text(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::text(const std::string& name, const std::string& fallback) const {
  return text(name).value_or(fallback);
}

std::string Args::required(const std::string& name) const {
  auto v = text(name);
  if (!v) bad(name, "is required");
  if (v->empty()) bad(name, "must not be empty");
  return *v;
}

std::int64_t Args::integer(const std::string& name, std::int64_t fallback, std::int64_t min,
                           std::int64_t max) const {
  auto v = text(name);
  if (!v) return fallback;
  std::int64_t n = 0;
  if (!parseInteger(*v, n)) bad(name, "needs a whole number, not \"" + *v + "\"");
  if (n < min || n > max)
    bad(name, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                  ", not " + *v);
  return n;
}

double Args::number(const std::string& name, double fallback, double min, double max) const {
  auto v = text(name);
  if (!v) return fallback;
  double x = 0;
  if (!parseNumber(*v, x)) bad(name, "needs a number, not \"" + *v + "\"");
  if (x < min || x > max)
    bad(name, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                  ", not " + *v);
  return x;
}

std::vector<std::int64_t> Args::integers(const std::string& name,
                                         const std::vector<std::int64_t>& fallback,
                                         std::int64_t min, std::int64_t max) const {
  auto v = text(name);
  if (!v) return fallback;
  std::vector<std::int64_t> out;
  std::set<std::int64_t> seen;
  for (const auto& part : splitCommas(*v)) {
    std::int64_t n = 0;
    if (!parseInteger(part, n))
      bad(name, "needs comma-separated whole numbers; \"" + part + "\" is not one");
    if (n < min || n > max)
      bad(name, "values must be between " + std::to_string(min) + " and " +
                    std::to_string(max) + ", not " + part);
    if (!seen.insert(n).second) bad(name, "lists " + part + " twice");
    out.push_back(n);
  }
  return out;
}

std::string Args::choice(const std::string& name, const std::string& fallback,
                         const std::vector<std::string>& allowed) const {
  auto v = text(name);
  if (!v) return fallback;
  if (std::find(allowed.begin(), allowed.end(), *v) == allowed.end())
    bad(name, "must be one of " + joined(allowed) + ", not \"" + *v + "\"");
  return *v;
}

std::vector<std::string> Args::choices(const std::string& name,
                                       const std::vector<std::string>& fallback,
                                       const std::vector<std::string>& allowed) const {
  auto v = text(name);
  if (!v) return fallback;
  std::vector<std::string> out;
  for (const auto& part : splitCommas(*v)) {
    if (std::find(allowed.begin(), allowed.end(), part) == allowed.end())
      bad(name, "values must be among " + joined(allowed) + ", not \"" + part + "\"");
    if (std::find(out.begin(), out.end(), part) != out.end())
      bad(name, "lists " + part + " twice");
    out.push_back(part);
  }
  return out;
}

std::string flagHelp(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    std::string left = "  --" + s.name;
    std::string help = s.help;
    // The help's first word is the value's placeholder for flags that take one.
    if (s.takes_value) {
      const auto space = help.find(' ');
      left += " " + help.substr(0, space);
      help = space == std::string::npos ? "" : help.substr(space + 1);
      while (!help.empty() && help.front() == ' ') help.erase(help.begin());
    }
    if (left.size() < 28) left.resize(28, ' ');
    else left += "  ";
    out += left + help + "\n";
  }
  return out;
}

}  // namespace darkroom::agent

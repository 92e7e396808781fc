#include "args.h"

#include <algorithm>

namespace darkroom::cli {

bool Args::flag(const std::string& name) {
  auto it = std::find(words_.begin(), words_.end(), name);
  if (it == words_.end()) return false;
  words_.erase(it);
  return true;
}

std::optional<std::string> Args::option(const std::string& name) {
  for (auto it = words_.begin(); it != words_.end(); ++it) {
    if (*it == name) {
      if (it + 1 == words_.end()) throw UsageError(name + " needs a value");
      std::string value = *(it + 1);
      words_.erase(it, it + 2);
      return value;
    }
    if (it->rfind(name + "=", 0) == 0) {
      std::string value = it->substr(name.size() + 1);
      words_.erase(it);
      return value;
    }
  }
  return std::nullopt;
}

std::optional<std::string> Args::next() {
  for (auto it = words_.begin(); it != words_.end(); ++it) {
    if (it->rfind("--", 0) == 0 && *it != "--") continue;
    std::string word = *it;
    words_.erase(it);
    return word;
  }
  return std::nullopt;
}

std::string Args::required(const std::string& what) {
  auto word = next();
  if (!word) throw UsageError("missing " + what);
  return *word;
}

std::vector<std::string> Args::rest() {
  std::vector<std::string> out;
  while (auto word = next()) out.push_back(*word);
  return out;
}

void Args::finish() const {
  if (!words_.empty()) throw UsageError("unexpected argument '" + words_.front() + "'");
}

static std::optional<long long> wholeNumber(const std::string& text) {
  try {
    std::size_t used = 0;
    long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::int64_t parseId(const std::string& text, const std::string& what) {
  auto v = wholeNumber(text);
  if (!v || *v <= 0) throw UsageError(what + " must be a positive number, got '" + text + "'");
  return *v;
}

std::int64_t parseCount(const std::string& text, const std::string& what) {
  auto v = wholeNumber(text);
  if (!v || *v < 0) throw UsageError(what + " must be a number >= 0, got '" + text + "'");
  return *v;
}

double parseNumber(const std::string& text, const std::string& what) {
  try {
    std::size_t used = 0;
    double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError(what + " expects a number, got '" + text + "'");
}

std::vector<double> parseNumbers(const std::string& text, const std::string& what) {
  std::vector<double> out;
  std::size_t start = 0;
  for (;;) {
    auto end = text.find(',', start);
    auto item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    try {
      out.push_back(parseNumber(item, what));
    } catch (const UsageError&) {
      throw UsageError(what + " expects numbers separated by commas, got '" + text + "'");
    }
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

}  // namespace darkroom::cli

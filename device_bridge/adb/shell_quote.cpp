// Quoting for the device's /system/bin/sh (mksh on Android, any POSIX sh elsewhere). Inside
// single quotes nothing is special except the closing quote, so every argument is wrapped whole
// and each ' becomes '\'' (close, escaped quote, reopen). Always quoting, even plain words,
// keeps one rule that is easy to check.
#include <string>
#include <vector>

#include "darkroom/adb/client.h"

namespace darkroom::adb {

std::string shellQuote(const std::string& argument) {
  if (argument.find('\0') != std::string::npos) {
    // A C string cannot carry NUL, so no shell could pass it on; refuse instead of truncating.
    throw AdbError("shell argument contains a NUL byte, which no program argument can carry: " +
                   printableBytes(argument));
  }
  std::string out;
  out.reserve(argument.size() + 2);
  out += '\'';
  for (char c : argument) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string shellCommand(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& arg : argv) {
    if (!out.empty()) out += ' ';
    out += shellQuote(arg);
  }
  return out;
}

}  // namespace darkroom::adb

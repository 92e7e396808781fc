// `getprop` output: parses or throws ProtocolError; single-line values survive printing again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "darkroom/adb/protocol.h"
#include "fuzz_check.h"

using namespace darkroom::adb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> props;
  try {
    props = parseGetprop(in);
  } catch (const ProtocolError&) {
    return 0;
  }
  std::string again;
  for (const auto& [key, value] : props) {
    FUZZ_CHECK(!key.empty());
    FUZZ_CHECK(key.find('\n') == std::string::npos);
    // A value whose last line ends without ']' would print as an unfinished multi-line value.
    if (value.find('\n') != std::string::npos || key.find("]: [") != std::string::npos) return 0;
    if (!value.empty() && value.back() == '\r') return 0;
    if (!key.empty() && key.back() == '\r') return 0;
    again += "[" + key + "]: [" + value + "]\n";
  }
  FUZZ_CHECK(parseGetprop(again) == props);
  return 0;
}

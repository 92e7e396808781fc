// Smart-socket framing: the 4-hex-digit length prefix and the OKAY/FAIL status word.
// Input: 4 bytes of prefix, then bytes that pick the limit.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "darkroom/adb/protocol.h"
#include "fuzz_check.h"

using namespace darkroom::adb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view prefix = in.substr(0, 4);
  std::size_t limit = kMaxRequestPayload;
  if (size > 4) limit = static_cast<std::size_t>(data[4]) << 8 | (size > 5 ? data[5] : 0);

  try {
    const std::size_t n = parseLengthPrefix(prefix, limit);
    FUZZ_CHECK(prefix.size() == 4);
    FUZZ_CHECK(n <= limit && n <= 0xffff);
    // Encoding that many bytes gives back the same digits, in lower case.
    std::string lower(prefix);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    FUZZ_CHECK(encodeRequest(std::string(n, 'x')).substr(0, 4) == lower);
  } catch (const ProtocolError& e) {
    FUZZ_CHECK(std::string(e.what()).find("length prefix") != std::string::npos);
  }

  try {
    const bool okay = parseStatus(prefix);
    FUZZ_CHECK(prefix == (okay ? "OKAY" : "FAIL"));
  } catch (const ProtocolError&) {
    FUZZ_CHECK(prefix != "OKAY" && prefix != "FAIL");
  }

  // A FAIL reply round-trips its message (up to the 64 KiB the prefix can say).
  const std::string fail = encodeFail(in);
  FUZZ_CHECK(fail.substr(0, 4) == "FAIL");
  const std::size_t n = parseLengthPrefix(std::string_view(fail).substr(4, 4), 0xffff);
  FUZZ_CHECK(fail.substr(8) == in.substr(0, n));
  return 0;
}

// Sync service messages: headers and STAT v1 replies parse or throw ProtocolError, and what
// parses encodes back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "darkroom/adb/protocol.h"
#include "fuzz_check.h"

using namespace darkroom::adb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    const SyncHeader h = parseSyncHeader(in);
    FUZZ_CHECK(size >= kSyncHeaderBytes);
    FUZZ_CHECK(h.id.size() == 4);
    FUZZ_CHECK(encodeSyncHeader(h.id, h.arg) == in.substr(0, kSyncHeaderBytes));
    if (h.id == "STAT") {
      const SyncStat s = parseSyncStatV1(in.substr(4));
      FUZZ_CHECK(encodeSyncStatV1(s) == in.substr(0, 16));
    }
  } catch (const ProtocolError&) {
  }
  try {
    const SyncStat s = parseSyncStatV1(in);
    FUZZ_CHECK(encodeSyncStatV1(s).substr(4) == in.substr(0, 12));
  } catch (const ProtocolError&) {
    FUZZ_CHECK(size < 12);
  }
  // Requests: a path either encodes with its exact length or is refused as too long.
  try {
    const std::string req = encodeSyncRequest("RECV", in);
    FUZZ_CHECK(parseSyncHeader(req).arg == size);
    FUZZ_CHECK(req.substr(kSyncHeaderBytes) == in);
  } catch (const ProtocolError&) {
    FUZZ_CHECK(size > kSyncPathMax);
  }
  if (size >= 4) {
    const std::uint32_t v = readLe32(data);
    std::string le;
    appendLe32(le, v);
    FUZZ_CHECK(le == in.substr(0, 4));
  }
  return 0;
}

// `host:devices-l` / `host:track-devices-l` listings: anything parses or throws ProtocolError,
// and what parses survives formatting and parsing again unchanged.
#include <cstddef>
#include <cstdint>
#include <string>

#include "darkroom/adb/protocol.h"
#include "fuzz_check.h"

using namespace darkroom::adb;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<DeviceEntry> devices;
  try {
    devices = parseDeviceList(in);
  } catch (const ProtocolError&) {
    return 0;
  }
  for (const DeviceEntry& d : devices) {
    FUZZ_CHECK(!d.serial.empty());
    FUZZ_CHECK(!d.state.empty());
    FUZZ_CHECK(d.serial.find('\n') == std::string::npos);
    FUZZ_CHECK(d.state.find_first_of(" \t\r\n") == std::string::npos || d.state == "no permissions");
    for (const auto& [key, value] : d.attributes) {
      FUZZ_CHECK(!key.empty());
      FUZZ_CHECK((key + value).find_first_of(" \t\r\n") == std::string::npos);
    }
    // "no permissions" is two words on the wire: its help text would swallow attributes when
    // formatted again, and a state "no" followed by an attribute "permissions" reads as it.
    if (d.state == "no permissions" || d.state == "no") return 0;
  }
  FUZZ_CHECK(parseDeviceList(formatDeviceList(devices)) == devices);
  return 0;
}

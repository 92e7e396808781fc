// The adb wire formats, as pure functions over bytes: the smart-socket framing of the adb server
// (4 hex digits of length, OKAY/FAIL), the `host:devices-l` listing, shell protocol v2 packets
// and sync-service messages. No sockets here, so every parser is unit-tested and fuzzed.
// Every parser rejects malformed or oversized input with ProtocolError; none trusts a length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace darkroom::adb {

// Something on the wire was not what the protocol allows (bad hex, length over the limit, a
// packet id we do not know). The message says what was received.
struct ProtocolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Largest smart-socket payload we accept (the server's own limit is 1 MiB).
constexpr std::size_t kMaxRequestPayload = 1 << 20;
// Sync DATA chunks are at most 64 KiB (the device rejects larger ones).
constexpr std::size_t kSyncDataMax = 64 * 1024;
// Shell v2 packets we accept from a device: a sane bound on one packet's payload.
constexpr std::size_t kMaxShellPacket = 1 << 20;

// "host:version" -> "000chost:version".
std::string encodeRequest(std::string_view payload);
// The 4 hex digits before a payload -> its length. Throws ProtocolError on non-hex digits or a
// length above `limit`.
std::size_t parseLengthPrefix(std::string_view four_hex_digits,
                              std::size_t limit = kMaxRequestPayload);

// The server answers a request with "OKAY" or "FAIL" + 4 hex digits + message. Returns true for
// OKAY, false for FAIL; throws ProtocolError (quoting the bytes) for anything else.
bool parseStatus(std::string_view four_bytes);
// "FAIL" + length-prefixed message, as the server sends it (for fake servers in tests).
std::string encodeFail(std::string_view message);

// Bytes for an error message: quoted, non-printables as \xNN, cut after max_bytes.
std::string printableBytes(std::string_view bytes, std::size_t max_bytes = 40);

// One line of `host:devices-l` or `host:track-devices-l`:
//   "SERIAL\tdevice product:x model:y device:z transport_id:1"  (or space separated)
struct DeviceEntry {
  std::string serial;
  std::string state;                              // "device", "offline", "unauthorized", ...
  std::map<std::string, std::string> attributes;  // product, model, device, transport_id, usb...
  bool operator==(const DeviceEntry& o) const {
    return serial == o.serial && state == o.state && attributes == o.attributes;
  }
};
// Parses a whole listing (empty lines ignored). Throws ProtocolError on a line without a state.
std::vector<DeviceEntry> parseDeviceList(std::string_view text);
// The inverse for well-formed entries ("SERIAL\tSTATE key:value ..."; an empty value is written
// as the bare key), used by fake servers and to check the parser.
std::string formatDeviceList(const std::vector<DeviceEntry>& devices);

// Shell protocol v2: [id:1][length:4 LE][payload]. Ids from adb's shell_protocol.h.
enum class ShellPacketId : std::uint8_t {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
  Exit = 3,
  CloseStdin = 4,
  WindowSizeChange = 5,
};
struct ShellPacket {
  ShellPacketId id = ShellPacketId::Stdout;
  std::string data;
};
std::string encodeShellPacket(ShellPacketId id, std::string_view data);
// Incremental: feed bytes as they arrive (any split), take whole packets out.
class ShellPacketParser {
 public:
  explicit ShellPacketParser(std::size_t max_packet = kMaxShellPacket) : max_packet_(max_packet) {}
  // Throws ProtocolError on an unknown id or a length above max_packet.
  void feed(std::string_view bytes);
  std::optional<ShellPacket> next();
  std::size_t buffered() const { return buffer_.size() - start_; }

 private:
  std::size_t max_packet_;
  std::string buffer_;
  std::size_t start_ = 0;
};

// Sync service messages: [id:4 ASCII][arg:4 LE] then, for some, arg bytes of payload.
// Requests: STAT/LIST/SEND/RECV/QUIT carry a path of arg bytes; DATA carries arg bytes;
// DONE carries the mtime in arg. Replies: OKAY, FAIL (+ message), DATA, DONE, STAT (v1: mode,
// size, mtime), DENT (listing).
constexpr std::size_t kSyncHeaderBytes = 8;
// adbd refuses sync request paths (SEND's "path,mode" included) longer than this.
constexpr std::size_t kSyncPathMax = 1024;
struct SyncHeader {
  std::string id;  // 4 characters
  std::uint32_t arg = 0;
};
std::string encodeSyncHeader(std::string_view id, std::uint32_t arg);
// "SEND" + path + ",mode" as adb expects it (mode in decimal).
std::string encodeSyncSend(std::string_view remote_path, std::uint32_t mode);
// STAT, RECV, LIST. Throws ProtocolError for a path over kSyncPathMax.
std::string encodeSyncRequest(std::string_view id, std::string_view path);
SyncHeader parseSyncHeader(std::string_view eight_bytes);  // throws on short input
// STAT (v1) reply after its id: mode, size, mtime, each 4 bytes LE (12 bytes).
struct SyncStat {
  std::uint32_t mode = 0;  // 0: no such file
  std::uint32_t size = 0;
  std::uint32_t mtime = 0;
};
SyncStat parseSyncStatV1(std::string_view twelve_bytes);
// "STAT" + the 12 bytes above: the device's reply to a STAT request.
std::string encodeSyncStatV1(const SyncStat& stat);

// `getprop` output: "[name]: [value]" per line. A value that spans lines (one ending without
// ']') continues on the following lines until one ends with ']'. Empty lines are skipped;
// anything else throws ProtocolError quoting the line.
std::map<std::string, std::string> parseGetprop(std::string_view text);

std::uint32_t readLe32(const unsigned char* p);
void appendLe32(std::string& out, std::uint32_t v);

}  // namespace darkroom::adb

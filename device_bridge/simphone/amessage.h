// adbd's transport framing: every message is a 24-byte header of six little-endian words
// (command, arg0, arg1, data_length, data_crc32, magic = command ^ 0xffffffff) followed by
// data_length bytes of payload. Pure functions, no sockets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace darkroom::simphone {

constexpr std::uint32_t kCnxn = 0x4e584e43;  // "CNXN"
constexpr std::uint32_t kAuth = 0x48545541;  // "AUTH"
constexpr std::uint32_t kOpen = 0x4e45504f;  // "OPEN"
constexpr std::uint32_t kOkay = 0x59414b4f;  // "OKAY"
constexpr std::uint32_t kClse = 0x45534c43;  // "CLSE"
constexpr std::uint32_t kWrte = 0x45545257;  // "WRTE"
constexpr std::uint32_t kSync = 0x434e5953;  // "SYNC": obsolete, never valid on the wire

constexpr std::uint32_t kVersionMin = 0x01000000;
// From this version on both sides send data_crc32 = 0 and ignore it.
constexpr std::uint32_t kVersionSkipChecksum = 0x01000001;
constexpr std::uint32_t kVersion = 0x01000001;

// The largest payload we accept and advertise in our CNXN (the adb server's own limit too).
constexpr std::size_t kMaxPayload = 1 << 20;
// Before the handshake neither side knows the other's limit; CNXN and AUTH stay below this.
constexpr std::size_t kMaxPayloadV1 = 4096;
constexpr std::size_t kHeaderBytes = 24;

struct Header {
  std::uint32_t command = 0;
  std::uint32_t arg0 = 0;
  std::uint32_t arg1 = 0;
  std::uint32_t data_length = 0;
  std::uint32_t data_crc32 = 0;
  std::uint32_t magic = 0;
};

// The adb "checksum": the sum of the payload's bytes.
std::uint32_t byteSum(std::string_view payload);

// The header for `payload`; data_crc32 is the byte sum when `with_checksum`, else 0.
std::array<unsigned char, kHeaderBytes> encodeHeader(std::uint32_t command, std::uint32_t arg0,
                                                     std::uint32_t arg1, std::string_view payload,
                                                     bool with_checksum);
Header decodeHeader(const unsigned char* bytes);

// Empty when the header may be followed by its payload; otherwise what is wrong with it (bad
// magic, a command adbd does not know, a length over `max_payload`).
std::string headerProblem(const Header& header, std::size_t max_payload);

// "CNXN", "WRTE", ... or the command as hex when it is not printable.
std::string commandName(std::uint32_t command);

}  // namespace darkroom::simphone

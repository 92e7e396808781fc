#include "amessage.h"

#include <cstdio>

namespace darkroom::simphone {

namespace {

void putLe32(unsigned char* p, std::uint32_t v) {
  p[0] = static_cast<unsigned char>(v & 0xff);
  p[1] = static_cast<unsigned char>((v >> 8) & 0xff);
  p[2] = static_cast<unsigned char>((v >> 16) & 0xff);
  p[3] = static_cast<unsigned char>((v >> 24) & 0xff);
}

std::uint32_t getLe32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

bool knownCommand(std::uint32_t c) {
  return c == kCnxn || c == kAuth || c == kOpen || c == kOkay || c == kClse || c == kWrte;
}

}  // namespace

std::uint32_t byteSum(std::string_view payload) {
  std::uint32_t sum = 0;
  for (char c : payload) sum += static_cast<unsigned char>(c);
  return sum;
}

std::array<unsigned char, kHeaderBytes> encodeHeader(std::uint32_t command, std::uint32_t arg0,
                                                     std::uint32_t arg1, std::string_view payload,
                                                     bool with_checksum) {
  std::array<unsigned char, kHeaderBytes> h{};
  putLe32(h.data(), command);
  putLe32(h.data() + 4, arg0);
  putLe32(h.data() + 8, arg1);
  putLe32(h.data() + 12, static_cast<std::uint32_t>(payload.size()));
  putLe32(h.data() + 16, with_checksum ? byteSum(payload) : 0);
  putLe32(h.data() + 20, command ^ 0xffffffffu);
  return h;
}

Header decodeHeader(const unsigned char* bytes) {
  Header h;
  h.command = getLe32(bytes);
  h.arg0 = getLe32(bytes + 4);
  h.arg1 = getLe32(bytes + 8);
  h.data_length = getLe32(bytes + 12);
  h.data_crc32 = getLe32(bytes + 16);
  h.magic = getLe32(bytes + 20);
  return h;
}

std::string headerProblem(const Header& header, std::size_t max_payload) {
  char buf[160];
  if (header.magic != (header.command ^ 0xffffffffu)) {
    std::snprintf(buf, sizeof buf, "bad magic 0x%08x for command 0x%08x (expected 0x%08x)",
                  header.magic, header.command, header.command ^ 0xffffffffu);
    return buf;
  }
  if (!knownCommand(header.command)) {
    return "unknown command " + commandName(header.command);
  }
  if (header.data_length > max_payload) {
    std::snprintf(buf, sizeof buf, "%s announces %u bytes of payload, over the limit of %zu",
                  commandName(header.command).c_str(), header.data_length, max_payload);
    return buf;
  }
  return {};
}

std::string commandName(std::uint32_t command) {
  std::string name;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((command >> (8 * i)) & 0xff);
    if (c < 'A' || c > 'Z') {
      char buf[16];
      std::snprintf(buf, sizeof buf, "0x%08x", command);
      return buf;
    }
    name += c;
  }
  return name;
}

}  // namespace darkroom::simphone

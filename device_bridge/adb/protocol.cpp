// The adb wire formats as pure functions. Every length read from the wire is checked against a
// limit before anything is allocated or indexed with it, and every error quotes the bytes that
// were received (escaped, truncated) so a log line is enough to see what the peer sent.
#include "darkroom/adb/protocol.h"

#include <algorithm>
#include <cstdio>

namespace darkroom::adb {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// '\r' counts as a blank so CRLF listings (and stray carriage returns) split like LF ones.
bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits on runs of spaces and tabs.
std::vector<std::string_view> splitBlanks(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && isBlank(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !isBlank(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::string_view trimBlanks(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && isBlank(s.back())) s.remove_suffix(1);
  return s;
}

bool isSyncIdChar(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace

std::string printableBytes(std::string_view bytes, std::size_t max_bytes) {
  std::string out = "\"";
  const std::size_t n = std::min(bytes.size(), max_bytes);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += '"';
  if (bytes.size() > n) out += "... (" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

std::uint32_t readLe32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

void appendLe32(std::string& out, std::uint32_t v) {
  const char b[4] = {static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff),
                     static_cast<char>((v >> 16) & 0xff), static_cast<char>((v >> 24) & 0xff)};
  out.append(b, 4);
}

// --- smart-socket framing ----------------------------------------------------------------------

std::string encodeRequest(std::string_view payload) {
  if (payload.size() > 0xffff) {
    throw ProtocolError("adb request of " + std::to_string(payload.size()) +
                        " bytes does not fit the 4-hex-digit length prefix (at most 65535)");
  }
  char prefix[5];
  std::snprintf(prefix, sizeof prefix, "%04x", static_cast<unsigned>(payload.size()));
  std::string out(prefix, 4);
  out.append(payload);
  return out;
}

std::size_t parseLengthPrefix(std::string_view four_hex_digits, std::size_t limit) {
  if (four_hex_digits.size() != 4) {
    throw ProtocolError("adb length prefix must be 4 hex digits, received " +
                        std::to_string(four_hex_digits.size()) + " bytes " +
                        printableBytes(four_hex_digits));
  }
  std::size_t value = 0;
  for (char c : four_hex_digits) {
    const int v = hexValue(c);
    if (v < 0) {
      throw ProtocolError("adb length prefix is not 4 hex digits: received " +
                          printableBytes(four_hex_digits));
    }
    value = value * 16 + static_cast<std::size_t>(v);
  }
  if (value > limit) {
    throw ProtocolError("adb length prefix " + printableBytes(four_hex_digits) + " announces " +
                        std::to_string(value) + " bytes, over the limit of " +
                        std::to_string(limit));
  }
  return value;
}

bool parseStatus(std::string_view four_bytes) {
  if (four_bytes == "OKAY") return true;
  if (four_bytes == "FAIL") return false;
  throw ProtocolError("adb server replied " + printableBytes(four_bytes) +
                      " where OKAY or FAIL was expected");
}

std::string encodeFail(std::string_view message) {
  return "FAIL" + encodeRequest(message.substr(0, 0xffff));
}

// --- device listings ---------------------------------------------------------------------------

std::vector<DeviceEntry> parseDeviceList(std::string_view text) {
  std::vector<DeviceEntry> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    line = trimBlanks(line);  // also drops the '\r' of CRLF line ends
    if (line.empty()) continue;

    DeviceEntry entry;
    std::string_view rest;
    // The short listing separates the serial with a tab, the long one pads it with spaces.
    // A device without a serial is listed as "(no serial number)", which has spaces in it.
    constexpr std::string_view kNoSerial = "(no serial number)";
    const std::size_t tab = line.find('\t');
    if (line.substr(0, kNoSerial.size()) == kNoSerial &&
        (line.size() == kNoSerial.size() || isBlank(line[kNoSerial.size()]))) {
      entry.serial = std::string(kNoSerial);
      rest = line.substr(kNoSerial.size());
    } else if (tab != std::string_view::npos) {
      entry.serial = std::string(trimBlanks(line.substr(0, tab)));
      rest = line.substr(tab + 1);
    } else {
      const std::size_t sp = line.find_first_of(" \r");
      entry.serial = std::string(line.substr(0, sp));
      rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp);
    }
    const std::vector<std::string_view> words = splitBlanks(rest);
    if (entry.serial.empty() || words.empty()) {
      throw ProtocolError("adb device list line has no " +
                          std::string(entry.serial.empty() ? "serial" : "state") + ": " +
                          printableBytes(line, 120));
    }
    std::size_t w = 0;
    entry.state = std::string(words[w++]);
    // "no permissions (...); see [URL]": the server's help text is part of the state.
    if (entry.state == "no" && w < words.size() && words[w] == "permissions") {
      entry.state += " permissions";
      ++w;
      const std::size_t help_start = w;
      std::size_t end = help_start;
      while (end < words.size() && words[end].find(']') == std::string_view::npos) ++end;
      if (end < words.size()) w = end + 1;  // help text ends with "[URL]"
    }
    for (; w < words.size(); ++w) {
      const std::string_view word = words[w];
      const std::size_t colon = word.find(':');
      // The long listing puts the device path (e.g. "usb:1-4") and key:value pairs here; a word
      // without a colon is kept under its own name so nothing the server said is dropped.
      if (colon == std::string_view::npos || colon == 0) {
        entry.attributes[std::string(word)] = "";
      } else {
        entry.attributes[std::string(word.substr(0, colon))] = std::string(word.substr(colon + 1));
      }
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::string formatDeviceList(const std::vector<DeviceEntry>& devices) {
  std::string out;
  for (const DeviceEntry& d : devices) {
    out += d.serial;
    out += '\t';
    out += d.state;
    for (const auto& [key, value] : d.attributes) {
      out += ' ';
      out += key;
      if (!value.empty()) {
        out += ':';
        out += value;
      }
    }
    out += '\n';
  }
  return out;
}

// --- getprop ------------------------------------------------------------------------------------

std::map<std::string, std::string> parseGetprop(std::string_view text) {
  std::map<std::string, std::string> props;
  std::string pending_key;  // non-empty while a multi-line value is being read
  std::string pending_value;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!pending_key.empty()) {
      pending_value += '\n';
      if (!line.empty() && line.back() == ']') {
        pending_value.append(line.substr(0, line.size() - 1));
        props[pending_key] = std::move(pending_value);
        pending_key.clear();
        pending_value.clear();
      } else {
        pending_value.append(line);
      }
      continue;
    }
    if (line.empty()) continue;
    const std::size_t sep = line.find("]: [");
    if (line.front() != '[' || sep == std::string_view::npos || sep == 1) {
      throw ProtocolError("getprop printed a line that is not \"[name]: [value]\": " +
                          printableBytes(line, 120));
    }
    std::string key(line.substr(1, sep - 1));
    const std::string_view rest = line.substr(sep + 4);
    if (!rest.empty() && rest.back() == ']') {
      props[std::move(key)] = std::string(rest.substr(0, rest.size() - 1));
    } else {
      pending_key = std::move(key);
      pending_value = std::string(rest);
    }
  }
  if (!pending_key.empty()) {
    throw ProtocolError("getprop output ended inside the value of [" + pending_key +
                        "]: " + printableBytes(pending_value, 120));
  }
  return props;
}

// --- shell protocol v2 -------------------------------------------------------------------------

std::string encodeShellPacket(ShellPacketId id, std::string_view data) {
  if (data.size() > 0xffffffffu) throw ProtocolError("shell packet payload over 4 GiB");
  std::string out;
  out.reserve(5 + data.size());
  out += static_cast<char>(id);
  appendLe32(out, static_cast<std::uint32_t>(data.size()));
  out.append(data);
  return out;
}

// Checks the 5-byte header at `pos` (which must be complete) and returns the payload length.
static std::size_t checkShellHeader(std::string_view header, std::size_t max_packet) {
  const auto id = static_cast<unsigned char>(header[0]);
  if (id > static_cast<unsigned char>(ShellPacketId::WindowSizeChange)) {
    throw ProtocolError("shell protocol packet with unknown id " + std::to_string(id) +
                        ": received header " + printableBytes(header.substr(0, 5)));
  }
  const std::uint32_t length = readLe32(reinterpret_cast<const unsigned char*>(header.data() + 1));
  if (length > max_packet) {
    throw ProtocolError("shell protocol packet announces " + std::to_string(length) +
                        " bytes, over the limit of " + std::to_string(max_packet) +
                        ": received header " + printableBytes(header.substr(0, 5)));
  }
  return length;
}

void ShellPacketParser::feed(std::string_view bytes) {
  // Drop consumed bytes before growing, so a long stream does not keep everything it ever read.
  if (start_ > 0 && (start_ == buffer_.size() || start_ >= 64 * 1024)) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  const bool had_header = buffered() >= 5;
  buffer_.append(bytes);
  // Reject a bad header as soon as it is complete, instead of waiting for a payload that a
  // broken peer may never send.
  if (!had_header && buffered() >= 5) {
    checkShellHeader(std::string_view(buffer_).substr(start_, 5), max_packet_);
  }
}

std::optional<ShellPacket> ShellPacketParser::next() {
  if (buffered() < 5) return std::nullopt;
  const std::string_view view(buffer_);
  const std::size_t length = checkShellHeader(view.substr(start_, 5), max_packet_);
  if (buffered() - 5 < length) return std::nullopt;
  ShellPacket packet;
  packet.id = static_cast<ShellPacketId>(static_cast<unsigned char>(buffer_[start_]));
  packet.data.assign(view.substr(start_ + 5, length));
  // The next header, if already here, is checked by the next call, so this packet is not lost.
  start_ += 5 + length;
  return packet;
}

// --- sync service ------------------------------------------------------------------------------

std::string encodeSyncHeader(std::string_view id, std::uint32_t arg) {
  if (id.size() != 4 || !std::all_of(id.begin(), id.end(), isSyncIdChar)) {
    throw ProtocolError("sync message id must be 4 characters A-Z/0-9, got " +
                        printableBytes(id));
  }
  std::string out(id);
  appendLe32(out, arg);
  return out;
}

std::string encodeSyncRequest(std::string_view id, std::string_view path) {
  if (path.size() > kSyncPathMax) {
    throw ProtocolError("sync path of " + std::to_string(path.size()) +
                        " bytes is over the device's limit of " + std::to_string(kSyncPathMax));
  }
  std::string out = encodeSyncHeader(id, static_cast<std::uint32_t>(path.size()));
  out.append(path);
  return out;
}

std::string encodeSyncSend(std::string_view remote_path, std::uint32_t mode) {
  std::string spec(remote_path);
  spec += ',';
  spec += std::to_string(mode);
  return encodeSyncRequest("SEND", spec);
}

SyncHeader parseSyncHeader(std::string_view eight_bytes) {
  if (eight_bytes.size() < kSyncHeaderBytes) {
    throw ProtocolError("sync message header cut short: " + std::to_string(eight_bytes.size()) +
                        " of 8 bytes, received " + printableBytes(eight_bytes));
  }
  const std::string_view id = eight_bytes.substr(0, 4);
  if (!std::all_of(id.begin(), id.end(), isSyncIdChar)) {
    throw ProtocolError("sync message with an id that is not 4 characters A-Z/0-9: received " +
                        printableBytes(eight_bytes.substr(0, 8)));
  }
  SyncHeader h;
  h.id = std::string(id);
  h.arg = readLe32(reinterpret_cast<const unsigned char*>(eight_bytes.data() + 4));
  return h;
}

SyncStat parseSyncStatV1(std::string_view twelve_bytes) {
  if (twelve_bytes.size() < 12) {
    throw ProtocolError("sync STAT reply cut short: " + std::to_string(twelve_bytes.size()) +
                        " of 12 bytes, received " + printableBytes(twelve_bytes));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(twelve_bytes.data());
  SyncStat s;
  s.mode = readLe32(p);
  s.size = readLe32(p + 4);
  s.mtime = readLe32(p + 8);
  return s;
}

std::string encodeSyncStatV1(const SyncStat& stat) {
  std::string out = "STAT";
  appendLe32(out, stat.mode);
  appendLe32(out, stat.size);
  appendLe32(out, stat.mtime);
  return out;
}

}  // namespace darkroom::adb

// Shell protocol v2: the incremental parser fed in pieces (sizes taken from the input itself)
// takes out exactly the packets a whole feed does, consumes exactly their encoded bytes, and
// throws nothing but ProtocolError.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "darkroom/adb/protocol.h"
#include "fuzz_check.h"

using namespace darkroom::adb;

namespace {

struct Outcome {
  std::vector<ShellPacket> packets;
  std::size_t buffered = 0;
  bool error = false;
};

Outcome run(std::string_view stream, std::size_t max_packet, std::uint8_t piece_seed) {
  Outcome o;
  ShellPacketParser parser(max_packet);
  std::size_t pos = 0;
  std::uint32_t state = piece_seed * 2654435761u + 1;
  try {
    while (pos < stream.size()) {
      std::size_t piece = stream.size() - pos;
      if (piece_seed != 0) {
        state = state * 1103515245u + 12345u;
        piece = std::min<std::size_t>(piece, 1 + (state >> 16) % 23);
      }
      parser.feed(stream.substr(pos, piece));
      pos += piece;
      while (auto p = parser.next()) o.packets.push_back(std::move(*p));
    }
    o.buffered = parser.buffered();
  } catch (const ProtocolError&) {
    o.error = true;
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max_packet = 1 + data[0] * 16u;  // small limits reach the length check
  const std::uint8_t piece_seed = data[1];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  const Outcome whole = run(stream, max_packet, 0);
  const Outcome pieces = run(stream, max_packet, piece_seed);
  FUZZ_CHECK(whole.error == pieces.error);
  // Pieces may stop at the error later or earlier than a whole feed, but never disagree on
  // the packets both produced.
  const std::size_t common = std::min(whole.packets.size(), pieces.packets.size());
  for (std::size_t i = 0; i < common; ++i) {
    FUZZ_CHECK(whole.packets[i].id == pieces.packets[i].id);
    FUZZ_CHECK(whole.packets[i].data == pieces.packets[i].data);
  }
  if (!whole.error) {
    FUZZ_CHECK(whole.packets.size() == pieces.packets.size());
    FUZZ_CHECK(whole.buffered == pieces.buffered);
    // Re-encoding the packets gives the consumed input back, byte for byte.
    std::string again;
    for (const ShellPacket& p : whole.packets) {
      FUZZ_CHECK(p.data.size() <= max_packet);
      again += encodeShellPacket(p.id, p.data);
    }
    FUZZ_CHECK(again.size() + whole.buffered == stream.size());
    FUZZ_CHECK(stream.substr(0, again.size()) == again);
  }
  return 0;
}

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF): the
// checksum of flash layout files. Slicing-by-8 in software, the SSE4.2 instruction where the CPU
// has it. crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstddef>
#include <cstdint>

namespace darkroom::neuralink {

// Continues a running CRC: start with crc = 0, feed the pieces in order.
std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t bytes);
inline std::uint32_t crc32c(const void* data, std::size_t bytes) { return crc32c(0, data, bytes); }
// The portable path alone (the tests compare it with the hardware one).
std::uint32_t crc32cPortable(std::uint32_t crc, const void* data, std::size_t bytes);

}  // namespace darkroom::neuralink

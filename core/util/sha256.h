// SHA-256 (FIPS 180-4), streaming, for artifact checksums.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace darkroom {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  std::array<std::uint8_t, 32> digest();  // finishes; call once
  std::string hexDigest();

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

// Hex SHA-256 of a file's bytes; throws std::runtime_error naming the file when it cannot be read.
std::string sha256File(const std::filesystem::path& file);

}  // namespace darkroom

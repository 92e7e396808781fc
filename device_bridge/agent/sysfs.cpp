#include "sysfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace darkroom::agent {
namespace {
constexpr std::size_t kMaxFile = 1 << 20;
}

std::optional<std::string> readText(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, std::size_t(n));
    if (out.size() >= kMaxFile) break;
  }
  ::close(fd);
  return out;
}

std::string trim(std::string_view text) {
  const char* spaces = " \t\r\n";
  const auto first = text.find_first_not_of(spaces);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(spaces);
  return std::string(text.substr(first, last - first + 1));
}

std::optional<std::string> readLine(const std::filesystem::path& path) {
  auto text = readText(path);
  if (!text) return std::nullopt;
  return trim(std::string_view(*text).substr(0, text->find('\n')));
}

std::optional<std::int64_t> parseLeadingInteger(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  std::size_t j = i;
  if (j < text.size() && (text[j] == '-' || text[j] == '+')) ++j;
  const std::size_t digits = j;
  while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
  if (j == digits) return std::nullopt;
  return std::strtoll(std::string(text.substr(i, j - i)).c_str(), nullptr, 10);
}

std::optional<std::int64_t> readInteger(const std::filesystem::path& path) {
  auto text = readText(path);
  if (!text) return std::nullopt;
  return parseLeadingInteger(*text);
}

std::optional<std::int64_t> meminfoBytes(std::string_view meminfo, std::string_view key) {
  std::size_t at = 0;
  while (at < meminfo.size()) {
    const auto end = meminfo.find('\n', at);
    const auto line = meminfo.substr(at, end == std::string_view::npos ? std::string_view::npos
                                                                       : end - at);
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ':') {
      auto kb = parseLeadingInteger(line.substr(key.size() + 1));
      if (!kb) return std::nullopt;
      return *kb * 1024;
    }
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return std::nullopt;
}

PolledFile::PolledFile(const std::filesystem::path& path)
    : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}

PolledFile::~PolledFile() {
  if (fd_ >= 0) ::close(fd_);
}

PolledFile::PolledFile(PolledFile&& other) noexcept
    : fd_(other.fd_), buffer_(std::move(other.buffer_)) {
  other.fd_ = -1;
}

std::optional<std::string_view> PolledFile::read() {
  if (fd_ < 0) return std::nullopt;
  if (buffer_.size() < 4096) buffer_.resize(4096);
  std::size_t got = 0;
  for (;;) {
    if (got == buffer_.size()) {
      if (buffer_.size() >= kMaxFile) break;
      buffer_.resize(buffer_.size() * 2);
    }
    const ssize_t n = ::pread(fd_, buffer_.data() + got, buffer_.size() - got, off_t(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    got += std::size_t(n);
    // procfs and sysfs fill the whole buffer when they can: a short read is the end of the file.
    if (got < buffer_.size()) break;
  }
  return std::string_view(buffer_.data(), got);
}

}  // namespace darkroom::agent

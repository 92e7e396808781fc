#include "log.h"

#include <unistd.h>

#include <mutex>

namespace darkroom::simphone {

void logLine(const std::string& line) {
  static std::mutex mutex;
  const std::string text = "simphone: " + line + "\n";
  std::lock_guard<std::mutex> lock(mutex);
  // One write per line: a reader of a shared pipe never sees two lines mixed.
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n <= 0) return;  // stderr closed: nothing useful left to do with the line
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace darkroom::simphone

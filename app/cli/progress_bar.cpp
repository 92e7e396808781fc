#include "progress_bar.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace darkroom::cli {

ProgressBar::ProgressBar(std::string title)
    : title_(std::move(title)), tty_(isatty(STDERR_FILENO) != 0) {}

ProgressBar::~ProgressBar() {
  if (tty_ && drawn_) std::fputc('\n', stderr);
}

void ProgressBar::update(double fraction, const std::string& message) {
  int percent = static_cast<int>(std::lround(fraction * 100));
  if (tty_) {
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && fraction < 1.0 && now - last_draw_ < std::chrono::milliseconds(50)) return;
    last_draw_ = now;
    constexpr int kWidth = 30;
    int filled = static_cast<int>(fraction * kWidth);
    std::string bar(filled, '#');
    bar.resize(kWidth, '-');
    std::fprintf(stderr, "\r\033[K%s [%s] %3d%% %s", title_.c_str(), bar.c_str(), percent,
                 message.substr(0, 60).c_str());
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  int decile = percent / 10;
  std::string stem = message.substr(0, message.find(':'));  // "run: step 10/400" -> "run"
  if (decile == last_decile_ && stem == last_message_) return;
  last_decile_ = decile;
  last_message_ = stem;
  std::fprintf(stderr, "%s: %3d%% %s\n", title_.c_str(), percent, message.c_str());
}

}  // namespace darkroom::cli

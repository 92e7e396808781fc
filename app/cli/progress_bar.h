// Shows a job's progress on stderr: a redrawn bar on a terminal, plain lines otherwise (logs,
// pipes, CI), at most one line per 10% or per new message.
#pragma once

#include <chrono>
#include <string>

namespace darkroom::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string title);
  ~ProgressBar();  // ends the bar's line
  void update(double fraction, const std::string& message);

 private:
  std::string title_;
  bool tty_;
  int last_decile_ = -1;
  std::string last_message_;
  std::chrono::steady_clock::time_point last_draw_{};
  bool drawn_ = false;
};

}  // namespace darkroom::cli

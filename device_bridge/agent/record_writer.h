// The agent's stdout: one JSON object per line (docs/agent-protocol.md), each with v, cmd, type,
// t_ms, seq (and simulated under darkroom-simphone), written and flushed at once so a host
// reading `adb shell` sees every record as it is measured. Thread-safe: records from several
// threads get consecutive seq numbers in the order they reach stdout.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace darkroom::agent {

using Json = nlohmann::ordered_json;

inline constexpr int kFormatVersion = 1;

class RecordWriter {
 public:
  // `cmd` is the subcommand as typed. `simulated` comes from DARKROOM_SIMULATED=1.
  RecordWriter(std::string cmd, std::FILE* out, bool simulated);

  // Writes {v, cmd, type, t_ms, seq, [simulated], ...fields}. `fields` must be an object and may
  // not use those keys. A failed write (the reader went away: EPIPE) marks the writer broken and
  // drops this and every later record.
  void emit(const char* type, const Json& fields);
  void info(const Json& fields) { emit("info", fields); }
  void sample(const Json& fields) { emit("sample", fields); }
  void result(const Json& fields) { emit("result", fields); }
  void progress(double done, double total, const std::string& message);
  void error(const std::string& message, Json extra = Json::object());

  void setCommand(std::string cmd);
  bool simulated() const { return simulated_; }
  bool broken() const;
  std::int64_t records() const;
  double elapsedMs() const;  // since construction, steady clock

 private:
  mutable std::mutex m_;
  std::string cmd_;
  std::FILE* out_;
  bool simulated_;
  bool broken_ = false;
  std::int64_t seq_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::string line_;  // reused buffer
};

// DARKROOM_SIMULATED=1 in the environment.
bool simulatedFromEnvironment();

// Rounds to 3 (6) decimals so that printed numbers stay short: µs resolution for milliseconds
// (for seconds).
double round3(double x);
double round6(double x);
// Rounds to 6 significant digits: for rates (GB/s, IOPS) that span many orders of magnitude.
double significant6(double x);

}  // namespace darkroom::agent

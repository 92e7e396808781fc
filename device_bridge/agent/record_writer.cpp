#include "record_writer.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace darkroom::agent {

RecordWriter::RecordWriter(std::string cmd, std::FILE* out, bool simulated)
    : cmd_(std::move(cmd)), out_(out), simulated_(simulated),
      start_(std::chrono::steady_clock::now()) {}

void RecordWriter::setCommand(std::string cmd) {
  std::lock_guard<std::mutex> lock(m_);
  cmd_ = std::move(cmd);
}

double RecordWriter::elapsedMs() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
      .count();
}

void RecordWriter::emit(const char* type, const Json& fields) {
  if (!fields.is_object()) throw std::logic_error("a record's fields must be a JSON object");
  Json record;
  std::lock_guard<std::mutex> lock(m_);
  if (broken_) return;
  // Stamped under the lock, so t_ms and seq both grow down the output.
  record["v"] = kFormatVersion;
  record["cmd"] = cmd_;
  record["type"] = type;
  record["t_ms"] = round3(elapsedMs());
  record["seq"] = seq_;
  if (simulated_) record["simulated"] = true;
  for (const auto& [key, value] : fields.items()) {
    if (record.contains(key))
      throw std::logic_error("record field \"" + key + "\" would overwrite the header");
    record[key] = value;
  }
  // Invalid UTF-8 (a device name, a property value) is replaced rather than aborting the run.
  line_ = record.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  line_ += '\n';
  ++seq_;
  if (std::fwrite(line_.data(), 1, line_.size(), out_) != line_.size() ||
      std::fflush(out_) != 0) {
    broken_ = true;
    std::clearerr(out_);
  }
}

void RecordWriter::progress(double done, double total, const std::string& message) {
  // Counts (bytes, tokens) print as integers, fractions as numbers.
  auto number = [](double x) {
    return std::floor(x) == x && std::fabs(x) < 9e15 ? Json(std::int64_t(x)) : Json(x);
  };
  Json fields;
  fields["done"] = number(done);
  fields["total"] = number(total);
  fields["message"] = message;
  emit("progress", fields);
}

void RecordWriter::error(const std::string& message, Json extra) {
  Json fields;
  fields["message"] = message;
  for (const auto& [key, value] : extra.items()) fields[key] = value;
  emit("error", fields);
}

bool RecordWriter::broken() const {
  std::lock_guard<std::mutex> lock(m_);
  return broken_;
}

std::int64_t RecordWriter::records() const {
  std::lock_guard<std::mutex> lock(m_);
  return seq_;
}

bool simulatedFromEnvironment() {
  const char* v = std::getenv("DARKROOM_SIMULATED");
  return v && std::strcmp(v, "1") == 0;
}

double round3(double x) {
  if (!std::isfinite(x)) return x;
  return std::round(x * 1e3) / 1e3;
}

double significant6(double x) {
  if (!std::isfinite(x) || x == 0) return x;
  const double scale = std::pow(10.0, 5 - std::floor(std::log10(std::fabs(x))));
  return std::round(x * scale) / scale;
}

double round6(double x) {
  if (!std::isfinite(x)) return x;
  return std::round(x * 1e6) / 1e6;
}

}  // namespace darkroom::agent

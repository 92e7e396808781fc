// One JSON line of darkroom-agent → AgentRecord (docs/agent-protocol.md). Nested objects are
// flattened with '.', array items by index, so a plot or a table can ask for "lat_us.p99" without
// knowing the shape of each subcommand's records.
#include <cmath>
#include <nlohmann/json.hpp>

#include "darkroom/device/session.h"

namespace darkroom::device {
namespace {

// The newest major format version this reader understands.
constexpr int kAgentFormatVersion = 1;
// Deeper nesting than this is not something the agent prints; refusing it bounds the recursion.
constexpr int kMaxDepth = 32;

std::string excerpt(const std::string& line) {
  constexpr std::size_t kMax = 160;
  if (line.size() <= kMax) return "'" + line + "'";
  return "'" + line.substr(0, kMax) + "…' (" + std::to_string(line.size()) + " bytes)";
}

void flatten(const nlohmann::json& value, const std::string& key, int depth, AgentRecord& out) {
  if (depth > kMaxDepth)
    throw DeviceError("agent record nests deeper than " + std::to_string(kMaxDepth) +
                      " levels at '" + key + "': " + excerpt(out.line));
  switch (value.type()) {
    case nlohmann::json::value_t::object:
      for (const auto& [k, v] : value.items())
        flatten(v, key.empty() ? k : key + "." + k, depth + 1, out);
      break;
    case nlohmann::json::value_t::array:
      for (std::size_t i = 0; i < value.size(); ++i)
        flatten(value[i], key + "." + std::to_string(i), depth + 1, out);
      break;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      out.numbers[key] = value.get<double>();
      break;
    case nlohmann::json::value_t::boolean:
      // Flags such as "direct" and "available" are plotted and tabled as 0/1.
      out.numbers[key] = value.get<bool>() ? 1.0 : 0.0;
      break;
    case nlohmann::json::value_t::string:
      out.strings[key] = value.get<std::string>();
      break;
    default:  // null, binary: nothing to plot
      break;
  }
}

}  // namespace

double AgentRecord::number(const std::string& key, double fallback) const {
  auto it = numbers.find(key);
  return it == numbers.end() ? fallback : it->second;
}

std::string AgentRecord::text(const std::string& key, const std::string& fallback) const {
  auto it = strings.find(key);
  return it == strings.end() ? fallback : it->second;
}

AgentRecord parseAgentRecord(const std::string& line) {
  AgentRecord r;
  r.line = line;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw DeviceError("agent output is not a JSON line: " + excerpt(line) + " (" + e.what() + ")");
  }
  if (!j.is_object())
    throw DeviceError("agent output line is not a JSON object: " + excerpt(line));
  auto v = j.find("v");
  if (v == j.end() || !v->is_number())
    throw DeviceError("agent record has no format version \"v\": " + excerpt(line));
  const double version = v->get<double>();
  if (!(version >= 1) || std::floor(version) > kAgentFormatVersion)
    throw DeviceError("agent record has format version " + v->dump() + " but this Darkroom reads " +
                      "version " + std::to_string(kAgentFormatVersion) +
                      ": update Darkroom, or push the agent built with it: " + excerpt(line));
  flatten(j, "", 0, r);
  r.cmd = r.text("cmd");
  r.type = r.text("type");
  r.t_ms = r.number("t_ms");
  r.simulated = r.number("simulated") != 0;
  return r;
}

}  // namespace darkroom::device

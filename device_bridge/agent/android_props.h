// Android system properties for the `info` record, from the `getprop` tool (/system/bin/getprop,
// or one on PATH: darkroom-simphone provides its own). Run once without arguments and parsed from
// its "[key]: [value]" lines; only the properties that describe the device are kept.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace darkroom::agent {

// The getprop to run, or nullopt when there is none (not Android).
std::optional<std::filesystem::path> findGetprop();

struct AndroidProperties {
  std::map<std::string, std::string> values;  // the kept properties
  std::string error;                          // why getprop gave nothing, when it failed
};
AndroidProperties readAndroidProperties(const std::filesystem::path& getprop);

// Parses getprop's listing: "[ro.product.model]: [Pixel 8]" per line (values may be empty;
// lines that do not have that shape are skipped).
std::map<std::string, std::string> parseGetpropListing(const std::string& text);

// Whether `key` is one the info record reports.
bool reportedProperty(const std::string& key);

}  // namespace darkroom::agent

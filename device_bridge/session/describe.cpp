// What a device is: adb's state for it, and for a usable device its properties (getprop).
#include "darkroom/device/session.h"

namespace darkroom::device {

std::string deviceListText(const std::vector<adb::DeviceEntry>& devices) {
  if (devices.empty()) return "none";
  std::string out;
  for (const auto& d : devices) {
    if (!out.empty()) out += ", ";
    out += d.serial + " (" + d.state;
    if (auto m = d.attributes.find("model"); m != d.attributes.end()) out += ", " + m->second;
    out += ")";
  }
  return out;
}

std::string stateAdvice(const std::string& state) {
  if (state == "unauthorized")
    return "unlock the phone and accept the \"Allow USB debugging\" prompt, then try again";
  if (state == "offline")
    return "the adb server lost contact with it: reconnect the cable (or run `adb reconnect`)";
  if (state == "no permissions" || state.rfind("no permissions", 0) == 0)
    return "this user may not open the USB device: add a udev rule for it (see `adb devices`)";
  if (state == "authorizing" || state == "connecting")
    return "it is still connecting: wait a moment and try again";
  return "it must be in the \"device\" state (see `adb devices`)";
}

DeviceDescription describeDevice(adb::Client& client, const std::string& serial) {
  DeviceDescription d;
  d.serial = serial;
  const auto devices = client.devices();
  for (const auto& e : devices)
    if (e.serial == serial) d.state = e.state;
  if (d.state.empty())
    throw DeviceError("no device '" + serial + "' is connected to the adb server on port " +
                      std::to_string(client.address().port) + " (connected: " +
                      deviceListText(devices) + ")");
  if (d.state != "device") return d;  // properties need a usable transport
  d.properties = client.properties(serial);
  auto prop = [&](const char* key) {
    auto it = d.properties.find(key);
    return it == d.properties.end() ? std::string{} : it->second;
  };
  d.model = prop("ro.product.model");
  d.abi = prop("ro.product.cpu.abi");
  d.fingerprint = prop("ro.build.fingerprint");
  d.simulated = prop("ro.darkroom.simulated") == "1";
  return d;
}

}  // namespace darkroom::device

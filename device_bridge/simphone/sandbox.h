// The simulated phone's file system and identity. The device's "/" is the sandbox folder on the
// host: the device path /data/local/tmp/x is SANDBOX/data/local/tmp/x. Shell commands run with
// the host's /bin/sh, not Android's; only absolute paths under /data and /sdcard in a command's
// text are rewritten to the sandbox (see rewriteCommand), and a getprop script in
// SANDBOX/system/bin answers with the simulated properties.
#pragma once

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace darkroom::simphone {

// A device path that cannot be mapped into the sandbox; the message says why.
// Characters a sandbox path may have: it is pasted into shell command text unquoted.
bool safeInCommand(char c);

struct SandboxError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct PhoneIdentity {
  std::string model = "Darkroom SimPhone";
  std::string serial;  // ro.serialno
};

class Sandbox {
 public:
  // Creates the folder layout (data/local/tmp, sdcard, system/bin/getprop) under `root`, which
  // must exist. Throws SandboxError when `root` has characters that would need quoting in a shell
  // command (commands are rewritten textually, see rewriteCommand).
  Sandbox(std::filesystem::path root, PhoneIdentity identity);

  const std::filesystem::path& root() const { return root_; }
  // Android's "[key]: [value]" properties, as getprop prints them.
  const std::map<std::string, std::string>& properties() const { return properties_; }
  // "device::ro.product.name=...;ro.product.model=...;ro.product.device=...;features=..."
  std::string connectionBanner(const std::string& features) const;

  // The host path of an absolute device path. '.' and '..' are resolved as the device would,
  // but a '..' above "/" or a symbolic link that leads outside the sandbox is an escape:
  // SandboxError. Relative paths, empty paths and NUL bytes are errors too.
  std::filesystem::path hostPath(std::string_view device_path) const;

  // The command text with every absolute device path under /data or /sdcard (a word that starts
  // with "/data/", "/sdcard/", or is exactly "/data" or "/sdcard") replaced by its sandbox path.
  // This is textual: a path built at run time ("/da""ta") is not rewritten.
  std::string rewriteCommand(std::string_view command) const;

  // The environment of a shell command: the host's, with SANDBOX/system/bin first in PATH,
  // DARKROOM_SIMULATED=1, Android's storage variables pointing into the sandbox, and TERM when
  // given.
  std::vector<std::string> shellEnvironment(const std::string& term) const;

 private:
  void writeGetprop() const;

  std::filesystem::path root_;
  PhoneIdentity identity_;
  std::map<std::string, std::string> properties_;
};

// "x86_64" on an x86-64 host, "arm64-v8a" on aarch64: the ABI the host build of the agent has.
std::string hostAbi();

}  // namespace darkroom::simphone

#include "sandbox.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <system_error>

extern char** environ;

namespace darkroom::simphone {

namespace fs = std::filesystem;

bool safeInCommand(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '/' || c == '.' || c == '_' || c == '-' || c == '+';
}

namespace {

// Characters that continue a word that looks like a path; anything else ends it.
bool pathChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '/' || c == '.' || c == '_' || c == '-' || c == '+' || c == '~' || c == '$' ||
         c == '@' || c == '%' || c == '\\';
}

// Property values are printed one per line and in the CNXN banner: no control characters.
std::string oneLine(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s;
}

// The banner is "key=value;" pairs after two ':'; these would end a field early.
std::string bannerValue(std::string s) {
  for (char& c : s) {
    if (c == ';' || c == ':' || c == '=') c = '_';
  }
  return s;
}

}  // namespace

std::string hostAbi() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "arm64-v8a";
#elif defined(__i386__)
  return "x86";
#elif defined(__arm__)
  return "armeabi-v7a";
#else
  return "unknown";
#endif
}

Sandbox::Sandbox(fs::path root, PhoneIdentity identity) : identity_(std::move(identity)) {
  std::error_code ec;
  root_ = fs::canonical(root, ec);
  if (ec) {
    throw SandboxError("sandbox folder " + root.string() + " cannot be used: " + ec.message() +
                       " (create it first, or leave --sandbox out for a fresh temporary one)");
  }
  for (char c : root_.string()) {
    if (!safeInCommand(c)) {
      throw SandboxError("sandbox path " + root_.string() +
                         " has characters that would need quoting in shell commands; choose a "
                         "folder whose path has only letters, digits and / . _ - +");
    }
  }
  for (const char* dir : {"data/local/tmp", "sdcard", "system/bin"}) {
    fs::create_directories(root_ / dir, ec);
    if (ec) {
      throw SandboxError("cannot create " + (root_ / dir).string() + " in the sandbox: " +
                         ec.message());
    }
  }

  const std::string model = oneLine(identity_.model);
  const std::string abi = hostAbi();
  properties_ = {
      {"ro.product.model", model},
      {"ro.product.name", "darkroom_simphone"},
      {"ro.product.device", "simphone"},
      {"ro.product.brand", "darkroom"},
      {"ro.product.manufacturer", "Darkroom"},
      {"ro.product.cpu.abi", abi},
      {"ro.product.cpu.abilist", abi},
      {"ro.product.cpu.abilist64", abi},
      {"ro.build.fingerprint", "darkroom/simphone/simphone:13/SIMPHONE/1:simulated"},
      {"ro.build.version.release", "13"},
      {"ro.build.version.sdk", "33"},
      {"ro.hardware", "simphone"},
      {"ro.soc.manufacturer", "Darkroom"},
      {"ro.soc.model", "simulated (host CPU)"},
      {"ro.serialno", oneLine(identity_.serial)},
      {"ro.darkroom.simulated", "1"},
  };
  writeGetprop();
}

std::string Sandbox::connectionBanner(const std::string& features) const {
  return "device::ro.product.name=" + bannerValue(properties_.at("ro.product.name")) +
         ";ro.product.model=" + bannerValue(properties_.at("ro.product.model")) +
         ";ro.product.device=" + bannerValue(properties_.at("ro.product.device")) +
         ";features=" + features;
}

void Sandbox::writeGetprop() const {
  std::string listing;
  for (const auto& [key, value] : properties_) listing += "[" + key + "]: [" + value + "]\n";
  // Android's getprop: no argument lists everything, KEY prints its value, KEY DEFAULT prints
  // DEFAULT for a key that is not set. The property lines never equal the here-doc's end word.
  const std::string script =
      "#!/bin/sh\n"
      "# getprop of darkroom-simphone: the simulated phone's properties, in Android's format.\n"
      "props() {\n"
      "cat <<'DARKROOM_SIMPHONE_PROPS'\n" +
      listing +
      "DARKROOM_SIMPHONE_PROPS\n"
      "}\n"
      "if [ \"$#\" -eq 0 ]; then props; exit 0; fi\n"
      "props | while IFS= read -r line; do\n"
      "  case $line in\n"
      "    \"[$1]: [\"*) v=${line#\"[$1]: [\"}; printf '%s\\n' \"${v%]}\"; exit 3 ;;\n"
      "  esac\n"
      "done\n"
      "[ \"$?\" -eq 3 ] && exit 0\n"
      "printf '%s\\n' \"${2-}\"\n";
  const fs::path path = root_ / "system/bin/getprop";
  const fs::path tmp = root_ / "system/bin/.getprop.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << script;
    if (!out.flush()) throw SandboxError("cannot write " + tmp.string());
  }
  if (::chmod(tmp.c_str(), 0755) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    throw SandboxError("cannot install " + path.string());
  }
}

fs::path Sandbox::hostPath(std::string_view device_path) const {
  const std::string shown = "'" + std::string(device_path) + "'";
  if (device_path.empty()) throw SandboxError("empty device path");
  if (device_path.find('\0') != std::string_view::npos) {
    throw SandboxError("device path " + shown + " contains a NUL byte");
  }
  if (device_path.front() != '/') {
    throw SandboxError("device path " + shown + " is not absolute (it must start with '/')");
  }
  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  while (pos < device_path.size()) {
    std::size_t slash = device_path.find('/', pos);
    if (slash == std::string_view::npos) slash = device_path.size();
    const std::string_view part = device_path.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) {
        throw SandboxError("device path " + shown +
                           " climbs above '/' with '..', outside the simulated phone's files");
      }
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  fs::path host = root_;
  for (std::string_view part : parts) host /= std::string(part);

  // A symbolic link inside the sandbox (a shell command can make one) must not lead out of it.
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(host, ec);
  if (ec) {
    throw SandboxError("device path " + shown + " cannot be resolved: " + ec.message());
  }
  const std::string r = resolved.string(), base = root_.string();
  if (r != base && r.compare(0, base.size() + 1, base + "/") != 0) {
    throw SandboxError("device path " + shown +
                       " leads through a symbolic link outside the simulated phone's files");
  }
  return host;
}

std::string Sandbox::rewriteCommand(std::string_view command) const {
  static constexpr std::string_view kPrefixes[] = {"/data", "/sdcard"};
  const std::string root = root_.string();
  std::string out;
  out.reserve(command.size() + 64);
  std::size_t i = 0;
  while (i < command.size()) {
    bool replaced = false;
    if (command[i] == '/' && (i == 0 || !pathChar(command[i - 1]))) {
      for (std::string_view prefix : kPrefixes) {
        if (command.compare(i, prefix.size(), prefix) != 0) continue;
        const std::size_t end = i + prefix.size();
        if (end < command.size() && command[end] != '/' && pathChar(command[end])) continue;
        out += root;
        out += prefix;
        i = end;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += command[i++];
  }
  return out;
}

std::vector<std::string> Sandbox::shellEnvironment(const std::string& term) const {
  static const std::set<std::string> kReplaced = {
      "PATH", "HOME", "TMPDIR", "TERM", "DARKROOM_SIMULATED", "ANDROID_DATA", "ANDROID_ROOT",
      "EXTERNAL_STORAGE", "ANDROID_SERIAL", "ANDROID_ADB_SERVER_PORT", "ANDROID_ADB_SERVER_ADDRESS"};
  std::vector<std::string> env;
  std::string host_path = "/usr/local/bin:/usr/bin:/bin";
  for (char** e = environ; e && *e; ++e) {
    const std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    if (key == "PATH") host_path = entry.substr(5);
    if (kReplaced.count(key) == 0) env.push_back(entry);
  }
  const std::string root = root_.string();
  env.push_back("PATH=" + root + "/system/bin:" + host_path);
  env.push_back("HOME=" + root);
  env.push_back("TMPDIR=" + root + "/data/local/tmp");
  env.push_back("ANDROID_DATA=" + root + "/data");
  env.push_back("ANDROID_ROOT=" + root + "/system");
  env.push_back("EXTERNAL_STORAGE=" + root + "/sdcard");
  env.push_back("DARKROOM_SIMULATED=1");
  if (!term.empty()) env.push_back("TERM=" + term);
  return env;
}

}  // namespace darkroom::simphone

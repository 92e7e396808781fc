// Finding the programs the device flow runs: the agent for a phone's ABI and darkroom-simphone.
// An installed Darkroom keeps them next to darkroom / darkroom-cli; a build tree keeps them in
// device_bridge/; the paths this library was built with come last. Every candidate is checked
// to be an ELF executable for the right machine, so an x86-64 agent never reaches an arm64 phone.
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>
#include <unistd.h>

#include "darkroom/device/session.h"

namespace darkroom::device {
namespace fs = std::filesystem;
namespace {

// ELF e_machine values.
constexpr std::uint16_t kElfX86_64 = 62;
constexpr std::uint16_t kElfAarch64 = 183;

#if defined(__x86_64__)
constexpr const char* kHostAbi = "x86_64";
constexpr std::uint16_t kHostMachine = kElfX86_64;
#elif defined(__aarch64__)
constexpr const char* kHostAbi = "arm64-v8a";
constexpr std::uint16_t kHostMachine = kElfAarch64;
#else
#error "darkroom-agent is built for x86-64 and aarch64 hosts only"
#endif

fs::path executableDir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path{} : exe.parent_path();
}

// The ELF machine of `file`, or 0 when it is not a readable 64-bit little-endian ELF file.
std::uint16_t elfMachine(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char h[20] = {};
  if (!in.read(reinterpret_cast<char*>(h), sizeof h)) return 0;
  if (h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F') return 0;
  if (h[4] != 2 || h[5] != 1) return 0;  // ELFCLASS64, little endian
  return static_cast<std::uint16_t>(h[18] | (h[19] << 8));
}

struct Search {
  std::vector<fs::path> looked;
  std::vector<std::string> wrong;  // found, but not a runnable binary for this machine

  std::optional<fs::path> find(const std::vector<fs::path>& candidates, std::uint16_t machine) {
    for (const auto& c : candidates) {
      if (c.empty()) continue;
      std::error_code ec;
      auto p = fs::weakly_canonical(c, ec);
      if (ec) p = c;
      looked.push_back(p);
      if (!fs::is_regular_file(p, ec)) continue;
      auto m = elfMachine(p);
      if (m != machine) {
        wrong.push_back(p.string() +
                        (m == 0 ? " (not an ELF executable)"
                                : " (built for ELF machine " + std::to_string(m) + ")"));
        continue;
      }
      if (::access(p.c_str(), X_OK) != 0) {
        wrong.push_back(p.string() + " (not executable)");
        continue;
      }
      return p;
    }
    return std::nullopt;
  }

  std::string describe() const {
    std::ostringstream s;
    s << "looked in";
    for (const auto& p : looked) s << " " << p.string();
    for (const auto& w : wrong) s << "; skipped " << w;
    return s.str();
  }
};

// Where a program named `name` lives relative to a running Darkroom program: beside it (an
// install, or bench/tests that put it there), or in the build tree's device_bridge/<folder>
// seen from app/cli, tests/device, bench...
std::vector<fs::path> besideExecutable(const std::string& name, const std::string& folder) {
  auto dir = executableDir();
  if (dir.empty()) return {};
  return {dir / name, dir / ".." / "device_bridge" / folder / name,
          dir / ".." / ".." / "device_bridge" / folder / name,
          dir / ".." / "lib" / "darkroom" / name};
}

}  // namespace

std::string hostAbi() { return kHostAbi; }

std::filesystem::path agentBinaryForAbi(const std::string& abi) {
  Search search;
  if (abi == kHostAbi) {
    auto candidates = besideExecutable("darkroom-agent", "agent");
#ifdef DARKROOM_AGENT_HOST_PATH
    candidates.emplace_back(DARKROOM_AGENT_HOST_PATH);
#endif
    if (auto p = search.find(candidates, kHostMachine)) return *p;
    throw DeviceError("no darkroom-agent for ABI " + abi + " (this host's own): build it with " +
                      "`ninja darkroom-agent` in the Darkroom build folder (" + search.describe() +
                      ")");
  }
  if (abi == "arm64-v8a") {
    // On an x86-64 host this is the static cross build (cmake/DarkroomAarch64.cmake).
    std::vector<fs::path> candidates;
    if (auto dir = executableDir(); !dir.empty()) {
      candidates = {dir / "aarch64" / "darkroom-agent", dir / "darkroom-agent-aarch64",
                    dir / ".." / "aarch64" / "device_bridge" / "agent" / "darkroom-agent",
                    dir / ".." / ".." / "aarch64" / "device_bridge" / "agent" / "darkroom-agent",
                    dir / ".." / "lib" / "darkroom" / "aarch64" / "darkroom-agent"};
    }
#ifdef DARKROOM_AGENT_AARCH64_PATH
    candidates.emplace_back(DARKROOM_AGENT_AARCH64_PATH);
#endif
    if (auto p = search.find(candidates, kElfAarch64)) return *p;
#ifdef DARKROOM_AGENT_AARCH64_PATH
    throw DeviceError(
        "no darkroom-agent for ABI arm64-v8a: the aarch64 cross build has not been built yet; "
        "run `ninja darkroom_aarch64` in the Darkroom build folder (" + search.describe() + ")");
#else
    throw DeviceError(
        "no darkroom-agent for ABI arm64-v8a: this Darkroom was configured without the aarch64 "
        "cross compiler. Install it (apt-get install g++-aarch64-linux-gnu), then configure again "
        "with -DDARKROOM_AGENT_AARCH64=ON and rebuild (" + search.describe() + ")");
#endif
  }
  if (abi.empty())
    throw DeviceError("the device did not report its ABI (ro.product.cpu.abi is empty), so no "
                      "darkroom-agent build can be chosen for it");
  throw DeviceError("no darkroom-agent for ABI '" + abi + "': Darkroom builds the agent for " +
                    "arm64-v8a phones (static aarch64) and for this host (" + kHostAbi +
                    "); 32-bit and other ABIs are not supported");
}

std::filesystem::path simphoneBinary() {
  Search search;
  auto candidates = besideExecutable("darkroom-simphone", "simphone");
#ifdef DARKROOM_SIMPHONE_PATH
  candidates.emplace_back(DARKROOM_SIMPHONE_PATH);
#endif
  if (auto p = search.find(candidates, kHostMachine)) return *p;
  throw DeviceError("darkroom-simphone was not found: build it with `ninja darkroom-simphone` in "
                    "the Darkroom build folder (" + search.describe() + ")");
}

}  // namespace darkroom::device

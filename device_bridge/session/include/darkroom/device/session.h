// Profiling a phone, end to end: describe the device → push the agent built for its ABI (only
// when the copy on the device differs) → push the inputs (layout, trace) → run an agent
// subcommand, streaming its JSON lines (docs/agent-protocol.md) as they arrive → store the
// profile in the workspace (devices + device_profiles rows). Also reads stored profiles back for
// comparison, and starts darkroom-simphone for users and tests without a phone. No Qt.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "darkroom/adb/client.h"
#include "darkroom/jobs.h"
#include "darkroom/store.h"

namespace darkroom::device {

struct DeviceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where the agent lives and writes on a phone.
inline constexpr const char* kDeviceWorkDir = "/data/local/tmp/darkroom";

struct DeviceDescription {
  std::string serial;
  std::string state;        // as adb reports it: "device", "offline", "unauthorized", ...
  std::string model;        // ro.product.model
  std::string abi;          // ro.product.cpu.abi: "arm64-v8a", "x86_64", ...
  std::string fingerprint;  // ro.build.fingerprint
  bool simulated = false;   // darkroom-simphone (ro.darkroom.simulated=1)
  std::map<std::string, std::string> properties;  // every getprop line
};
DeviceDescription describeDevice(adb::Client& client, const std::string& serial);

// The agent binary for an ABI: the aarch64 static build for "arm64-v8a", the host build for the
// host's own ABI ("x86_64" here). Throws DeviceError saying what to install and rebuild when that
// build does not exist.
std::filesystem::path agentBinaryForAbi(const std::string& abi);
// The ABI of the machine Darkroom runs on, as Android names it: "x86_64" or "arm64-v8a".
std::string hostAbi();
// darkroom-simphone next to the running program or in the build tree.
std::filesystem::path simphoneBinary();

// One JSON line of the agent, parsed for plotting without a JSON library: every number (nested
// objects flattened with '.', e.g. "lat_us.p99"; array items as "cpu_freq_khz.0") and every
// string. `line` is the text as printed.
struct AgentRecord {
  std::string line;
  std::string cmd;   // "flash-sweep", ...
  std::string type;  // "info", "sample", "progress", "result", "error"
  double t_ms = 0;
  bool simulated = false;
  std::map<std::string, double> numbers;
  std::map<std::string, std::string> strings;
  double number(const std::string& key, double fallback = 0) const;
  std::string text(const std::string& key, const std::string& fallback = {}) const;
};
// Throws DeviceError on a line that is not a JSON object or has a newer major version.
AgentRecord parseAgentRecord(const std::string& line);

struct PushReport {
  std::string remote;
  std::int64_t bytes = 0;
  std::string sha256;
  bool skipped = false;  // the device already had a file with this hash
  double seconds = 0;
  double mb_s() const { return seconds > 0 ? double(bytes) / 1e6 / seconds : 0; }
};

using RecordFn = std::function<void(const AgentRecord&)>;

// A push as it goes, for a transfer bar: reported on the pushing thread once per 64 KiB chunk,
// and once with skipped = true when the device already had the file.
struct TransferUpdate {
  std::string name;        // the local file's name
  std::int64_t done = 0;   // bytes sent
  std::int64_t total = 0;  // bytes of the file
  double mb_s = 0;         // so far
  bool skipped = false;
};
using TransferFn = std::function<void(const TransferUpdate&)>;

class DeviceSession {
 public:
  // Describes the device (throws DeviceError when it is not in the "device" state).
  DeviceSession(adb::Client& client, std::string serial);
  const DeviceDescription& device() const { return device_; }
  adb::Client& client() { return client_; }
  // Called for every push this session makes from now on (empty: none).
  void setTransferListener(TransferFn listener) { on_transfer_ = std::move(listener); }

  // Pushes the agent for the device's ABI into kDeviceWorkDir unless the device's copy has the
  // same sha256. Progress is the push; cancellation stops it (no partial file is left).
  PushReport ensureAgent(JobContext& ctx);
  // Pushes `local` to kDeviceWorkDir/<file name> (same skip rule), verifies the device-side
  // sha256 after the transfer and throws DeviceError when it differs.
  PushReport pushFile(const std::filesystem::path& local, JobContext& ctx);
  // The same to any remote path (its folder must exist; kDeviceWorkDir is created), with the
  // given mode: skipped when the device has the same sha256, verified on the device afterwards.
  // A device that disappears mid-transfer gives a DeviceError saying it went away.
  PushReport pushFileTo(const std::filesystem::path& local, const std::string& remote,
                        JobContext& ctx, std::uint32_t mode = 0644);
  // sha256 of a device file (sha256sum on the device); empty when the file does not exist.
  std::string remoteSha256(const std::string& remote);
  // Runs `darkroom-agent <subcommand> --workdir kDeviceWorkDir args...`, calling on_record for
  // each line as it arrives. Throws DeviceError with the agent's error record or stderr on a
  // non-zero exit; JobCancelled when ctx is cancelled (the agent is stopped). The agent may be
  // silent for up to 10 minutes (or the client's timeout, if longer) between lines.
  std::vector<AgentRecord> runAgent(const std::string& subcommand,
                                    const std::vector<std::string>& args,
                                    const RecordFn& on_record, JobContext& ctx);

 private:
  void ensureWorkDir();
  void stopRemoteProcess(const std::string& pid);
  void removeQuietly(const std::string& remote);
  adb::Client& client_;
  DeviceDescription device_;
  bool work_dir_ready_ = false;
  TransferFn on_transfer_;
};

struct ProfileRequest {
  std::string kind;                // agent subcommand: "info", "flash-sweep", "flash-replay",
                                   // "kernels", "monitor"
  std::vector<std::string> args;   // extra agent arguments
  std::filesystem::path layout;    // flash-replay: pushed first, passed as --layout
  std::filesystem::path trace;     // flash-replay: pushed first, passed as --trace
  std::string label;               // free text stored with the profile (e.g. the layout's name)
};

struct ProfileResult {
  std::int64_t profile_id = 0;
  std::int64_t device_id = 0;
  DeviceDescription device;
  std::string backend;  // kernel back end or storage device measured
  std::vector<AgentRecord> records;
  std::vector<PushReport> pushes;
  double seconds = 0;
};

// The whole flow on one device; stores a device_profiles row (payload = the JSON lines) and
// upserts the devices row. Progress: pushes then the run; cancellable at any point (nothing is
// stored for a cancelled or failed run).
ProfileResult runProfile(Store& store, adb::Client& client, const std::string& serial,
                         const ProfileRequest& request, const RecordFn& on_record,
                         JobContext& ctx, const TransferFn& on_transfer = {});

// Stored profiles with their device, newest first; `kind` empty = all kinds.
// The payload's first line is a header of ours, a record of type "request":
//   {"v":1,"cmd":KIND,"type":"request","t_ms":0,"label":TEXT,"args":[agent args],
//    "inputs":[{"role":"layout"|"trace","file","remote","bytes","sha256"}],
//    "device":{"serial","model","abi","fingerprint"},"simulated":BOOL,
//    "storage":{info's storage fields, flash kinds only}}
// followed by the agent's lines exactly as it printed them.
struct StoredProfile {
  DeviceProfile row;
  Device device;
  std::string label;
  AgentRecord request;               // the header line (type "request")
  std::vector<AgentRecord> records;  // the agent's records, header excluded
};
std::vector<StoredProfile> loadProfiles(const Store& store, const std::string& kind = {});

// The few numbers that sum a profile up, for comparing devices and layouts side by side (the
// CLI's `device profiles` and the Devices panel show the same): flash-sweep peak MB/s and the
// best 4 KiB random IOPS; flash-replay p50/p99 ms and effective MB/s; kernels GEMV ms at batch
// 1 and 8; monitor's hottest zone and mean load; info's cores, memory and storage.
struct ProfileHeadline {
  std::vector<std::pair<std::string, double>> numbers;  // stable keys, e.g. "peak_mb_s"
  std::string text;                                     // one line for a table cell
};
ProfileHeadline profileHeadline(const std::string& kind, const std::vector<AgentRecord>& records);

// darkroom-simphone as a child process, connected to the adb server (`host:connect`); killed
// and disconnected on destruction. For tests, the CLI and the Devices panel.
class SimulatedPhone {
 public:
  struct Options {
    std::filesystem::path sandbox;  // empty: a fresh temporary folder, removed at the end
    std::string model = "Darkroom SimPhone";
    int port = 0;                   // 0: any free loopback port
    std::filesystem::path log;      // the phone's messages (stderr); empty: this program's
  };
  SimulatedPhone(adb::Client& client, Options options);
  SimulatedPhone(adb::Client& client) : SimulatedPhone(client, Options{}) {}
  ~SimulatedPhone();
  SimulatedPhone(const SimulatedPhone&) = delete;
  SimulatedPhone& operator=(const SimulatedPhone&) = delete;
  const std::string& serial() const { return serial_; }  // "127.0.0.1:PORT"
  int port() const { return port_; }
  const std::filesystem::path& sandbox() const { return sandbox_; }
  bool running() const;
  // Kills the phone at once (as if its cable was pulled) without disconnecting it.
  void unplug();

 private:
  void start(const std::filesystem::path& binary, const Options& options);
  void waitOnline();
  void shutdown();
  adb::Client& client_;
  std::filesystem::path sandbox_;
  bool own_sandbox_ = false;
  int pid_ = -1;
  int port_ = 0;
  std::string serial_;
  bool connected_ = false;
  int out_fd_ = -1;                     // the phone's stdout, drained after "listening ..."
  std::atomic<bool> stop_drain_{false};
  std::thread drain_;
};

}  // namespace darkroom::device

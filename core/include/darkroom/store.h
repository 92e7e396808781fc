// The workspace's experiment store: a SQLite database in WAL mode.
//
// Every Store object owns its own connection and serialises its own calls, so one object may be
// shared between threads; for a reader that must never wait on a writer (the GUI while a job
// trains), open a second Store on the same file: WAL lets readers run beside one writer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace darkroom {

// Every failure of the store: the message names the file and what was wrong.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class RunStatus { Scheduled, Running, Finished, Failed, Killed };
const char* toString(RunStatus status);
std::optional<RunStatus> runStatusFromString(const std::string& text);

struct Experiment {
  std::int64_t id = 0;
  std::string name;
  std::string description;
  double created_at = 0;  // unix seconds
};

struct RunInfo {
  std::int64_t id = 0;
  std::int64_t experiment_id = 0;
  std::string experiment;
  std::string name;
  std::string kind;  // "demo", "analysis", "finetune", ...
  RunStatus status = RunStatus::Scheduled;
  double start_time = 0;                // unix seconds
  std::optional<double> end_time;       // unset while scheduled/running
  std::string note;                     // why a run failed or was killed
};

struct MetricPoint {
  std::string key;
  std::int64_t step = 0;
  double value = 0;
  double wall_time = 0;  // unix seconds; 0 means "now" when appended
};

struct Artifact {
  std::int64_t id = 0;
  std::int64_t run_id = 0;
  std::string path;  // relative to the workspace when inside it
  std::string kind;
  std::int64_t bytes = 0;
  std::string sha256;  // lowercase hex
};

struct Device {
  std::int64_t id = 0;
  std::string serial;
  std::string model;
  std::string abi;
  std::string fingerprint;
  bool simulated = false;
  double last_seen = 0;
};

struct DeviceProfile {
  std::int64_t id = 0;
  std::int64_t device_id = 0;
  std::optional<std::int64_t> run_id;
  std::string kind;     // "flash-sweep", "kernels", ...
  std::string backend;  // kernel back end or storage path measured
  std::string payload;  // JSON lines as the agent printed them
  double created_at = 0;
};

using Params = std::map<std::string, std::string>;

class Store {
 public:
  // The newest schema version this build knows.
  static int latestSchemaVersion();

  // Opens (creating when absent) and migrates to the latest schema. Throws StoreError for a file
  // that is not SQLite, is corrupt, or comes from a newer Darkroom. Runs left "running" by a
  // process on this host that no longer exists are marked killed (see recoverAbandonedRuns).
  static Store open(const std::filesystem::path& db_file);

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  const std::filesystem::path& path() const;
  int schemaVersion() const;

  // Experiments.
  std::int64_t ensureExperiment(const std::string& name, const std::string& description = {});
  std::vector<Experiment> experiments() const;

  // Runs. createRun starts a run as "running", owned by this process.
  std::int64_t createRun(std::int64_t experiment_id, const std::string& name,
                         const std::string& kind, const Params& params = {});
  void finishRun(std::int64_t run_id, RunStatus status, const std::string& note = {});
  // Marks a finished, failed or killed run running again under this process (to resume it) and
  // drops its metric points after `keep_through_step`, which are about to be recomputed.
  void reopenRun(std::int64_t run_id, std::int64_t keep_through_step);
  std::vector<RunInfo> runs(std::optional<std::int64_t> experiment_id = std::nullopt) const;
  std::optional<RunInfo> run(std::int64_t run_id) const;
  void setParams(std::int64_t run_id, const Params& params);
  Params params(std::int64_t run_id) const;

  // Metrics. appendMetrics writes all points in one transaction: all or none.
  void appendMetrics(std::int64_t run_id, const std::vector<MetricPoint>& points);
  std::vector<std::string> metricKeys(std::int64_t run_id) const;
  // Points of one key in step order; after_step lets a live view fetch only what is new.
  std::vector<MetricPoint> metrics(std::int64_t run_id, const std::string& key,
                                   std::optional<std::int64_t> after_step = std::nullopt) const;
  std::int64_t metricCount(std::int64_t run_id) const;

  // Artifacts: size and SHA-256 are computed from the file.
  std::int64_t addArtifact(std::int64_t run_id, const std::filesystem::path& file,
                           const std::string& kind);
  std::vector<Artifact> artifacts(std::int64_t run_id) const;

  // Devices and their profiles (filled by the device bridge).
  std::int64_t upsertDevice(const Device& device);
  std::vector<Device> devices() const;
  std::int64_t addDeviceProfile(const DeviceProfile& profile);
  std::vector<DeviceProfile> deviceProfiles(std::int64_t device_id) const;

  // Marks runs whose owning process on this host has exited as killed, with the time of their
  // last metric as end time. Returns how many were marked. Called by open().
  int recoverAbandonedRuns();

  // PRAGMA integrity_check: "ok" or the problems SQLite lists.
  std::string integrityCheck() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Buffers metric points in memory and writes them to the store in one transaction per flush, so
// a trainer can record every step without a disk write per point. Thread-safe. If a flush fails
// the points stay buffered (nothing is lost) and the error is rethrown.
class MetricBuffer {
 public:
  MetricBuffer(Store& store, std::int64_t run_id, std::size_t flush_every = 256);
  ~MetricBuffer();  // flushes; errors there are swallowed (the points are reported lost on stderr)
  MetricBuffer(const MetricBuffer&) = delete;
  MetricBuffer& operator=(const MetricBuffer&) = delete;

  void add(const std::string& key, std::int64_t step, double value);
  void flush();
  std::size_t pending() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace darkroom

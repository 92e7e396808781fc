#include "darkroom/store.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <thread>

#include "store/migrations.h"
#include "store/process_identity.h"
#include "store/sqlite.h"
#include "util/sha256.h"

namespace darkroom {
namespace {

double nowSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

constexpr const char* kStatusNames[] = {"scheduled", "running", "finished", "failed", "killed"};

const char* kRunColumns =
    "SELECT r.id, r.experiment_id, e.name, r.name, r.kind, r.status, r.start_time, r.end_time, "
    "r.note FROM runs r JOIN experiments e ON e.id = r.experiment_id ";

RunInfo readRun(const sqlite::Stmt& q) {
  RunInfo r;
  r.id = q.int64(0);
  r.experiment_id = q.int64(1);
  r.experiment = q.text(2);
  r.name = q.text(3);
  r.kind = q.text(4);
  r.status = runStatusFromString(q.text(5)).value_or(RunStatus::Failed);
  r.start_time = q.real(6);
  if (!q.isNull(7)) r.end_time = q.real(7);
  r.note = q.text(8);
  return r;
}

// Switching to WAL needs a moment of exclusive access, and SQLite answers "busy" at once instead
// of going through the busy handler: when another process is creating the same workspace, wait
// here for up to ten seconds.
std::string switchToWal(sqlite::Db& db) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db.handle(), "PRAGMA journal_mode=WAL", -1, &stmt, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    std::string mode;
    if (rc == SQLITE_ROW) {
      auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      mode = text ? text : "";
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_ROW) return mode;
    if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() > deadline)
      db.fail("`PRAGMA journal_mode=WAL` failed", rc);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

const char* toString(RunStatus status) { return kStatusNames[static_cast<int>(status)]; }

std::optional<RunStatus> runStatusFromString(const std::string& text) {
  for (int i = 0; i < 5; ++i)
    if (text == kStatusNames[i]) return static_cast<RunStatus>(i);
  return std::nullopt;
}

struct Store::Impl {
  explicit Impl(const std::filesystem::path& file) : db(file) {}
  sqlite::Db db;
  mutable std::mutex mutex;  // one connection, one statement at a time
  store::ProcessIdentity me = store::currentProcess();
};

int Store::latestSchemaVersion() { return store::latestVersion(); }

Store Store::open(const std::filesystem::path& db_file) {
  if (std::filesystem::is_directory(db_file))
    throw StoreError(db_file.string() + ": is a folder; expected the workspace's darkroom.db");
  auto impl = std::make_unique<Impl>(db_file);
  // journal_mode is the first statement that reads the file: a non-database fails here.
  auto mode = switchToWal(impl->db);
  if (mode != "wal")
    throw StoreError(db_file.string() + ": cannot switch to WAL mode (got '" + mode +
                     "'); is the workspace on a file system without shared memory support?");
  impl->db.exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL");
  store::migrate(impl->db, store::latestVersion());
  Store store(std::move(impl));
  store.recoverAbandonedRuns();
  return store;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

const std::filesystem::path& Store::path() const { return impl_->db.file(); }

int Store::schemaVersion() const {
  std::lock_guard lock(impl_->mutex);
  return store::currentVersion(impl_->db);
}

std::int64_t Store::ensureExperiment(const std::string& name, const std::string& description) {
  if (name.empty()) throw StoreError("experiment name must not be empty");
  std::lock_guard lock(impl_->mutex);
  // One statement, so two processes creating the same experiment at once both succeed.
  sqlite::Stmt add(impl_->db,
                   "INSERT INTO experiments(name, description, created_at) VALUES (?, ?, ?) "
                   "ON CONFLICT(name) DO NOTHING");
  add.bind(1, name).bind(2, description).bind(3, nowSeconds()).run();
  sqlite::Stmt find(impl_->db, "SELECT id FROM experiments WHERE name = ?");
  find.bind(1, name);
  find.step();
  return find.int64(0);
}

std::vector<Experiment> Store::experiments() const {
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db,
                 "SELECT id, name, description, created_at FROM experiments ORDER BY id");
  std::vector<Experiment> out;
  while (q.step()) out.push_back({q.int64(0), q.text(1), q.text(2), q.real(3)});
  return out;
}

std::int64_t Store::createRun(std::int64_t experiment_id, const std::string& name,
                              const std::string& kind, const Params& params) {
  std::int64_t id;
  {
    std::lock_guard lock(impl_->mutex);
    sqlite::Transaction tx(impl_->db);
    sqlite::Stmt add(impl_->db,
                     "INSERT INTO runs(experiment_id, name, kind, status, start_time, owner_host, "
                     "owner_pid, owner_start) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)");
    add.bind(1, experiment_id).bind(2, name).bind(3, kind).bind(4, nowSeconds());
    add.bind(5, impl_->me.host).bind(6, impl_->me.pid).bind(7, impl_->me.start_ticks).run();
    id = impl_->db.lastInsertId();
    sqlite::Stmt param(impl_->db, "INSERT INTO params(run_id, key, value) VALUES (?, ?, ?)");
    for (const auto& [key, value] : params) param.bind(1, id).bind(2, key).bind(3, value).run();
    tx.commit();
  }
  return id;
}

void Store::finishRun(std::int64_t run_id, RunStatus status, const std::string& note) {
  if (status == RunStatus::Running || status == RunStatus::Scheduled)
    throw StoreError("finishRun needs a final status (finished, failed or killed)");
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db, "UPDATE runs SET status = ?, end_time = ?, note = ? WHERE id = ?");
  q.bind(1, std::string(toString(status))).bind(2, nowSeconds()).bind(3, note).bind(4, run_id);
  q.run();
  if (sqlite3_changes(impl_->db.handle()) == 0)
    throw StoreError("run " + std::to_string(run_id) + " does not exist");
}

void Store::reopenRun(std::int64_t run_id, std::int64_t keep_through_step) {
  std::lock_guard lock(impl_->mutex);
  sqlite::Transaction tx(impl_->db);
  sqlite::Stmt q(impl_->db,
                 "UPDATE runs SET status = 'running', end_time = NULL, note = '', owner_host = ?, "
                 "owner_pid = ?, owner_start = ? WHERE id = ? AND status != 'running'");
  q.bind(1, impl_->me.host).bind(2, impl_->me.pid).bind(3, impl_->me.start_ticks).bind(4, run_id);
  q.run();
  if (sqlite3_changes(impl_->db.handle()) == 0)
    throw StoreError("run " + std::to_string(run_id) +
                     " cannot be reopened: it does not exist or is still running");
  sqlite::Stmt drop(impl_->db, "DELETE FROM metrics WHERE run_id = ? AND step > ?");
  drop.bind(1, run_id).bind(2, keep_through_step).run();
  tx.commit();
}

std::vector<RunInfo> Store::runs(std::optional<std::int64_t> experiment_id) const {
  std::lock_guard lock(impl_->mutex);
  std::string sql = std::string(kRunColumns) +
                    (experiment_id ? "WHERE r.experiment_id = ? " : "") + "ORDER BY r.id";
  sqlite::Stmt q(impl_->db, sql.c_str());
  if (experiment_id) q.bind(1, *experiment_id);
  std::vector<RunInfo> out;
  while (q.step()) out.push_back(readRun(q));
  return out;
}

std::optional<RunInfo> Store::run(std::int64_t run_id) const {
  std::lock_guard lock(impl_->mutex);
  std::string sql = std::string(kRunColumns) + "WHERE r.id = ?";
  sqlite::Stmt q(impl_->db, sql.c_str());
  q.bind(1, run_id);
  if (!q.step()) return std::nullopt;
  return readRun(q);
}

void Store::setParams(std::int64_t run_id, const Params& params) {
  std::lock_guard lock(impl_->mutex);
  sqlite::Transaction tx(impl_->db);
  sqlite::Stmt q(impl_->db, "INSERT OR REPLACE INTO params(run_id, key, value) VALUES (?, ?, ?)");
  for (const auto& [key, value] : params) q.bind(1, run_id).bind(2, key).bind(3, value).run();
  tx.commit();
}

Params Store::params(std::int64_t run_id) const {
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db, "SELECT key, value FROM params WHERE run_id = ?");
  q.bind(1, run_id);
  Params out;
  while (q.step()) out[q.text(0)] = q.text(1);
  return out;
}

void Store::appendMetrics(std::int64_t run_id, const std::vector<MetricPoint>& points) {
  if (points.empty()) return;
  double now = nowSeconds();
  std::lock_guard lock(impl_->mutex);
  sqlite::Transaction tx(impl_->db);
  sqlite::Stmt q(impl_->db,
                 "INSERT INTO metrics(run_id, key, step, value, wall_time) VALUES (?, ?, ?, ?, ?)");
  for (const auto& p : points) {
    q.bind(1, run_id).bind(2, p.key).bind(3, p.step);
    if (std::isnan(p.value)) q.bindNull(4); else q.bind(4, p.value);
    q.bind(5, p.wall_time > 0 ? p.wall_time : now).run();
  }
  tx.commit();
}

std::vector<std::string> Store::metricKeys(std::int64_t run_id) const {
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db, "SELECT DISTINCT key FROM metrics WHERE run_id = ? ORDER BY key");
  q.bind(1, run_id);
  std::vector<std::string> out;
  while (q.step()) out.push_back(q.text(0));
  return out;
}

std::vector<MetricPoint> Store::metrics(std::int64_t run_id, const std::string& key,
                                        std::optional<std::int64_t> after_step) const {
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db,
                 "SELECT step, value, wall_time FROM metrics WHERE run_id = ? AND key = ? "
                 "AND step > ? ORDER BY step, rowid");
  q.bind(1, run_id).bind(2, key).bind(3, after_step.value_or(INT64_MIN));
  std::vector<MetricPoint> out;
  while (q.step())
    out.push_back({key, q.int64(0), q.isNull(1) ? std::nan("") : q.real(1), q.real(2)});
  return out;
}

std::int64_t Store::metricCount(std::int64_t run_id) const {
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db, "SELECT count(*) FROM metrics WHERE run_id = ?");
  q.bind(1, run_id);
  q.step();
  return q.int64(0);
}

std::int64_t Store::addArtifact(std::int64_t run_id, const std::filesystem::path& file,
                                const std::string& kind) {
  std::error_code ec;
  auto bytes = std::filesystem::file_size(file, ec);
  if (ec) throw StoreError(file.string() + ": cannot add as artifact: " + ec.message());
  std::string sha;
  try {
    sha = sha256File(file);
  } catch (const std::exception& e) {
    throw StoreError(std::string("cannot add artifact: ") + e.what());
  }
  // Inside the workspace, store the path relative to it so the folder can be moved.
  auto root = path().parent_path();
  auto rel = std::filesystem::relative(std::filesystem::absolute(file), root, ec);
  std::string stored = (!ec && !rel.empty() && *rel.begin() != "..") ? rel.generic_string()
                                                                      : file.generic_string();
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db,
                 "INSERT INTO artifacts(run_id, path, kind, bytes, sha256) VALUES (?, ?, ?, ?, ?)");
  q.bind(1, run_id).bind(2, stored).bind(3, kind).bind(4, static_cast<std::int64_t>(bytes));
  q.bind(5, sha).run();
  return impl_->db.lastInsertId();
}

std::vector<Artifact> Store::artifacts(std::int64_t run_id) const {
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db,
                 "SELECT id, run_id, path, kind, bytes, sha256 FROM artifacts WHERE run_id = ? "
                 "ORDER BY id");
  q.bind(1, run_id);
  std::vector<Artifact> out;
  while (q.step())
    out.push_back({q.int64(0), q.int64(1), q.text(2), q.text(3), q.int64(4), q.text(5)});
  return out;
}

std::int64_t Store::upsertDevice(const Device& d) {
  if (d.serial.empty()) throw StoreError("a device needs a serial");
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db,
                 "INSERT INTO devices(serial, model, abi, fingerprint, simulated, last_seen) "
                 "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(serial) DO UPDATE SET "
                 "model = excluded.model, abi = excluded.abi, fingerprint = excluded.fingerprint, "
                 "simulated = excluded.simulated, last_seen = excluded.last_seen");
  q.bind(1, d.serial).bind(2, d.model).bind(3, d.abi).bind(4, d.fingerprint);
  q.bind(5, static_cast<std::int64_t>(d.simulated)).bind(6, nowSeconds()).run();
  sqlite::Stmt id(impl_->db, "SELECT id FROM devices WHERE serial = ?");
  id.bind(1, d.serial);
  id.step();
  return id.int64(0);
}

std::vector<Device> Store::devices() const {
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db,
                 "SELECT id, serial, model, abi, fingerprint, simulated, last_seen FROM devices "
                 "ORDER BY id");
  std::vector<Device> out;
  while (q.step())
    out.push_back({q.int64(0), q.text(1), q.text(2), q.text(3), q.text(4), q.int64(5) != 0,
                   q.real(6)});
  return out;
}

std::int64_t Store::addDeviceProfile(const DeviceProfile& p) {
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db,
                 "INSERT INTO device_profiles(device_id, run_id, kind, backend, payload, "
                 "created_at) VALUES (?, ?, ?, ?, ?, ?)");
  q.bind(1, p.device_id).bind(2, p.run_id).bind(3, p.kind).bind(4, p.backend);
  q.bind(5, p.payload).bind(6, nowSeconds()).run();
  return impl_->db.lastInsertId();
}

std::vector<DeviceProfile> Store::deviceProfiles(std::int64_t device_id) const {
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db,
                 "SELECT id, device_id, run_id, kind, backend, payload, created_at "
                 "FROM device_profiles WHERE device_id = ? ORDER BY id");
  q.bind(1, device_id);
  std::vector<DeviceProfile> out;
  while (q.step()) {
    DeviceProfile p{q.int64(0), q.int64(1), std::nullopt, q.text(3), q.text(4), q.text(5),
                    q.real(6)};
    if (!q.isNull(2)) p.run_id = q.int64(2);
    out.push_back(std::move(p));
  }
  return out;
}

int Store::recoverAbandonedRuns() {
  std::lock_guard lock(impl_->mutex);
  struct Orphan {
    std::int64_t id;
    store::ProcessIdentity owner;
  };
  std::vector<Orphan> candidates;
  {
    sqlite::Stmt q(impl_->db,
                   "SELECT id, owner_host, owner_pid, owner_start FROM runs "
                   "WHERE status = 'running'");
    while (q.step())
      candidates.push_back({q.int64(0), {q.text(1), q.int64(2), q.int64(3)}});
  }
  int marked = 0;
  for (const auto& c : candidates) {
    // Another host's process cannot be checked from here; leave its runs alone.
    if (c.owner.host != impl_->me.host || store::isAlive(c.owner)) continue;
    sqlite::Stmt q(impl_->db,
                   "UPDATE runs SET status = 'killed', note = ?, end_time = coalesce("
                   "(SELECT max(wall_time) FROM metrics WHERE run_id = runs.id), start_time) "
                   "WHERE id = ? AND status = 'running'");
    q.bind(1, std::string("process ") + std::to_string(c.owner.pid) +
                  " exited without finishing the run");
    q.bind(2, c.id).run();
    marked += sqlite3_changes(impl_->db.handle());
  }
  return marked;
}

std::string Store::integrityCheck() const {
  std::lock_guard lock(impl_->mutex);
  sqlite::Stmt q(impl_->db, "PRAGMA integrity_check");
  std::string out;
  while (q.step()) out += (out.empty() ? "" : "\n") + q.text(0);
  return out;
}

// ---------------------------------------------------------------------------------------------

struct MetricBuffer::Impl {
  Store& store;
  std::int64_t run_id;
  std::size_t flush_every;
  mutable std::mutex mutex;
  std::vector<MetricPoint> pending;
};

MetricBuffer::MetricBuffer(Store& store, std::int64_t run_id, std::size_t flush_every)
    : impl_(new Impl{store, run_id, flush_every == 0 ? 1 : flush_every, {}, {}}) {}

MetricBuffer::~MetricBuffer() {
  try {
    flush();
  } catch (const std::exception& e) {
    std::cerr << "darkroom: " << pending() << " metric points of run " << impl_->run_id
              << " could not be written: " << e.what() << "\n";
  }
}

void MetricBuffer::add(const std::string& key, std::int64_t step, double value) {
  bool full;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->pending.push_back({key, step, value, nowSeconds()});
    full = impl_->pending.size() >= impl_->flush_every;
  }
  if (full) flush();
}

void MetricBuffer::flush() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->pending.empty()) return;
  impl_->store.appendMetrics(impl_->run_id, impl_->pending);  // throws: points stay pending
  impl_->pending.clear();
}

std::size_t MetricBuffer::pending() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->pending.size();
}

}  // namespace darkroom

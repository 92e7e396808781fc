#include "store/migrations.h"

#include <string>
#include <vector>

namespace darkroom::store {
namespace {

// Never edit a migration that has shipped: add a new one.
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> list = {
      // 1: experiments, runs, params, metrics.
      R"sql(
      CREATE TABLE experiments (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
        description TEXT NOT NULL DEFAULT '',
        created_at  REAL NOT NULL
      );
      CREATE TABLE runs (
        id            INTEGER PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        kind          TEXT NOT NULL,
        status        TEXT NOT NULL
                      CHECK (status IN ('scheduled','running','finished','failed','killed')),
        start_time    REAL NOT NULL,
        end_time      REAL
      );
      CREATE INDEX runs_experiment ON runs(experiment_id);
      CREATE TABLE params (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
      );
      CREATE TABLE metrics (
        run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        key       TEXT NOT NULL CHECK (length(key) > 0),
        step      INTEGER NOT NULL,
        value     REAL,            -- NULL stores a NaN (SQLite has no NaN)
        wall_time REAL NOT NULL
      );
      CREATE INDEX metrics_run_key_step ON metrics(run_id, key, step);
      )sql",
      // 2: run ownership (to recover runs whose process died) and artifacts.
      R"sql(
      ALTER TABLE runs ADD COLUMN owner_host  TEXT;
      ALTER TABLE runs ADD COLUMN owner_pid   INTEGER;
      ALTER TABLE runs ADD COLUMN owner_start INTEGER;  -- process start time, guards pid reuse
      ALTER TABLE runs ADD COLUMN note        TEXT NOT NULL DEFAULT '';
      CREATE TABLE artifacts (
        id     INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        path   TEXT NOT NULL,
        kind   TEXT NOT NULL,
        bytes  INTEGER NOT NULL,
        sha256 TEXT NOT NULL
      );
      CREATE INDEX artifacts_run ON artifacts(run_id);
      )sql",
      // 3: phones and their measured profiles.
      R"sql(
      CREATE TABLE devices (
        id          INTEGER PRIMARY KEY,
        serial      TEXT NOT NULL UNIQUE,
        model       TEXT NOT NULL DEFAULT '',
        abi         TEXT NOT NULL DEFAULT '',
        fingerprint TEXT NOT NULL DEFAULT '',
        simulated   INTEGER NOT NULL DEFAULT 0,
        last_seen   REAL NOT NULL
      );
      CREATE TABLE device_profiles (
        id         INTEGER PRIMARY KEY,
        device_id  INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        run_id     INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        kind       TEXT NOT NULL,
        backend    TEXT NOT NULL DEFAULT '',
        payload    TEXT NOT NULL,
        created_at REAL NOT NULL
      );
      CREATE INDEX device_profiles_device ON device_profiles(device_id);
      )sql",
  };
  return list;
}

bool hasVersionTable(sqlite::Db& db) {
  sqlite::Stmt q(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'");
  return q.step();
}

}  // namespace

int latestVersion() { return static_cast<int>(migrations().size()); }

int currentVersion(sqlite::Db& db) {
  if (!hasVersionTable(db)) {
    sqlite::Stmt tables(db, "SELECT count(*) FROM sqlite_master");
    tables.step();
    if (tables.int64(0) != 0)
      throw StoreError(db.file().string() +
                       ": this SQLite file has tables but no schema_version: it was not made by "
                       "Darkroom; choose a workspace folder or create one with "
                       "`darkroom-cli workspace init DIR`");
    return 0;
  }
  sqlite::Stmt q(db, "SELECT max(version) FROM schema_version");
  q.step();
  return static_cast<int>(q.int64(0));
}

void migrate(sqlite::Db& db, int target) {
  // The version is read inside each write transaction: two processes opening a new workspace at
  // once must not both apply the same migration.
  for (;;) {
    sqlite::Transaction tx(db);
    int version = currentVersion(db);
    if (version > latestVersion())
      throw StoreError(db.file().string() + ": schema version " + std::to_string(version) +
                       " was written by a newer Darkroom (this build knows up to " +
                       std::to_string(latestVersion()) + "); upgrade Darkroom to open it");
    if (version >= target) return;  // nothing written: the rollback is free
    int next = version + 1;
    if (next == 1) db.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
    db.exec(migrations()[static_cast<std::size_t>(next - 1)]);
    db.exec("DELETE FROM schema_version; INSERT INTO schema_version VALUES (" +
            std::to_string(next) + ")");
    tx.commit();
  }
}

}  // namespace darkroom::store

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "darkroom/store.h"
#include "store/migrations.h"
#include "test_util.h"

using namespace darkroom;

TEST(Migrations, FromAnEmptyFile) {
  test::TempDir dir;
  { std::ofstream touch(dir / "darkroom.db"); }  // zero bytes: SQLite treats it as new
  auto store = Store::open(dir / "darkroom.db");
  EXPECT_EQ(store.schemaVersion(), Store::latestSchemaVersion());
  EXPECT_EQ(store.integrityCheck(), "ok");
}

// Builds a file at every older schema version, fills it with what that version could hold, and
// opens it with the current store: it must migrate and keep every row.
TEST(Migrations, FromEachOlderSchemaKeepingData) {
  for (int version = 1; version < Store::latestSchemaVersion(); ++version) {
    SCOPED_TRACE("from schema version " + std::to_string(version));
    test::TempDir dir;
    std::uniform_int_distribution<int> count(1, 300);
    int points = count(test::rng());
    {
      sqlite::Db db(dir / "darkroom.db");
      store::migrate(db, version);
      ASSERT_EQ(store::currentVersion(db), version);
      db.exec("INSERT INTO experiments(name, created_at) VALUES ('old', 1.0)");
      db.exec("INSERT INTO runs(experiment_id, name, kind, status, start_time, end_time) "
              "VALUES (1, 'legacy', 'finetune', 'finished', 10.0, 20.0)");
      db.exec("INSERT INTO params VALUES (1, 'lr', '0.1')");
      for (int i = 0; i < points; ++i)
        db.exec("INSERT INTO metrics VALUES (1, 'loss', " + std::to_string(i) + ", " +
                std::to_string(i * 0.25) + ", 15.0)");
    }
    auto store = Store::open(dir / "darkroom.db");
    EXPECT_EQ(store.schemaVersion(), Store::latestSchemaVersion());
    auto run = store.run(1);
    ASSERT_TRUE(run);
    EXPECT_EQ(run->name, "legacy");
    EXPECT_EQ(run->status, RunStatus::Finished);
    EXPECT_EQ(run->note, "");
    EXPECT_EQ(store.params(1).at("lr"), "0.1");
    auto metrics = store.metrics(1, "loss");
    ASSERT_EQ(metrics.size(), std::size_t(points));
    EXPECT_DOUBLE_EQ(metrics.back().value, (points - 1) * 0.25);
    // The tables later versions added work on the migrated file.
    EXPECT_NO_THROW(store.upsertDevice({0, "S1", "", "", "", false, 0}));
    EXPECT_TRUE(store.artifacts(1).empty());
  }
}

TEST(Migrations, ANewerSchemaIsRefusedWithAnUpgradeHint) {
  test::TempDir dir;
  {
    auto store = Store::open(dir / "darkroom.db");
  }
  {
    sqlite::Db db(dir / "darkroom.db");
    db.exec("UPDATE schema_version SET version = " +
            std::to_string(Store::latestSchemaVersion() + 1));
  }
  try {
    Store::open(dir / "darkroom.db");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("newer Darkroom"), std::string::npos) << e.what();
  }
}

TEST(Migrations, ReopeningIsANoOp) {
  test::TempDir dir;
  { Store::open(dir / "darkroom.db").ensureExperiment("x"); }
  auto store = Store::open(dir / "darkroom.db");
  EXPECT_EQ(store.experiments().size(), 1u);
  EXPECT_EQ(store.schemaVersion(), Store::latestSchemaVersion());
}

TEST(Migrations, ConcurrentFirstOpensMigrateOnce) {
  for (int round = 0; round < 5; ++round) {
    test::TempDir dir;
    std::vector<std::thread> openers;
    std::atomic<int> failures{0};
    for (int i = 0; i < 4; ++i)
      openers.emplace_back([&] {
        try {
          Store::open(dir / "darkroom.db");
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
          ++failures;
        }
      });
    for (auto& t : openers) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(Store::open(dir / "darkroom.db").schemaVersion(), Store::latestSchemaVersion());
  }
}

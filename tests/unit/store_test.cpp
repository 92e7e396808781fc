#include "darkroom/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <thread>

#include "darkroom/workspace.h"
#include "test_util.h"

using namespace darkroom;

TEST(Store, CreatesLatestSchemaInWalModeWithForeignKeys) {
  test::TempDir dir;
  auto store = Store::open(dir / "darkroom.db");
  EXPECT_EQ(store.schemaVersion(), Store::latestSchemaVersion());
  EXPECT_TRUE(std::filesystem::exists(dir / "darkroom.db-wal"));
  auto exp = store.ensureExperiment("e");
  // A run of a missing experiment violates the foreign key.
  EXPECT_THROW(store.createRun(exp + 1000, "r", "demo"), StoreError);
}

TEST(Store, RunLifecycleParamsAndMetricsRoundTrip) {
  test::TempDir dir;
  auto store = Store::open(dir / "darkroom.db");
  auto exp = store.ensureExperiment("sparsity", "about it");
  EXPECT_EQ(store.ensureExperiment("sparsity"), exp);  // idempotent
  auto run = store.createRun(exp, "run a", "finetune", {{"lr", "0.001"}, {"rank", "8"}});
  auto info = store.run(run);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, RunStatus::Running);
  EXPECT_EQ(info->experiment, "sparsity");
  EXPECT_FALSE(info->end_time);

  std::uniform_real_distribution<double> value(-1e6, 1e6);
  std::uniform_int_distribution<int> count(1, 777);
  int n = count(test::rng());
  std::vector<MetricPoint> points;
  for (int i = 0; i < n; ++i) points.push_back({"loss", i, value(test::rng()), 0});
  points.push_back({"loss", n, std::nan(""), 0});  // NaN survives as NaN
  store.appendMetrics(run, points);
  auto back = store.metrics(run, "loss");
  ASSERT_EQ(back.size(), points.size());
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(back[i].step, i);
    EXPECT_DOUBLE_EQ(back[i].value, points[i].value);
    EXPECT_GT(back[i].wall_time, 1.6e9);
  }
  EXPECT_TRUE(std::isnan(back.back().value));
  EXPECT_EQ(store.metrics(run, "loss", n - 3).size(), 3u);  // only what is new
  EXPECT_EQ(store.metricKeys(run), std::vector<std::string>{"loss"});

  store.setParams(run, {{"lr", "0.002"}, {"alpha", "32"}});
  auto params = store.params(run);
  EXPECT_EQ(params.at("lr"), "0.002");
  EXPECT_EQ(params.at("rank"), "8");
  EXPECT_EQ(params.at("alpha"), "32");

  store.finishRun(run, RunStatus::Finished);
  info = store.run(run);
  EXPECT_EQ(info->status, RunStatus::Finished);
  ASSERT_TRUE(info->end_time);
  EXPECT_GE(*info->end_time, info->start_time);
  EXPECT_THROW(store.finishRun(run, RunStatus::Running), StoreError);
  EXPECT_THROW(store.finishRun(run + 99, RunStatus::Failed), StoreError);
}

TEST(Store, FailedMetricFlushLeavesEarlierRowsIntactAndLosesNothing) {
  test::TempDir dir;
  auto store = Store::open(dir / "darkroom.db");
  auto run = store.createRun(store.ensureExperiment("e"), "r", "demo");
  std::vector<MetricPoint> good;
  for (int i = 0; i < 100; ++i) good.push_back({"loss", i, i * 0.5, 0});
  store.appendMetrics(run, good);

  // The 51st point breaks a constraint halfway through the batch: the whole batch rolls back.
  std::vector<MetricPoint> bad;
  for (int i = 0; i < 100; ++i) bad.push_back({i == 50 ? "" : "loss", 100 + i, 1.0, 0});
  EXPECT_THROW(store.appendMetrics(run, bad), StoreError);
  EXPECT_EQ(store.metricCount(run), 100);
  auto rows = store.metrics(run, "loss");
  for (int i = 0; i < 100; ++i) EXPECT_DOUBLE_EQ(rows[i].value, i * 0.5);

  // Through the buffer: a failed flush keeps its points and the store stays usable.
  MetricBuffer buffer(store, run, 1000);
  buffer.add("acc", 1, 0.5);
  buffer.add("", 2, 0.6);
  EXPECT_THROW(buffer.flush(), StoreError);
  EXPECT_EQ(buffer.pending(), 2u);
  EXPECT_EQ(store.metricCount(run), 100);
  EXPECT_EQ(store.integrityCheck(), "ok");
  store.appendMetrics(run, {{"acc", 3, 0.7, 0}});
  EXPECT_EQ(store.metricCount(run), 101);
}

TEST(Store, MetricBufferFlushesInBatchesAndOnDestruction) {
  test::TempDir dir;
  auto store = Store::open(dir / "darkroom.db");
  auto run = store.createRun(store.ensureExperiment("e"), "r", "demo");
  {
    MetricBuffer buffer(store, run, 10);
    for (int i = 0; i < 25; ++i) buffer.add("x", i, i);
    EXPECT_EQ(store.metricCount(run), 20);  // two full batches so far
    EXPECT_EQ(buffer.pending(), 5u);
  }
  EXPECT_EQ(store.metricCount(run), 25);
}

TEST(Store, ReaderSeesCommittedMetricsWhileAnotherConnectionWrites) {
  test::TempDir dir;
  auto writer_store = Store::open(dir / "darkroom.db");
  auto run = writer_store.createRun(writer_store.ensureExperiment("e"), "live", "finetune");
  auto reader_store = Store::open(dir / "darkroom.db");
  constexpr int kBatches = 60, kPerBatch = 50;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<MetricPoint> batch;
      for (int i = 0; i < kPerBatch; ++i) batch.push_back({"loss", b * kPerBatch + i, 1.0 / (b + 1), 0});
      writer_store.appendMetrics(run, batch);
    }
    done = true;
  });
  // Every read sees whole batches in step order, never a torn one, and never goes backwards.
  std::size_t last = 0;
  int reads = 0;
  while (!done || last < std::size_t(kBatches * kPerBatch)) {
    auto rows = reader_store.metrics(run, "loss");
    ASSERT_EQ(rows.size() % kPerBatch, 0u);
    ASSERT_GE(rows.size(), last);
    for (std::size_t i = 0; i < rows.size(); ++i) ASSERT_EQ(rows[i].step, std::int64_t(i));
    last = rows.size();
    ++reads;
  }
  writer.join();
  EXPECT_EQ(last, std::size_t(kBatches * kPerBatch));
  EXPECT_GT(reads, 1);
}

TEST(Store, NonSqliteFileGivesClearError) {
  test::TempDir dir;
  {
    std::ofstream out(dir / "darkroom.db", std::ios::binary);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>(byte(test::rng())));
  }
  try {
    Store::open(dir / "darkroom.db");
    FAIL() << "opening random bytes as a store must fail";
  } catch (const StoreError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("darkroom.db"), std::string::npos) << what;
    EXPECT_NE(what.find("not a Darkroom workspace database"), std::string::npos) << what;
  }
  EXPECT_THROW(Workspace::open(dir.path()), StoreError);
}

TEST(Store, CorruptDatabaseIsReportedNotSilentlyUsed) {
  test::TempDir dir;
  {
    auto store = Store::open(dir / "darkroom.db");
    auto run = store.createRun(store.ensureExperiment("e"), "r", "demo");
    std::vector<MetricPoint> points;
    for (int i = 0; i < 5000; ++i) points.push_back({"loss", i, double(i), 0});
    store.appendMetrics(run, points);
    store.finishRun(run, RunStatus::Finished);
  }
  // Checkpoint the WAL by reopening and closing, then overwrite pages past the header.
  std::filesystem::remove(dir / "darkroom.db-wal");
  std::filesystem::remove(dir / "darkroom.db-shm");
  {
    std::fstream f(dir / "darkroom.db", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 2);
    std::string junk(4096 * 3, '\xAB');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  try {
    auto store = Store::open(dir / "darkroom.db");
    // Opening may succeed when the damage is outside the pages it reads; the check must see it.
    EXPECT_NE(store.integrityCheck(), "ok");
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("darkroom.db"), std::string::npos) << e.what();
  }
}

TEST(Store, ForeignSqliteDatabaseIsRefused) {
  test::TempDir dir;
  {
    sqlite3* db = nullptr;
    sqlite3_open((dir / "other.db").c_str(), &db);
    sqlite3_exec(db, "CREATE TABLE people(name TEXT)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  try {
    Store::open(dir / "other.db");
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("not made by Darkroom"), std::string::npos) << e.what();
  }
}

TEST(Store, ArtifactsRecordSizeAndChecksum) {
  test::TempDir dir;
  auto ws = Workspace::create(dir / "ws");
  auto run = ws.store().createRun(ws.store().ensureExperiment("e"), "r", "demo");
  auto file = ws.runDir(run) / "trace.bin";
  { std::ofstream(file) << "abc"; }
  ws.store().addArtifact(run, file, "trace");
  auto artifacts = ws.store().artifacts(run);
  ASSERT_EQ(artifacts.size(), 1u);
  EXPECT_EQ(artifacts[0].path, "artifacts/run-" + std::to_string(run) + "/trace.bin");
  EXPECT_EQ(artifacts[0].bytes, 3);
  EXPECT_EQ(artifacts[0].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_THROW(ws.store().addArtifact(run, dir / "missing", "x"), StoreError);
}

TEST(Store, DevicesUpsertAndProfiles) {
  test::TempDir dir;
  auto store = Store::open(dir / "darkroom.db");
  Device phone{0, "SIM-1", "simphone", "arm64-v8a", "darkroom/sim", true, 0};
  auto id = store.upsertDevice(phone);
  phone.model = "simphone v2";
  EXPECT_EQ(store.upsertDevice(phone), id);
  auto devices = store.devices();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].model, "simphone v2");
  EXPECT_TRUE(devices[0].simulated);
  store.addDeviceProfile({0, id, std::nullopt, "flash-sweep", "odirect", "{\"v\":1}", 0});
  auto profiles = store.deviceProfiles(id);
  ASSERT_EQ(profiles.size(), 1u);
  EXPECT_EQ(profiles[0].payload, "{\"v\":1}");
  EXPECT_FALSE(profiles[0].run_id);
}

TEST(Workspace, OpenExplainsHowToCreateOne) {
  test::TempDir dir;
  try {
    Workspace::open(dir / "nope");
    FAIL();
  } catch (const WorkspaceError& e) {
    EXPECT_NE(std::string(e.what()).find("workspace init"), std::string::npos);
  }
  auto ws = Workspace::create(dir / "ws");
  EXPECT_TRUE(std::filesystem::is_directory(ws.artifactsDir()));
  EXPECT_TRUE(Workspace::exists(dir / "ws"));
  EXPECT_NO_THROW(Workspace::open(dir / "ws"));
}

TEST(Store, TwoConnectionsCreatingTheSameExperimentAgreeOnIt) {
  test::TempDir dir;
  auto a = Store::open(dir / "darkroom.db");
  auto b = Store::open(dir / "darkroom.db");
  for (int round = 0; round < 20; ++round) {
    std::string name = "shared-" + std::to_string(round);
    std::int64_t from_a = 0, from_b = 0;
    std::thread t([&] { from_b = b.ensureExperiment(name); });
    from_a = a.ensureExperiment(name);
    t.join();
    EXPECT_EQ(from_a, from_b);
  }
  EXPECT_EQ(a.experiments().size(), 20u);
}

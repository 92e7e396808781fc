#include "darkroom/run_export.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

using namespace darkroom;

TEST(RunExport, JsonHoldsEveryPointParamAndField) {
  test::TempDir dir;
  auto store = Store::open(dir / "darkroom.db");
  auto exp = store.ensureExperiment("e, with \"quotes\"");
  auto a = store.createRun(exp, "a", "demo", {{"lr", "0.1"}});
  auto b = store.createRun(exp, "b", "demo");
  std::uniform_real_distribution<double> v(-5, 5);
  std::vector<MetricPoint> points;
  for (int i = 0; i < 37; ++i) points.push_back({"loss", i, v(test::rng()), 0});
  store.appendMetrics(a, points);
  store.appendMetrics(b, {{"acc", 0, 0.5, 0}});
  store.finishRun(a, RunStatus::Finished);

  std::stringstream out;
  exportRuns(store, {a}, ExportFormat::Json, out);
  auto doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["format"], "darkroom.runs");
  ASSERT_EQ(doc["runs"].size(), 1u);
  auto run = doc["runs"][0];
  EXPECT_EQ(run["status"], "finished");
  EXPECT_EQ(run["params"]["lr"], "0.1");
  ASSERT_EQ(run["metrics"]["loss"].size(), 37u);
  for (int i = 0; i < 37; ++i)
    EXPECT_DOUBLE_EQ(run["metrics"]["loss"][i]["value"].get<double>(), points[i].value);

  std::stringstream all;
  exportRuns(store, {}, ExportFormat::Json, all);
  EXPECT_EQ(nlohmann::json::parse(all.str())["runs"].size(), 2u);
  EXPECT_THROW(exportRuns(store, {999}, ExportFormat::Json, all), StoreError);
}

TEST(RunExport, CsvIsLongFormWithQuotedFields) {
  test::TempDir dir;
  auto store = Store::open(dir / "darkroom.db");
  auto run = store.createRun(store.ensureExperiment("e, \"x\""), "r", "demo");
  store.appendMetrics(run, {{"loss", 0, 1.5, 100.0}, {"loss", 1, 0.25, 101.0}});
  std::stringstream out;
  exportRuns(store, {run}, ExportFormat::Csv, out);
  std::string line;
  std::getline(out, line);
  EXPECT_EQ(line, "run_id,experiment,run,key,step,value,wall_time");
  std::getline(out, line);
  EXPECT_EQ(line, std::to_string(run) + ",\"e, \"\"x\"\"\",r,loss,0,1.5,100");
  std::getline(out, line);
  EXPECT_EQ(line, std::to_string(run) + ",\"e, \"\"x\"\"\",r,loss,1,0.25,101");
}

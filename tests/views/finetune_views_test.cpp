// The Fine-tune panel on a real workspace with a quickly trained demo model: the form, a tiny
// real run drawing its curves, Stop leaving a killed run with its metrics, errors shown in the
// panel, and the dense/sparse comparison. Screenshots land in <build>/screenshots.
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QPushButton>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <cmath>
#include <fstream>
#include <qcustomplot.h>

#include "darkroom/demo_models.h"
#include "darkroom/workspace.h"
#include "finetune/finetune_curves.h"
#include "finetune/finetune_form.h"
#include "finetune/finetune_panel.h"
#include "finetune/finetune_plots.h"
#include "finetune/finetune_run_list.h"
#include "finetune/run_comparison.h"
#include "jobs/job_bridge.h"
#include "main_window.h"
#include "theme/theme.h"
#include "view_test_util.h"

using namespace darkroom;
using namespace darkroom::views;
using test::saveScreenshot;

namespace {

int points(QCustomPlot* plot) {
  int n = 0;
  for (int g = 0; g < plot->graphCount(); ++g) n += plot->graph(g)->data()->size();
  return n;
}

// A run small enough for a test: the panel must work, not the model learn.
FinetuneOptions tinyRun(int steps) {
  FinetuneOptions o;
  o.model = "demo-opt";
  o.steps = steps;
  o.sequence = 32;
  o.batch = 2;
  return o;
}

}  // namespace

class FinetuneViewsTest : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;
  std::unique_ptr<Workspace> ws_;

  std::unique_ptr<FinetunePanel> newPanel(JobBridge& jobs) {
    auto panel = std::make_unique<FinetunePanel>(&jobs);
    panel->resize(1400, 820);
    panel->setWorkspace(ws_.get());
    return panel;
  }

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    QSettings().clear();
    applyTheme(*qApp, Theme::Dark);
    QVERIFY(dir_.isValid());
    ws_ = std::make_unique<Workspace>(Workspace::create(dir_.filePath("ws").toStdString()));
    // A demo model trained for a few steps: enough to fine-tune, fast enough for a test.
    JobQueue queue(1);
    auto id = queue.submit("train", "demo-opt", [this](JobContext& ctx) -> std::any {
      DemoTrainOptions o;
      o.steps = 3;
      return trainDemoModel(*ws_, "demo-opt", o, ctx);
    });
    QCOMPARE(queue.wait(id), JobState::Succeeded);
    QVERIFY(isDemoModelTrained(*ws_, "demo-opt"));
  }

  void comparisonUsesTheStepsBothRunsHave() {
    std::vector<MetricPoint> dense_time, sparse_time, dense_loss, sparse_loss;
    for (int s = 1; s <= 30; ++s) {
      dense_time.push_back({"train/step_time_s", s, 0.2, 0});
      dense_loss.push_back({"train/loss", s, s <= 20 ? 1.0 : 2.0, 0});
    }
    for (int s = 1; s <= 20; ++s) {  // the sparse run is behind: steps 21..30 do not count
      sparse_time.push_back({"train/step_time_s", s, 0.1, 0});
      sparse_loss.push_back({"train/loss", s, s <= 10 ? 9.0 : 1.5, 0});
    }
    auto c = compareRuns(dense_time, sparse_time, dense_loss, sparse_loss);
    QCOMPARE(c.common_steps, 20);
    QCOMPARE(c.speedup, 2.0);
    QCOMPARE(c.loss_steps, 10);
    QCOMPARE(c.base_loss, 1.0);   // steps 11..20 of dense
    QCOMPARE(c.other_loss, 1.5);  // steps 11..20 of sparse
    QVERIFY(!compareRuns({}, sparse_time, {}, {}).valid());
  }

  void curvesFetchOnlyNewPoints() {
    auto& store = ws_->store();
    auto run = store.createRun(store.ensureExperiment("curves"), "fake", "finetune");
    store.appendMetrics(run, {{"train/loss", 1, 3.0, 0}, {"train/loss", 2, 2.5, 0}});
    FinetuneCurves curves;
    curves.setRuns({run});
    QVERIFY(curves.poll(store));
    QCOMPARE(curves.curve(run, "train/loss").size(), std::size_t(2));
    QVERIFY(!curves.poll(store));  // nothing new: nothing changed
    store.appendMetrics(run, {{"train/loss", 3, 2.0, 0}, {"eval/loss", 3, 2.2, 0}});
    QVERIFY(curves.poll(store));
    QCOMPARE(curves.curve(run, "train/loss").size(), std::size_t(3));
    QCOMPARE(curves.curve(run, "train/loss").back().value, 2.0);
    QCOMPARE(curves.curve(run, "eval/loss").size(), std::size_t(1));
    store.finishRun(run, RunStatus::Finished);
  }

  void formShowsOnlyTheChosenMethodsParameters() {
    FinetuneForm form;
    form.resize(320, 700);
    form.show();
    QVERIFY(QTest::qWaitForWindowExposed(&form));
    // Defaults for a quick look.
    auto o = form.options();
    QCOMPARE(o.steps, 100);
    QCOMPARE(o.sequence, 256);
    QCOMPARE(o.batch, 4);
    QCOMPARE(o.model, std::string("demo-opt"));
    QCOMPARE(o.peft.method, PeftMethod::Lora);
    QCOMPARE(form.mode(), FinetuneForm::Mode::Dense);
    auto visible = [&](const QString& label) {
      for (auto* l : form.findChildren<QLabel*>())
        if (l->text() == label) return l->isVisibleTo(&form);
      return false;
    };
    QVERIFY(visible("Rank"));
    QVERIFY(!visible("Bottleneck"));
    QVERIFY(!visible("Thresholds"));  // dense: no sparse settings
    form.methodBox()->setCurrentIndex(1);  // Adapter
    QVERIFY(!visible("Rank"));
    QVERIFY(visible("Bottleneck"));
    form.methodBox()->setCurrentIndex(2);  // BitFit: nothing to set
    QVERIFY(!visible("Rank") && !visible("Bottleneck"));
    form.modeBox()->setCurrentIndex(2);  // Both
    QVERIFY(visible("Thresholds"));
    QCOMPARE(form.mode(), FinetuneForm::Mode::Both);

    // Options survive a round trip through the form.
    FinetuneOptions want = tinyRun(7);
    want.peft.method = PeftMethod::Adapter;
    want.peft.bottleneck = 24;
    want.mode = FinetuneMode::Sparse;
    want.thresholds.automatic = false;
    want.thresholds.mlp_p = 0.05;
    want.thresholds.attention_threshold = 12;
    want.lr = 0.002;
    want.seed = 42;
    form.setOptions(want, FinetuneForm::Mode::Sparse);
    auto got = form.options();
    QCOMPARE(got.peft.method, PeftMethod::Adapter);
    QCOMPARE(got.peft.bottleneck, 24);
    QCOMPARE(got.mode, FinetuneMode::Sparse);
    QVERIFY(!got.thresholds.automatic);
    QCOMPARE(got.thresholds.mlp_p, 0.05);
    QCOMPARE(got.thresholds.attention_threshold, 12.0);
    QCOMPARE(got.lr, 0.002);
    QCOMPARE(got.seed, std::uint64_t(42));
    QCOMPARE(got.steps, 7);

    // A file dataset without a file is refused before anything runs.
    want.dataset.kind = DatasetSpec::Kind::Jsonl;
    want.dataset.path.clear();
    form.setOptions(want, FinetuneForm::Mode::Dense);
    QVERIFY(form.problem().contains("dataset file"));
  }

  void tinyRunDrawsItsCurves() {
    JobBridge jobs(1);
    auto panel = newPanel(jobs);
    panel->show();
    QVERIFY(QTest::qWaitForWindowExposed(panel.get()));
    panel->form()->setOptions(tinyRun(6), FinetuneForm::Mode::Dense);
    QVERIFY(panel->launchButton()->isEnabled());
    QTest::mouseClick(panel->launchButton(), Qt::LeftButton);
    QVERIFY(panel->busy());
    QVERIFY(!panel->form()->isEnabled());  // no edits while it trains
    QVERIFY(panel->stopButton()->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(!panel->busy(), 60000);
    QVERIFY2(panel->messageLabel()->text().contains("finished"),
             qPrintable(panel->messageLabel()->text()));
    QVERIFY(panel->form()->isEnabled());
    QCOMPARE(panel->shownRuns().size(), std::size_t(1));
    const auto id = panel->shownRuns().front();
    auto run = ws_->store().run(id);
    QVERIFY(run && run->status == RunStatus::Finished && run->kind == "finetune");
    // The loss chart: 6 training steps plotted (raw and smoothed), and the eval point.
    auto* loss = panel->plots()->plot(FinetunePlots::Loss);
    QTRY_VERIFY(points(loss) >= 2 * 6 + 1);
    QVERIFY(points(panel->plots()->plot(FinetunePlots::StepTime)) >= 6);
    QVERIFY(points(panel->plots()->plot(FinetunePlots::TokensPerSecond)) >= 6);
    QVERIFY(panel->comparisonLabel()->text().contains(QString("#%1").arg(id)));
    QTest::qWait(100);
    saveScreenshot(panel.get(), "finetune_panel_dense");

    // A finished LoRA run exports its merged model; a finished run has nothing to resume.
    QTRY_VERIFY(panel->runList()->selectedRuns() == std::vector<std::int64_t>{id});
    QVERIFY(panel->exportButton()->isEnabled());
    QVERIFY(!panel->resumeButton()->isEnabled());
    const QString out = dir_.filePath("merged");
    QVERIFY(panel->exportSelected(out));
    QTRY_VERIFY_WITH_TIMEOUT(!panel->busy(), 30000);
    QVERIFY2(panel->messageLabel()->text().contains("merged model written"),
             qPrintable(panel->messageLabel()->text()));
    QVERIFY(QFileInfo(out + "/config.json").isFile());
    QVERIFY(QFileInfo(out + "/model.safetensors").isFile());
  }

  void bothRunsDenseThenSparseOverlaid() {
    JobBridge jobs(2);  // two workers: the panel itself must keep the runs one after the other
    auto panel = newPanel(jobs);
    panel->show();
    auto o = tinyRun(12);
    o.seed = 5;
    panel->form()->setOptions(o, FinetuneForm::Mode::Both);
    QVERIFY(panel->launch());
    int most_active = 0;
    QTRY_VERIFY_WITH_TIMEOUT((most_active = std::max(most_active, int(jobs.active().size())),
                              !panel->busy()),
                             90000);
    QCOMPARE(most_active, 1);  // never two at once: that would distort the speed comparison
    QVERIFY2(panel->messageLabel()->text().contains("finished"),
             qPrintable(panel->messageLabel()->text()));
    QCOMPARE(panel->shownRuns().size(), std::size_t(2));
    const auto dense = panel->shownRuns()[0], sparse = panel->shownRuns()[1];
    QCOMPARE(finetuneOptionsOf(*ws_, dense).mode, FinetuneMode::Dense);
    QCOMPARE(finetuneOptionsOf(*ws_, sparse).mode, FinetuneMode::Sparse);
    QCOMPARE(finetuneOptionsOf(*ws_, sparse).seed, std::uint64_t(5));  // the same seed
    QVERIFY(points(panel->plots()->plot(FinetunePlots::MlpSparsity)) >= 12);
    QVERIFY(points(panel->plots()->plot(FinetunePlots::Loss)) >= 2 * 2 * 12);
    const QString label = panel->comparisonLabel()->text();
    QVERIFY2(label.contains("speed-up") && label.contains("12 common steps"), qPrintable(label));
    QTest::qWait(100);
    saveScreenshot(panel.get(), "finetune_panel_both");
  }

  void stopLeavesAKilledRunWithItsMetrics() {
    JobBridge jobs(1);
    auto panel = newPanel(jobs);
    panel->show();
    panel->form()->setOptions(tinyRun(5000), FinetuneForm::Mode::Dense);
    QVERIFY(panel->launch());
    // Live: the curve grows while it trains.
    QTRY_VERIFY_WITH_TIMEOUT(!panel->shownRuns().empty() &&
                                 points(panel->plots()->plot(FinetunePlots::Loss)) >= 2 * 3,
                             60000);
    const auto id = panel->shownRuns().front();
    // Past the first checkpoint (every 25 steps), so there is something to resume from.
    QTRY_VERIFY_WITH_TIMEOUT(ws_->store().metrics(id, "train/loss").size() > 30, 60000);
    QTest::mouseClick(panel->stopButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!panel->busy(), 30000);
    QVERIFY2(panel->messageLabel()->text().contains("killed"),
             qPrintable(panel->messageLabel()->text()));
    auto run = ws_->store().run(id);
    QVERIFY(run);
    QCOMPARE(run->status, RunStatus::Killed);
    QVERIFY(ws_->store().metrics(id, "train/loss").size() >= 3);  // its metrics are kept
    // The killed run is selected and can be resumed.
    QTRY_VERIFY(panel->runList()->selectedRuns() == std::vector<std::int64_t>{id});
    QVERIFY(panel->resumeButton()->isEnabled());
    QVERIFY(panel->form()->isEnabled());

    // Resume continues it from the checkpoint (the steps after it are trained again), live.
    const auto killed_at = ws_->store().metrics(id, "train/loss").back().step;
    QTest::mouseClick(panel->resumeButton(), Qt::LeftButton);
    QVERIFY(panel->busy());
    QTRY_VERIFY_WITH_TIMEOUT(
        ws_->store().metrics(id, "train/loss").back().step > killed_at + 20, 60000);
    QTest::mouseClick(panel->stopButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!panel->busy(), 30000);
    QCOMPARE(ws_->store().run(id)->status, RunStatus::Killed);
    // Each step once in the store and in the plot: the rewritten steps replaced the old ones.
    const auto stored = ws_->store().metrics(id, "train/loss");
    for (std::size_t i = 1; i < stored.size(); ++i) QVERIFY(stored[i].step > stored[i - 1].step);
    QTRY_COMPARE(panel->plots()->plot(FinetunePlots::Loss)->graph(0)->data()->size(),
                 int(stored.size()));
  }

  void badDataIsReportedInThePanel() {
    JobBridge jobs(1);
    auto panel = newPanel(jobs);
    const auto runs_before = ws_->store().runs().size();
    const QString file = dir_.filePath("broken.jsonl");
    std::ofstream(file.toStdString()) << "{\"prompt\": \"a\", \"completion\": \"b\"}\nnot json\n";
    auto o = tinyRun(6);
    o.dataset.kind = DatasetSpec::Kind::Jsonl;
    o.dataset.path = file.toStdString();
    panel->form()->setOptions(o, FinetuneForm::Mode::Dense);
    QVERIFY(panel->launch());
    QTRY_VERIFY_WITH_TIMEOUT(!panel->busy(), 30000);
    const QString message = panel->messageLabel()->text();
    QVERIFY2(message.contains("failed") && message.contains("broken.jsonl"), qPrintable(message));
    QVERIFY(panel->form()->isEnabled());
    QCOMPARE(ws_->store().runs().size(), runs_before);  // refused before a run was made
  }

  void mainWindowHasTheFinetuneDock() {
    MainWindow window;
    QVERIFY(window.finetunePanel());
    QVERIFY(!window.finetunePanel()->launchButton()->isEnabled());  // no workspace yet
    QVERIFY(window.openWorkspace(dir_.filePath("ws"), false));
    QVERIFY(window.finetunePanel()->launchButton()->isEnabled());
    QTRY_VERIFY(window.finetunePanel()->runList()->topLevelItemCount() >= 2);
  }
};

QTEST_MAIN(FinetuneViewsTest)
#include "finetune_views_test.moc"

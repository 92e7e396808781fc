// The GUI on a real workspace: runs listed and plotted, jobs logged and cancellable, the ImGui
// panel drawing and receiving input, themes, layout, bad workspaces. Screenshots of the window
// land in <build>/screenshots for a person to look at.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeView>
#include <cmath>
#include <fstream>
#include <qcustomplot.h>
#include <random>
#include <thread>

#include "darkroom/workspace.h"
#include "imgui/engine_panel.h"
#include "jobs/job_bridge.h"
#include "log/log_panel.h"
#include "main_window.h"
#include "plot/smoothing.h"
#include "runs/run_tree_model.h"
#include "runs/runs_panel.h"
#include "sparsity/sparsity_panel.h"
#include "view_test_util.h"

using namespace darkroom;
using namespace darkroom::views;
using test::saveScreenshot;

using test::rng;

namespace {

bool imageHasDetail(const QImage& image) {
  if (image.isNull()) return false;
  QRgb first = image.pixel(0, 0);
  int differing = 0;
  for (int y = 0; y < image.height(); y += 7)
    for (int x = 0; x < image.width(); x += 7)
      if (image.pixel(x, y) != first) ++differing;
  return differing > 20;
}

}  // namespace

class ViewsTest : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir dir_;
  std::vector<std::int64_t> run_ids_;
  std::vector<int> point_counts_;

 private slots:
  void initTestCase() {
    QStandardPaths::setTestModeEnabled(true);  // settings go to a test location
    QSettings().clear();
    QVERIFY(dir_.isValid());
    auto ws = Workspace::create(dir_.filePath("ws").toStdString());
    auto& store = ws.store();
    auto exp = store.ensureExperiment("sweep");
    std::uniform_int_distribution<int> count(17, 613);
    std::normal_distribution<double> noise(0, 0.05);
    for (int r = 0; r < 3; ++r) {
      auto id = store.createRun(exp, "lr-" + std::to_string(r), "finetune",
                                {{"lr", std::to_string(0.001 * (r + 1))}, {"rank", "8"}});
      int n = count(rng());
      std::vector<MetricPoint> points;
      for (int i = 0; i < n; ++i) {
        points.push_back({"train/loss", i, 3.0 * std::exp(-i / (60.0 + 40 * r)) + 0.2 + noise(rng()), 0});
        points.push_back({"train/lr", i, 0.001 * (r + 1), 0});
      }
      store.appendMetrics(id, points);
      if (r < 2) store.finishRun(id, r == 0 ? RunStatus::Finished : RunStatus::Killed);
      run_ids_.push_back(id);
      point_counts_.push_back(n);
    }
  }

  void smoothingKeepsLengthAndConverges() {
    std::vector<double> flat(50, 2.5);
    auto s = smoothEma(flat, 0.9);
    QCOMPARE(s.size(), flat.size());
    for (double v : s) QVERIFY(std::abs(v - 2.5) < 1e-12);  // debiased: no drag towards zero
    std::vector<double> noisy;
    std::normal_distribution<double> n(0, 1);
    for (int i = 0; i < 500; ++i) noisy.push_back(n(rng()));
    auto smooth = smoothEma(noisy, 0.95);
    double var_raw = 0, var_smooth = 0;
    for (int i = 100; i < 500; ++i) {
      var_raw += noisy[i] * noisy[i];
      var_smooth += smooth[i] * smooth[i];
    }
    QVERIFY(var_smooth < var_raw / 5);
    QCOMPARE(smoothEma(noisy, 0.0), noisy);
  }

  void runTreeModelIsAValidModel() {
    auto ws = Workspace::open(dir_.filePath("ws").toStdString());
    RunTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QVERIFY(model.reload(ws.store().experiments(), ws.store().runs()));
    QVERIFY(!model.reload(ws.store().experiments(), ws.store().runs()));  // unchanged
    QCOMPARE(model.rowCount(), 1);
    QCOMPARE(model.rowCount(model.index(0, 0)), 3);
    QCOMPARE(RunTreeModel::runId(model.indexOfRun(run_ids_[1])), run_ids_[1]);
    QCOMPARE(model.indexOfRun(run_ids_[1]).siblingAtColumn(RunTreeModel::Status).data().toString(),
             QString("killed"));
  }

  void mainWindowListsAndPlotsRuns() {
    MainWindow window;
    QString error;
    QVERIFY2(window.openWorkspace(dir_.filePath("ws"), false, &error), qPrintable(error));
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto* runs = window.runsPanel();
    QCOMPARE(runs->tree()->model()->rowCount(), 1);
    QCOMPARE(runs->tree()->model()->rowCount(runs->tree()->model()->index(0, 0)), 3);
    QCOMPARE(runs->selectedRuns(), run_ids_);  // opens on the newest experiment's runs
    QVERIFY(runs->plot()->graphCount() > 0);

    // One run, no smoothing: one graph holding exactly the stored points.
    runs->setSmoothing(0);
    runs->selectRuns({run_ids_[0]});
    QCOMPARE(runs->metricList()->count(), 2);
    QCOMPARE(runs->plot()->graphCount(), 1);  // the loss is ticked by default
    QCOMPARE(runs->plot()->graph(0)->data()->size(), point_counts_[0]);
    QVERIFY(runs->plot()->graph(0)->name().contains("train/loss"));
    QCOMPARE(runs->paramsTable()->rowCount(), 2);

    // Two runs overlaid with smoothing: raw + smoothed per run, in the legend once each.
    runs->setSmoothing(0.8);
    runs->selectRuns({run_ids_[0], run_ids_[2]});
    QCOMPARE(runs->plot()->graphCount(), 4);
    QCOMPARE(runs->plot()->legend->itemCount(), 2);
    int total = 0;
    for (int g = 0; g < runs->plot()->graphCount(); ++g) total += runs->plot()->graph(g)->data()->size();
    QCOMPARE(total, 2 * (point_counts_[0] + point_counts_[2]));
    QCOMPARE(runs->paramsTable()->columnCount(), 2);
    runs->setLogScale(true);
    QCOMPARE(runs->plot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
    runs->showMetrics({"train/loss", "train/lr"});
    QCOMPARE(runs->plot()->legend->itemCount(), 4);
    saveScreenshot(&window, "main_window_dark");

    window.setTheme(Theme::Light);
    QVERIFY(qApp->palette().color(QPalette::Window).lightness() > 128);
    QTest::qWait(50);  // palette-change events repaint the widgets
    saveScreenshot(&window, "main_window_light");
    window.setTheme(Theme::Dark);
    QVERIFY(qApp->palette().color(QPalette::Window).lightness() < 128);
  }

  void runsAppearLiveWhileAnotherConnectionWrites() {
    MainWindow window;
    QVERIFY(window.openWorkspace(dir_.filePath("ws"), false));
    auto live = Workspace::open(dir_.filePath("ws").toStdString());
    auto id = live.store().createRun(live.store().ensureExperiment("live"), "growing", "finetune");
    QTRY_VERIFY_WITH_TIMEOUT(window.runsPanel()->tree()->model()->rowCount() == 2, 3000);
    window.runsPanel()->setSmoothing(0);
    window.runsPanel()->selectRuns({id});
    live.store().appendMetrics(id, {{"train/loss", 0, 1.0, 0}, {"train/loss", 1, 0.9, 0}});
    QTRY_VERIFY_WITH_TIMEOUT(window.runsPanel()->plot()->graphCount() == 1 &&
                                 window.runsPanel()->plot()->graph(0)->data()->size() == 2,
                             3000);
    // More points while it runs: the curve grows (only the new points are fetched).
    live.store().appendMetrics(id, {{"train/loss", 2, 0.8, 0}, {"train/loss", 3, 0.7, 0}});
    QTRY_VERIFY_WITH_TIMEOUT(window.runsPanel()->plot()->graph(0)->data()->size() == 4, 3000);
    QCOMPARE((window.runsPanel()->plot()->graph(0)->data()->end() - 1)->value, 0.7);
    live.store().finishRun(id, RunStatus::Finished);
  }

  void demoJobIsLoggedAndItsRunsAppear() {
    QTemporaryDir fresh;
    MainWindow window;
    QVERIFY(window.openWorkspace(fresh.filePath("demo"), true));
    QCOMPARE(window.runsPanel()->tree()->model()->rowCount(), 0);
    QSignalSpy events(window.jobs(), &JobBridge::jobEvent);
    window.createDemoRuns(false, 3);  // real training: three steps are enough here
    QTRY_VERIFY_WITH_TIMEOUT(window.logPanel()->text().contains("Demo runs: done"), 120000);
    QVERIFY(window.logPanel()->text().contains("Demo runs: started"));
    QVERIFY(events.count() > 3);
    // The demo-models (training) and demo (analysis) experiments.
    QTRY_COMPARE_WITH_TIMEOUT(window.runsPanel()->tree()->model()->rowCount(), 2, 3000);

    // Selecting an analysis run shows it in the Sparsity panel.
    auto ws = Workspace::open(fresh.filePath("demo").toStdString());
    std::int64_t analysis = 0;
    for (const auto& r : ws.store().runs())
      if (r.kind == "analysis") analysis = r.id;
    QVERIFY(analysis > 0);
    window.show();
    window.runsPanel()->selectRuns({analysis});
    QTRY_VERIFY_WITH_TIMEOUT(window.sparsityPanel()->analysis() &&
                                 window.sparsityPanel()->analysis()->layers.size() == 4, 5000);
    window.findChild<QDockWidget*>("dock.sparsity")->raise();
    QTest::qWait(200);
    saveScreenshot(&window, "main_window_sparsity");
  }

  void cancelButtonInLogPanelStopsAJob() {
    MainWindow window;
    window.show();
    std::atomic<bool> stopped{false};
    auto id = window.jobs()->submit("spin", "Endless", [&](JobContext& ctx) -> std::any {
      try {
        for (int i = 0;; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          ctx.progress(0.5, "step " + std::to_string(i));
        }
      } catch (const JobCancelled&) {
        stopped = true;
        throw;
      }
    });
    QVERIFY(id > 0);
    auto* table = window.logPanel()->jobTable();
    QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 1, 3000);
    auto* bar = qobject_cast<QProgressBar*>(table->cellWidget(0, 1));
    QVERIFY(bar);
    QTRY_VERIFY(bar->value() == 500);
    QTest::qWait(100);  // a few ImGui frames with the job listed
    saveScreenshot(&window, "job_running");
    auto* cancel = qobject_cast<QPushButton*>(table->cellWidget(0, 2));
    QVERIFY(cancel);
    QTest::mouseClick(cancel, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(stopped.load(), 2000);
    QTRY_VERIFY(window.logPanel()->text().contains("Endless: cancelled"));
    QTRY_COMPARE(table->rowCount(), 0);
  }

  void imguiPanelRendersAndReceivesClicks() {
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto* engine = window.enginePanel();
    if (!engine)
      QSKIP("no OpenGL on this Qt platform; run under Xvfb (xvfb-run) to check the ImGui panel");
    QTRY_VERIFY_WITH_TIMEOUT(engine->frameCount() > 3, 5000);
    QVERIFY(engine->lastFrameMs() >= 0);
    int before = engine->clicksSeen();
    QPoint inside(engine->width() / 2, engine->height() / 2);
    QTest::mouseMove(engine, inside);
    QTest::qWait(80);
    QTest::mousePress(engine, Qt::LeftButton, {}, inside);
    QTest::qWait(80);
    QTest::mouseRelease(engine, Qt::LeftButton, {}, inside);
    QTRY_VERIFY_WITH_TIMEOUT(engine->clicksSeen() > before, 2000);
    QImage frame = engine->grabFramebuffer();
    QVERIFY2(imageHasDetail(frame), "the ImGui panel drew a blank frame");
    saveScreenshot(engine, "engine_panel");
  }

  void badWorkspaceIsRefusedAndTheCurrentOneKept() {
    MainWindow window;
    QVERIFY(window.openWorkspace(dir_.filePath("ws"), false));
    QString before = window.workspacePath();
    int experiments = window.runsPanel()->tree()->model()->rowCount();
    QTemporaryDir junk;
    { std::ofstream(junk.filePath("darkroom.db").toStdString()) << std::string(5000, 'x'); }
    QString error;
    QVERIFY(!window.openWorkspace(junk.path(), false, &error));
    QVERIFY2(error.contains("not a Darkroom workspace database"), qPrintable(error));
    QVERIFY(!window.openWorkspace(junk.filePath("missing"), false, &error));
    QVERIFY2(error.contains("workspace init"), qPrintable(error));
    QCOMPARE(window.workspacePath(), before);
    QCOMPARE(window.runsPanel()->tree()->model()->rowCount(), experiments);
  }

  void layoutIsSavedAndRestored() {
    {
      MainWindow window;
      window.show();
      QVERIFY(QTest::qWaitForWindowExposed(&window));
      auto* log = window.findChild<QDockWidget*>("dock.log");
      QVERIFY(log);
      log->hide();
      window.close();
    }
    MainWindow again;
    again.show();
    QVERIFY(QTest::qWaitForWindowExposed(&again));
    QVERIFY(again.findChild<QDockWidget*>("dock.log")->isHidden());
    QSettings().clear();
  }
};

int main(int argc, char** argv) {
  QApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
  QApplication app(argc, argv);
  QApplication::setOrganizationName("Darkroom");
  QApplication::setApplicationName("DarkroomViewsTest");
  ViewsTest test;
  return QTest::qExec(&test, argc, argv);
}

#include "views_test.moc"

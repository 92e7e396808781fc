// The Neuralink panels on synthetic data: the Co-activation panel on neurons with planted
// clusters (placement order gathers co-activation mass on the diagonal, pooling of big layers,
// zoom by call and by mouse drag listing the zoomed neurons, placement files), and the Placement
// comparison panel's charts on hand-built I/O summaries (no disk timing involved). Screenshots
// land in <build>/screenshots.
#include <QApplication>
#include <QDir>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <qcustomplot.h>
#include <random>

#include "darkroom/neuralink/coact.h"
#include "darkroom/neuralink/flash_layout.h"
#include "darkroom/workspace.h"
#include "darkroom/neuralink/placement.h"
#include "imgui/imgui_widget.h"
#include "jobs/job_bridge.h"
#include "neuralink/coact_matrix.h"
#include "neuralink/coact_order_view.h"
#include "neuralink/coact_panel.h"
#include "neuralink/frequency_strip.h"
#include "neuralink/io_bar_chart.h"
#include "neuralink/placement_comparison_panel.h"
#include "neuralink/zoom_neuron_model.h"
#include "sparsity/heatmap_widget.h"
#include "theme/theme.h"
#include "view_test_util.h"

using namespace darkroom;
using namespace darkroom::views;
using test::saveScreenshot;
using test::waitFrames;
namespace nl = darkroom::neuralink;

using test::rng;

namespace {

constexpr int kClusters = 12, kClusterSize = 16, kNeurons = kClusters * kClusterSize;

// Neurons in clusters of 16 that fire together, scattered over the checkpoint's order by a
// random permutation; each token fires two clusters (each member with probability 0.85) and a
// few stray neurons.
nl::CoactStats plantedClusters(std::vector<std::vector<int>>* clustersOut = nullptr) {
  std::vector<int> ids(kNeurons);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng());
  std::vector<std::vector<int>> clusters(kClusters);
  for (int c = 0; c < kClusters; ++c)
    clusters[std::size_t(c)].assign(ids.begin() + c * kClusterSize,
                                    ids.begin() + (c + 1) * kClusterSize);
  nl::ActivationTrace trace;
  trace.source = "planted clusters";
  trace.layers.resize(2);
  for (auto& layer : trace.layers) layer.neurons = kNeurons;
  std::uniform_int_distribution<int> cluster(0, kClusters - 1), neuron(0, kNeurons - 1);
  std::uniform_real_distribution<double> unit(0, 1);
  for (auto& layer : trace.layers)
    for (int t = 0; t < 1500; ++t) {
      std::vector<std::int32_t> active;
      for (int k = 0; k < 2; ++k)
        for (const int n : clusters[std::size_t(cluster(rng()))])
          if (unit(rng()) < 0.85) active.push_back(n);
      for (int k = 0; k < 3; ++k) active.push_back(neuron(rng()));
      std::sort(active.begin(), active.end());
      active.erase(std::unique(active.begin(), active.end()), active.end());
      layer.addToken(active);
    }
  nl::CoactStats stats;
  stats.source = trace.source;
  for (const auto& layer : trace.layers) stats.layers.push_back(nl::countCoactivations(layer, 1));
  if (clustersOut) *clustersOut = clusters;
  return stats;
}

// The share of a pooled matrix's off-diagonal mass within `band` cells of the diagonal.
double diagonalShare(const Array2D& m, std::int64_t band) {
  double near = 0, total = 0;
  for (std::int64_t r = 0; r < m.rows; ++r)
    for (std::int64_t c = 0; c < m.cols; ++c) {
      if (r == c) continue;
      total += m.at(r, c);
      if (std::abs(r - c) <= band) near += m.at(r, c);
    }
  return total > 0 ? near / total : 0;
}

// Places layer 0 of the panel's statistics with `method` through the panel's job.
bool placeThroughJob(CoactPanel& panel, nl::PlacementMethod method) {
  if (panel.placeLayer(method) == 0) return false;
  return QTest::qWaitFor([&] { return !panel.busy(); }, 20000) &&
         panel.view(CoactPanel::Side::Placement)->hasOrder();
}

nl::IoSummary summary(double reads, double bytes, double mbs, double p50, std::size_t buckets,
                      double predicted) {
  nl::IoSummary s;
  for (int t = 0; t < 10; ++t) {
    nl::TokenIo io;
    io.reads = std::int64_t(reads);
    io.bytes_read = std::int64_t(bytes);
    s.tokens.push_back(io);
  }
  s.effective_bandwidth_mb_s = mbs;
  s.p50_ms = p50;
  s.p90_ms = p50 * 1.5;
  s.p99_ms = p50 * 2.5;
  s.predicted_mean_ms = predicted;
  for (std::size_t b = 0; b < buckets; ++b) s.read_length_histogram.push_back(std::int64_t(100 >> b));
  return s;
}

// Two placements × every policy × collapse, with numbers that say which is which.
IoComparison handBuiltComparison() {
  IoComparison c;
  c.trace = "hand-built";
  c.profile = "ufs4.0";
  int i = 0;
  for (const char* placement : {"identity", "greedy"})
    for (const bool collapse : {false, true})
      for (const auto policy : comparedPolicies()) {
        const double scale = std::string(placement) == "greedy" ? 0.5 : 1.0;
        c.rows.push_back({placement, policy, collapse,
                          summary(100 * scale + i, 4096 * 100 * scale, 800 / scale, 2 * scale,
                                  placement == std::string("greedy") ? 6 : 3, 1.5 * scale)});
        ++i;
      }
  return c;
}

}  // namespace

class NeuralinkViewsTest : public QObject {
  Q_OBJECT

 private slots:
  void poolingKeepsTheMatrixTextureSized() {
    const nl::CoactStats stats = plantedClusters();
    const auto& layer = stats.layers[0];
    const auto order = identityOrder(kNeurons);
    const PooledCoact full = poolCoactivation(layer, order, {0, kNeurons}, 1024, Pooling::Max);
    QCOMPARE(full.matrix.rows, std::int64_t(kNeurons));
    QCOMPARE(full.bin, std::int64_t(1));
    QCOMPARE(full.matrix.at(3, 7), float(double(layer.pairCount(3, 7)) / double(layer.tokens)));
    QCOMPARE(full.frequency[5], double(layer.pairCount(5, 5)) / double(layer.tokens));

    // 192 slots into at most 50 cells: 4 slots per cell, 48 cells; max ≥ mean everywhere, and
    // the max of a cell is the largest of its 16 pairs.
    const PooledCoact max = poolCoactivation(layer, order, {0, kNeurons}, 50, Pooling::Max);
    const PooledCoact mean = poolCoactivation(layer, order, {0, kNeurons}, 50, Pooling::Mean);
    QCOMPARE(max.bin, std::int64_t(4));
    QCOMPARE(max.matrix.rows, std::int64_t(48));
    for (std::size_t k = 0; k < max.matrix.values.size(); ++k)
      QVERIFY(max.matrix.values[k] >= mean.matrix.values[k] - 1e-7f);
    std::uint32_t top = 0;
    for (int i = 8; i < 12; ++i)
      for (int j = 20; j < 24; ++j) top = std::max(top, layer.pairCount(i, j));
    QCOMPARE(double(max.matrix.at(2, 5)), double(float(double(top) / double(layer.tokens))));
    QCOMPARE(max.slotsOf(2, 5).first, std::int64_t(8));
    QCOMPARE(max.slotsOf(2, 5).end, std::int64_t(20));

    // Bad orders give nothing rather than reading out of bounds.
    QVERIFY(poolCoactivation(layer, {0, 1, 2}, {0, 3}, 10, Pooling::Max).matrix.values.empty());
  }

  void placementOrderGathersMassOnTheDiagonal() {
    JobBridge jobs(1);
    CoactPanel panel(&jobs);
    panel.resize(1500, 800);
    panel.setStats(plantedClusters(), "planted clusters");
    QCOMPARE(panel.layerCount(), 2);
    QVERIFY(!panel.view(CoactPanel::Side::Placement)->hasOrder());
    QVERIFY(placeThroughJob(panel, nl::PlacementMethod::Greedy));

    const CoactOrderView* original = panel.view(CoactPanel::Side::Original);
    const CoactOrderView* placed = panel.view(CoactPanel::Side::Placement);
    // Within a cluster's width of the diagonal. A token fires two clusters, so about half of all
    // pair mass lies between clusters that no order can keep together; in the checkpoint's order
    // cluster members are scattered and the band holds its width's share (~16%).
    const double before = diagonalShare(original->pooled().matrix, kClusterSize);
    const double after = diagonalShare(placed->pooled().matrix, kClusterSize);
    qInfo("mass within %d slots of the diagonal: checkpoint order %.3f, placement order %.3f",
          kClusterSize, before, after);
    QVERIFY2(after > 0.4 && after > 2 * before, qPrintable(QString("%1 vs %2").arg(after).arg(before)));
    QVERIFY(placed->pooled().frequency.size() == std::size_t(kNeurons));
    // Both sides say their expected reads per token, and the placement's are fewer.
    QVERIFY2(placed->detailText().contains("expected reads per token"), qPrintable(placed->detailText()));
    QVERIFY2(original->detailText().contains("expected reads per token"),
             qPrintable(original->detailText()));
    // One colour scale for both sides.
    if (HeatmapWidget* a = original->heatmap()) {
      QCOMPARE(a->colorScale().top(), placed->heatmap()->colorScale().top());
      QVERIFY(a->logColor());
    }

    // Another layer has no placement yet: the right side says so, then places on demand.
    panel.setLayer(1);
    QVERIFY(!panel.view(CoactPanel::Side::Placement)->hasOrder());
    QVERIFY(panel.view(CoactPanel::Side::Placement)->detailText().contains("No placement"));
    panel.setLayer(0);
    QVERIFY(panel.view(CoactPanel::Side::Placement)->hasOrder());
  }

  void zoomListsTheNeuronsOfTheRange() {
    JobBridge jobs(1);
    CoactPanel panel(&jobs);
    panel.resize(1500, 800);
    panel.setStats(plantedClusters(), "planted clusters");
    QVERIFY(placeThroughJob(panel, nl::PlacementMethod::Greedy));
    const std::vector<std::int32_t> order = panel.view(CoactPanel::Side::Placement)->order();

    panel.zoom(CoactPanel::Side::Placement, {16, 48});
    const CoactOrderView* placed = panel.view(CoactPanel::Side::Placement);
    QCOMPARE(placed->range(), (SlotRange{16, 48}));
    QCOMPARE(placed->pooled().matrix.rows, std::int64_t(32));
    ZoomNeuronModel* list = panel.zoomModel();
    QCOMPARE(list->rowCount(), 32);
    for (int row = 0; row < 32; ++row) {
      QCOMPARE(list->neuronAt(row), order[std::size_t(16 + row)]);
      QCOMPARE(list->index(row, ZoomNeuronModel::Slot).data().toLongLong(), qlonglong(16 + row));
      QCOMPARE(list->index(row, ZoomNeuronModel::Neuron).data().toInt(), order[std::size_t(16 + row)]);
    }
    // The checkpoint side is not zoomed by the placement side's zoom.
    QCOMPARE(panel.view(CoactPanel::Side::Original)->range(), (SlotRange{0, kNeurons}));
    panel.resetZoom();
    QCOMPARE(placed->range(), (SlotRange{0, kNeurons}));
    QCOMPARE(list->rowCount(), kNeurons);
  }

  void dragOverTheHeatmapZooms() {
    if (!ImGuiWidget::platformSupported())
      QSKIP("no OpenGL on this Qt platform; run under Xvfb (xvfb-run) to drag over the heatmap");
    JobBridge jobs(1);
    CoactPanel panel(&jobs);
    panel.resize(1500, 800);
    panel.setStats(plantedClusters(), "planted clusters");
    QVERIFY(placeThroughJob(panel, nl::PlacementMethod::Greedy));
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    HeatmapWidget* heatmap = panel.view(CoactPanel::Side::Placement)->heatmap();
    QVERIFY(waitFrames(*heatmap, 3));

    // From cell (32, 32) to cell (63, 63): slots 32 … 63.
    const QPoint from = heatmap->cellCenter(32, 32).toPoint();
    const QPoint to = heatmap->cellCenter(63, 63).toPoint();
    QTest::mouseMove(heatmap, from);
    QVERIFY(waitFrames(*heatmap, 2));
    QTest::mousePress(heatmap, Qt::LeftButton, {}, from);
    QVERIFY(waitFrames(*heatmap, 2));
    QTest::mouseMove(heatmap, to);
    QVERIFY(waitFrames(*heatmap, 2));
    QTest::mouseRelease(heatmap, Qt::LeftButton, {}, to);
    QTRY_COMPARE_WITH_TIMEOUT(panel.view(CoactPanel::Side::Placement)->range(), (SlotRange{32, 64}),
                              3000);
    QCOMPARE(panel.zoomedSide(), CoactPanel::Side::Placement);
    QCOMPARE(panel.zoomModel()->rowCount(), 32);
    QVERIFY(waitFrames(*heatmap, 3));
    saveScreenshot(&panel, "coact_panel_zoomed");
  }

  void placementFilesLoadAndBadOnesSayWhy() {
    const nl::CoactStats stats = plantedClusters();
    nl::Placement placement;
    placement.method = nl::PlacementMethod::Frequency;
    nl::PlacementOptions options;
    options.method = nl::PlacementMethod::Frequency;
    for (const auto& layer : stats.layers) placement.layers.push_back(nl::placeLayer(layer, options));
    QTemporaryDir dir;
    const QString file = dir.filePath("frequency.placement.safetensors");
    placement.save(file.toStdString());

    CoactPanel panel(nullptr);
    panel.setStats(stats, "planted clusters");
    QVERIFY(panel.loadPlacement(file));
    QCOMPARE(panel.view(CoactPanel::Side::Placement)->order(), placement.layers[0].order);
    panel.setLayer(1);
    QCOMPARE(panel.view(CoactPanel::Side::Placement)->order(), placement.layers[1].order);
    // Hottest first: the frequency strip never rises along the placement order.
    const auto& strip = panel.view(CoactPanel::Side::Placement)->pooled().frequency;
    QVERIFY(std::is_sorted(strip.rbegin(), strip.rend()));

    QVERIFY(!panel.loadPlacement(dir.filePath("missing.safetensors")));
    QVERIFY2(panel.message().contains("missing.safetensors"), qPrintable(panel.message()));
    QCOMPARE(panel.view(CoactPanel::Side::Placement)->order(), placement.layers[1].order);
    // Without a workspace nothing records, and the button says why.
    QVERIFY(!panel.recordButton()->isEnabled());
    QCOMPARE(panel.record("demo-opt", 256), std::uint64_t(0));
  }

  void comparisonDrawsBarsForGivenResults() {
    PlacementComparisonPanel panel(nullptr);
    panel.resize(1500, 800);
    panel.setComparison(handBuiltComparison());
    const IoComparison& c = panel.comparison();
    using Chart = PlacementComparisonPanel::Chart;
    for (const Chart which : {Chart::ReadsPerToken, Chart::MegabytesPerToken, Chart::Bandwidth,
                              Chart::P50, Chart::P90, Chart::P99, Chart::Predicted}) {
      IoBarChart* chart = panel.chart(which);
      QCOMPARE(chart->seriesCount(), 2);
      QCOMPARE(chart->plottableCount(), 2);
    }
    // Row k of each placement is category k (policies without collapse, then with).
    for (int k = 0; k < 8; ++k) {
      QCOMPARE(panel.chart(Chart::ReadsPerToken)->value(0, k), readsPerToken(c.rows[std::size_t(k)].summary));
      QCOMPARE(panel.chart(Chart::ReadsPerToken)->value(1, k), readsPerToken(c.rows[std::size_t(8 + k)].summary));
      QCOMPARE(panel.chart(Chart::MegabytesPerToken)->value(1, k), 4096 * 50 / 1e6);
      QCOMPARE(panel.chart(Chart::Bandwidth)->value(1, k), 1600.0);
      QCOMPARE(panel.chart(Chart::P99)->value(0, k), 5.0);
      QCOMPARE(panel.chart(Chart::Predicted)->value(1, k), 0.75);
    }
    QVERIFY(panel.chart(Chart::Predicted)->title().contains("ufs4.0"));
    // The histogram shows the chosen policy's read lengths, with as many buckets as the longest.
    panel.setHistogramOf(7);  // linked + collapse
    IoBarChart* histogram = panel.chart(Chart::ReadLengths);
    QCOMPARE(histogram->seriesCount(), 2);
    QCOMPARE(histogram->value(1, 5), 3.0);  // 100 >> 5
    QCOMPARE(histogram->value(0, 2), 25.0);
    QCOMPARE(histogram->value(0, 5), 0.0);  // identity has no reads that long
    QCOMPARE(QString::fromStdString(readLengthBucket(0)), QString("4K"));
    QCOMPARE(QString::fromStdString(readLengthBucket(8)), QString("1M"));

    // Nothing to run without inputs, and the panel says what is missing.
    QCOMPARE(panel.run(), std::uint64_t(0));
    QVERIFY(panel.message().contains("trace"));
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QTest::qWait(50);
    saveScreenshot(&panel, "placement_comparison_panel");
  }

  // The real path on a small synthetic model: two layouts (checkpoint and greedy order) of a
  // synthetic trace, replayed with real reads as a job, stored as iobench runs and read back.
  void comparisonReplaysLayoutsAndStoresTheRuns() {
    QTemporaryDir dir;
    auto ws = Workspace::create(dir.filePath("ws").toStdString());
    const nl::ActivationTrace trace = nl::syntheticTrace(2, 512, 64, 0.1, 7);
    const QString traceFile = dir.filePath("synthetic.trace.safetensors");
    trace.save(traceFile.toStdString());
    nl::CoactStats stats;
    for (const auto& layer : trace.layers) stats.layers.push_back(nl::countCoactivations(layer, 1));
    QStringList layouts;
    for (const auto method : {nl::PlacementMethod::Identity, nl::PlacementMethod::Greedy}) {
      nl::PlacementOptions options;
      options.method = method;
      nl::Placement placement;
      placement.method = method;
      for (const auto& layer : stats.layers) placement.layers.push_back(nl::placeLayer(layer, options));
      layouts << dir.filePath(QString("%1.layout").arg(nl::toString(method)));
      nl::writeSyntheticLayout({512, 512}, 8192, placement, layouts.back().toStdString());
    }

    JobBridge jobs(1);
    PlacementComparisonPanel panel(&jobs);
    panel.setWorkspace(&ws);
    panel.setTracePath(traceFile);
    panel.setLayoutPaths(layouts);
    QVERIFY(panel.run() != 0);
    QTRY_VERIFY_WITH_TIMEOUT(!panel.busy(), 60000);
    QVERIFY2(panel.comparison().rows.size() == 16, qPrintable(panel.message()));
    QCOMPARE(panel.chart(PlacementComparisonPanel::Chart::ReadsPerToken)->seriesCount(), 2);
    // Checkpoint order reads more often than greedy order, without a cache or collapse.
    const double identityReads = panel.chart(PlacementComparisonPanel::Chart::ReadsPerToken)->value(0, 0);
    const double greedyReads = panel.chart(PlacementComparisonPanel::Chart::ReadsPerToken)->value(1, 0);
    qInfo("reads per token: identity %.1f, greedy %.1f", identityReads, greedyReads);
    QVERIFY(greedyReads < identityReads);
    QVERIFY(panel.chart(PlacementComparisonPanel::Chart::Predicted)->value(0, 0) > 0);

    // Every replay is an iobench run; the stored runs show the same numbers.
    int stored = 0;
    for (const auto& run : ws.store().runs()) stored += run.kind == "iobench";
    QCOMPARE(stored, 16);
    panel.setComparison({});
    QVERIFY(panel.showStoredRuns() != 0);
    QTRY_VERIFY_WITH_TIMEOUT(!panel.busy(), 20000);
    QCOMPARE(int(panel.comparison().rows.size()), 16);
    QCOMPARE(panel.chart(PlacementComparisonPanel::Chart::ReadsPerToken)->value(1, 0), greedyReads);
  }

  void screenshotOfTheCoactPanel() {
    JobBridge jobs(1);
    CoactPanel panel(&jobs);
    panel.resize(1500, 800);
    panel.setStats(plantedClusters(), "planted clusters (12 × 16 neurons, 1500 tokens)");
    QVERIFY(placeThroughJob(panel, nl::PlacementMethod::Greedy));
    panel.zoom(CoactPanel::Side::Placement, {0, 64});
    panel.resetZoom();
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    if (auto* heatmap = panel.view(CoactPanel::Side::Placement)->heatmap())
      QVERIFY(waitFrames(*heatmap, 3));
    QTest::qWait(50);
    saveScreenshot(&panel, "coact_panel");
  }
};

int main(int argc, char** argv) {
  QApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
  QApplication app(argc, argv);
  applyTheme(app, Theme::Dark);
  NeuralinkViewsTest test;
  return QTest::qExec(&test, argc, argv);
}

#include "neuralink_views_test.moc"

// The Sparsity panel on a random analysis of awkward sizes: curves, attention maps, heatmap views
// and sorting, the heatmap's tiles, hover read-out, pan and zoom, and its frame time at model
// sizes. Screenshots land in <build>/screenshots for a person to look at.
#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QLabel>
#include <QSlider>
#include <QSpinBox>
#include <QTest>
#include <QWheelEvent>
#include <cmath>
#include <qcustomplot.h>
#include <random>

#include "imgui/imgui_widget.h"
#include "sparsity/attention_blocks_view.h"
#include "sparsity/attention_map_plot.h"
#include "sparsity/colormap.h"
#include "sparsity/heatmap_textures.h"
#include "sparsity/heatmap_viewport.h"
#include "sparsity/heatmap_widget.h"
#include "sparsity/sparsity_curves_plot.h"
#include "sparsity/sparsity_matrices.h"
#include "sparsity/sparsity_panel.h"
#include "theme/theme.h"
#include "view_test_util.h"

using namespace darkroom;
using namespace darkroom::views;
using test::saveScreenshot;
using test::waitFrames;

using test::rng;

namespace {

constexpr int kLayers = 5, kNeurons = 300, kTokens = 7, kHeads = 3, kBlocks = 6;

// Sparse-looking data: most activations zero, frequencies skewed, heavy diagonal attention.
SparsityAnalysis randomAnalysis() {
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  SparsityAnalysis a;
  a.options.attention_threshold = 0.5;  // the masses below are made on this scale
  a.sequences = 4;
  a.tokens = 4 * kTokens;
  for (int l = 0; l < kLayers; ++l) {
    LayerSparsity s;
    s.layer = l;
    s.mlp_per_token = 0.80 + 0.15 * unit(rng());
    s.mlp_aggregated_sequence = s.mlp_per_token * (0.3 + 0.3 * unit(rng()));
    s.mlp_aggregated_batch = s.mlp_aggregated_sequence * 0.5 * unit(rng());
    for (std::size_t p = 0; p < a.options.block_p.size(); ++p)
      s.mlp_block_sparsity.push_back(0.1 * double(p + 1) * unit(rng()));
    s.attention_kept_per_head = 0.2 + 0.2 * unit(rng());
    s.attention_kept_shared = 0.5 + 0.3 * unit(rng());
    a.layers.push_back(s);
  }
  a.neuron_frequency = {kLayers, kNeurons, {}};
  for (int i = 0; i < kLayers * kNeurons; ++i) {
    const float u = unit(rng());
    a.neuron_frequency.values.push_back(u < 0.2f ? 0.0f : u * u * u);
  }
  a.sample_tokens = kTokens;
  a.sample_magnitude = {kTokens, kLayers * kNeurons, {}};
  for (int i = 0; i < kTokens * kLayers * kNeurons; ++i) {
    const float u = unit(rng());
    a.sample_magnitude.values.push_back(u < 0.7f ? 0.0f : 4.0f * (u - 0.7f));
  }
  a.heads = kHeads;
  a.attention_blocks = kBlocks;
  for (int m = 0; m < kLayers * kHeads; ++m) {
    Array2D mass{kBlocks, kBlocks, {}};
    for (int q = 0; q < kBlocks; ++q)
      for (int k = 0; k < kBlocks; ++k)
        mass.values.push_back(k > q ? 0.0f : (k == q ? 1.0f : 0.0f) + unit(rng()) * 0.8f);
    a.attention_mass.push_back(mass);
  }
  return a;
}

Array2D randomMatrix(std::int64_t rows, std::int64_t cols) {
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  Array2D m{rows, cols, std::vector<float>(std::size_t(rows * cols))};
  for (float& v : m.values) v = unit(rng()) < 0.8f ? 0.0f : unit(rng());
  return m;
}

bool sameColor(QRgb pixel, const Rgba8& expected) {
  return std::abs(qRed(pixel) - expected.r) <= 2 && std::abs(qGreen(pixel) - expected.g) <= 2 &&
         std::abs(qBlue(pixel) - expected.b) <= 2;
}

Rgba8 expectedColor(const HeatmapWidget& heatmap, float value) {
  return colormapTable()[std::size_t(heatmap.colorScale().position(value) * 255.0f + 0.5f)];
}

void sendWheel(QWidget* widget, QPointF at, int notches, Qt::KeyboardModifiers modifiers = {}) {
  QWheelEvent event(at, widget->mapToGlobal(at), QPoint(), QPoint(0, 120 * notches), Qt::NoButton,
                    modifiers, Qt::NoScrollPhase, false);
  QApplication::sendEvent(widget, &event);
}

}  // namespace

class SparsityViewsTest : public QObject {
  Q_OBJECT

 private:
  SparsityAnalysis analysis_ = randomAnalysis();

 private slots:
  void colormapAndScale() {
    const auto& table = colormapTable();
    QCOMPARE(int(table[0].r), 0x44);
    QCOMPARE(int(table[0].b), 0x54);
    QCOMPARE(int(table[255].g), 0xe7);
    const ColorScale linear(0.0f, 2.0f, false, 1e-3f);
    QCOMPARE(linear.position(1.0f), 0.5f);
    QCOMPARE(linear.position(-5.0f), 0.0f);
    QCOMPARE(linear.position(7.0f), 1.0f);
    QVERIFY(std::isnan(linear.position(NAN)));
    const ColorScale log(0.0f, 100.0f, true, 1.0f);
    QCOMPARE(log.bottom(), 1.0f);
    QCOMPARE(log.position(0.0f), 0.0f);  // zeros cannot be on a log scale: bottom
    QVERIFY(std::abs(log.position(10.0f) - 0.5f) < 1e-6f);
    QCOMPARE(ColorScale(3.0f, 3.0f, false, 1.0f).position(3.0f), 0.5f);
  }

  void tilesCoverTheMatrixOnce() {
    for (const auto& [rows, cols, side] : {std::tuple<int, int, int>{5, 300, 128},
                                           {4096, 11008, 4096},
                                           {32, 11008, 16384},
                                           {7, 7, 7}}) {
      const auto tiles = tileLayout(rows, cols, side);
      std::vector<int> covered(std::size_t(rows) * std::size_t(cols), 0);
      for (const TileRect& t : tiles) {
        QVERIFY(t.rows <= side && t.cols <= side && t.rows > 0 && t.cols > 0);
        for (std::int64_t r = t.row; r < t.row + t.rows; ++r)
          for (std::int64_t c = t.col; c < t.col + t.cols; ++c)
            ++covered[std::size_t(r * cols + c)];
      }
      QVERIFY(std::all_of(covered.begin(), covered.end(), [](int n) { return n == 1; }));
    }
    QCOMPARE(tileLayout(5, 300, 128).size(), std::size_t(3));
    QVERIFY(tileLayout(0, 300, 128).empty());
  }

  void viewportZoomsAroundTheCursorAndStaysInView() {
    HeatmapViewport view;
    view.setCanvasSize(1000, 400);
    view.setExtent(11008, 32);
    QCOMPARE(view.toCanvas({11008, 32}).x, 1000.0);
    QCOMPARE(view.toCanvas({11008, 32}).y, 400.0);
    const Point2 anchor{300, 100};
    const Point2 under = view.toCell(anchor);
    view.zoom(4, 4, anchor);
    QVERIFY(!view.fitted());
    QVERIFY(std::abs(view.toCell(anchor).x - under.x) < 1e-9);
    QVERIFY(std::abs(view.toCell(anchor).y - under.y) < 1e-9);
    QVERIFY(std::abs(view.pixelsPerCell().x - 4 * 1000.0 / 11008) < 1e-9);
    view.zoom(2, 1, anchor);  // columns only
    QVERIFY(std::abs(view.pixelsPerCell().y - 4 * 400.0 / 32) < 1e-9);
    view.pan({-1e9, -1e9});  // dragged far away: the matrix still spans the centre lines
    QVERIFY(view.toCanvas({11008, 32}).x >= 500 - 1e-6);
    QVERIFY(view.toCanvas({11008, 32}).y >= 200 - 1e-6);
    view.setCanvasSize(800, 300);
    QVERIFY(!view.fitted());
    view.fit();
    QCOMPARE(view.visibleMax().x, 11008.0);
  }

  void matricesComeFromTheAnalysis() {
    const Array2D token = tokenMagnitude(analysis_, 4);
    QCOMPARE(token.rows, std::int64_t(kLayers));
    QCOMPARE(token.cols, std::int64_t(kNeurons));
    QCOMPARE(token.at(3, 17), analysis_.sample_magnitude.at(4, 3 * kNeurons + 17));
    QVERIFY(tokenMagnitude(analysis_, kTokens).values.empty());

    const std::vector<int> order = neuronsByMeanFrequency(analysis_);
    QCOMPARE(int(order.size()), kNeurons);
    auto mean = [&](int n) {
      double sum = 0;
      for (int l = 0; l < kLayers; ++l) sum += analysis_.neuron_frequency.at(l, n);
      return sum;
    };
    for (int i = 1; i < kNeurons; ++i) QVERIFY(mean(order[i - 1]) >= mean(order[i]));
    std::vector<int> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < kNeurons; ++i) QCOMPARE(sorted[i], i);

    const Array2D counts = headsKeepingBlocks(analysis_, 2);
    for (int q = 0; q < kBlocks; ++q)
      for (int k = 0; k < kBlocks; ++k) {
        int keeping = 0;
        for (int h = 0; h < kHeads; ++h)
          keeping += analysis_.attention_mass[2 * kHeads + h].at(q, k) > 0.5f;
        QCOMPARE(counts.at(q, k), float(keeping));
      }
  }

  void emptyStateSaysHowToAnalyze() {
    SparsityPanel panel;
    QVERIFY(!panel.analysis());
    QVERIFY(panel.emptyLabel()->isVisibleTo(&panel));
    QVERIFY(panel.emptyLabel()->text().contains("darkroom-cli analyze --model demo-opt"));
    panel.setAnalysis(analysis_, "demo");
    QVERIFY(!panel.emptyLabel()->isVisibleTo(&panel));
    panel.clearAnalysis();
    QVERIFY(panel.emptyLabel()->isVisibleTo(&panel));
    QCOMPARE(panel.curvesPlot()->graphCount(), 0);
  }

  void curvesHaveOneGraphPerSeriesAndAPointPerLayer() {
    SparsityPanel panel;
    panel.setAnalysis(analysis_, "demo");
    QCustomPlot* plot = panel.curvesPlot();
    const int blocks = int(analysis_.options.block_p.size());
    QCOMPARE(plot->graphCount(), 3 + blocks);
    QCOMPARE(plot->legend->itemCount(), 3 + blocks);
    for (int g = 0; g < plot->graphCount(); ++g) {
      QCOMPARE(plot->graph(g)->data()->size(), kLayers);
      QCOMPARE(plot->graph(g)->pen().style(),
               g >= SparsityCurvesPlot::FirstBlock ? Qt::DashLine : Qt::SolidLine);
    }
    const auto* perToken = plot->graph(SparsityCurvesPlot::PerToken);
    const auto* batch = plot->graph(SparsityCurvesPlot::AggregatedBatch);
    QCOMPARE(perToken->channelFillGraph(), batch);  // the shaded shadowy gap
    for (int l = 0; l < kLayers; ++l) {
      QCOMPARE(perToken->data()->at(l)->key, double(l));
      QCOMPARE(perToken->data()->at(l)->value, analysis_.layers[l].mlp_per_token);
      QCOMPARE(batch->data()->at(l)->value, analysis_.layers[l].mlp_aggregated_batch);
      QCOMPARE(plot->graph(SparsityCurvesPlot::FirstBlock + 1)->data()->at(l)->value,
               analysis_.layers[l].mlp_block_sparsity[1]);
    }
    QVERIFY(plot->yAxis->range().lower <= 0 && plot->yAxis->range().upper >= 1);
    QVERIFY(plot->yAxis->range().lower > -0.1 && plot->yAxis->range().upper < 1.1);
  }

  void attentionMapsShowTheChosenHeadAndTheSharedLayout() {
    SparsityPanel panel;
    panel.setAnalysis(analysis_, "demo");
    AttentionBlocksView* view = panel.attentionView();
    QCOMPARE(view->layerSpinBox()->maximum(), kLayers - 1);
    QCOMPARE(view->headSpinBox()->maximum(), kHeads - 1);
    view->layerSpinBox()->setValue(3);
    view->headSpinBox()->setValue(2);
    const Array2D& mass = analysis_.attention_mass[3 * kHeads + 2];
    QCOMPARE(panel.attentionHeadPlot(), view->headPlot());
    QCPColorMapData* head = view->headPlot()->colorMap()->data();
    QCOMPARE(head->keySize(), kBlocks);
    QCOMPARE(head->valueSize(), kBlocks);
    const Array2D counts = headsKeepingBlocks(analysis_, 3);
    QCPColorMapData* shared = view->sharedPlot()->colorMap()->data();
    int kept = 0, causal = 0, union_kept = 0;
    for (int q = 0; q < kBlocks; ++q)
      for (int k = 0; k < kBlocks; ++k) {
        if (k > q) {  // above the diagonal: masked, drawn grey
          QVERIFY(std::isnan(head->cell(k, q)));
          QVERIFY(std::isnan(shared->cell(k, q)));
          continue;
        }
        QCOMPARE(head->cell(k, q), double(mass.at(q, k)));
        QCOMPARE(shared->cell(k, q), double(counts.at(q, k)));
        ++causal;
        kept += mass.at(q, k) > 0.5f;
        union_kept += counts.at(q, k) > 0;
      }
    const QString summary = view->summaryLabel()->text();
    QVERIFY2(summary.contains(QString("%1 of %2 causal blocks").arg(kept).arg(causal)),
             qPrintable(summary));
    QVERIFY2(summary.contains(QString("%1 of %2 causal blocks").arg(union_kept).arg(causal)),
             qPrintable(summary));
    QVERIFY(view->headPlot()->colorMap()->dataRange().upper >= mass.at(0, 0));
  }

  void tokenControlsSpanTheSampleTokens() {
    SparsityPanel panel;
    panel.setAnalysis(analysis_, "demo");
    QSpinBox* token = panel.tokenSpinBox();
    QCOMPARE(token->maximum() - token->minimum() + 1, int(analysis_.sample_tokens));
    QCOMPARE(panel.tokenSlider()->maximum(), token->maximum());
    QVERIFY(!token->isEnabled());  // the frequency view has no tokens
    panel.setHeatmapView(SparsityPanel::HeatmapView::TokenMagnitude);
    QVERIFY(token->isEnabled());
    panel.tokenSlider()->setValue(5);
    QCOMPARE(token->value(), 5);

    SparsityAnalysis noSample = analysis_;
    noSample.sample_tokens = 0;
    noSample.sample_magnitude = {};
    panel.setAnalysis(std::move(noSample), "no sample");
    QCOMPARE(panel.heatmapView(), SparsityPanel::HeatmapView::Frequency);
    QVERIFY(!token->isEnabled());
  }

  void heatmapViewAndSortingChangeTheDisplayedData() {
    SparsityPanel panel;
    panel.setAnalysis(analysis_, "demo");
    QCOMPARE(panel.heatmapMatrix().values, analysis_.neuron_frequency.values);
    const std::vector<int> identity = panel.heatmapColumnOrder();
    for (int i = 0; i < kNeurons; ++i) QCOMPARE(identity[i], i);

    panel.setHeatmapView(SparsityPanel::HeatmapView::TokenMagnitude);
    panel.setToken(3);
    QCOMPARE(panel.heatmapMatrix().values, tokenMagnitude(analysis_, 3).values);
    panel.setToken(6);
    QCOMPARE(panel.heatmapMatrix().values, tokenMagnitude(analysis_, 6).values);

    panel.setSortByFrequency(true);
    QCOMPARE(panel.heatmapColumnOrder(), neuronsByMeanFrequency(analysis_));
    QCOMPARE(panel.heatmapMatrix().values, tokenMagnitude(analysis_, 6).values);
    panel.setHeatmapView(SparsityPanel::HeatmapView::Frequency);
    QCOMPARE(panel.heatmapColumnOrder(), neuronsByMeanFrequency(analysis_));  // sorting stays
    if (HeatmapWidget* heatmap = panel.heatmap()) {
      QCOMPARE(heatmap->matrix().values, analysis_.neuron_frequency.values);
      QCOMPARE(heatmap->columnOrder(), neuronsByMeanFrequency(analysis_));
    }
  }

  void heatmapDrawsEveryTileAndNamesTheHoveredCell() {
    SparsityPanel panel;
    panel.resize(1500, 950);
    panel.setAnalysis(analysis_, "OPT demo · 4 sequences of 7 tokens");
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    HeatmapWidget* heatmap = panel.heatmap();
    if (!heatmap)
      QSKIP("no OpenGL on this Qt platform; run under Xvfb (xvfb-run) to check the heatmap");
    panel.setHeatmapView(SparsityPanel::HeatmapView::TokenMagnitude);
    panel.setToken(2);
    panel.setSortByFrequency(true);
    heatmap->setMaxTileSide(64);  // 300 columns → 5 tiles, as 11008 would be on an 8192 GPU
    QVERIFY(waitFrames(*heatmap, 3));
    QCOMPARE(heatmap->tileCount(), 5);
    QVERIFY(heatmap->maxTextureSize() >= 64);

    // Every tile shows its cells' colours at their place: sample cells on both sides of tile
    // edges, with the mouse away so that no tooltip or outline covers them.
    QTest::mouseMove(heatmap, QPoint(heatmap->width() - 2, 2));
    QVERIFY(waitFrames(*heatmap, 2));
    const QImage frame = heatmap->grabFramebuffer();
    const Array2D token = tokenMagnitude(analysis_, 2);
    const std::vector<int> order = neuronsByMeanFrequency(analysis_);
    const qreal ratio = frame.devicePixelRatio();
    for (const int row : {0, 2, 4})
      for (const int shown : {0, 63, 64, 127, 128, 255, 256, 299}) {
        const QPointF at = heatmap->cellCenter(row, shown) * ratio;
        const float value = token.at(row, order[std::size_t(shown)]);
        const QRgb pixel = frame.pixel(at.toPoint());
        QVERIFY2(sameColor(pixel, expectedColor(*heatmap, value)),
                 qPrintable(QString("row %1 column %2: pixel %3, value %4")
                                .arg(row)
                                .arg(shown)
                                .arg(QColor(pixel).name())
                                .arg(value)));
      }

    const int row = 3, shown = 123;
    const int neuron = order[shown];
    QTest::mouseMove(heatmap, heatmap->cellCenter(row, shown).toPoint());
    QTRY_VERIFY_WITH_TIMEOUT(!heatmap->hoverText().isEmpty(), 3000);
    const QString text = heatmap->hoverText();
    QVERIFY2(text.contains(QString("layer %1,").arg(row)), qPrintable(text));
    QVERIFY2(text.contains(QString("neuron %1 ").arg(neuron)), qPrintable(text));
    QVERIFY2(text.contains(QString("position %1)").arg(shown)), qPrintable(text));
    QVERIFY2(text.contains(QString("value %1").arg(double(token.at(row, neuron)), 0, 'g', 4)),
             qPrintable(text));
    QVERIFY(waitFrames(*heatmap, 2));
    saveScreenshot(&panel, "sparsity_panel_token_sorted");
  }

  void heatmapPansAndZoomsWithTheMouse() {
    if (!ImGuiWidget::platformSupported())
      QSKIP("no OpenGL on this Qt platform; run under Xvfb (xvfb-run) to check the heatmap");
    HeatmapWidget heatmap;
    heatmap.resize(900, 400);
    heatmap.setMatrix(randomMatrix(32, 11008));
    heatmap.show();
    QVERIFY(QTest::qWaitForWindowExposed(&heatmap));
    QVERIFY(waitFrames(heatmap, 3));
    const double cellWidth = heatmap.cellCenter(0, 1).x() - heatmap.cellCenter(0, 0).x();
    const double cellHeight = heatmap.cellCenter(1, 0).y() - heatmap.cellCenter(0, 0).y();

    // Two notches in, around a cell: the cell stays under the cursor. (Whole pixels throughout,
    // as QTest's mouse events have them.)
    const QPointF anchor = heatmap.cellCenter(16, 5000).toPoint();
    QTest::mouseMove(&heatmap, anchor.toPoint());
    QVERIFY(waitFrames(heatmap, 2));
    sendWheel(&heatmap, anchor, 2);
    QVERIFY(waitFrames(heatmap, 3));
    const double zoomedWidth = heatmap.cellCenter(0, 1).x() - heatmap.cellCenter(0, 0).x();
    QVERIFY2(std::abs(zoomedWidth / cellWidth - 1.25 * 1.25) < 1e-3,
             qPrintable(QString::number(zoomedWidth / cellWidth)));
    QVERIFY((heatmap.cellCenter(16, 5000) - anchor).manhattanLength() < 2.0);

    // Ctrl+wheel zooms the rows only.
    sendWheel(&heatmap, anchor, 1, Qt::ControlModifier);
    QVERIFY(waitFrames(heatmap, 3));
    QCOMPARE(heatmap.cellCenter(0, 1).x() - heatmap.cellCenter(0, 0).x(), zoomedWidth);
    const double zoomedHeight = heatmap.cellCenter(1, 0).y() - heatmap.cellCenter(0, 0).y();
    QVERIFY(std::abs(zoomedHeight / cellHeight - 1.25 * 1.25 * 1.25) < 1e-3);

    // A drag moves the content with the mouse.
    const QPointF before = heatmap.cellCenter(16, 5000);
    const QPoint start = anchor.toPoint();
    QTest::mousePress(&heatmap, Qt::LeftButton, {}, start);
    QVERIFY(waitFrames(heatmap, 2));
    QTest::mouseMove(&heatmap, start + QPoint(60, 20));
    QVERIFY(waitFrames(heatmap, 2));
    QTest::mouseRelease(&heatmap, Qt::LeftButton, {}, start + QPoint(60, 20));
    QVERIFY(waitFrames(heatmap, 2));
    const QPointF moved = heatmap.cellCenter(16, 5000) - before;
    QVERIFY2(std::abs(moved.x() - 60) < 1e-3 && std::abs(moved.y() - 20) < 1e-3,
             qPrintable(QString("%1, %2").arg(moved.x()).arg(moved.y())));
    saveScreenshot(&heatmap, "heatmap_zoomed");

    heatmap.fitView();
    QVERIFY(waitFrames(heatmap, 2));
    QVERIFY(std::abs(heatmap.cellCenter(0, 1).x() - heatmap.cellCenter(0, 0).x() - cellWidth) <
            1e-9);
  }

  // Not a benchmark (that is bench/'s job): the numbers are printed for a person to read, and
  // the test asserts only that the frames render.
  void heatmapFrameTimesAtModelSizes() {
    if (!ImGuiWidget::platformSupported())
      QSKIP("no OpenGL on this Qt platform; run under Xvfb (xvfb-run) to time the heatmap");
    for (const auto& [rows, cols] : {std::pair<int, int>{32, 11008}, {4096, 4096}}) {
      HeatmapWidget heatmap;
      heatmap.resize(1200, 600);
      heatmap.show();
      QVERIFY(QTest::qWaitForWindowExposed(&heatmap));
      QVERIFY(waitFrames(heatmap, 2));
      heatmap.setMatrix(randomMatrix(rows, cols));
      QVERIFY(waitFrames(heatmap, 1));
      const double upload = heatmap.lastUploadMs();
      QVERIFY(heatmap.tileCount() >= 1);

      // Steady frames while zoomed in, with the mouse over the matrix (tooltip drawn).
      QTest::mouseMove(&heatmap, heatmap.cellCenter(rows / 2, cols / 2).toPoint());
      sendWheel(&heatmap, heatmap.cellCenter(rows / 2, cols / 2), 3);
      QVERIFY(waitFrames(heatmap, 3));
      // grabFramebuffer() draws a frame and reads it back, which waits for the rasterizer: an
      // upper bound on a whole frame. lastFrameMs() is the CPU side (ImGui + GL submission).
      double cpu = 0;
      constexpr int kFrames = 20;
      const quint64 before = heatmap.frameCount();
      QElapsedTimer wall;
      wall.start();
      for (int i = 0; i < kFrames; ++i) {
        QVERIFY(!heatmap.grabFramebuffer().isNull());
        cpu += heatmap.lastFrameMs();
      }
      const double wallMs = double(wall.nsecsElapsed()) / 1e6 / kFrames;
      QCOMPARE(heatmap.frameCount() - before, quint64(kFrames));
      heatmap.setLogColor(true);
      QVERIFY(waitFrames(heatmap, 1));
      qInfo(
          "heatmap %d x %d (%d tile(s), GL_MAX_TEXTURE_SIZE %d): colour map + upload %.1f ms, "
          "log re-colour + upload %.1f ms; frame %.2f ms CPU, %.2f ms with read-back",
          rows, cols, heatmap.tileCount(), heatmap.maxTextureSize(), upload, heatmap.lastUploadMs(),
          cpu / kFrames, wallMs);
      QVERIFY(!heatmap.hoverText().isEmpty());
      if (rows == 4096) saveScreenshot(&heatmap, "heatmap_4096_log");
    }
  }

  void screenshotsOfThePanel() {
    SparsityPanel panel;
    panel.resize(1500, 950);
    panel.setAnalysis(analysis_, "OPT demo · 4 sequences of 7 tokens");
    panel.attentionView()->showBlocks(1, 0);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    if (panel.heatmap()) QVERIFY(waitFrames(*panel.heatmap(), 3));
    QTest::qWait(50);
    saveScreenshot(&panel, "sparsity_panel_frequency");

    applyTheme(*qApp, Theme::Light);
    panel.applyTheme();
    panel.setSortByFrequency(true);
    if (panel.heatmap()) QVERIFY(waitFrames(*panel.heatmap(), 3));
    QTest::qWait(50);
    saveScreenshot(&panel, "sparsity_panel_light");
    applyTheme(*qApp, Theme::Dark);
    panel.applyTheme();

    SparsityPanel empty;
    empty.resize(900, 500);
    empty.show();
    QVERIFY(QTest::qWaitForWindowExposed(&empty));
    saveScreenshot(&empty, "sparsity_panel_empty");
  }
};

int main(int argc, char** argv) {
  QApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
  QApplication app(argc, argv);
  applyTheme(app, Theme::Dark);  // the application's default
  SparsityViewsTest test;
  return QTest::qExec(&test, argc, argv);
}

#include "sparsity_views_test.moc"

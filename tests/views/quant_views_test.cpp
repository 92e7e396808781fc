// The NPU test-time-scaling panels on hand-built data: the Quantization panel (per-matrix error
// table under QAbstractItemModelTester, sorting, perplexity and size lines, the per-tile error
// heatmap of random tile errors, form errors), the Kernels panel (one graph per GEMV kernel with
// the copy line, softmax bars and their error, run picker), and the Frontier panel (Pareto points
// of a frontier whose front is known, for every cost; hover details; sweep form errors).
// Screenshots of each panel in the dark and light themes land in <build>/screenshots.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QLineEdit>
#include <QCheckBox>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <cmath>
#include <memory>
#include <qcustomplot.h>
#include <random>

#include "darkroom/kernels/backend.h"
#include "darkroom/quant.h"
#include "darkroom/scaling.h"
#include "darkroom/workspace.h"
#include "imgui/imgui_widget.h"
#include "jobs/job_bridge.h"
#include "neuralink/io_bar_chart.h"
#include "quant/frontier_panel.h"
#include "quant/frontier_plot.h"
#include "quant/kernel_bench_form.h"
#include "quant/kernel_charts.h"
#include "quant/kernels_panel.h"
#include "quant/log_ticks.h"
#include "quant/matrix_error_model.h"
#include "quant/number_lists.h"
#include "quant/quant_report_text.h"
#include "quant/quantization_panel.h"
#include "quant/quantize_form.h"
#include "quant/tile_error_view.h"
#include "quant/tts_sweep_form.h"
#include "sparsity/heatmap_widget.h"
#include "theme/theme.h"
#include "view_test_util.h"

using namespace darkroom;
using namespace darkroom::views;
using test::saveScreenshot;
using test::waitFrames;

using test::rng;

namespace {

std::int64_t uniformInt(std::int64_t lo, std::int64_t hi) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng());
}

double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng()); }

// A matrix of awkward shape (not a multiple of 32) with random tile errors and one hot tile.
MatrixQuantError randomMatrix(const std::string& name, const std::string& type) {
  MatrixQuantError m;
  m.name = name;
  m.type = type;
  m.rows = uniformInt(17, 700);
  m.cols = uniformInt(17, 700);
  m.tile_rows = (m.rows + 31) / 32;
  m.tile_cols = (m.cols + 31) / 32;
  for (std::int64_t i = 0; i < m.tile_rows * m.tile_cols; ++i)
    m.tile_rel_error.push_back(float(uniform(0.05, 0.12)));
  m.tile_rel_error[std::size_t(uniformInt(0, m.tile_rows * m.tile_cols - 1))] = 0.3f;
  m.rel_frobenius = uniform(0.01, 0.2);
  m.max_abs = uniform(0.001, 0.5);
  return m;
}

QuantizeReport randomReport() {
  QuantizeReport r;
  r.model = "demo-math-s";
  r.output = "/tmp/workspace/quantized/demo-math-s-tile-q4_0";
  r.layout = "tile";
  r.codes = "q4_0";
  const int layers = int(uniformInt(2, 5));
  double weights = 0;
  for (int l = 0; l < layers; ++l)
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"}) {
      const bool down = std::string(proj) == "down_proj";
      r.matrices.push_back(randomMatrix("model.layers." + std::to_string(l) +
                                            (down || std::string(proj) == "up_proj" ? ".mlp." : ".self_attn.") + proj,
                                        down ? "q8_0" : "q4_0"));
      weights += double(r.matrices.back().rows * r.matrices.back().cols);
    }
  r.bytes_fp32 = std::uint64_t(weights * 4);
  r.bytes_quantized = std::uint64_t(weights * 4.5 / 8);
  r.perplexity = {{"built-in corpus", 8192, 5.4321, 5.5012}, {"/data/eval.txt", 4096, 9.87, 10.12}};
  r.seconds = 2.5;
  r.run_id = 7;
  return r;
}

// Two shapes × the five kernels × five batches: the 4-bit kernels read 1/8 of fp32's bytes, and
// stay flat up to a batch of 8 (free compute), then grow.
KernelBenchReport handBuiltKernelReport() {
  KernelBenchReport r;
  r.backend = "cpu-avx2";
  r.machine = "Test CPU @ 3.0GHz, 16 logical cores";
  r.threads = 16;
  r.copy_gb_per_s = 20;
  r.run_id = 3;
  for (const auto& [rows, cols] : std::vector<std::pair<std::int64_t, std::int64_t>>{{4096, 4096}, {11008, 4096}})
    for (const char* kernel : {"lut-tile", "unpack-tile", "lut-rows", "unpack-rows", "fp32"})
      for (const int batch : {1, 2, 4, 8, 16}) {
        GemvPoint p;
        p.rows = rows;
        p.cols = cols;
        p.batch = batch;
        p.kernel = kernel;
        const double bytes = double(rows * cols) * (std::string(kernel) == "fp32" ? 4.0 : 0.5625);
        const double slow = std::string(kernel).rfind("unpack", 0) == 0 ? 1.5 : 1.0;
        p.seconds = bytes / 18e9 * slow * std::max(1.0, batch / 8.0);
        p.weight_gb_per_s = bytes / p.seconds / 1e9;
        p.fraction_of_copy = p.weight_gb_per_s / r.copy_gb_per_s;
        r.gemv.push_back(p);
      }
  for (const std::int64_t keys : {1024, 4096, 16384})
    for (const char* kernel : {"lut", "float"}) {
      SoftmaxPoint p;
      p.keys = keys;
      p.kernel = kernel;
      p.seconds = double(keys) * (std::string(kernel) == "lut" ? 2e-8 : 5e-8);
      p.max_abs_error = std::string(kernel) == "lut" ? 2.5e-4 * double(keys) / 16384 : 3e-8;
      r.softmax.push_back(p);
    }
  return r;
}

TtsPoint point(const std::string& model, const std::string& method, int n, double accuracy,
               double tokens, double wall, double cpu) {
  TtsPoint p;
  p.model = model;
  p.weights = "tile-q4_0";
  p.method = method;
  p.reward = "verifier";
  p.budget = n;
  p.problems = 100;
  p.solved = std::int64_t(std::lround(accuracy * 100));
  p.accuracy = accuracy;
  p.tokens = tokens;
  p.wall_seconds = wall;
  p.cpu_seconds = cpu;
  p.run_id = 10;
  return p;
}

// A frontier whose Pareto points are worked out by hand for each cost (see the test).
std::vector<TtsPoint> knownFrontier() {
  return {
      point("demo-math-s", "bon", 1, 0.20, 50, 0.5, 1.0),    // 0
      point("demo-math-s", "bon", 2, 0.30, 100, 0.6, 1.2),   // 1
      point("demo-math-s", "bon", 4, 0.35, 200, 0.8, 1.6),   // 2
      point("demo-math-s", "bon", 8, 0.36, 400, 1.2, 2.4),   // 3
      point("demo-math-s", "beam", 1, 0.22, 60, 1.0, 2.0),   // 4
      point("demo-math-s", "beam", 2, 0.38, 130, 1.5, 3.0),  // 5
      point("demo-math-s", "beam", 4, 0.50, 260, 2.5, 5.0),  // 6
      point("demo-math-s", "beam", 8, 0.52, 520, 4.5, 9.0),  // 7
      point("demo-math-m", "bon", 1, 0.40, 80, 2.0, 6.0),    // 8
      point("demo-math-m", "bon", 2, 0.55, 160, 3.0, 9.0),   // 9
      point("demo-math-m", "bon", 4, 0.60, 320, 5.0, 15),    // 10
      point("demo-math-m", "bon", 8, 0.70, 640, 9.0, 27),    // 11
  };
}

std::vector<std::size_t> sorted(std::vector<std::size_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Shows the panel in the dark theme, then the light one, and saves both.
template <typename Panel>
void screenshotsInBothThemes(Panel& panel, const QString& name, ImGuiWidget* gl = nullptr) {
  panel.show();
  QVERIFY(QTest::qWaitForWindowExposed(&panel));
  for (const Theme theme : {Theme::Dark, Theme::Light}) {
    applyTheme(*qApp, theme);
    panel.applyTheme();
    if (gl) QVERIFY(waitFrames(*gl, 3));
    QTest::qWait(50);
    saveScreenshot(&panel, name + (theme == Theme::Dark ? "_dark" : "_light"));
  }
  applyTheme(*qApp, Theme::Dark);
  panel.applyTheme();
}

}  // namespace

class QuantViewsTest : public QObject {
  Q_OBJECT

 private slots:
  void listsParseAndBadEntriesSayWhy() {
    QString error;
    QCOMPARE(parseIntegerList(" 1, 2 4,8 ", 1, 64, "batch sizes", &error),
             (std::vector<std::int64_t>{1, 2, 4, 8}));
    QVERIFY(parseIntegerList("1, two", 1, 64, "batch sizes", &error).empty());
    QVERIFY2(error.contains("\"two\"") && error.contains("batch sizes"), qPrintable(error));
    QVERIFY(parseIntegerList("0", 1, 64, "batch sizes", &error).empty());
    QVERIFY2(error.contains("from 1 to 64"), qPrintable(error));
    QVERIFY(parseIntegerList("  ", 1, 64, "batch sizes", &error).empty());
    QVERIFY(!error.isEmpty());
    const auto shapes = parseShapeList("4096x4096, 11008 × 4096,32*17", &error);
    QCOMPARE(shapes.size(), std::size_t(3));
    QCOMPARE(shapes[1], (std::pair<std::int64_t, std::int64_t>{11008, 4096}));
    QCOMPARE(shapes[2], (std::pair<std::int64_t, std::int64_t>{32, 17}));
    QCOMPARE(joinShapes(shapes), QString("4096x4096, 11008x4096, 32x17"));
    QVERIFY(parseShapeList("4096x4096, 4096", &error).empty());
    QVERIFY2(error.contains("\"4096\"") && error.contains("rows x columns"), qPrintable(error));
    QCOMPARE(parseNameList(" demo-math-s,, /models/my model "), (QStringList{"demo-math-s", "/models/my model"}));
    // Log axes get 1-2-5 ticks, and ranges without two of those get more.
    QCOMPARE(logTickValues(31, 1024), (std::vector<double>{50, 100, 200, 500, 1000}));
    QCOMPARE(logTickValues(0.3, 2.5), (std::vector<double>{0.5, 1, 2}));
    QCOMPARE(logTickValues(1.1, 1.9), (std::vector<double>{1.5}));
  }

  void errorTablePassesTheModelTesterAndSortsByNumber() {
    MatrixErrorModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSortFilterProxyModel sorted;
    sorted.setSourceModel(&model);
    sorted.setSortRole(MatrixErrorModel::SortRole);
    QAbstractItemModelTester sortedTester(&sorted, QAbstractItemModelTester::FailureReportingMode::QtTest);
    const QuantizeReport report = randomReport();
    model.setMatrices(report.matrices);
    QCOMPARE(model.rowCount(), int(report.matrices.size()));
    QCOMPARE(model.columnCount(), int(MatrixErrorModel::Columns));
    const auto& m0 = report.matrices[0];
    QCOMPARE(model.index(0, MatrixErrorModel::Name).data().toString(),
             QString::fromStdString(m0.name).mid(6));  // without "model."
    QCOMPARE(model.index(0, MatrixErrorModel::Name).data(Qt::ToolTipRole).toString(),
             QString::fromStdString(m0.name));
    QCOMPARE(shortMatrixName("model.layers.3.self_attn.k_proj.weight"), QString("layers.3.self_attn.k_proj"));
    QCOMPARE(shortMatrixName("decoder.layers.0.fc1.weight"), QString("decoder.layers.0.fc1"));
    QCOMPARE(model.index(0, MatrixErrorModel::Shape).data().toString(),
             QString("%1 × %2").arg(m0.rows).arg(m0.cols));
    QCOMPARE(model.index(0, MatrixErrorModel::RelFrobenius).data(MatrixErrorModel::SortRole).toDouble(),
             m0.rel_frobenius);

    auto column = [&](int c) {
      std::vector<double> values;
      for (int r = 0; r < sorted.rowCount(); ++r)
        values.push_back(sorted.index(r, c).data(MatrixErrorModel::SortRole).toDouble());
      return values;
    };
    sorted.sort(MatrixErrorModel::RelFrobenius, Qt::DescendingOrder);
    auto rel = column(MatrixErrorModel::RelFrobenius);
    QVERIFY(std::is_sorted(rel.rbegin(), rel.rend()));
    sorted.sort(MatrixErrorModel::MaxAbs, Qt::AscendingOrder);
    auto maxAbs = column(MatrixErrorModel::MaxAbs);
    QVERIFY(std::is_sorted(maxAbs.begin(), maxAbs.end()));
    // Shapes sort by element count, not by their text ("700 × 20" < "99 × 99" as text).
    sorted.sort(MatrixErrorModel::Shape, Qt::AscendingOrder);
    std::vector<std::int64_t> elements;
    for (int r = 0; r < sorted.rowCount(); ++r) {
      const auto* m = model.matrixAt(sorted.mapToSource(sorted.index(r, 0)).row());
      elements.push_back(m->rows * m->cols);
    }
    QVERIFY(std::is_sorted(elements.begin(), elements.end()));
    sorted.sort(MatrixErrorModel::Name, Qt::AscendingOrder);
    QStringList names;
    for (int r = 0; r < sorted.rowCount(); ++r) names << sorted.index(r, 0).data(MatrixErrorModel::SortRole).toString();
    QVERIFY(std::is_sorted(names.begin(), names.end()));
    model.clear();
    QCOMPARE(sorted.rowCount(), 0);
  }

  void tileErrorsFollowTheMatrixShape() {
    for (int trial = 0; trial < 20; ++trial) {
      const MatrixQuantError m = randomMatrix("w", "q4_0");
      const Array2D tiles = tileErrorMatrix(m);
      QCOMPARE(tiles.rows, (m.rows + 31) / 32);
      QCOMPARE(tiles.cols, (m.cols + 31) / 32);
      const std::int64_t r = uniformInt(0, tiles.rows - 1), c = uniformInt(0, tiles.cols - 1);
      QCOMPARE(tiles.at(r, c), m.tile_rel_error[std::size_t(r * tiles.cols + c)]);
      const WorstTile worst = worstTile(tiles);
      QCOMPARE(worst.error, 0.3f);
      QCOMPARE(tiles.at(worst.row, worst.col), 0.3f);
      QVERIFY(worst.mean > 0.05 && worst.mean < 0.3);
    }
    // A report whose tiles do not cover the matrix is not drawn.
    MatrixQuantError bad = randomMatrix("w", "q4_0");
    bad.tile_rel_error.pop_back();
    QVERIFY(tileErrorMatrix(bad).values.empty());
    bad = randomMatrix("w", "q4_0");
    bad.tile_cols += 1;
    QVERIFY(tileErrorMatrix(bad).values.empty());
  }

  void quantizationPanelShowsAReport() {
    QuantizationPanel panel(nullptr);
    panel.resize(1500, 800);
    QCOMPARE(panel.shownMatrix(), -1);
    const QuantizeReport report = randomReport();
    panel.setReport(report);
    QCOMPARE(panel.sortedModel()->rowCount(), int(report.matrices.size()));
    // The worst matrix first, and its tiles on the heatmap.
    double worst = 0;
    int worstIndex = 0;
    for (std::size_t i = 0; i < report.matrices.size(); ++i)
      if (report.matrices[i].rel_frobenius > worst) worst = report.matrices[worstIndex = int(i)].rel_frobenius;
    QCOMPARE(panel.shownMatrix(), worstIndex);
    QCOMPARE(panel.tileView()->tiles().values, report.matrices[std::size_t(worstIndex)].tile_rel_error);
    QVERIFY2(panel.tileView()->detailText().contains("0.3000"), qPrintable(panel.tileView()->detailText()));
    if (HeatmapWidget* heatmap = panel.tileView()->heatmap())
      QCOMPARE(heatmap->matrix().rows, report.matrices[std::size_t(worstIndex)].tile_rows);
    // Selecting another row shows that matrix.
    panel.selectRow(3);
    const int source = panel.sortedModel()->mapToSource(panel.sortedModel()->index(3, 0)).row();
    QCOMPARE(panel.shownMatrix(), source);
    QCOMPARE(panel.tileView()->tiles().cols, report.matrices[std::size_t(source)].tile_cols);
    // Perplexity per source, float32 next to quantized, and bits per weight.
    QVERIFY2(panel.perplexityText().contains("built-in corpus (8192 tokens): perplexity float32 5.432 → "
                                             "quantized 5.501 (+1.27 %)"),
             qPrintable(panel.perplexityText()));
    QVERIFY(panel.perplexityText().contains("/data/eval.txt"));
    QVERIFY(std::abs(bitsPerWeight(report) - 4.5) < 1e-3);
    QVERIFY2(panel.sizeText().startsWith("4.50 bits/weight") && panel.sizeText().contains("7.1× smaller"),
             qPrintable(panel.sizeText()));
    // An empty report clears everything.
    panel.setReport({});
    QCOMPARE(panel.sortedModel()->rowCount(), 0);
    QCOMPARE(panel.shownMatrix(), -1);
    QVERIFY(panel.tileView()->tiles().values.empty());
  }

  void quantizeFormErrorsAreShown() {
    QuantizationPanel panel(nullptr);
    // Without a workspace nothing runs, and the button says why.
    QVERIFY(!panel.quantizeButton()->isEnabled());
    QCOMPARE(panel.quantize(), std::uint64_t(0));
    QVERIFY2(panel.message().contains("workspace"), qPrintable(panel.message()));

    QTemporaryDir dir;
    auto ws = Workspace::create(dir.filePath("ws").toStdString());
    JobBridge jobs(1);
    QuantizationPanel withJobs(&jobs);
    withJobs.setWorkspace(&ws);
    QVERIFY(withJobs.quantizeButton()->isEnabled());
    QuantizeForm* form = withJobs.form();
    form->evalTextEdit()->setText(dir.filePath("missing.txt"));
    QCOMPARE(withJobs.quantize(), std::uint64_t(0));
    QVERIFY2(withJobs.message().contains("missing.txt") && withJobs.message().contains("does not exist"),
             qPrintable(withJobs.message()));
    form->evalTextEdit()->clear();
    form->q8Edit()->setText("mlp.down_proj, fc 2!");
    QCOMPARE(withJobs.quantize(), std::uint64_t(0));
    QVERIFY2(withJobs.message().contains("\"fc 2!\""), qPrintable(withJobs.message()));
    QVERIFY(!withJobs.busy());

    // The form round-trips the options.
    QuantizeOptions o;
    o.model = "demo-math-m";
    o.layout = "rows";
    o.codes = "iq4_nl";
    o.q8_modules = {"fc2"};
    form->setOptions(o);
    const QuantizeOptions back = form->options();
    QCOMPARE(back.model, o.model);
    QCOMPARE(back.layout, o.layout);
    QCOMPARE(back.codes, o.codes);
    QCOMPARE(back.q8_modules, o.q8_modules);
    QVERIFY(back.eval_text.empty());
    QVERIFY(form->problem().isEmpty());
    // A folder that is gone is named.
    o.model = dir.filePath("no-such-model").toStdString();
    form->setOptions(o);
    QCOMPARE(form->options().model, o.model);
    QVERIFY2(form->problem().contains("no-such-model"), qPrintable(form->problem()));
    // A report folder that is not one says so and keeps what was shown.
    withJobs.setReport(randomReport());
    QVERIFY(!withJobs.openReport(dir.filePath("nothing-here")));
    QVERIFY2(withJobs.message().contains("nothing-here"), qPrintable(withJobs.message()));
    QVERIFY(withJobs.sortedModel()->rowCount() > 0);
  }

  void kernelsPanelDrawsAReport() {
    KernelsPanel panel(nullptr);
    panel.resize(1500, 800);
    const KernelBenchReport report = handBuiltKernelReport();
    panel.setMetric(GemvMetric::WeightBandwidth);
    panel.setReport(report);
    GemvChart* chart = panel.gemvChart();
    QVERIFY2(panel.summaryText().startsWith("cpu-avx2 on Test CPU @ 3.0GHz, 16 logical cores, 16 threads · "
                                            "copy bandwidth 20.0 GB/s"),
             qPrintable(panel.summaryText()));
    QCOMPARE(panel.shapeBox()->count(), 2);
    QCOMPARE(chart->kernelGraphCount(), 5);
    QCOMPARE(chart->graphCount(), 6);  // five kernels and the copy line
    for (const QString& kernel : knownGemvKernels()) {
      QCPGraph* graph = chart->kernelGraph(kernel);
      QVERIFY2(graph, qPrintable(kernel));
      QCOMPARE(graph->dataCount(), 5);
      // Batch 1 of the first shape.
      const auto it = std::find_if(report.gemv.begin(), report.gemv.end(), [&](const GemvPoint& p) {
        return p.rows == 4096 && p.batch == 1 && QString::fromStdString(p.kernel) == kernel;
      });
      QCOMPARE(graph->data()->at(0)->key, 1.0);
      QCOMPARE(graph->data()->at(0)->value, it->weight_gb_per_s);
    }
    QCOMPARE(chart->referenceGraph()->data()->at(0)->value, 20.0);
    QVERIFY(chart->referenceGraph()->name().contains("copy 20.0 GB/s"));
    // Time per call: microseconds, flat up to batch 8 for the LUT kernel, and the 4-bit floor.
    panel.setMetric(GemvMetric::TimePerCall);
    QCPGraph* lut = chart->kernelGraph("lut-tile");
    QCOMPARE(lut->data()->at(3)->value, lut->data()->at(0)->value);
    QVERIFY(lut->data()->at(4)->value > 1.9 * lut->data()->at(0)->value);
    QCOMPARE(lut->data()->at(0)->value, 4096.0 * 4096 * 0.5625 / 18e9 * 1e6);
    QCOMPARE(chart->referenceGraph()->data()->at(0)->value, 4096.0 * 128 * 18 / 20e9 * 1e6);
    QVERIFY(chart->title().contains("4096 × 4096"));
    panel.setShape(1);
    QVERIFY(chart->title().contains("11008 × 4096"));
    QCOMPARE(chart->kernelGraph("fp32")->data()->at(0)->value, 11008.0 * 4096 * 4 / 18e9 * 1e6);

    // Softmax bars: KV lengths along x, LUT and float, in µs; the worst error is said.
    IoBarChart* bars = panel.softmaxChart();
    QCOMPARE(bars->seriesCount(), 2);
    QCOMPARE(bars->value(0, 2), 16384 * 2e-8 * 1e6);  // µs: the longest bar is under 1 ms
    QVERIFY2(panel.softmaxErrorLine().contains("lut 2.5e-04") && panel.softmaxErrorLine().contains("float 3.0e-08"),
             qPrintable(panel.softmaxErrorLine()));
    // A report without GEMV points says so instead of drawing stale curves.
    KernelBenchReport softmaxOnly = report;
    softmaxOnly.gemv.clear();
    panel.setReport(softmaxOnly);
    QCOMPARE(chart->kernelGraphCount(), 0);
    QVERIFY(chart->title().contains("No GEMV"));
  }

  void kernelFormErrorsAreShown() {
    QTemporaryDir dir;
    auto ws = Workspace::create(dir.filePath("ws").toStdString());
    JobBridge jobs(1);
    KernelsPanel panel(&jobs);
    panel.setWorkspace(&ws);
    // No runs stored yet: the picker says so.
    QCOMPARE(panel.runPicker()->count(), 1);
    QVERIFY(!panel.runPicker()->isEnabled());
    KernelBenchForm* form = panel.form();
    form->shapesEdit()->setText("4096x4096, 4096");
    QCOMPARE(panel.run(), std::uint64_t(0));
    QVERIFY2(panel.message().contains("\"4096\""), qPrintable(panel.message()));
    form->shapesEdit()->setText("64x96");
    form->batchesEdit()->setText("1, 0");
    QCOMPARE(panel.run(), std::uint64_t(0));
    QVERIFY2(panel.message().contains("batch sizes"), qPrintable(panel.message()));
    form->batchesEdit()->setText("1, 3");
    form->kvEdit()->setText("");
    QCOMPARE(panel.run(), std::uint64_t(0));
    QVERIFY2(panel.message().contains("KV lengths"), qPrintable(panel.message()));
    form->kvEdit()->setText("100");
    QVERIFY(form->problem().isEmpty());
    const KernelBenchOptions o = form->options();
    QCOMPARE(o.shapes, (std::vector<std::pair<std::int64_t, std::int64_t>>{{64, 96}}));
    QCOMPARE(o.batches, (std::vector<int>{1, 3}));
    QCOMPARE(o.kv_lengths, (std::vector<std::int64_t>{100}));
  }

  // The real path: a tiny benchmark measured as a job through the panel, stored as a kbench run,
  // listed in the run picker and shown again from the store.
  void kernelsPanelRunsAndStoresATinyBenchmark() {
    QTemporaryDir dir;
    auto ws = Workspace::create(dir.filePath("ws").toStdString());
    JobBridge jobs(1);
    KernelsPanel panel(&jobs);
    panel.setWorkspace(&ws);
    KernelBenchForm* form = panel.form();
    // The SIMD kernels where this CPU has them (the panel's default), else the reference ones.
    const bool simd = kernels::backendAvailable(kernels::Backend::Cpu);
    form->backendBox()->setCurrentIndex(form->backendBox()->findData(simd ? "cpu" : "reference"));
    form->shapesEdit()->setText("64x96, 40x33");
    form->batchesEdit()->setText("1, 3");
    form->kvEdit()->setText("100");
    form->secondsBox()->setValue(0.01);
    QVERIFY(panel.run() != 0);
    QVERIFY(panel.busy());
    QTRY_VERIFY_WITH_TIMEOUT(!panel.busy(), 120000);
    const KernelBenchReport& report = panel.report();
    QVERIFY2(report.run_id > 0, qPrintable(panel.message()));
    QCOMPARE(report.gemv.size(), std::size_t(2 * 5 * 2));  // shapes × kernels × batches
    QCOMPARE(report.softmax.size(), std::size_t(2));        // lut and float at 100 keys
    QCOMPARE(panel.shapeBox()->count(), 2);
    QCOMPARE(panel.gemvChart()->kernelGraphCount(), 5);
    for (const QString& kernel : knownGemvKernels())
      QCOMPARE(panel.gemvChart()->kernelGraph(kernel)->dataCount(), 2);
    QCOMPARE(panel.softmaxChart()->seriesCount(), 2);
    QVERIFY(report.copy_gb_per_s > 0);
    QCOMPARE(QString::fromStdString(report.backend), QString(simd ? "cpu-avx2" : "reference"));
    QVERIFY(panel.softmaxErrorLine().contains("lut"));
    // The run is listed, and showing it from the store gives the same points.
    QCOMPARE(panel.runPicker()->count(), 2);
    QCOMPARE(panel.runPicker()->currentData().toLongLong(), qlonglong(report.run_id));
    const auto firstSeconds = report.gemv.front().seconds;
    const auto id = report.run_id;
    panel.setReport({});
    QVERIFY(panel.showRun(id) != 0);
    QTRY_VERIFY_WITH_TIMEOUT(!panel.busy(), 20000);
    QCOMPARE(panel.report().run_id, id);
    QCOMPARE(panel.report().gemv.size(), std::size_t(20));
    QCOMPARE(panel.report().gemv.front().seconds, firstSeconds);
    QCOMPARE(panel.gemvChart()->kernelGraphCount(), 5);
    panel.resize(1500, 700);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QTest::qWait(50);
    saveScreenshot(&panel, "kernels_panel_measured");
  }

  void frontierHighlightsTheKnownParetoPoints() {
    FrontierPanel panel(nullptr);
    panel.resize(1500, 800);
    panel.setPoints(knownFrontier());
    FrontierPlot* plot = panel.plot();
    QCOMPARE(plot->seriesCount(), 3);  // s·bon, s·beam, m·bon
    QCOMPARE(plot->seriesGraph("demo-math-s", "beam")->dataCount(), 4);
    QVERIFY(!plot->seriesGraph("demo-math-m", "beam"));
    // One colour per model, one marker per method.
    QCOMPARE(plot->seriesGraph("demo-math-s", "bon")->scatterStyle().brush().color(),
             plot->seriesGraph("demo-math-s", "beam")->scatterStyle().brush().color());
    QVERIFY(plot->seriesGraph("demo-math-s", "bon")->scatterStyle().brush().color() !=
            plot->seriesGraph("demo-math-m", "bon")->scatterStyle().brush().color());
    QVERIFY(plot->seriesGraph("demo-math-s", "bon")->scatterStyle().shape() !=
            plot->seriesGraph("demo-math-s", "beam")->scatterStyle().shape());
    QCOMPARE(modelDisplayName("/work/models/demo-math-m/"), QString("demo-math-m"));
    QCOMPARE(modelDisplayName("demo-math-s"), QString("demo-math-s"));
    QCOMPARE(plot->pointLabels().size(), 12);
    QCOMPARE(plot->pointLabels()[6], QString("N=4"));

    // Tokens: the front worked out by hand.
    QCOMPARE(sorted(plot->pareto()), (std::vector<std::size_t>{0, 4, 8, 9, 10, 11}));
    QCOMPARE(plot->paretoMarkers()->dataCount(), 6);
    // The staircase: cheapest first, carried to the right edge.
    QCOMPARE(plot->paretoLine()->dataCount(), 7);
    QCOMPARE(plot->paretoLine()->lineStyle(), QCPGraph::lsStepLeft);
    QCOMPARE(plot->paretoLine()->data()->at(0)->key, 50.0);
    QCOMPARE(plot->paretoLine()->data()->at(2)->value, 40.0);
    QCOMPARE(plot->paretoLine()->data()->at(6)->value, 70.0);
    QVERIFY2(panel.paretoSummary().contains("demo-math-m Best-of-N N=8 (70.0 %, 640 tokens)"),
             qPrintable(panel.paretoSummary()));
    // Wall time and CPU time have their own fronts.
    panel.setCost(FrontierCost::WallTime);
    QCOMPARE(sorted(plot->pareto()), (std::vector<std::size_t>{0, 1, 2, 3, 5, 6, 8, 9, 10, 11}));
    QCOMPARE(plot->paretoMarkers()->dataCount(), 10);
    panel.setCost(FrontierCost::CpuTime);
    QCOMPARE(sorted(plot->pareto()), (std::vector<std::size_t>{0, 1, 2, 3, 5, 6, 9, 10, 11}));
    QVERIFY(plot->xAxis->label().contains("CPU"));
    panel.setCost(FrontierCost::Tokens);
  }

  void frontierOfRandomPointsRingsTheUndominatedOnes() {
    FrontierPlot plot;
    for (int trial = 0; trial < 10; ++trial) {
      std::vector<TtsPoint> points;
      const int n = int(uniformInt(1, 40));
      for (int i = 0; i < n; ++i)
        // Few distinct values, so that ties in cost and accuracy happen.
        points.push_back(point(i % 2 ? "a" : "b", i % 3 ? "bon" : "beam", 1 << (i % 5),
                               double(uniformInt(0, 10)) / 10, double(uniformInt(1, 12)) * 10, 1, 1));
      plot.setPoints(points, FrontierCost::Tokens);
      std::vector<std::size_t> expected;
      for (std::size_t i = 0; i < points.size(); ++i) {
        bool beaten = false;
        for (const auto& q : points)
          beaten |= q.tokens <= points[i].tokens && q.accuracy >= points[i].accuracy &&
                    (q.tokens < points[i].tokens || q.accuracy > points[i].accuracy);
        if (!beaten) expected.push_back(i);
      }
      QCOMPARE(sorted(plot.pareto()), expected);
      QCOMPARE(plot.paretoMarkers()->dataCount(), int(expected.size()));
      // Ringed points sit where the points are drawn.
      for (const std::size_t i : plot.pareto())
        QVERIFY(plot.paretoMarkers()->data()->findBegin(points[i].tokens, false)->key == points[i].tokens);
    }
    plot.setPoints({}, FrontierCost::Tokens);
    QCOMPARE(plot.graphCount(), 0);
    QVERIFY(plot.pareto().empty());
  }

  void hoveringAPointShowsItsDetails() {
    FrontierPanel panel(nullptr);
    panel.resize(1500, 800);
    panel.setPoints(knownFrontier());
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    FrontierPlot* plot = panel.plot();
    plot->replot();
    const QPoint at = plot->pointPosition(6).toPoint();
    QCOMPARE(plot->pointAt(at), 6);
    QTest::mouseMove(plot, at);
    QTRY_VERIFY(!plot->hoverText().isEmpty());
    QVERIFY2(plot->hoverText().contains("demo-math-s · tile-q4_0 · beam search · N = 4") &&
                 plot->hoverText().contains("accuracy 50.0 % (50 of 100 problems)") &&
                 plot->hoverText().contains("260 tokens"),
             qPrintable(plot->hoverText()));
    QVERIFY(!plot->hoverText().contains("Pareto"));
    QTest::mouseMove(plot, plot->pointPosition(11).toPoint());
    QTRY_VERIFY(plot->hoverText().contains("on the Pareto front"));
    QTest::mouseMove(plot, plot->pointPosition(11).toPoint() + QPoint(40, 40));
    QTRY_VERIFY(plot->hoverText().isEmpty());
  }

  void sweepFormErrorsAreShown() {
    QTemporaryDir dir;
    auto ws = Workspace::create(dir.filePath("ws").toStdString());
    JobBridge jobs(1);
    FrontierPanel panel(&jobs);
    panel.setWorkspace(&ws);
    QTRY_VERIFY(!panel.busy());  // the refresh of an empty workspace
    TtsSweepForm* form = panel.form();
    form->modelsEdit()->setText("demo-math-s, no-such-model");
    QCOMPARE(panel.runSweep(), std::uint64_t(0));
    QVERIFY2(panel.message().contains("\"no-such-model\""), qPrintable(panel.message()));
    form->modelsEdit()->setText("demo-math-s");
    form->bestOfNBox()->setChecked(false);
    form->beamBox()->setChecked(false);
    QCOMPARE(panel.runSweep(), std::uint64_t(0));
    QVERIFY2(panel.message().contains("method"), qPrintable(panel.message()));
    form->beamBox()->setChecked(true);
    form->budgetsEdit()->setText("1, 4, 100000");
    QCOMPARE(panel.runSweep(), std::uint64_t(0));
    QVERIFY2(panel.message().contains("\"100000\""), qPrintable(panel.message()));
    form->budgetsEdit()->setText("1 4");
    form->weightsBox()->setCurrentIndex(form->weightsBox()->findData("float32"));
    QVERIFY(form->problem().isEmpty());
    const TtsOptions o = form->options();
    QCOMPARE(o.models, (std::vector<std::string>{"demo-math-s"}));
    QCOMPARE(o.methods, (std::vector<std::string>{"beam"}));
    QCOMPARE(o.budgets, (std::vector<int>{1, 4}));
    QCOMPARE(o.weights, std::string("float32"));
    QCOMPARE(o.reward, std::string("verifier"));
    // What only the engine knows is checked by the engine's own validation.
    TtsOptions odd = o;
    odd.weights = "tile-q5_k";
    form->setOptions(odd);
    QCOMPARE(form->options().weights, std::string("tile-q5_k"));
    QVERIFY2(form->problem().contains("q5_k"), qPrintable(form->problem()));
  }

  void screenshotsOfThePanels() {
    QuantizationPanel quant(nullptr);
    quant.resize(1500, 760);
    quant.setReport(randomReport());
    screenshotsInBothThemes(quant, "quantization_panel", quant.tileView()->heatmap());

    KernelsPanel kernels(nullptr);
    kernels.resize(1500, 700);
    kernels.setReport(handBuiltKernelReport());
    kernels.setMetric(GemvMetric::TimePerCall);
    screenshotsInBothThemes(kernels, "kernels_panel");
    kernels.setMetric(GemvMetric::WeightBandwidth);
    QTest::qWait(20);
    saveScreenshot(&kernels, "kernels_panel_bandwidth");

    FrontierPanel frontier(nullptr);
    frontier.resize(1500, 700);
    frontier.setPoints(knownFrontier());
    screenshotsInBothThemes(frontier, "frontier_panel");
  }
};

int main(int argc, char** argv) {
  QApplication::setAttribute(Qt::AA_ShareOpenGLContexts);
  QApplication app(argc, argv);
  applyTheme(app, Theme::Dark);
  QuantViewsTest test;
  return QTest::qExec(&test, argc, argv);
}

#include "quant_views_test.moc"

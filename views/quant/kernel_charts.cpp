#include "quant/kernel_charts.h"

#include "plot/curve_style.h"
#include "quant/log_ticks.h"

#include <QApplication>
#include <QPalette>

#include <algorithm>
#include <climits>
#include <limits>
#include <cmath>
#include <map>

namespace darkroom::views {

namespace {

// Fixed colours, so a kernel keeps its colour across shapes and runs: the LUT kernels in the
// strong hues, float32 in grey; row-major layouts dashed.
QColor kernelColor(const QString& kernel, int index) {
  static const std::map<QString, int> known = {
      {"lut-tile", 0}, {"unpack-tile", 1}, {"lut-rows", 2}, {"unpack-rows", 3}, {"fp32", 7}};
  const auto it = known.find(kernel);
  return seriesColor(it != known.end() ? it->second : 4 + index);
}

QString kvLabel(std::int64_t keys) {
  if (keys >= 1024 && keys % 1024 == 0) return QStringLiteral("%1K").arg(keys / 1024);
  return QString::number(keys);
}

}  // namespace

const QStringList& knownGemvKernels() {
  static const QStringList names = {"lut-tile", "unpack-tile", "lut-rows", "unpack-rows", "fp32"};
  return names;
}

std::vector<std::pair<std::int64_t, std::int64_t>> gemvShapes(const KernelBenchReport& report) {
  std::vector<std::pair<std::int64_t, std::int64_t>> shapes;
  for (const auto& p : report.gemv) {
    const std::pair<std::int64_t, std::int64_t> shape{p.rows, p.cols};
    if (std::find(shapes.begin(), shapes.end(), shape) == shapes.end()) shapes.push_back(shape);
  }
  return shapes;
}

double fourBitReadSeconds(const KernelBenchReport& report, std::int64_t rows, std::int64_t cols) {
  if (report.copy_gb_per_s <= 0) return 0;
  // 4-bit codes and one fp16 scale per 32 weights: 18 bytes per group.
  const double bytes = double(rows) * double((cols + 31) / 32) * 18.0;
  return bytes / (report.copy_gb_per_s * 1e9);
}

SoftmaxBars softmaxBars(const KernelBenchReport& report) {
  SoftmaxBars bars;
  std::vector<std::int64_t> keys;
  double longest = 0;
  for (const auto& p : report.softmax) {
    if (std::find(keys.begin(), keys.end(), p.keys) == keys.end()) keys.push_back(p.keys);
    const QString kernel = QString::fromStdString(p.kernel);
    if (!bars.series.contains(kernel)) bars.series << kernel;
    longest = std::max(longest, p.seconds);
  }
  std::sort(keys.begin(), keys.end());
  for (const auto k : keys) bars.categories << kvLabel(k);
  const bool ms = longest >= 1e-3;
  bars.unit = ms ? QStringLiteral("ms") : QStringLiteral("µs");
  bars.scale = ms ? 1e3 : 1e6;
  bars.values.assign(std::size_t(bars.series.size()),
                     std::vector<double>(keys.size(), std::nan("")));
  for (const auto& p : report.softmax) {
    const auto s = bars.series.indexOf(QString::fromStdString(p.kernel));
    const auto c = std::find(keys.begin(), keys.end(), p.keys) - keys.begin();
    bars.values[std::size_t(s)][std::size_t(c)] = p.seconds * bars.scale;
  }
  return bars;
}

QString softmaxErrorText(const KernelBenchReport& report) {
  std::vector<std::pair<QString, double>> worst;
  for (const auto& p : report.softmax) {
    const QString kernel = QString::fromStdString(p.kernel);
    auto it = std::find_if(worst.begin(), worst.end(), [&](const auto& w) { return w.first == kernel; });
    if (it == worst.end())
      worst.emplace_back(kernel, p.max_abs_error);
    else
      it->second = std::max(it->second, p.max_abs_error);
  }
  if (worst.empty()) return {};
  QStringList parts;
  for (const auto& [kernel, error] : worst)
    parts << QStringLiteral("%1 %2").arg(kernel, QString::number(error, 'e', 1));
  return QObject::tr("max |error| of the probabilities vs double precision: %1")
      .arg(parts.join(QStringLiteral(" · ")));
}

GemvChart::GemvChart(QWidget* parent) : QCustomPlot(parent) {
  setMinimumSize(360, 260);
  plotLayout()->insertRow(0);
  title_ = new QCPTextElement(this, QString());
  plotLayout()->addElement(0, 0, title_);
  xAxis->setScaleType(QCPAxis::stLogarithmic);
  xAxis->setLabel(tr("batch size (vectors per call)"));
  // The legend in a column of its own right of the axes: inside, it would cover the curves of
  // one corner or another, depending on the machine.
  auto* legendColumn = new QCPLayoutGrid;
  plotLayout()->addElement(1, 1, legendColumn);
  axisRect()->insetLayout()->take(legend);
  legendColumn->addElement(0, 0, legend);
  legendColumn->addElement(1, 0, new QCPLayoutElement(this));  // pushes the legend to the top
  legendColumn->setRowStretchFactor(0, 0.001);
  legendColumn->setMargins(QMargins(0, 0, 8, 0));
  plotLayout()->setColumnStretchFactor(1, 0.001);
  legend->setVisible(true);
  applyTheme();
  clearChart(tr("GEMV: run the benchmark or pick a stored run"));
}

void GemvChart::clearChart(const QString& why) {
  clearGraphs();
  kernels_.clear();
  reference_ = nullptr;
  title_->setText(why);
  legend->setVisible(false);
  replot();
}

void GemvChart::setReport(const KernelBenchReport& report,
                          std::pair<std::int64_t, std::int64_t> shape, GemvMetric metric) {
  std::vector<const GemvPoint*> points;
  for (const auto& p : report.gemv)
    if (p.rows == shape.first && p.cols == shape.second) points.push_back(&p);
  if (points.empty()) {
    clearChart(tr("No GEMV points of %1 × %2 in this run").arg(shape.first).arg(shape.second));
    return;
  }
  clearGraphs();
  kernels_.clear();
  reference_ = nullptr;
  QStringList order = knownGemvKernels();
  for (const auto* p : points)
    if (!order.contains(QString::fromStdString(p->kernel))) order << QString::fromStdString(p->kernel);

  const bool time = metric == GemvMetric::TimePerCall;
  auto valueOf = [time](const GemvPoint& p) { return time ? p.seconds * 1e6 : p.weight_gb_per_s; };
  int lowBatch = INT_MAX, highBatch = 1;
  double top = 0, bottom = std::numeric_limits<double>::infinity();
  QVector<double> ticks;
  for (int k = 0; k < order.size(); ++k) {
    std::vector<const GemvPoint*> mine;
    for (const auto* p : points)
      if (QString::fromStdString(p->kernel) == order[k]) mine.push_back(p);
    if (mine.empty()) continue;
    std::sort(mine.begin(), mine.end(), [](auto* a, auto* b) { return a->batch < b->batch; });
    auto* graph = addGraph();
    graph->setName(order[k]);
    const QColor color = kernelColor(order[k], k);
    const bool rows = order[k].endsWith(QStringLiteral("-rows"));
    graph->setPen(QPen(color, 2, rows ? Qt::DashLine : Qt::SolidLine));
    graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, color, color, 6));
    for (const auto* p : mine) {
      graph->addData(p->batch, valueOf(*p));
      top = std::max(top, valueOf(*p));
      bottom = std::min(bottom, valueOf(*p));
      lowBatch = std::min(lowBatch, p->batch);
      highBatch = std::max(highBatch, p->batch);
      if (!ticks.contains(p->batch)) ticks << p->batch;
    }
    kernels_.emplace_back(order[k], graph);
  }
  const double xLow = std::max(0.5, lowBatch / 1.4), xHigh = highBatch * 1.4;
  // The reference: how fast this machine copies memory, or how long reading the 4-bit weights
  // takes at that speed.
  const double reference = time ? fourBitReadSeconds(report, shape.first, shape.second) * 1e6
                                : report.copy_gb_per_s;
  if (reference > 0) {
    reference_ = addGraph();
    reference_->setName(time ? tr("4-bit weights at copy speed")
                             : tr("copy %1 GB/s").arg(report.copy_gb_per_s, 0, 'f', 1));
    const QColor fg = QApplication::palette().color(QPalette::Text);
    reference_->setPen(QPen(fg, 1.5, Qt::DotLine));
    reference_->addData(xLow, reference);
    reference_->addData(xHigh, reference);
    top = std::max(top, reference);
    bottom = std::min(bottom, reference);
  }
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  std::sort(ticks.begin(), ticks.end());
  for (const double b : ticks) ticker->addTick(b, QString::number(b));
  xAxis->setTicker(ticker);
  xAxis->setRange(xLow, xHigh);
  yAxis->setLabel(time ? tr("time per call (µs)") : tr("weights read (GB/s)"));
  if (time && bottom > 0) {
    // float32 reads eight times the bytes of 4-bit weights: on a linear axis the 4-bit curves
    // would lie flat on the floor. A log axis keeps every curve's shape readable.
    yAxis->setScaleType(QCPAxis::stLogarithmic);
    yAxis->setTicker(logTicker(bottom / 1.3, top * 1.3));
    yAxis->setRange(bottom / 1.3, top * 1.3);
  } else {
    yAxis->setScaleType(QCPAxis::stLinear);
    yAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
    yAxis->setRange(0, top > 0 ? top * 1.15 : 1.0);
  }
  title_->setText(tr("GEMV %1 × %2 on %3: %4 vs batch size")
                      .arg(shape.first)
                      .arg(shape.second)
                      .arg(QString::fromStdString(report.backend))
                      .arg(time ? tr("time per call") : tr("weight bandwidth")));
  legend->setVisible(true);
  replot();
}

QCPGraph* GemvChart::kernelGraph(const QString& kernel) const {
  for (const auto& [name, graph] : kernels_)
    if (name == kernel) return graph;
  return nullptr;
}

void GemvChart::applyTheme() {
  applyPlotTheme(this);
  const QColor fg = QApplication::palette().color(QPalette::Text);
  title_->setTextColor(fg);
  if (reference_) reference_->setPen(QPen(fg, 1.5, Qt::DotLine));
  replot();
}

}  // namespace darkroom::views

#include "devices/profile_chart.h"

#include "plot/curve_style.h"
#include "quant/log_ticks.h"

#include <QApplication>
#include <QPalette>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace darkroom::views {

namespace {

const QCPScatterStyle::ScatterShape kShapes[] = {
    QCPScatterStyle::ssCircle,  QCPScatterStyle::ssSquare, QCPScatterStyle::ssTriangle,
    QCPScatterStyle::ssDiamond, QCPScatterStyle::ssCross,  QCPScatterStyle::ssTriangleInverted,
    QCPScatterStyle::ssPlus,    QCPScatterStyle::ssStar};
const Qt::PenStyle kLines[] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine, Qt::DashDotLine,
                               Qt::DashDotDotLine};
constexpr int kShapeCount = int(sizeof kShapes / sizeof kShapes[0]);
constexpr int kLineCount = int(sizeof kLines / sizeof kLines[0]);

enum class XScale { Bytes, Batch, Seconds, Token };
enum class YScale { FromZero, Log, LogWhenWide, Padded };

struct Spec {
  const char* title;
  const char* x_label;
  const char* y_label;
  XScale x;
  YScale y;
};

Spec specOf(ProfileChartId chart) {
  switch (chart) {
    case ProfileChartId::SweepThroughput:
      return {QT_TRANSLATE_NOOP("ProfileChartView", "Throughput vs read size"),
              QT_TRANSLATE_NOOP("ProfileChartView", "read size (bytes)"),
              QT_TRANSLATE_NOOP("ProfileChartView", "MB/s"), XScale::Bytes, YScale::FromZero};
    case ProfileChartId::SweepIops:
      return {QT_TRANSLATE_NOOP("ProfileChartView", "Reads per second vs read size"),
              QT_TRANSLATE_NOOP("ProfileChartView", "read size (bytes)"),
              QT_TRANSLATE_NOOP("ProfileChartView", "IOPS"), XScale::Bytes, YScale::Log};
    case ProfileChartId::SweepLatency:
      return {QT_TRANSLATE_NOOP("ProfileChartView", "Read latency percentiles vs read size"),
              QT_TRANSLATE_NOOP("ProfileChartView", "read size (bytes)"),
              QT_TRANSLATE_NOOP("ProfileChartView", "latency (µs)"), XScale::Bytes, YScale::Log};
    case ProfileChartId::ReplayLatency:
      return {QT_TRANSLATE_NOOP("ProfileChartView", "I/O latency per token"),
              QT_TRANSLATE_NOOP("ProfileChartView", "token"),
              QT_TRANSLATE_NOOP("ProfileChartView", "latency (ms)"), XScale::Token, YScale::FromZero};
    case ProfileChartId::KernelTime:
      return {QT_TRANSLATE_NOOP("ProfileChartView", "Time per call vs batch size"),
              QT_TRANSLATE_NOOP("ProfileChartView", "batch size"),
              QT_TRANSLATE_NOOP("ProfileChartView", "ms per call"), XScale::Batch, YScale::LogWhenWide};
    case ProfileChartId::KernelBandwidth:
      return {QT_TRANSLATE_NOOP("ProfileChartView", "Bandwidth vs batch size"),
              QT_TRANSLATE_NOOP("ProfileChartView", "batch size"),
              QT_TRANSLATE_NOOP("ProfileChartView", "GB/s"), XScale::Batch, YScale::FromZero};
    case ProfileChartId::Temperature:
      return {QT_TRANSLATE_NOOP("ProfileChartView", "Temperature per thermal zone"),
              QT_TRANSLATE_NOOP("ProfileChartView", "time (s)"),
              QT_TRANSLATE_NOOP("ProfileChartView", "°C"), XScale::Seconds, YScale::Padded};
    case ProfileChartId::Frequency:
      return {QT_TRANSLATE_NOOP("ProfileChartView", "CPU frequency per core"),
              QT_TRANSLATE_NOOP("ProfileChartView", "time (s)"),
              QT_TRANSLATE_NOOP("ProfileChartView", "MHz"), XScale::Seconds, YScale::FromZero};
  }
  return {"", "", "", XScale::Seconds, YScale::FromZero};
}

bool keyedByX(ProfileChartId chart) {
  const XScale x = specOf(chart).x;
  return x == XScale::Bytes || x == XScale::Batch;
}

QString sizeLabel(double bytes) {
  const auto b = std::llround(bytes);
  if (b >= (1 << 20) && b % (1 << 20) == 0) return QStringLiteral("%1M").arg(b >> 20);
  if (b >= 1024 && b % 1024 == 0) return QStringLiteral("%1K").arg(b >> 10);
  return QString::number(b);
}

// Percentiles and running percentiles: the median solid, the tails dashed and dotted; a replay's
// per-token latency thin.
Qt::PenStyle measureStyle(const std::string& measure, int index) {
  if (measure == "p50" || measure == "running p50") return measure == "p50" ? Qt::SolidLine : Qt::DashLine;
  if (measure == "p90") return Qt::DashLine;
  if (measure == "p99" || measure == "running p99") return Qt::DotLine;
  if (measure == "latency") return Qt::SolidLine;
  return kLines[index % kLineCount];
}

double measureWidth(const std::string& measure) { return measure == "latency" ? 1.0 : 2.0; }

QColor neutral() {
  QColor c = QApplication::palette().color(QPalette::Text);
  c.setAlpha(200);
  return c;
}

int indexOf(const std::vector<std::string>& list, const std::string& name) {
  const auto it = std::find(list.begin(), list.end(), name);
  return it == list.end() ? 0 : int(it - list.begin());
}

// Log-axis ticks at 1, 2 and 5 × 10^k, labelled "20k", "1M" rather than "2·10^4": IOPS and
// microseconds read more easily so.
QSharedPointer<QCPAxisTickerText> siLogTicker(double low, double high) {
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (const double v : logTickValues(low, high)) {
    QString label;
    if (v >= 1e6)
      label = QString::number(v / 1e6, 'g', 4) + 'M';
    else if (v >= 1e4)
      label = QString::number(v / 1e3, 'g', 4) + 'k';
    else
      label = QString::number(v, 'g', 4);
    ticker->addTick(v, label);
  }
  return ticker;
}

}  // namespace

QString ProfileChartView::chartTitle(ProfileChartId chart) { return tr(specOf(chart).title); }

ProfileChartView::ProfileChartView(ProfileChartId chart, QWidget* parent)
    : QCustomPlot(parent), chart_(chart) {
  setMinimumSize(300, 210);
  const Spec spec = specOf(chart);
  plotLayout()->insertRow(0);
  title_ = new QCPTextElement(this, tr(spec.title));
  QFont bold = title_->font();
  bold.setBold(true);
  title_->setFont(bold);
  plotLayout()->addElement(0, 0, title_);
  xAxis->setLabel(tr(spec.x_label));
  yAxis->setLabel(tr(spec.y_label));
  if (spec.x == XScale::Bytes || spec.x == XScale::Batch) xAxis->setScaleType(QCPAxis::stLogarithmic);
  // The legend in a column right of the axes, pushed to the top: inside, it would cover a
  // corner of the curves, and which corner is free depends on the phone.
  legendColumn_ = new QCPLayoutGrid;
  plotLayout()->addElement(1, 1, legendColumn_);
  axisRect()->insetLayout()->take(legend);
  legendColumn_->addElement(0, 0, legend);
  legendColumn_->addElement(1, 0, new QCPLayoutElement(this));
  legendColumn_->setRowStretchFactor(0, 0.001);
  legendColumn_->setMargins(QMargins(0, 0, 6, 0));
  plotLayout()->setColumnStretchFactor(1, 0.001);
  QFont small = legend->font();
  small.setPointSizeF(small.pointSizeF() * 0.9);
  legend->setFont(small);
  legend->setVisible(false);
  empty_ = new QCPItemText(this);
  empty_->position->setType(QCPItemPosition::ptAxisRectRatio);
  empty_->position->setCoords(0.5, 0.5);
  empty_->setClipToAxisRect(false);
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  applyTheme();
}

void ProfileChartView::setLegendShown(bool shown) {
  legendShown_ = shown;
  keySignature_.clear();
  legend->setVisible(shown && legend->itemCount() > 0);
}

void ProfileChartView::draw(const ProfileSeriesBuilder& data, const std::vector<ChartSource>& sources,
                            const QString& empty, const std::string& variant) {
  std::vector<const ChartSeries*> shown;
  for (const ChartSeries* s : data.series(chart_))
    if ((variant.empty() || s->variant == variant) &&
        (sources.empty() || s->source < int(sources.size())))
      shown.push_back(s);
  const bool bySource = sources.size() > 1;
  const auto& variants = data.variants(chart_);
  const auto& measures = data.measures(chart_);
  const bool multiMeasure = measures.size() > 1;
  const bool markers = keyedByX(chart_);

  std::set<std::string> variantsDrawn;
  for (const ChartSeries* s : shown) variantsDrawn.insert(s->variant);
  // Dashes and markers tell variants apart only when several are drawn.
  const bool styleByVariant = bySource && variantsDrawn.size() > 1;
  std::set<std::tuple<int, std::string, std::string>> keep;
  std::vector<std::string> shownVariants;
  std::set<int> shownSources;
  for (const ChartSeries* s : shown) {
    const auto key = std::make_tuple(s->source, s->variant, s->measure);
    keep.insert(key);
    shownSources.insert(s->source);
    if (std::find(shownVariants.begin(), shownVariants.end(), s->variant) == shownVariants.end())
      shownVariants.push_back(s->variant);
    QCPGraph*& graph = graphs_[key];
    if (!graph) {
      graph = addGraph();
      graph->removeFromLegend();
    }
    const int v = indexOf(variants, s->variant);
    const int m = indexOf(measures, s->measure);
    // One variant with several measures (a replay's latency and its running percentiles): the
    // measures get the colours.
    const bool byMeasure = !bySource && variants.size() == 1 && multiMeasure;
    QColor color = seriesColor(bySource ? s->source : byMeasure ? m : v);
    if (s->measure == "latency") color.setAlpha(120);
    const Qt::PenStyle style = multiMeasure     ? measureStyle(s->measure, m)
                               : styleByVariant ? kLines[v % kLineCount]
                                                : Qt::SolidLine;
    graph->setPen(QPen(color, markers || multiMeasure ? measureWidth(s->measure) : 1.5, style));
    if (markers)
      graph->setScatterStyle(QCPScatterStyle(styleByVariant ? kShapes[v % kShapeCount] : QCPScatterStyle::ssCircle,
                                             color, color, 6));
    QVector<QCPGraphData> points;
    points.reserve(int(s->points.size()));
    for (const auto& p : s->points) points.append(QCPGraphData(p.x, p.y));
    graph->data()->set(points, true);
  }
  for (auto it = graphs_.begin(); it != graphs_.end();) {
    if (keep.count(it->first)) {
      ++it;
      continue;
    }
    removeGraph(it->second);
    it = graphs_.erase(it);
  }

  // Legend keys: which colour is which profile or variant, which dash which percentile.
  std::vector<std::string> keyVariants, keyMeasures;
  for (const auto& name : variants)
    if (std::find(shownVariants.begin(), shownVariants.end(), name) != shownVariants.end())
      keyVariants.push_back(name);
  if (multiMeasure) keyMeasures = measures;
  std::vector<ChartSource> keySources;
  if (bySource)
    for (int i : shownSources) keySources.push_back(sources[std::size_t(i)]);
  QString signature = QString::number(int(bySource));
  for (const auto& v : keyVariants) signature += '|' + QString::fromStdString(v);
  for (const auto& m : keyMeasures) signature += '/' + QString::fromStdString(m);
  for (int i : shownSources)
    if (bySource) signature += '#' + QString::number(i) + sources[std::size_t(i)].name;
  if (!legendShown_) signature = QStringLiteral("none");
  if (signature != keySignature_) {
    keySignature_ = signature;
    for (auto* key : keys_) removeGraph(key);
    keys_.clear();
    auto addKey = [&](const QString& name, const QPen& pen, const QCPScatterStyle& scatter) {
      auto* key = addGraph();
      key->setName(name);
      key->setPen(pen);
      key->setScatterStyle(scatter);
      keys_.push_back(key);
    };
    // A chart whose legend another chart of its set shows builds no keys: even hidden, a
    // legend's entries would take their width from the axes.
    const bool keys = legendShown_;
    if (bySource && keys) {
      for (int i : shownSources) {
        const auto& src = sources[std::size_t(i)];
        addKey(src.simulated ? tr("%1 (simulated)").arg(src.name) : src.name,
               QPen(seriesColor(i), 3), QCPScatterStyle());
      }
    }
    // One variant alone needs no key of its own unless it is the only thing to name.
    const bool variantKeys = keys && (keyVariants.size() > 1 || (!bySource && !multiMeasure));
    if (variantKeys)
      for (const auto& name : keyVariants) {
        const int v = indexOf(variants, name);
        const QColor color = bySource ? neutral() : seriesColor(v);
        const Qt::PenStyle style = bySource && !multiMeasure ? kLines[v % kLineCount] : Qt::SolidLine;
        addKey(QString::fromStdString(name), QPen(color, 2, style),
               markers ? QCPScatterStyle(bySource ? kShapes[v % kShapeCount] : QCPScatterStyle::ssCircle,
                                         color, color, 6)
                       : QCPScatterStyle());
      }
    const bool measureColours = !bySource && keyVariants.size() == 1;
    for (std::size_t m = 0; keys && m < keyMeasures.size(); ++m)
      addKey(QString::fromStdString(keyMeasures[m]),
             QPen(measureColours ? seriesColor(indexOf(measures, keyMeasures[m])) : neutral(),
                  std::max(1.5, measureWidth(keyMeasures[m])), measureStyle(keyMeasures[m], int(m))),
             QCPScatterStyle());
  }
  legend->setVisible(legendShown_ && !keys_.empty() && !shown.empty());

  std::size_t points = 0;
  for (const auto* s : shown) points += s->points.size();
  empty_->setText(empty);
  empty_->setVisible(points == 0);
  setAxes(shown);
  replot();
}

void ProfileChartView::setAxes(const std::vector<const ChartSeries*>& shown) {
  const Spec spec = specOf(chart_);
  double xLow = std::numeric_limits<double>::infinity(), xHigh = -xLow;
  double yLow = xLow, yHigh = -xLow, yLowPositive = xLow;
  std::set<double> xs;
  for (const auto* s : shown)
    for (const auto& p : s->points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
      xLow = std::min(xLow, p.x);
      xHigh = std::max(xHigh, p.x);
      yLow = std::min(yLow, p.y);
      yHigh = std::max(yHigh, p.y);
      if (p.y > 0) yLowPositive = std::min(yLowPositive, p.y);
      if (spec.x == XScale::Bytes || spec.x == XScale::Batch) xs.insert(p.x);
    }
  const bool any = xLow <= xHigh;
  // x
  if (spec.x == XScale::Bytes || spec.x == XScale::Batch) {
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (const double x : xs)
      if (x > 0) ticker->addTick(x, spec.x == XScale::Bytes ? sizeLabel(x) : QString::number(x));
    xAxis->setTicker(ticker);
    if (any && xLow > 0)
      xAxis->setRange(xLow / 1.5, xHigh * 1.5);
    else
      xAxis->setRange(spec.x == XScale::Bytes ? 2048 : 0.7, spec.x == XScale::Bytes ? 2 << 20 : 20);
  } else {
    if (any)
      xAxis->setRange(xLow, xHigh > xLow ? xHigh : xLow + 1);
    else
      xAxis->setRange(0, spec.x == XScale::Token ? 100 : 10);
  }
  // y
  bool log = spec.y == YScale::Log ||
             (spec.y == YScale::LogWhenWide && any && yLowPositive < yHigh && yHigh / yLowPositive > 20);
  if (log && !(yLowPositive < std::numeric_limits<double>::infinity())) log = false;
  if (log) {
    yAxis->setScaleType(QCPAxis::stLogarithmic);
    const double low = yLowPositive / 1.4, high = std::max(yHigh, yLowPositive) * 1.4;
    yAxis->setTicker(siLogTicker(low, high));
    yAxis->setRange(low, high);
    return;
  }
  yAxis->setScaleType(QCPAxis::stLinear);
  yAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
  if (!any) {
    yAxis->setRange(0, 1);
  } else if (spec.y == YScale::Padded) {
    const double pad = std::max(1.0, (yHigh - yLow) * 0.1);
    yAxis->setRange(yLow - pad, yHigh + pad);
  } else {
    yAxis->setRange(std::min(0.0, yLow), yHigh > 0 ? yHigh * 1.12 : 1.0);
  }
}

QCPGraph* ProfileChartView::seriesGraph(int source, const std::string& variant,
                                        const std::string& measure) const {
  const auto it = graphs_.find(std::make_tuple(source, variant, measure));
  return it == graphs_.end() ? nullptr : it->second;
}

int ProfileChartView::drawnPoints() const {
  int n = 0;
  for (const auto& [key, graph] : graphs_) n += graph->dataCount();
  return n;
}

QStringList ProfileChartView::legendNames() const {
  QStringList names;
  for (auto* key : keys_) names << key->name();
  return names;
}

QString ProfileChartView::emptyText() const { return empty_->visible() ? empty_->text() : QString(); }

void ProfileChartView::applyTheme() {
  applyPlotTheme(this);
  const QColor fg = QApplication::palette().color(QPalette::Text);
  title_->setTextColor(fg);
  empty_->setColor(QApplication::palette().color(QPalette::PlaceholderText));
  // The neutral legend keys take the new text colour when the owner draws again.
  keySignature_.clear();
  replot();
}

}  // namespace darkroom::views

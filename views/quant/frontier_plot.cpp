#include "quant/frontier_plot.h"

#include "plot/curve_style.h"
#include "quant/log_ticks.h"

#include <QApplication>
#include <QMouseEvent>
#include <QPalette>
#include <QToolTip>

#include <algorithm>
#include <cmath>
#include <limits>

namespace darkroom::views {

namespace {

const QCPScatterStyle::ScatterShape kShapes[] = {QCPScatterStyle::ssCircle, QCPScatterStyle::ssTriangle,
                                                 QCPScatterStyle::ssSquare, QCPScatterStyle::ssDiamond,
                                                 QCPScatterStyle::ssTriangleInverted};
const Qt::PenStyle kLines[] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine, Qt::DashDotLine};

// Names in the order they first appear, so colours and markers stay put as runs are added.
template <typename Key>
std::vector<std::string> firstAppearance(const std::vector<TtsPoint>& points, Key key) {
  std::vector<std::string> names;
  for (const auto& p : points)
    if (std::find(names.begin(), names.end(), key(p)) == names.end()) names.push_back(key(p));
  return names;
}

}  // namespace

double costOf(const TtsPoint& p, FrontierCost cost) {
  switch (cost) {
    case FrontierCost::Tokens: return p.tokens;
    case FrontierCost::WallTime: return p.wall_seconds;
    case FrontierCost::CpuTime: return p.cpu_seconds;
  }
  return p.tokens;
}

QString costAxisLabel(FrontierCost cost) {
  switch (cost) {
    case FrontierCost::Tokens: return QObject::tr("generated tokens per problem (all candidates)");
    case FrontierCost::WallTime: return QObject::tr("wall time per problem (s)");
    case FrontierCost::CpuTime: return QObject::tr("CPU time per problem (s): the energy proxy");
  }
  return {};
}

QString modelDisplayName(const std::string& model) {
  const QString name = QString::fromStdString(model);
  if (!name.contains('/')) return name;  // a built-in name
  QString trimmed = name;
  while (trimmed.size() > 1 && trimmed.endsWith('/')) trimmed.chop(1);
  return trimmed.mid(trimmed.lastIndexOf('/') + 1);
}

QString methodDisplayName(const std::string& method) {
  if (method == "bon") return QObject::tr("Best-of-N");
  if (method == "beam") return QObject::tr("beam search");
  return QString::fromStdString(method);
}

QString pointDetails(const TtsPoint& p) {
  QString text = QObject::tr("%1 · %2 · %3 · N = %4")
                     .arg(QString::fromStdString(p.model), QString::fromStdString(p.weights),
                          methodDisplayName(p.method))
                     .arg(p.budget);
  text += '\n' + QObject::tr("accuracy %1 % (%2 of %3 problems)")
                     .arg(p.accuracy * 100, 0, 'f', 1)
                     .arg(p.solved)
                     .arg(p.problems);
  text += '\n' + QObject::tr("per problem: %1 tokens, %2 s wall, %3 s CPU")
                     .arg(p.tokens, 0, 'f', 0)
                     .arg(p.wall_seconds, 0, 'f', 3)
                     .arg(p.cpu_seconds, 0, 'f', 3);
  text += '\n' + QObject::tr("reward: %1").arg(QString::fromStdString(p.reward));
  if (p.run_id > 0) text += QObject::tr(" · run #%1").arg(p.run_id);
  return text;
}

FrontierPlot::FrontierPlot(QWidget* parent) : QCustomPlot(parent) {
  setMinimumSize(420, 300);
  plotLayout()->insertRow(0);
  title_ = new QCPTextElement(this, QString());
  plotLayout()->addElement(0, 0, title_);
  yAxis->setLabel(tr("accuracy (% of problems solved)"));
  // Top left is cheap and accurate: the corner no point of a frontier gets to.
  axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
  setMouseTracking(true);
  applyTheme();
  redraw();
}

void FrontierPlot::setPoints(std::vector<TtsPoint> points, FrontierCost cost) {
  points_ = std::move(points);
  cost_ = cost;
  redraw();
}

void FrontierPlot::setCost(FrontierCost cost) {
  cost_ = cost;
  redraw();
}

void FrontierPlot::redraw() {
  clearGraphs();
  clearItems();
  series_.clear();
  labels_.clear();
  pareto_.clear();
  paretoMarkers_ = paretoLine_ = nullptr;
  hoverText_.clear();
  xAxis->setLabel(costAxisLabel(cost_));
  if (points_.empty()) {
    title_->setText(tr("No test-time-scaling runs yet: run a sweep (or darkroom-cli tts), then "
                       "Refresh"));
    legend->setVisible(false);
    xAxis->setScaleType(QCPAxis::stLinear);
    xAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
    xAxis->setRange(0, 1);
    yAxis->setRange(0, 100);
    replot();
    return;
  }
  const QColor fg = QApplication::palette().color(QPalette::Text);
  pareto_ = paretoFront(points_, cost_);
  std::sort(pareto_.begin(), pareto_.end(), [this](std::size_t a, std::size_t b) {
    return costOf(points_[a], cost_) < costOf(points_[b], cost_);
  });

  double low = std::numeric_limits<double>::infinity(), high = 0, top = 0;
  for (const auto& p : points_) {
    low = std::min(low, costOf(p, cost_));
    high = std::max(high, costOf(p, cost_));
    top = std::max(top, p.accuracy * 100);
  }
  // Budgets grow geometrically, and so do their costs: a log axis spaces them evenly. It cannot
  // show zero, so a zero cost keeps the axis linear.
  const bool logX = low > 0 && high / low > 4;
  xAxis->setScaleType(logX ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  const double xLow = logX ? low / 1.6 : std::min(0.0, low), xHigh = logX ? high * 1.6 : high * 1.12 + 1e-9;
  if (logX)
    xAxis->setTicker(logTicker(xLow, xHigh));
  else
    xAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());

  const auto models = firstAppearance(points_, [](const TtsPoint& p) { return p.model; });
  const auto methods = firstAppearance(points_, [](const TtsPoint& p) { return p.method; });
  for (std::size_t m = 0; m < models.size(); ++m)
    for (std::size_t k = 0; k < methods.size(); ++k) {
      std::vector<std::size_t> mine;
      for (std::size_t i = 0; i < points_.size(); ++i)
        if (points_[i].model == models[m] && points_[i].method == methods[k]) mine.push_back(i);
      if (mine.empty()) continue;
      auto* graph = addGraph();
      graph->setName(QStringLiteral("%1 · %2").arg(modelDisplayName(models[m]),
                                                   methodDisplayName(methods[k])));
      const QColor color = seriesColor(int(m));
      QColor line = color;
      line.setAlpha(150);
      graph->setPen(QPen(line, 1.3, kLines[k % std::size(kLines)]));
      graph->setScatterStyle(QCPScatterStyle(kShapes[k % std::size(kShapes)], color.darker(120),
                                             color, 9));
      // Joined in budget order (a line through the same model and method as N grows).
      std::sort(mine.begin(), mine.end(),
                [this](std::size_t a, std::size_t b) { return points_[a].budget < points_[b].budget; });
      QVector<double> keys, values;
      for (const std::size_t i : mine) {
        keys << costOf(points_[i], cost_);
        values << points_[i].accuracy * 100;
      }
      graph->setLineStyle(QCPGraph::lsLine);
      graph->setData(keys, values);
      series_.push_back({models[m], methods[k], graph});
    }

  QFont small = font();
  small.setPointSizeF(std::max(6.0, small.pointSizeF() * 0.8));
  for (const auto& p : points_) {
    auto* label = new QCPItemText(this);
    label->position->setCoords(costOf(p, cost_), p.accuracy * 100);
    label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
    label->setPadding(QMargins(5, 0, 0, 3));
    label->setText(QStringLiteral("N=%1").arg(p.budget));
    label->setFont(small);
    label->setColor(fg);
    label->setClipToAxisRect(true);
    labels_.push_back(label);
  }

  if (!pareto_.empty()) {
    paretoLine_ = addGraph();
    paretoLine_->setName(tr("Pareto front"));
    paretoLine_->setLineStyle(QCPGraph::lsStepLeft);
    QColor step = fg;
    step.setAlpha(170);
    paretoLine_->setPen(QPen(step, 1.6, Qt::SolidLine));
    for (const std::size_t i : pareto_) paretoLine_->addData(costOf(points_[i], cost_), points_[i].accuracy * 100);
    // The best accuracy holds for any larger budget: carry the last step to the right edge.
    paretoLine_->addData(xHigh, points_[pareto_.back()].accuracy * 100);
    paretoMarkers_ = addGraph();
    paretoMarkers_->setName(tr("Pareto point"));
    paretoMarkers_->setLineStyle(QCPGraph::lsNone);
    paretoMarkers_->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(fg, 2), Qt::NoBrush, 17));
    for (const std::size_t i : pareto_)
      paretoMarkers_->addData(costOf(points_[i], cost_), points_[i].accuracy * 100);
    paretoMarkers_->removeFromLegend();
  }
  xAxis->setRange(xLow, xHigh);
  // A little room below 0 %, so that points which solved nothing are not drawn on the axis.
  const double yHigh = std::min(105.0, std::max(10.0, top * 1.15));
  yAxis->setRange(-0.04 * yHigh, yHigh);
  title_->setText(tr("Accuracy vs cost: %n point(s), ", nullptr, int(points_.size())) +
                  tr("%n on the Pareto front", nullptr, int(pareto_.size())));
  legend->setVisible(true);
  replot();
}

QCPGraph* FrontierPlot::seriesGraph(const std::string& model, const std::string& method) const {
  for (const auto& s : series_)
    if (s.model == model && s.method == method) return s.graph;
  return nullptr;
}

QStringList FrontierPlot::pointLabels() const {
  QStringList texts;
  for (const auto* label : labels_) texts << label->text();
  return texts;
}

QPointF FrontierPlot::pointPosition(std::size_t i) const {
  if (i >= points_.size()) return {};
  return {xAxis->coordToPixel(costOf(points_[i], cost_)), yAxis->coordToPixel(points_[i].accuracy * 100)};
}

int FrontierPlot::pointAt(const QPointF& pos, double radius) const {
  int best = -1;
  double bestDistance = radius * radius;
  for (std::size_t i = 0; i < points_.size(); ++i) {
    const QPointF d = pointPosition(i) - pos;
    const double distance = d.x() * d.x() + d.y() * d.y();
    if (distance <= bestDistance) {
      bestDistance = distance;
      best = int(i);
    }
  }
  return best;
}

void FrontierPlot::mouseMoveEvent(QMouseEvent* event) {
  QCustomPlot::mouseMoveEvent(event);
  const int i = pointAt(event->position());
  if (i < 0) {
    if (!hoverText_.isEmpty()) QToolTip::hideText();
    hoverText_.clear();
    return;
  }
  hoverText_ = pointDetails(points_[std::size_t(i)]);
  if (std::find(pareto_.begin(), pareto_.end(), std::size_t(i)) != pareto_.end())
    hoverText_ += '\n' + tr("on the Pareto front");
  QToolTip::showText(event->globalPosition().toPoint(), hoverText_, this);
}

void FrontierPlot::leaveEvent(QEvent* event) {
  hoverText_.clear();
  QCustomPlot::leaveEvent(event);
}

void FrontierPlot::applyTheme() {
  applyPlotTheme(this);
  title_->setTextColor(QApplication::palette().color(QPalette::Text));
  redraw();
}

}  // namespace darkroom::views

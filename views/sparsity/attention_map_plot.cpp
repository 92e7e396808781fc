#include "sparsity/attention_map_plot.h"

#include "plot/curve_style.h"

#include <QApplication>
#include <QPalette>

#include <cmath>

namespace darkroom::views {

namespace {

// Grey, set off from the plot's background in either theme.
QColor nonCausalColor() {
  const QColor window = QApplication::palette().color(QPalette::Window);
  return window.lightness() < 128 ? window.lighter(150) : window.darker(115);
}

// Ticks on blocks only: square cells widen one axis's range past the blocks, where a plain
// ticker would number blocks that do not exist. At most about eight, at 1, 2, 5, 10, 20… apart.
QSharedPointer<QCPAxisTickerText> blockTicks(int blocks) {
  int step = 1;
  for (int decade = 1; blocks / step > 8; decade *= 10)
    for (const int m : {1, 2, 5}) {
      step = m * decade;
      if (blocks / step <= 8) break;
    }
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (int b = 0; b < blocks; b += step) ticker->addTick(b, QString::number(b));
  return ticker;
}

}  // namespace

bool isCausalBlock(std::int64_t query, std::int64_t key, std::int64_t queries, std::int64_t keys) {
  return key <= query + (keys - queries);
}

AttentionMapPlot::AttentionMapPlot(const QString& title, QWidget* parent) : QCustomPlot(parent) {
  setMinimumSize(220, 200);
  plotLayout()->insertRow(0);
  title_ = new QCPTextElement(this, title);
  plotLayout()->addElement(0, 0, title_);
  xAxis->setLabel(tr("key block"));
  yAxis->setLabel(tr("query block"));
  yAxis->setRangeReversed(true);  // query block 0 on top, as the attention matrix is written
  for (QCPAxis* axis : {xAxis, yAxis}) axis->grid()->setVisible(false);

  map_ = new QCPColorMap(xAxis, yAxis);
  map_->setInterpolate(false);  // a cell is one block
  scale_ = new QCPColorScale(this);
  plotLayout()->addElement(1, 1, scale_);
  scale_->setBarWidth(10);
  map_->setColorScale(scale_);
  // The colour scale runs exactly as tall as the map.
  auto* margins = new QCPMarginGroup(this);
  axisRect()->setMarginGroup(QCP::msTop | QCP::msBottom, margins);
  scale_->setMarginGroup(QCP::msTop | QCP::msBottom, margins);
  connect(this, &QCustomPlot::afterLayout, this, &AttentionMapPlot::keepCellsSquare);
  applyTheme();
}

void AttentionMapPlot::setMap(const Array2D& map, double low, double high,
                              const QCPColorGradient& gradient, const QString& scaleLabel,
                              int levels) {
  const int keys = static_cast<int>(map.cols), queries = static_cast<int>(map.rows);
  map_->data()->setSize(keys, queries);
  map_->data()->setRange(QCPRange(0, keys - 1), QCPRange(0, queries - 1));
  for (int q = 0; q < queries; ++q)
    for (int k = 0; k < keys; ++k)
      map_->data()->setCell(k, q, isCausalBlock(q, k, queries, keys) ? double(map.at(q, k)) : NAN);
  QCPColorGradient shown = gradient;
  if (levels > 0) shown.setLevelCount(levels);
  shown.setNanHandling(QCPColorGradient::nhNanColor);
  shown.setNanColor(nonCausalColor());
  map_->setGradient(shown);
  map_->setDataRange(QCPRange(low, high > low ? high : low + 1));
  scale_->axis()->setLabel(scaleLabel);
  // Discrete scales count things: whole-number ticks.
  if (levels > 0) {
    auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
    ticker->setTickStep(1);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    scale_->axis()->setTicker(ticker);
  } else {
    scale_->axis()->setTicker(QSharedPointer<QCPAxisTicker>::create());
  }
  scale_->setVisible(true);
  xAxis->setTicker(blockTicks(keys));
  yAxis->setTicker(blockTicks(queries));
  xAxis->setRange(-0.5, keys - 0.5);
  yAxis->setRange(-0.5, queries - 0.5);
  replot();
}

void AttentionMapPlot::setTitle(const QString& title) { title_->setText(title); }

void AttentionMapPlot::clearMap() {
  map_->data()->clear();
  scale_->setVisible(false);
  replot();
}

// A square map in a wide or tall rectangle: the longer axis shows more than the blocks, so cells
// stay square and every block stays visible.
void AttentionMapPlot::keepCellsSquare() {
  const QRect rect = axisRect()->rect();
  const int keys = map_->data()->keySize(), queries = map_->data()->valueSize();
  if (rect.width() <= 0 || rect.height() <= 0 || keys <= 0 || queries <= 0) return;
  xAxis->setRange(-0.5, keys - 0.5);
  yAxis->setRange(-0.5, queries - 0.5);
  const double xPerBlock = rect.width() / xAxis->range().size();
  const double yPerBlock = rect.height() / yAxis->range().size();
  if (xPerBlock > yPerBlock)
    xAxis->setScaleRatio(yAxis, 1.0);
  else
    yAxis->setScaleRatio(xAxis, 1.0);
}

void AttentionMapPlot::applyTheme() {
  applyPlotTheme(this);
  const QPalette palette = QApplication::palette();
  const QColor text = palette.color(QPalette::Text);
  title_->setTextColor(text);
  QCPAxis* axis = scale_->axis();
  axis->setBasePen(QPen(text));
  axis->setTickPen(QPen(text));
  axis->setSubTickPen(QPen(text));
  axis->setTickLabelColor(text);
  axis->setLabelColor(text);
  QCPColorGradient gradient = map_->gradient();
  gradient.setNanColor(nonCausalColor());
  map_->setGradient(gradient);
  replot();
}

}  // namespace darkroom::views

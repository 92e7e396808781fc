#include "neuralink/frequency_strip.h"

#include "plot/curve_style.h"

#include <algorithm>

namespace darkroom::views {

FrequencyStrip::FrequencyStrip(QWidget* parent) : QCustomPlot(parent) {
  setMinimumHeight(80);
  setMaximumHeight(110);
  graph_ = addGraph();
  graph_->setLineStyle(QCPGraph::lsStepLeft);
  QColor color = seriesColor(1);
  graph_->setPen(QPen(color, 1.2));
  color.setAlpha(90);
  graph_->setBrush(color);
  yAxis->setLabel(tr("P(i)"));
  xAxis->setLabel(tr("slot"));
  axisRect()->setAutoMargins(QCP::msLeft | QCP::msBottom);
  axisRect()->setMargins(QMargins(0, 4, 8, 0));
  applyTheme();
}

void FrequencyStrip::setPooled(const PooledCoact& pooled) {
  QVector<double> x, y;
  double top = 0;
  for (std::size_t c = 0; c < pooled.frequency.size(); ++c) {
    x << double(pooled.range.first + std::int64_t(c) * pooled.bin);
    y << pooled.frequency[c];
    top = std::max(top, pooled.frequency[c]);
  }
  // The last step needs an end point to have a width.
  if (!x.isEmpty()) {
    x << double(pooled.range.end);
    y << y.back();
  }
  graph_->setData(x, y, true);
  xAxis->setRange(double(pooled.range.first), double(std::max(pooled.range.end, pooled.range.first + 1)));
  yAxis->setRange(0, top > 0 ? top * 1.08 : 1.0);
  replot();
}

void FrequencyStrip::clearStrip() {
  graph_->data()->clear();
  replot();
}

void FrequencyStrip::applyTheme() {
  applyPlotTheme(this);
  replot();
}

}  // namespace darkroom::views

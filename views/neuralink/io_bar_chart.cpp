#include "neuralink/io_bar_chart.h"

#include "plot/curve_style.h"

#include <QApplication>
#include <QPalette>

#include <algorithm>
#include <cmath>

namespace darkroom::views {

IoBarChart::IoBarChart(const QString& title, const QString& unit, QWidget* parent)
    : QCustomPlot(parent) {
  setMinimumSize(260, 200);
  plotLayout()->insertRow(0);
  title_ = new QCPTextElement(this, title);
  plotLayout()->addElement(0, 0, title_);
  yAxis->setLabel(unit);
  group_ = new QCPBarsGroup(this);
  group_->setSpacingType(QCPBarsGroup::stAbsolute);
  group_->setSpacing(1);
  // The panel shows one legend for all its charts: per-chart legends would cover bars.
  legend->setVisible(false);
  applyTheme();
}

void IoBarChart::setBars(const QStringList& categories, const QStringList& series,
                         const std::vector<std::vector<double>>& values) {
  for (QCPAbstractItem* item : divider_) removeItem(item);
  divider_.clear();
  clearPlottables();
  bars_.clear();
  group_->clear();
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (int c = 0; c < categories.size(); ++c) ticker->addTick(c, categories[c]);
  xAxis->setTicker(ticker);
  xAxis->setRange(-0.6, std::max<double>(categories.size(), 1) - 0.4);
  // The group shares each category's width among the series.
  const double width = 0.8 / std::max<double>(series.size(), 1);
  double top = 0;
  for (int s = 0; s < series.size(); ++s) {
    auto* bars = new QCPBars(xAxis, yAxis);
    bars->setName(series[s]);
    bars->setWidth(width);
    const QColor color = seriesColor(s);
    bars->setPen(QPen(color.darker(130)));
    bars->setBrush(color);
    bars->setBarsGroup(group_);
    for (int c = 0; c < categories.size(); ++c) {
      const double v = std::size_t(s) < values.size() && std::size_t(c) < values[std::size_t(s)].size()
                           ? values[std::size_t(s)][std::size_t(c)]
                           : std::nan("");
      if (std::isnan(v)) continue;
      bars->addData(c, v);
      top = std::max(top, v);
    }
    bars_.push_back(bars);
  }
  yAxis->setRange(0, top > 0 ? top * 1.18 : 1.0);  // room for the divider's captions
  replot();
}

void IoBarChart::setDivider(int after, const QString& left, const QString& right) {
  const QColor fg = QApplication::palette().color(QPalette::PlaceholderText);
  auto* line = new QCPItemStraightLine(this);
  line->point1->setCoords(after + 0.5, 0);
  line->point2->setCoords(after + 0.5, 1);
  line->setPen(QPen(fg, 1, Qt::DashLine));
  divider_.push_back(line);
  for (const bool isLeft : {true, false}) {
    auto* text = new QCPItemText(this);
    text->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    text->position->setCoords(after + 0.5 + (isLeft ? -0.15 : 0.15), 0.02);
    text->setPositionAlignment(Qt::AlignTop | (isLeft ? Qt::AlignRight : Qt::AlignLeft));
    text->setText(isLeft ? left : right);
    text->setColor(fg);
    divider_.push_back(text);
  }
  replot();
}

void IoBarChart::clearBars() {
  for (QCPAbstractItem* item : divider_) removeItem(item);
  divider_.clear();
  clearPlottables();
  bars_.clear();
  group_->clear();
  legend->setVisible(false);
  replot();
}

void IoBarChart::setTitle(const QString& title) {
  title_->setText(title);
  replot();
}

double IoBarChart::value(int series, int category) const {
  if (series < 0 || series >= int(bars_.size())) return std::nan("");
  const auto data = bars_[std::size_t(series)]->data();
  const auto it = data->findBegin(category, false);
  if (it == data->constEnd() || it->key != category) return std::nan("");
  return it->value;
}

void IoBarChart::applyTheme() {
  applyPlotTheme(this);
  xAxis->grid()->setVisible(false);
  title_->setTextColor(QApplication::palette().color(QPalette::Text));
  replot();
}

}  // namespace darkroom::views

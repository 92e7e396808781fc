#include "plot/curve_style.h"

#include <QApplication>
#include <QPalette>
#include <qcustomplot.h>

namespace darkroom::views {

QColor seriesColor(int index) {
  // Okabe–Ito, then a few extra hues.
  static const QColor colors[] = {QColor(0, 114, 178),  QColor(230, 159, 0),
                                  QColor(0, 158, 115),  QColor(204, 121, 167),
                                  QColor(86, 180, 233), QColor(213, 94, 0),
                                  QColor(240, 228, 66), QColor(150, 150, 150)};
  constexpr int n = sizeof colors / sizeof colors[0];
  return colors[((index % n) + n) % n];
}

void applyPlotTheme(QCustomPlot* plot) {
  QPalette pal = QApplication::palette();
  QColor bg = pal.color(QPalette::Base), fg = pal.color(QPalette::Text);
  QColor grid = fg;
  grid.setAlpha(40);
  plot->setBackground(bg);
  for (QCPAxis* axis : plot->axisRect()->axes()) {
    axis->setBasePen(QPen(fg));
    axis->setTickPen(QPen(fg));
    axis->setSubTickPen(QPen(fg));
    axis->setTickLabelColor(fg);
    axis->setLabelColor(fg);
    axis->grid()->setPen(QPen(grid, 1, Qt::DotLine));
  }
  plot->legend->setBrush(QBrush(bg));
  plot->legend->setTextColor(fg);
  plot->legend->setBorderPen(QPen(grid));
}

}  // namespace darkroom::views

// Colours and axes for QCustomPlot charts, matched to the active theme.
#pragma once

#include <QColor>

class QCustomPlot;

namespace darkroom::views {

// A palette of distinguishable series colours (colour-blind friendly order).
QColor seriesColor(int index);
// Background, axes, grid and legend colours from the application palette.
void applyPlotTheme(QCustomPlot* plot);

}  // namespace darkroom::views

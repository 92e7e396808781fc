// Tick marks for a logarithmic QCustomPlot axis at 1, 2 and 5 times the powers of ten in a
// range (…, 50, 100, 200, 500, …): QCPAxisTickerLog labels only whole decades, which leaves a
// range such as 50…640 tokens with one label or none.
#pragma once

#include <qcustomplot.h>

#include <vector>

namespace darkroom::views {

// The values 1·10^k, 2·10^k, 5·10^k within [low, high] (low > 0), ascending; a range that holds
// fewer than two of them also gets 1.5, 3 and 7 times the powers of ten.
std::vector<double> logTickValues(double low, double high);
// A text ticker with those ticks, labelled in the shortest form ("0.5", "200", "1e+04").
QSharedPointer<QCPAxisTickerText> logTicker(double low, double high);

}  // namespace darkroom::views

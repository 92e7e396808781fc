#include "quant/log_ticks.h"

#include <cmath>

namespace darkroom::views {

namespace {

std::vector<double> ticksWith(double low, double high, std::initializer_list<double> mantissas) {
  std::vector<double> ticks;
  if (!(low > 0) || !(high >= low)) return ticks;
  for (int e = int(std::floor(std::log10(low))) - 1; e <= int(std::ceil(std::log10(high))); ++e)
    for (const double m : mantissas) {
      const double v = m * std::pow(10.0, e);
      // A small tolerance: the ends of a range are often exactly a tick.
      if (v >= low * (1 - 1e-9) && v <= high * (1 + 1e-9)) ticks.push_back(v);
    }
  return ticks;
}

}  // namespace

std::vector<double> logTickValues(double low, double high) {
  auto ticks = ticksWith(low, high, {1, 2, 5});
  if (ticks.size() < 2) ticks = ticksWith(low, high, {1, 1.5, 2, 3, 5, 7});
  return ticks;
}

QSharedPointer<QCPAxisTickerText> logTicker(double low, double high) {
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (const double v : logTickValues(low, high)) ticker->addTick(v, QString::number(v, 'g', 4));
  return ticker;
}

}  // namespace darkroom::views

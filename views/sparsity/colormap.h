// The heatmaps' colour map (viridis-like: dark violet → blue → green → yellow, perceptually
// even and readable in grey) and the value → colour position mapping, linear or logarithmic.
#pragma once

#include <QColor>
#include <QMap>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

namespace darkroom::views {

struct Rgba8 {
  std::uint8_t r, g, b, a;
};

// 256 entries from the bottom to the top of the scale, in the byte order GL_RGBA expects.
const std::array<Rgba8, 256>& colormapTable();
// NaN cells: a neutral grey that no entry of the table comes close to.
inline constexpr Rgba8 kNanColor{110, 110, 110, 255};

QColor colormapColor(double position);  // position in [0, 1]
// The same map as QCustomPlot colour stops (QCPColorGradient::setColorStops).
QMap<double, QColor> colormapStops();

// Where a value falls on the colour scale, linear or logarithmic. Log scales cannot show zero or
// negative values, which sparse activations are full of: those go to the bottom, as does anything
// at or below the floor.
class ColorScale {
 public:
  ColorScale() = default;
  // logFloor: the smallest value a log scale resolves (kept positive).
  ColorScale(float low, float high, bool log, float logFloor);

  // 0 at the bottom of the scale, 1 at the top, NaN for NaN. Inline: it runs once per cell of
  // matrices of up to 16 M cells.
  float position(float value) const {
    if (std::isnan(value)) return value;
    if (factor_ == 0.0f) return 0.5f;  // a scale of one value shows it in the middle
    if (log_)
      return value <= bottom_ ? 0.0f : std::min((std::log(value) - offset_) * factor_, 1.0f);
    return std::clamp((value - offset_) * factor_, 0.0f, 1.0f);
  }
  // The values at the bottom (low, or the floor when it is above low on a log scale) and top.
  float bottom() const { return bottom_; }
  float top() const { return high_; }
  bool log() const { return log_; }

 private:
  float bottom_ = 0, high_ = 1;
  bool log_ = false;
  // position = (value or log(value) − offset) × factor, worked out once for the whole matrix.
  float offset_ = 0, factor_ = 1;
};

}  // namespace darkroom::views

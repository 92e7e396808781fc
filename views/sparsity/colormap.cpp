#include "sparsity/colormap.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace darkroom::views {

namespace {

// Ten evenly spaced samples of matplotlib's viridis; the table interpolates linearly between
// them, which stays within a couple of levels of the real map.
constexpr std::array<std::array<int, 3>, 10> kAnchors{{{0x44, 0x01, 0x54},
                                                       {0x48, 0x28, 0x78},
                                                       {0x3e, 0x4a, 0x89},
                                                       {0x31, 0x68, 0x8e},
                                                       {0x26, 0x82, 0x8e},
                                                       {0x1f, 0x9e, 0x89},
                                                       {0x35, 0xb7, 0x79},
                                                       {0x6d, 0xcd, 0x59},
                                                       {0xb4, 0xde, 0x2c},
                                                       {0xfd, 0xe7, 0x25}}};

Rgba8 interpolate(double position) {
  const double scaled = std::clamp(position, 0.0, 1.0) * double(kAnchors.size() - 1);
  const auto below = std::min(static_cast<std::size_t>(scaled), kAnchors.size() - 2);
  const double t = scaled - double(below);
  auto channel = [&](int c) {
    const double v = kAnchors[below][c] * (1 - t) + kAnchors[below + 1][c] * t;
    return static_cast<std::uint8_t>(std::lround(v));
  };
  return {channel(0), channel(1), channel(2), 255};
}

}  // namespace

const std::array<Rgba8, 256>& colormapTable() {
  static const std::array<Rgba8, 256> table = [] {
    std::array<Rgba8, 256> t{};
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = interpolate(double(i) / 255.0);
    return t;
  }();
  return table;
}

QColor colormapColor(double position) {
  const Rgba8 c = interpolate(position);
  return QColor(c.r, c.g, c.b);
}

QMap<double, QColor> colormapStops() {
  QMap<double, QColor> stops;
  for (std::size_t i = 0; i < kAnchors.size(); ++i) {
    const double at = double(i) / double(kAnchors.size() - 1);
    stops[at] = colormapColor(at);
  }
  return stops;
}

ColorScale::ColorScale(float low, float high, bool log, float logFloor)
    : bottom_(log ? std::max({low, logFloor, FLT_MIN}) : low),
      high_(std::max(high, bottom_)),
      log_(log) {
  offset_ = log ? std::log(bottom_) : bottom_;
  const float span = (log ? std::log(high_) : high_) - offset_;
  factor_ = span > 0 ? 1.0f / span : 0.0f;
}

}  // namespace darkroom::views

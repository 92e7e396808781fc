#include "sparsity/heatmap_viewport.h"

#include <algorithm>

namespace darkroom::views {

namespace {
// Zooming out stops at half the fitted size; zooming in at this many pixels per cell, or four
// times the fitted size for matrices small enough to be shown bigger than that when fitted.
constexpr double kMinZoomOfFit = 0.5;
constexpr double kMaxPixelsPerCell = 64;
constexpr double kMaxZoomOfFit = 4;
}  // namespace

void HeatmapViewport::setExtent(double cols, double rows) {
  extent_ = {std::max(cols, 1.0), std::max(rows, 1.0)};
  fit();
}

void HeatmapViewport::setCanvasSize(double width, double height) {
  canvas_ = {std::max(width, 1.0), std::max(height, 1.0)};
  if (fitted_)
    fit();
  else
    clampView();
}

Point2 HeatmapViewport::fitScale() const { return {canvas_.x / extent_.x, canvas_.y / extent_.y}; }

void HeatmapViewport::fit() {
  scale_ = fitScale();
  origin_ = {};
  fitted_ = true;
}

void HeatmapViewport::zoom(double factorX, double factorY, Point2 anchor) {
  const Point2 fixed = toCell(anchor);
  const Point2 fitted = fitScale();
  auto limit = [](double scale, double fit) {
    return std::clamp(scale, fit * kMinZoomOfFit, std::max(kMaxPixelsPerCell, fit * kMaxZoomOfFit));
  };
  scale_ = {limit(scale_.x * factorX, fitted.x), limit(scale_.y * factorY, fitted.y)};
  origin_ = {fixed.x - anchor.x / scale_.x, fixed.y - anchor.y / scale_.y};
  fitted_ = false;
  clampView();
}

void HeatmapViewport::pan(Point2 delta) {
  origin_ = {origin_.x - delta.x / scale_.x, origin_.y - delta.y / scale_.y};
  fitted_ = false;
  clampView();
}

// The matrix may not be dragged out of sight: it always spans the canvas's centre lines.
void HeatmapViewport::clampView() {
  const Point2 shown{canvas_.x / scale_.x, canvas_.y / scale_.y};
  origin_.x = std::clamp(origin_.x, -0.5 * shown.x, extent_.x - 0.5 * shown.x);
  origin_.y = std::clamp(origin_.y, -0.5 * shown.y, extent_.y - 0.5 * shown.y);
}

Point2 HeatmapViewport::toCanvas(Point2 cell) const {
  return {(cell.x - origin_.x) * scale_.x, (cell.y - origin_.y) * scale_.y};
}

Point2 HeatmapViewport::toCell(Point2 canvas) const {
  return {origin_.x + canvas.x / scale_.x, origin_.y + canvas.y / scale_.y};
}

Point2 HeatmapViewport::visibleMax() const { return toCell(canvas_); }

}  // namespace darkroom::views

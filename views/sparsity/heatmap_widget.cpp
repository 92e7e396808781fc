#include "sparsity/heatmap_widget.h"

#include <imgui.h>

#include <QElapsedTimer>
#include <QOpenGLContext>
#include <QOpenGLFunctions>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <string>
#include <utility>

namespace darkroom::views {

namespace {

constexpr float kZoomStep = 1.25f;  // per wheel notch
constexpr float kColorBarWidth = 14.0f;
constexpr float kColorBarGap = 10.0f;  // between the canvas and the bar
constexpr int kColorBarSegments = 64;
constexpr float kTickLength = 4.0f;

ImVec2 operator+(ImVec2 a, ImVec2 b) { return {a.x + b.x, a.y + b.y}; }

ImVec2 toImVec2(Point2 p) { return {static_cast<float>(p.x), static_cast<float>(p.y)}; }

ImU32 toImU32(const Rgba8& c) { return IM_COL32(c.r, c.g, c.b, c.a); }

// Read-outs get four significant digits; the colour bar's labels three, to stay short.
std::string formatValue(double value, int digits = 4) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*g", digits, value);
  return text;
}

// The smallest of 1, 2, 5, 10, 20, 50… cells that is at least `cells`: tick spacing.
std::int64_t niceStep(double cells) {
  std::int64_t step = 1;
  for (;;) {
    for (const std::int64_t m : {1, 2, 5})
      if (double(step * m) >= cells) return step * m;
    step *= 10;
  }
}

bool isPermutation(const std::vector<int>& order, std::int64_t cols) {
  if (std::int64_t(order.size()) != cols) return false;
  std::vector<bool> seen(order.size(), false);
  for (const int c : order) {
    if (c < 0 || std::int64_t(c) >= cols || seen[std::size_t(c)]) return false;
    seen[std::size_t(c)] = true;
  }
  return true;
}

}  // namespace

HeatmapWidget::HeatmapWidget(QWidget* parent) : ImGuiWidget(parent) { setMinimumSize(320, 200); }

HeatmapWidget::~HeatmapWidget() {
  if (QOpenGLContext* gl = context()) {
    disconnect(gl, &QOpenGLContext::aboutToBeDestroyed, this, &HeatmapWidget::releaseTextures);
    releaseTextures();
  }
}

void HeatmapWidget::initializeGL() {
  ImGuiWidget::initializeGL();
  QOpenGLFunctions* gl = context()->functions();
  gl->glGetIntegerv(GL_MAX_TEXTURE_SIZE, &maxTextureSize_);
  // A new context (the widget moved to another window) has none of the old textures.
  texturesStale_ = true;
  connect(context(), &QOpenGLContext::aboutToBeDestroyed, this, &HeatmapWidget::releaseTextures,
          Qt::UniqueConnection);
}

void HeatmapWidget::releaseTextures() {
  if (textures_.tiles().empty()) return;
  makeCurrent();
  textures_.release(*context()->functions());
  doneCurrent();
  texturesStale_ = true;
}

void HeatmapWidget::setMatrix(Array2D matrix, QString rowLabel, QString colLabel) {
  if (matrix.rows < 0 || matrix.cols < 0 ||
      std::int64_t(matrix.values.size()) != matrix.rows * matrix.cols) {
    qWarning("HeatmapWidget: %lld values do not make a %lld × %lld matrix",
             static_cast<long long>(matrix.values.size()), static_cast<long long>(matrix.rows),
             static_cast<long long>(matrix.cols));
    matrix = Array2D{};
  }
  const bool reshaped = matrix.rows != matrix_.rows || matrix.cols != matrix_.cols;
  matrix_ = std::move(matrix);
  rowLabel_ = std::move(rowLabel);
  colLabel_ = std::move(colLabel);
  order_.resize(std::size_t(matrix_.cols));
  std::iota(order_.begin(), order_.end(), 0);
  reordered_ = false;

  float low = INFINITY, high = -INFINITY, positive = INFINITY;
  for (const float v : matrix_.values) {
    if (!std::isfinite(v)) continue;
    low = std::min(low, v);
    high = std::max(high, v);
    if (v > 0) positive = std::min(positive, v);
  }
  dataLow_ = low <= high ? low : 0.0f;
  dataHigh_ = low <= high ? high : 1.0f;
  smallestPositive_ = std::isfinite(positive) ? positive : 1.0f;
  fixedRange_ = false;

  if (reshaped) viewport_.setExtent(double(matrix_.cols), double(matrix_.rows));
  texturesStale_ = true;
  update();
}

void HeatmapWidget::setColumnOrder(std::vector<int> order) {
  if (isPermutation(order, matrix_.cols)) {
    order_ = std::move(order);
  } else {
    order_.resize(std::size_t(matrix_.cols));
    std::iota(order_.begin(), order_.end(), 0);
  }
  reordered_ = false;
  for (std::size_t i = 0; i < order_.size() && !reordered_; ++i) reordered_ = order_[i] != int(i);
  texturesStale_ = true;
  update();
}

void HeatmapWidget::setColorRange(float low, float high) {
  fixedRange_ = true;
  fixedLow_ = std::min(low, high);
  fixedHigh_ = std::max(low, high);
  texturesStale_ = true;
  update();
}

void HeatmapWidget::setLogColor(bool on) {
  if (on == logColor_) return;
  logColor_ = on;
  texturesStale_ = true;
  update();
}

void HeatmapWidget::setAxisNumbering(std::int64_t first, std::int64_t step) {
  numberFirst_ = first;
  numberStep_ = std::max<std::int64_t>(step, 1);
  update();
}

QString HeatmapWidget::cellName(const QString& label, std::int64_t index) const {
  if (numberStep_ == 1) return QStringLiteral("%1 %2").arg(label).arg(numberOf(index));
  return QStringLiteral("%1s %2–%3").arg(label).arg(numberOf(index)).arg(numberOf(index + 1) - 1);
}

void HeatmapWidget::fitView() {
  viewport_.fit();
  update();
}

void HeatmapWidget::setMaxTileSide(int side) {
  maxTileSide_ = std::max(side, 0);
  texturesStale_ = true;
  update();
}

ColorScale HeatmapWidget::colorScale() const {
  const float low = fixedRange_ ? fixedLow_ : dataLow_;
  const float high = fixedRange_ ? fixedHigh_ : dataHigh_;
  // The log floor: the smallest positive value, but at most four decades below the top, or the
  // scale would be spent on values too small to matter.
  const float floor = std::max(smallestPositive_, high * 1e-4f);
  return ColorScale(low, high, logColor_, floor);
}

QPointF HeatmapWidget::cellCenter(std::int64_t row, std::int64_t displayCol) const {
  const Point2 at = viewport_.toCanvas({double(displayCol) + 0.5, double(row) + 0.5});
  return {canvasMin_.x + at.x, canvasMin_.y + at.y};
}

void HeatmapWidget::uploadIfChanged() {
  if (!texturesStale_) return;
  texturesStale_ = false;
  QElapsedTimer clock;
  clock.start();
  std::int64_t side = maxTextureSize_ > 0 ? maxTextureSize_ : 4096;
  if (maxTileSide_ > 0) side = std::min<std::int64_t>(side, maxTileSide_);
  uploadFailed_ = !textures_.upload(*context()->functions(), matrix_, order_, colorScale(), side);
  lastUploadMs_ = double(clock.nsecsElapsed()) / 1e6;
}

void HeatmapWidget::drawUi() {
  const ImGuiIO& io = ImGui::GetIO();
  ImGui::SetNextWindowPos(ImVec2(0.0f, 0.0f));
  ImGui::SetNextWindowSize(io.DisplaySize);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowBorderSize, 0.0f);  // the widget's edge is the frame
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(8.0f, 6.0f));
  // The Qt panel's own colour around the ImGui content, so the two read as one panel.
  const QColor back = background();
  ImGui::PushStyleColor(ImGuiCol_WindowBg, ImVec4(float(back.redF()), float(back.greenF()),
                                                  float(back.blueF()), 1.0f));
  ImGui::Begin("Heatmap", nullptr,
               ImGuiWindowFlags_NoTitleBar | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize |
                   ImGuiWindowFlags_NoCollapse | ImGuiWindowFlags_NoSavedSettings |
                   ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
  ImGui::PopStyleVar(2);
  ImGui::PopStyleColor();
  drawToolbar();
  hoverText_.clear();
  if (matrix_.values.empty()) {
    ImGui::TextDisabled("No matrix to show.");
    ImGui::End();
    return;
  }
  uploadIfChanged();

  // Gutters: row numbers on the left; column numbers and the axis names below; the colour bar
  // and its labels on the right.
  const float line = ImGui::GetTextLineHeight();
  const std::string widestRow = std::to_string(numberOf(matrix_.rows - 1));
  const float rowGutter = ImGui::CalcTextSize(widestRow.c_str()).x + kTickLength + 6.0f;
  const float barGutter =
      kColorBarGap + kColorBarWidth + 6.0f + ImGui::CalcTextSize("<=-0.00e-00").x;
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 canvasSize(std::max(avail.x - rowGutter - barGutter, 16.0f),
                          std::max(avail.y - 2.0f * line - 8.0f, 16.0f));
  canvasMin_ = {double(origin.x + rowGutter), double(origin.y)};
  canvasSize_ = {double(canvasSize.x), double(canvasSize.y)};
  viewport_.setCanvasSize(canvasSize_.x, canvasSize_.y);

  ImGui::SetCursorScreenPos(toImVec2(canvasMin_));
  ImGui::InvisibleButton("canvas", canvasSize);
  handleInput();

  ImDrawList* draw = ImGui::GetWindowDrawList();
  drawCells(draw);
  drawHover(draw);
  drawRowAxis(draw, origin.x);
  drawColumnAxis(draw);
  drawColorBar(draw, float(canvasMin_.x + canvasSize_.x) + kColorBarGap);
  ImGui::End();
}

void HeatmapWidget::drawToolbar() {
  if (ImGui::Button("Fit")) viewport_.fit();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Show the whole matrix (or double-click it)");
  ImGui::SameLine();
  bool log = logColor_;
  if (ImGui::Checkbox("Log colour", &log)) setLogColor(log);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Logarithmic colour scale; zeros and negatives take its bottom colour");
  ImGui::SameLine();
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("%lld x %lld", static_cast<long long>(matrix_.rows),
                      static_cast<long long>(matrix_.cols));
  ImGui::SameLine();
  if (uploadFailed_)
    ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1.0f),
                       "The GPU refused the textures (out of memory?)");
  else
    ImGui::TextDisabled(selectionMode_
                            ? "   drag: select a block   wheel: zoom"
                            : "   drag: pan   wheel: zoom   Shift+wheel: columns   Ctrl+wheel: rows");
}

void HeatmapWidget::handleInput() {
  const ImGuiIO& io = ImGui::GetIO();
  if (selectionMode_)
    handleSelection();
  else if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 0.0f))
    viewport_.pan({double(io.MouseDelta.x), double(io.MouseDelta.y)});
  if (!ImGui::IsItemHovered()) return;
  if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) viewport_.fit();
  // Shift+wheel arrives as a horizontal wheel on some platforms.
  const float notches = io.MouseWheel != 0.0f ? io.MouseWheel : io.MouseWheelH;
  if (notches == 0.0f) return;
  const double factor = std::pow(double(kZoomStep), double(notches));
  const Point2 anchor{double(io.MousePos.x) - canvasMin_.x, double(io.MousePos.y) - canvasMin_.y};
  viewport_.zoom(io.KeyCtrl ? 1.0 : factor, io.KeyShift ? 1.0 : factor, anchor);
}

void HeatmapWidget::handleSelection() {
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  const Point2 cell =
      viewport_.toCell({double(mouse.x) - canvasMin_.x, double(mouse.y) - canvasMin_.y});
  auto clampCell = [](double v, std::int64_t n) {
    return std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor(v)), 0, n - 1);
  };
  if (ImGui::IsItemActivated()) {
    selecting_ = true;
    selectionStart_ = cell;
  }
  if (!selecting_) return;
  const std::int64_t r0 = clampCell(selectionStart_.y, matrix_.rows);
  const std::int64_t r1 = clampCell(cell.y, matrix_.rows);
  const std::int64_t c0 = clampCell(selectionStart_.x, matrix_.cols);
  const std::int64_t c1 = clampCell(cell.x, matrix_.cols);
  const std::int64_t rowFirst = std::min(r0, r1), rowEnd = std::max(r0, r1) + 1;
  const std::int64_t colFirst = std::min(c0, c1), colEnd = std::max(c0, c1) + 1;
  if (ImGui::IsItemActive()) {
    ImDrawList* draw = ImGui::GetForegroundDrawList();
    const ImVec2 lo = toImVec2(canvasMin_);
    draw->AddRect(lo + toImVec2(viewport_.toCanvas({double(colFirst), double(rowFirst)})),
                  lo + toImVec2(viewport_.toCanvas({double(colEnd), double(rowEnd)})),
                  IM_COL32(255, 255, 255, 230), 0.0f, 0, 1.5f);
    return;
  }
  selecting_ = false;
  // Emitted after the frame: the receiver may replace the matrix this frame is drawing.
  QMetaObject::invokeMethod(
      this, [this, rowFirst, rowEnd, colFirst, colEnd] {
        emit cellsSelected(rowFirst, rowEnd, colFirst, colEnd);
      },
      Qt::QueuedConnection);
}

void HeatmapWidget::drawCells(ImDrawList* draw) const {
  const ImVec2 lo = toImVec2(canvasMin_);
  const ImVec2 hi = lo + toImVec2(canvasSize_);
  // A shade under the canvas, so that zooming out shows where the matrix ends.
  draw->AddRectFilled(lo, hi, IM_COL32(0, 0, 0, 60));
  draw->PushClipRect(lo, hi, true);
  const Point2 shownMin = viewport_.visibleMin();
  const Point2 shownMax = viewport_.visibleMax();
  for (const HeatmapTextures::Tile& tile : textures_.tiles()) {
    const TileRect& c = tile.cells;
    // Only the visible part of each tile, with the matching texture coordinates: quads stay
    // within float precision however far the view is zoomed in.
    const double x0 = std::max(double(c.col), shownMin.x);
    const double x1 = std::min(double(c.col + c.cols), shownMax.x);
    const double y0 = std::max(double(c.row), shownMin.y);
    const double y1 = std::min(double(c.row + c.rows), shownMax.y);
    if (x0 >= x1 || y0 >= y1) continue;
    const ImVec2 uv0(float((x0 - double(c.col)) / double(c.cols)),
                     float((y0 - double(c.row)) / double(c.rows)));
    const ImVec2 uv1(float((x1 - double(c.col)) / double(c.cols)),
                     float((y1 - double(c.row)) / double(c.rows)));
    const auto texture = reinterpret_cast<ImTextureID>(static_cast<std::intptr_t>(tile.texture));
    draw->AddImage(texture, lo + toImVec2(viewport_.toCanvas({x0, y0})),
                   lo + toImVec2(viewport_.toCanvas({x1, y1})), uv0, uv1);
  }
  draw->PopClipRect();
}

void HeatmapWidget::drawHover(ImDrawList* draw) {
  if (!ImGui::IsItemHovered() || ImGui::IsItemActive()) return;  // no read-out while dragging
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  const Point2 cell =
      viewport_.toCell({double(mouse.x) - canvasMin_.x, double(mouse.y) - canvasMin_.y});
  if (cell.x < 0 || cell.y < 0 || cell.x >= double(matrix_.cols) || cell.y >= double(matrix_.rows))
    return;
  const auto row = static_cast<std::int64_t>(cell.y);
  const auto shown = static_cast<std::int64_t>(cell.x);
  const int column = order_[std::size_t(shown)];
  const std::string value = formatValue(double(matrix_.at(row, column)));

  const QString rowText = cellName(rowLabel_, row);
  QString colText = cellName(colLabel_, column);
  if (reordered_) colText += QStringLiteral(" (shown at position %1)").arg(shown);
  const QString valueText = QStringLiteral("value %1").arg(QString::fromStdString(value));
  hoverText_ = rowText + QStringLiteral(", ") + colText + QStringLiteral(", ") + valueText;
  ImGui::BeginTooltip();
  ImGui::TextUnformatted(rowText.toUtf8().constData());
  ImGui::TextUnformatted(colText.toUtf8().constData());
  ImGui::TextUnformatted(valueText.toUtf8().constData());
  ImGui::EndTooltip();

  // Outline the cell once it is big enough for an outline to mean something.
  const Point2 scale = viewport_.pixelsPerCell();
  if (scale.x < 3 || scale.y < 3) return;
  const ImVec2 lo = toImVec2(canvasMin_);
  draw->PushClipRect(lo, lo + toImVec2(canvasSize_), true);
  draw->AddRect(lo + toImVec2(viewport_.toCanvas({double(shown), double(row)})),
                lo + toImVec2(viewport_.toCanvas({double(shown + 1), double(row + 1)})),
                IM_COL32(255, 255, 255, 220), 0.0f, 0, 1.5f);
  draw->PopClipRect();
}

void HeatmapWidget::drawRowAxis(ImDrawList* draw, float left) const {
  const float line = ImGui::GetTextLineHeight();
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  const ImU32 tick = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float right = float(canvasMin_.x);
  const float top = float(canvasMin_.y);
  const float bottom = float(canvasMin_.y + canvasSize_.y);
  draw->PushClipRect(ImVec2(left, top - line), ImVec2(right, bottom + line), true);
  const std::int64_t step = niceStep(1.3 * double(line) / viewport_.pixelsPerCell().y);
  const auto first = std::max<std::int64_t>(
      0, static_cast<std::int64_t>(std::ceil(viewport_.visibleMin().y / double(step))) * step);
  for (std::int64_t r = first; r < matrix_.rows && double(r) < viewport_.visibleMax().y;
       r += step) {
    const float y = top + float(viewport_.toCanvas({0.0, double(r) + 0.5}).y);
    if (y < top || y > bottom) continue;
    const std::string label = std::to_string(numberOf(r));
    const float width = ImGui::CalcTextSize(label.c_str()).x;
    draw->AddLine(ImVec2(right - kTickLength, y), ImVec2(right, y), tick);
    draw->AddText(ImVec2(right - kTickLength - 3.0f - width, y - 0.5f * line), text, label.c_str());
  }
  draw->PopClipRect();
  // Axis names on the last line, below the column numbers.
  const std::string rows = "rows: " + rowLabel_.toStdString();
  draw->AddText(ImVec2(left, bottom + line + 6.0f), tick, rows.c_str());
}

void HeatmapWidget::drawColumnAxis(ImDrawList* draw) const {
  const float line = ImGui::GetTextLineHeight();
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  const ImU32 tick = ImGui::GetColorU32(ImGuiCol_TextDisabled);
  const float left = float(canvasMin_.x);
  const float right = float(canvasMin_.x + canvasSize_.x);
  const float bottom = float(canvasMin_.y + canvasSize_.y);
  const std::string widest = std::to_string(numberOf(matrix_.cols - 1));
  const float spacing = ImGui::CalcTextSize(widest.c_str()).x + 24.0f;
  const std::int64_t step = niceStep(double(spacing) / viewport_.pixelsPerCell().x);
  draw->PushClipRect(ImVec2(left - spacing, bottom), ImVec2(right + spacing, bottom + line + 4.0f),
                     true);
  const auto first = std::max<std::int64_t>(
      0, static_cast<std::int64_t>(std::ceil(viewport_.visibleMin().x / double(step))) * step);
  for (std::int64_t c = first; c < matrix_.cols && double(c) < viewport_.visibleMax().x;
       c += step) {
    const float x = left + float(viewport_.toCanvas({double(c) + 0.5, 0.0}).x);
    if (x < left || x > right) continue;
    const std::string label = std::to_string(numberOf(c));
    const float width = ImGui::CalcTextSize(label.c_str()).x;
    draw->AddLine(ImVec2(x, bottom), ImVec2(x, bottom + kTickLength), tick);
    draw->AddText(ImVec2(x - 0.5f * width, bottom + kTickLength), text, label.c_str());
  }
  draw->PopClipRect();
  // Reordered columns are numbered by position; the tooltip names the data column.
  const std::string name = "columns: " + colLabel_.toStdString() +
                           (reordered_ ? " (numbered by position after sorting)" : "");
  const float width = ImGui::CalcTextSize(name.c_str()).x;
  draw->AddText(ImVec2(0.5f * (left + right - width), bottom + line + 6.0f), tick, name.c_str());
}

void HeatmapWidget::drawColorBar(ImDrawList* draw, float left) const {
  const auto& table = colormapTable();
  const float top = float(canvasMin_.y);
  const float height = float(canvasSize_.y);
  const float right = left + kColorBarWidth;
  // Top of the bar is the top of the scale; each segment blends two table entries.
  for (int i = 0; i < kColorBarSegments; ++i) {
    const float y0 = top + height * float(i) / kColorBarSegments;
    const float y1 = top + height * float(i + 1) / kColorBarSegments;
    const ImU32 upper = toImU32(table[std::size_t(255 - 255 * i / kColorBarSegments)]);
    const ImU32 lower = toImU32(table[std::size_t(255 - 255 * (i + 1) / kColorBarSegments)]);
    draw->AddRectFilledMultiColor(ImVec2(left, y0), ImVec2(right, y1), upper, upper, lower, lower);
  }
  draw->AddRect(ImVec2(left, top), ImVec2(right, top + height),
                ImGui::GetColorU32(ImGuiCol_Border));

  const ColorScale scale = colorScale();
  const double low = scale.bottom(), high = scale.top();
  // The middle of a log scale is the geometric mean of its ends.
  const double middle = scale.log() ? std::sqrt(low * high) : 0.5 * (low + high);
  const float line = ImGui::GetTextLineHeight();
  const ImU32 text = ImGui::GetColorU32(ImGuiCol_Text);
  const float x = right + 6.0f;
  draw->AddText(ImVec2(x, top), text, formatValue(high, 3).c_str());
  draw->AddText(ImVec2(x, top + 0.5f * (height - line)), text, formatValue(middle, 3).c_str());
  draw->AddText(ImVec2(x, top + height - line), text,
                ((scale.log() ? "<=" : "") + formatValue(low, 3)).c_str());
  if (scale.log())
    draw->AddText(ImVec2(left, top + height + line + 6.0f),
                  ImGui::GetColorU32(ImGuiCol_TextDisabled), "log scale");
}

}  // namespace darkroom::views

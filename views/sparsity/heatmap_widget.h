// A large float matrix (layers × neurons, attention maps up to 4096 × 4096) as a zoomable
// heatmap, drawn with Dear ImGui from GPU textures. The matrix is colour-mapped and uploaded once
// per change of data, column order or colour scale; a frame only draws the visible part of the
// textures, so panning and zooming stay cheap at any size.
#pragma once

#include "imgui/imgui_widget.h"
#include "sparsity/colormap.h"
#include "sparsity/heatmap_textures.h"
#include "sparsity/heatmap_viewport.h"

#include <darkroom/sparsity.h>

#include <QPointF>
#include <QSize>
#include <QString>

#include <cstdint>
#include <vector>

struct ImDrawList;

namespace darkroom::views {

class HeatmapWidget : public ImGuiWidget {
  Q_OBJECT

 public:
  explicit HeatmapWidget(QWidget* parent = nullptr);
  ~HeatmapWidget() override;

  // Shows a matrix with its columns in their own order and the colour scale spanning its finite
  // values; the view is fitted when the shape changed. A matrix whose values do not match its
  // shape is refused (an empty one is shown).
  void setMatrix(Array2D matrix, QString rowLabel = QStringLiteral("layer"),
                 QString colLabel = QStringLiteral("neuron"));
  // Display column i shows data column order[i]. Anything but a permutation of the columns
  // restores the matrix's own order.
  void setColumnOrder(std::vector<int> order);
  // Fixes the colour scale (the next setMatrix goes back to the data's own range), so that
  // matrices stepped through share one scale.
  void setColorRange(float low, float high);
  void setLogColor(bool on);
  bool logColor() const { return logColor_; }
  void fitView();
  // Caps the tile side below GL_MAX_TEXTURE_SIZE (0: no cap), to exercise tiling on GPUs that
  // would not need it.
  void setMaxTileSide(int side);
  // Axis numbers and the tooltip show first + index · step instead of the cell index, for a
  // matrix that is a pooled window of a bigger one (cell c covers step indices from there).
  void setAxisNumbering(std::int64_t first, std::int64_t step);
  // Selection mode (the co-activation view's zoom): a left drag outlines a block of cells and
  // emits cellsSelected instead of panning; the wheel still zooms. Off by default.
  void setSelectionMode(bool on) { selectionMode_ = on; }
  bool selectionMode() const { return selectionMode_; }

  const Array2D& matrix() const { return matrix_; }
  const std::vector<int>& columnOrder() const { return order_; }
  ColorScale colorScale() const;
  // The cell under the mouse as the tooltip names it ("" when the mouse is not over a cell).
  QString hoverText() const { return hoverText_; }
  // Textures the matrix is split into, GL_MAX_TEXTURE_SIZE as the GL reported it (0 before the
  // first frame), and the time the last colour-map + upload took.
  int tileCount() const { return static_cast<int>(textures_.tiles().size()); }
  int maxTextureSize() const { return maxTextureSize_; }
  double lastUploadMs() const { return lastUploadMs_; }
  // Where the centre of cell (row, display column) is in widget coordinates, as of the last
  // frame drawn.
  QPointF cellCenter(std::int64_t row, std::int64_t displayCol) const;

  QSize sizeHint() const override { return {900, 360}; }

 signals:
  // Selection mode: the block a drag outlined, in cells [rowFirst, rowEnd) × display columns
  // [colFirst, colEnd). Queued, so receivers may change the matrix.
  void cellsSelected(qint64 rowFirst, qint64 rowEnd, qint64 colFirst, qint64 colEnd);

 protected:
  void initializeGL() override;
  void drawUi() override;

 private:
  void releaseTextures();
  void uploadIfChanged();
  void drawToolbar();
  void handleInput();
  void handleSelection();
  void drawCells(ImDrawList* draw) const;
  void drawHover(ImDrawList* draw);
  void drawRowAxis(ImDrawList* draw, float left) const;
  void drawColumnAxis(ImDrawList* draw) const;
  void drawColorBar(ImDrawList* draw, float left) const;
  std::int64_t numberOf(std::int64_t index) const { return numberFirst_ + index * numberStep_; }
  QString cellName(const QString& label, std::int64_t index) const;

  Array2D matrix_;
  std::vector<int> order_;
  bool reordered_ = false;
  QString rowLabel_, colLabel_;
  float dataLow_ = 0, dataHigh_ = 1;
  float smallestPositive_ = 1;  // the log scale's floor
  bool fixedRange_ = false;
  float fixedLow_ = 0, fixedHigh_ = 1;
  bool logColor_ = false;

  HeatmapTextures textures_;
  bool texturesStale_ = true;
  bool uploadFailed_ = false;
  int maxTextureSize_ = 0;
  int maxTileSide_ = 0;
  double lastUploadMs_ = 0;

  std::int64_t numberFirst_ = 0, numberStep_ = 1;
  bool selectionMode_ = false;
  bool selecting_ = false;
  Point2 selectionStart_;  // the cell where the drag began

  HeatmapViewport viewport_;
  Point2 canvasMin_;  // the canvas's top-left corner in widget coordinates
  Point2 canvasSize_;
  QString hoverText_;
};

}  // namespace darkroom::views

// The error of one quantized matrix per 32×32 tile of its weights, as a heatmap drawn with Dear
// ImGui (the Sparsity panel's HeatmapWidget): rows and columns are numbered by weight, so a
// tooltip names the 32 rows and columns of the tile under the mouse. Without OpenGL a sentence
// says why, and the matrix is still kept for the tile summary.
#pragma once

#include <darkroom/quant.h>
#include <darkroom/sparsity.h>

#include <QString>
#include <QWidget>

class QLabel;

namespace darkroom::views {

class HeatmapWidget;

// tile_rows × tile_cols of rel. error; empty when the report's tiles do not match the matrix
// shape (32×32 tiles over rows × cols).
Array2D tileErrorMatrix(const MatrixQuantError& matrix);

// The tile with the largest error: its index and value (index −1 when there is none).
struct WorstTile {
  std::int64_t row = -1, col = -1;
  float error = 0;
  double mean = 0;  // of all tiles, for comparison
};
WorstTile worstTile(const Array2D& tiles);

class TileErrorView : public QWidget {
  Q_OBJECT

 public:
  explicit TileErrorView(QWidget* parent = nullptr);

  void setMatrix(const MatrixQuantError& matrix);
  void clear(const QString& why);

  const Array2D& tiles() const { return tiles_; }
  QString detailText() const;
  HeatmapWidget* heatmap() const { return heatmap_; }  // nullptr without OpenGL
  void applyTheme();

 private:
  Array2D tiles_;
  QLabel* caption_;
  QLabel* detail_;
  HeatmapWidget* heatmap_ = nullptr;
};

}  // namespace darkroom::views

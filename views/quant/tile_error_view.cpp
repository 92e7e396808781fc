#include "quant/tile_error_view.h"

#include "imgui/imgui_widget.h"
#include "quant/matrix_error_model.h"
#include "sparsity/heatmap_frame.h"
#include "sparsity/heatmap_widget.h"

#include <QApplication>
#include <QGuiApplication>
#include <QLabel>
#include <QVBoxLayout>

#include <cmath>

namespace darkroom::views {

namespace {
constexpr std::int64_t kTile = 32;  // the error is reported per 32×32 tile of W
}

Array2D tileErrorMatrix(const MatrixQuantError& m) {
  const std::int64_t rows = (m.rows + kTile - 1) / kTile, cols = (m.cols + kTile - 1) / kTile;
  if (m.rows <= 0 || m.cols <= 0 || m.tile_rows != rows || m.tile_cols != cols ||
      std::int64_t(m.tile_rel_error.size()) != rows * cols)
    return {};
  return {rows, cols, m.tile_rel_error};
}

WorstTile worstTile(const Array2D& tiles) {
  WorstTile worst;
  double sum = 0;
  std::int64_t finite = 0;
  for (std::int64_t r = 0; r < tiles.rows; ++r)
    for (std::int64_t c = 0; c < tiles.cols; ++c) {
      const float v = tiles.at(r, c);
      if (!std::isfinite(v)) continue;
      sum += v;
      ++finite;
      if (worst.row < 0 || v > worst.error) worst = {r, c, v, 0};
    }
  worst.mean = finite ? sum / double(finite) : 0;
  return worst;
}

TileErrorView::TileErrorView(QWidget* parent) : QWidget(parent) {
  const HeatmapFrame frame = makeHeatmapFrame(this, tr("Error per 32×32 tile"));
  caption_ = frame.caption;
  detail_ = frame.detail;
  auto* layout = frame.layout;
  if (ImGuiWidget::platformSupported()) {
    heatmap_ = new HeatmapWidget;
    heatmap_->setMinimumSize(280, 240);
    // Cell (r, c) covers weight rows 32r … 32r + 31 and columns 32c … 32c + 31.
    heatmap_->setAxisNumbering(0, kTile);
    layout->addWidget(heatmap_, 1);
  } else {
    layout->addWidget(emptyStateLabel(tr("The tile heatmap draws with OpenGL, which the \"%1\" Qt "
                                         "platform does not provide.")
                                          .arg(QGuiApplication::platformName())),
                      1);
  }
  clear(tr("Select a matrix in the table to see where its error sits."));
  applyTheme();
}

void TileErrorView::setMatrix(const MatrixQuantError& m) {
  tiles_ = tileErrorMatrix(m);
  if (tiles_.values.empty()) {
    clear(tr("%1 has no tile errors matching its %2 × %3 shape in this report.")
              .arg(QString::fromStdString(m.name))
              .arg(m.rows)
              .arg(m.cols));
    return;
  }
  const WorstTile worst = worstTile(tiles_);
  caption_->setText(tr("Error per 32×32 tile — %1").arg(shortMatrixName(m.name)));
  caption_->setToolTip(QString::fromStdString(m.name));
  detail_->setText(tr("%1 · %2 × %3 weights · %4 × %5 tiles · mean %6 · worst %7 at rows "
                      "%8–%9, columns %10–%11")
                       .arg(QString::fromStdString(m.type))
                       .arg(m.rows)
                       .arg(m.cols)
                       .arg(tiles_.rows)
                       .arg(tiles_.cols)
                       .arg(worst.mean, 0, 'f', 4)
                       .arg(double(worst.error), 0, 'f', 4)
                       .arg(worst.row * kTile)
                       .arg(std::min(m.rows, (worst.row + 1) * kTile) - 1)
                       .arg(worst.col * kTile)
                       .arg(std::min(m.cols, (worst.col + 1) * kTile) - 1));
  if (heatmap_) {
    heatmap_->setMatrix(tiles_, tr("weight row"), tr("weight column"));
    heatmap_->fitView();
  }
}

void TileErrorView::clear(const QString& why) {
  tiles_ = {};
  caption_->setText(tr("Error per 32×32 tile"));
  detail_->setText(why);
  if (heatmap_) heatmap_->setMatrix({});
}

QString TileErrorView::detailText() const { return detail_->text(); }

void TileErrorView::applyTheme() {
  if (!heatmap_) return;
  const QPalette palette = QApplication::palette();
  heatmap_->setDarkStyle(palette.color(QPalette::Window).lightness() < 128);
  heatmap_->setBackground(palette.color(QPalette::Window));
}

}  // namespace darkroom::views

#include "neuralink/coact_order_view.h"

#include "imgui/imgui_widget.h"
#include "neuralink/frequency_strip.h"
#include "sparsity/heatmap_frame.h"
#include "sparsity/heatmap_widget.h"

#include <QApplication>
#include <QGuiApplication>
#include <QLabel>
#include <QVBoxLayout>

#include <algorithm>

namespace darkroom::views {

CoactOrderView::CoactOrderView(const QString& caption, QWidget* parent) : QWidget(parent) {
  // The two sides of the comparison keep their heatmaps level (the frame's two-line detail).
  const HeatmapFrame frame = makeHeatmapFrame(this, caption);
  caption_ = frame.caption;
  detail_ = frame.detail;
  auto* layout = frame.layout;
  if (ImGuiWidget::platformSupported()) {
    heatmap_ = new HeatmapWidget;
    heatmap_->setMinimumSize(300, 280);
    heatmap_->setSelectionMode(true);
    heatmap_->setLogColor(true);  // P(ij) spans decades: hot pairs and rare ones both show
    layout->addWidget(heatmap_, 1);
    // The matrix is square: a block outlined anywhere selects the slots of its rows and columns,
    // so a cluster on the diagonal is selected by dragging across it either way.
    connect(heatmap_, &HeatmapWidget::cellsSelected, this,
            [this](qint64 rowFirst, qint64 rowEnd, qint64 colFirst, qint64 colEnd) {
              const SlotRange picked =
                  pooled_.slotsOf(std::min(rowFirst, colFirst), std::max(rowEnd, colEnd));
              if (picked.size() > 0) emit rangeSelected(picked.first, picked.end);
            });
  } else {
    noGl_ = emptyStateLabel(tr("The co-activation heatmap draws with OpenGL, which the \"%1\" Qt "
                               "platform does not provide.")
                                .arg(QGuiApplication::platformName()));
    layout->addWidget(noGl_, 1);
  }
  strip_ = new FrequencyStrip;
  layout->addWidget(strip_);
}

void CoactOrderView::setOrder(std::shared_ptr<const neuralink::LayerCoact> stats,
                              std::vector<std::int32_t> order, const QString& detail) {
  if (!stats || !isNeuronOrder(order, stats->neurons)) {
    clear(tr("No valid order for this layer."));
    return;
  }
  stats_ = std::move(stats);
  order_ = std::move(order);
  range_ = {0, stats_->neurons};
  detail_->setText(detail);
  repool();
  if (heatmap_) heatmap_->fitView();
}

void CoactOrderView::clear(const QString& why) {
  stats_.reset();
  order_.clear();
  range_ = {};
  pooled_ = {};
  detail_->setText(why);
  if (heatmap_) heatmap_->setMatrix({});
  strip_->clearStrip();
}

void CoactOrderView::setRange(SlotRange range) {
  if (!stats_) return;
  range_ = range;
  repool();
  if (heatmap_) heatmap_->fitView();
}

void CoactOrderView::setPooling(Pooling pooling) {
  pooling_ = pooling;
  repool();
}

void CoactOrderView::setMaxSide(std::int64_t side) {
  maxSide_ = std::max<std::int64_t>(side, 1);
  repool();
}

void CoactOrderView::setColorRange(float low, float high) {
  colorLow_ = low;
  colorHigh_ = high;
  if (heatmap_) heatmap_->setColorRange(low, high);
}

QString CoactOrderView::detailText() const { return detail_->text(); }

void CoactOrderView::repool() {
  if (!stats_) return;
  pooled_ = poolCoactivation(*stats_, order_, range_, maxSide_, pooling_);
  strip_->setPooled(pooled_);
  if (!heatmap_) return;
  // Numbered by slot, also when zoomed or pooled.
  heatmap_->setAxisNumbering(pooled_.range.first, pooled_.bin);
  const QString unit = tr("slot");
  heatmap_->setMatrix(pooled_.matrix, unit, unit);
  heatmap_->setColorRange(colorLow_, colorHigh_);  // setMatrix goes back to the data's range
}

void CoactOrderView::applyTheme() {
  strip_->applyTheme();
  if (!heatmap_) return;
  const QPalette palette = QApplication::palette();
  heatmap_->setDarkStyle(palette.color(QPalette::Window).lightness() < 128);
  heatmap_->setBackground(palette.color(QPalette::Window));
}

}  // namespace darkroom::views

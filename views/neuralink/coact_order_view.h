// One side of the co-activation comparison: a layer's P(ij) heatmap in one neuron order (the
// checkpoint's, or a placement's), the frequency strip along that order, and the order's
// expected reads per token. A drag over the heatmap zooms to the outlined slots.
#pragma once

#include "neuralink/coact_matrix.h"

#include <QString>
#include <QWidget>

#include <memory>
#include <vector>

class QLabel;

namespace darkroom::views {

class FrequencyStrip;
class HeatmapWidget;

class CoactOrderView : public QWidget {
  Q_OBJECT

 public:
  explicit CoactOrderView(const QString& caption, QWidget* parent = nullptr);

  // Shows `stats` in `order` (slot → neuron), the whole layer; `detail` is the line under the
  // caption (method, expected I/O). An order that is not a permutation clears the view.
  void setOrder(std::shared_ptr<const neuralink::LayerCoact> stats,
                std::vector<std::int32_t> order, const QString& detail);
  // Empty view with a sentence saying why (no placement yet, …).
  void clear(const QString& why);
  void setRange(SlotRange range);
  void setPooling(Pooling pooling);
  // Cells per side of the pooled matrix (the texture); layers with more slots are pooled.
  void setMaxSide(std::int64_t side);
  // One colour scale for both sides, so their colours compare.
  void setColorRange(float low, float high);

  bool hasOrder() const { return stats_ != nullptr; }
  const std::vector<std::int32_t>& order() const { return order_; }
  SlotRange range() const { return pooled_.range; }
  const PooledCoact& pooled() const { return pooled_; }
  QString detailText() const;
  HeatmapWidget* heatmap() const { return heatmap_; }  // nullptr without OpenGL
  FrequencyStrip* strip() const { return strip_; }
  void applyTheme();

 signals:
  // A drag outlined slots [first, end) of this order.
  void rangeSelected(qint64 first, qint64 end);

 private:
  void repool();

  std::shared_ptr<const neuralink::LayerCoact> stats_;
  std::vector<std::int32_t> order_;
  SlotRange range_;
  Pooling pooling_ = Pooling::Max;
  std::int64_t maxSide_ = 1024;
  float colorLow_ = 0, colorHigh_ = 1;
  PooledCoact pooled_;

  QLabel* caption_;
  QLabel* detail_;
  QLabel* noGl_ = nullptr;
  HeatmapWidget* heatmap_ = nullptr;
  FrequencyStrip* strip_;
};

}  // namespace darkroom::views

// A thin plot of neuron frequency P(i) along an order's slots, under its co-activation heatmap:
// in placement order hot neurons and clusters show as plateaus.
#pragma once

#include <qcustomplot.h>

#include <vector>

#include "neuralink/coact_matrix.h"

namespace darkroom::views {

class FrequencyStrip : public QCustomPlot {
  Q_OBJECT

 public:
  explicit FrequencyStrip(QWidget* parent = nullptr);
  // One step per cell of `pooled`, x in slots.
  void setPooled(const PooledCoact& pooled);
  void clearStrip();
  void applyTheme();
  QSize sizeHint() const override { return {400, 90}; }

 private:
  QCPGraph* graph_;
};

}  // namespace darkroom::views

// What the heatmap views (a matrix's tile errors, a co-activation order) put around their
// HeatmapWidget: a bold caption with a grey detail of two lines under it, so that views side by
// side keep their heatmaps level; and, where the Qt platform has no OpenGL, a centred label in
// the heatmap's place that says so.
#pragma once

#include <QString>

class QLabel;
class QVBoxLayout;
class QWidget;

namespace darkroom::views {

struct HeatmapFrame {
  QVBoxLayout* layout;  // owner's layout, caption and detail added; the heatmap goes next
  QLabel* caption;
  QLabel* detail;
};

// Gives `owner` a margin-free vertical layout holding the caption and the (empty) detail.
HeatmapFrame makeHeatmapFrame(QWidget* owner, const QString& caption);

// A centred, wrapped label styled as an empty state ("emptyState" in the style sheet).
QLabel* emptyStateLabel(const QString& text);

}  // namespace darkroom::views

#include "sparsity/heatmap_frame.h"

#include <QLabel>
#include <QVBoxLayout>

namespace darkroom::views {

HeatmapFrame makeHeatmapFrame(QWidget* owner, const QString& caption) {
  HeatmapFrame f;
  f.caption = new QLabel(caption);
  QFont bold = f.caption->font();
  bold.setBold(true);
  f.caption->setFont(bold);
  f.detail = new QLabel;
  f.detail->setForegroundRole(QPalette::PlaceholderText);
  f.detail->setWordWrap(true);
  // Two lines whatever the text, so the heatmaps of views side by side stay level.
  f.detail->setMinimumHeight(2 * f.detail->fontMetrics().lineSpacing());
  f.detail->setAlignment(Qt::AlignLeft | Qt::AlignTop);
  f.layout = new QVBoxLayout(owner);
  f.layout->setContentsMargins(0, 0, 0, 0);
  f.layout->setSpacing(2);
  f.layout->addWidget(f.caption);
  f.layout->addWidget(f.detail);
  return f;
}

QLabel* emptyStateLabel(const QString& text) {
  auto* label = new QLabel(text);
  label->setObjectName("emptyState");
  label->setAlignment(Qt::AlignCenter);
  label->setWordWrap(true);
  return label;
}

}  // namespace darkroom::views

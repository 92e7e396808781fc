#include "sparsity/attention_blocks_view.h"

#include "sparsity/attention_map_plot.h"
#include "sparsity/colormap.h"
#include "sparsity/sparsity_matrices.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QStackedWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace darkroom::views {

namespace {

QString percent(double fraction) { return QString::number(fraction * 100.0, 'f', 1) + "%"; }

// Causal blocks of a map, and how many of them hold a value above `threshold`.
struct KeptCount {
  std::int64_t kept = 0, causal = 0;
};

KeptCount countKept(const Array2D& map, double threshold) {
  KeptCount count;
  for (std::int64_t q = 0; q < map.rows; ++q)
    for (std::int64_t k = 0; k < map.cols; ++k) {
      if (!isCausalBlock(q, k, map.rows, map.cols)) continue;
      ++count.causal;
      if (map.at(q, k) > threshold) ++count.kept;
    }
  return count;
}

QString keptText(const KeptCount& count) {
  return QObject::tr("%1 of %2 causal blocks (%3)")
      .arg(count.kept)
      .arg(count.causal)
      .arg(percent(count.causal > 0 ? double(count.kept) / double(count.causal) : 0.0));
}

}  // namespace

Array2D headsKeepingBlocks(const SparsityAnalysis& analysis, std::int64_t layer) {
  Array2D counts;
  for (std::int64_t h = 0; h < analysis.heads; ++h) {
    const Array2D* mass = attentionMass(analysis, layer, h);
    if (!mass) continue;
    if (counts.values.empty())
      counts = {mass->rows, mass->cols, std::vector<float>(mass->values.size(), 0.0f)};
    if (mass->rows != counts.rows || mass->cols != counts.cols) continue;
    for (std::size_t i = 0; i < mass->values.size(); ++i)
      if (mass->values[i] > analysis.options.attention_threshold) counts.values[i] += 1.0f;
  }
  return counts;
}

AttentionBlocksView::AttentionBlocksView(QWidget* parent) : QWidget(parent) {
  layer_ = new QSpinBox;
  layer_->setPrefix(tr("layer "));
  head_ = new QSpinBox;
  head_->setPrefix(tr("head "));
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Attention blocks of")));
  controls->addWidget(layer_);
  controls->addWidget(head_);
  controls->addStretch();

  headPlot_ = new AttentionMapPlot(tr("Head: block attention mass"));
  sharedPlot_ = new AttentionMapPlot(tr("Shared layout"));
  headPlot_->setToolTip(
      tr("Attention mass of each block of queries × keys, summed over its "
         "entries (mean over batches); grey blocks lie in the causal mask"));
  sharedPlot_->setToolTip(
      tr("How many heads keep each block (mass above the threshold): a "
         "layout shared by all heads must keep every block any head keeps"));
  auto* plots = new QHBoxLayout;
  plots->setContentsMargins(0, 0, 0, 0);
  plots->addWidget(headPlot_);
  plots->addWidget(sharedPlot_);
  summary_ = new QLabel;
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* shown = new QWidget;
  auto* shownLayout = new QVBoxLayout(shown);
  shownLayout->setContentsMargins(0, 0, 0, 0);
  shownLayout->addLayout(plots, 1);
  shownLayout->addWidget(summary_);
  missing_ = new QLabel(tr("This analysis has no attention maps."));
  missing_->setObjectName("emptyState");
  missing_->setAlignment(Qt::AlignCenter);
  stack_ = new QStackedWidget;
  stack_->addWidget(missing_);
  stack_->addWidget(shown);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(controls);
  layout->addWidget(stack_, 1);

  connect(layer_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { refresh(); });
  connect(head_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { refresh(); });
  refresh();
}

void AttentionBlocksView::setAnalysis(const SparsityAnalysis* analysis) {
  analysis_ = analysis;
  const bool any = analysis_ && analysis_->heads > 0 && !analysis_->attention_mass.empty();
  {
    const QSignalBlocker blockLayer(layer_), blockHead(head_);
    const auto layers = any ? std::int64_t(analysis_->attention_mass.size()) / analysis_->heads : 0;
    layer_->setRange(0, int(std::max<std::int64_t>(layers - 1, 0)));
    head_->setRange(0, int(std::max<std::int64_t>(any ? analysis_->heads - 1 : 0, 0)));
  }
  layer_->setEnabled(any);
  head_->setEnabled(any);
  refresh();
}

void AttentionBlocksView::showBlocks(int layer, int head) {
  {
    const QSignalBlocker blockLayer(layer_), blockHead(head_);
    layer_->setValue(layer);
    head_->setValue(head);
  }
  refresh();
}

void AttentionBlocksView::refresh() {
  const int layer = layer_->value(), head = head_->value();
  const Array2D* mass = analysis_ ? attentionMass(*analysis_, layer, head) : nullptr;
  if (!mass) {
    headPlot_->clearMap();
    sharedPlot_->clearMap();
    summary_->clear();
    stack_->setCurrentWidget(missing_);
    return;
  }
  stack_->setCurrentWidget(stack_->widget(1));
  const double threshold = analysis_->options.attention_threshold;

  // One colour scale for all heads of the layer, so that switching heads compares them.
  float largest = 0;
  for (std::int64_t h = 0; h < analysis_->heads; ++h)
    if (const Array2D* other = attentionMass(*analysis_, layer, h))
      for (std::int64_t q = 0; q < other->rows; ++q)
        for (std::int64_t k = 0; k < other->cols; ++k)
          if (isCausalBlock(q, k, other->rows, other->cols) && std::isfinite(other->at(q, k)))
            largest = std::max(largest, other->at(q, k));
  QCPColorGradient gradient;
  gradient.setColorStops(colormapStops());
  headPlot_->setTitle(tr("Head %1: block attention mass").arg(head));
  headPlot_->setMap(*mass, 0.0, double(largest), gradient, tr("mass"));

  const Array2D counts = headsKeepingBlocks(*analysis_, layer);
  sharedPlot_->setTitle(tr("Shared layout: union over %1 heads").arg(analysis_->heads));
  sharedPlot_->setMap(counts, 0.0, double(analysis_->heads), gradient,
                      tr("heads keeping it (0 = dropped)"), int(analysis_->heads) + 1);

  QString text =
      tr("Blocks of %1 × %1 tokens are kept when their mass exceeds %2. In these maps (mean "
         "over batches) this head keeps %3; the shared layout keeps %4.")
          .arg(analysis_->options.attention_block)
          .arg(threshold)
          .arg(keptText(countKept(*mass, threshold)))
          .arg(keptText(countKept(counts, 0.0)));
  if (layer >= 0 && std::size_t(layer) < analysis_->layers.size()) {
    const LayerSparsity& s = analysis_->layers[std::size_t(layer)];
    text += tr("\nLayer %1 over the calibration batches: %2 kept per head (mean over heads), %3 "
               "shared.")
                .arg(layer)
                .arg(percent(s.attention_kept_per_head))
                .arg(percent(s.attention_kept_shared));
  }
  summary_->setText(text);
}

void AttentionBlocksView::applyTheme() {
  headPlot_->applyTheme();
  sharedPlot_->applyTheme();
}

}  // namespace darkroom::views

// The Exposer's attention rule for one layer: the chosen head's block attention mass next to the
// layout all heads would share (the union of the heads' kept blocks), with how many causal blocks
// each keeps — the per-head vs shared comparison of the Long Exposure paper.
#pragma once

#include <darkroom/sparsity.h>

#include <QWidget>

class QLabel;
class QSpinBox;
class QStackedWidget;

namespace darkroom::views {

class AttentionMapPlot;

class AttentionBlocksView : public QWidget {
  Q_OBJECT

 public:
  explicit AttentionBlocksView(QWidget* parent = nullptr);

  // The analysis to show (not owned; must outlive its use here); nullptr shows nothing.
  void setAnalysis(const SparsityAnalysis* analysis);
  void showBlocks(int layer, int head);

  QSpinBox* layerSpinBox() const { return layer_; }
  QSpinBox* headSpinBox() const { return head_; }
  AttentionMapPlot* headPlot() const { return headPlot_; }
  AttentionMapPlot* sharedPlot() const { return sharedPlot_; }
  QLabel* summaryLabel() const { return summary_; }

 public slots:
  void applyTheme();

 private:
  void refresh();

  const SparsityAnalysis* analysis_ = nullptr;
  QSpinBox* layer_;
  QSpinBox* head_;
  QStackedWidget* stack_;
  QLabel* missing_;
  AttentionMapPlot* headPlot_;
  AttentionMapPlot* sharedPlot_;
  QLabel* summary_;
};

// Per query × key block of one layer: how many heads keep it (mass above the threshold).
Array2D headsKeepingBlocks(const SparsityAnalysis& analysis, std::int64_t layer);

}  // namespace darkroom::views

// The Sparsity panel: one SparsityAnalysis as a neuron heatmap (activation frequency over the
// calibration set, or |activation| token by token), per-layer sparsity curves showing the
// shadowy gap, and the attention block layouts per head vs shared.
#pragma once

#include <darkroom/sparsity.h>

#include <QString>
#include <QWidget>

#include <memory>
#include <vector>

class QCheckBox;
class QComboBox;
class QLabel;
class QSlider;
class QSpinBox;
class QStackedWidget;

namespace darkroom::views {

class AttentionBlocksView;
class AttentionMapPlot;
class HeatmapWidget;
class SparsityCurvesPlot;

class SparsityPanel : public QWidget {
  Q_OBJECT

 public:
  enum class HeatmapView { Frequency, TokenMagnitude };

  explicit SparsityPanel(QWidget* parent = nullptr);

  // Shows an analysis; `title` names it (model, data set). The rvalue form avoids copying the
  // per-token magnitudes, which run to hundreds of MB for a 7B model.
  void setAnalysis(const SparsityAnalysis& analysis, const QString& title);
  void setAnalysis(SparsityAnalysis&& analysis, const QString& title);
  // Back to the empty state, which says how to make an analysis.
  void clearAnalysis();
  const SparsityAnalysis* analysis() const { return analysis_.get(); }

  void setHeatmapView(HeatmapView view);
  HeatmapView heatmapView() const;
  void setToken(int token);
  void setSortByFrequency(bool on);

  // What the heatmap is given: kept here as well, so it can be checked without OpenGL.
  const Array2D& heatmapMatrix() const { return heatmapMatrix_; }
  const std::vector<int>& heatmapColumnOrder() const { return heatmapOrder_; }

  HeatmapWidget* heatmap() const { return heatmap_; }  // nullptr without OpenGL
  SparsityCurvesPlot* curvesPlot() const { return curves_; }
  AttentionBlocksView* attentionView() const { return attention_; }
  // The chosen head's block masses and the shared layout (also reachable through attentionView).
  AttentionMapPlot* attentionHeadPlot() const;
  AttentionMapPlot* attentionSharedPlot() const;
  QComboBox* viewComboBox() const { return view_; }
  QSpinBox* tokenSpinBox() const { return token_; }
  QSlider* tokenSlider() const { return tokenSlider_; }
  QCheckBox* sortCheckBox() const { return sort_; }
  QLabel* emptyLabel() const { return empty_; }

 public slots:
  // Colours from the application palette (after a theme change).
  void applyTheme();

 private:
  void showAnalysis(const QString& title);
  void updateHeatmap();
  void updateTokenControls();

  std::unique_ptr<SparsityAnalysis> analysis_;
  std::vector<int> frequencyOrder_;  // neurons by mean frequency, worked out once per analysis
  float largestMagnitude_ = 0;
  Array2D heatmapMatrix_;
  std::vector<int> heatmapOrder_;

  QStackedWidget* stack_;
  QLabel* empty_;
  QLabel* title_;
  QLabel* summary_;
  QComboBox* view_;
  QLabel* tokenLabel_;
  QSlider* tokenSlider_;
  QSpinBox* token_;
  QCheckBox* sort_;
  HeatmapWidget* heatmap_ = nullptr;
  SparsityCurvesPlot* curves_;
  AttentionBlocksView* attention_;
};

}  // namespace darkroom::views

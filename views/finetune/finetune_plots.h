// The Fine-tune panel's live curves: loss (with eval loss), step time, tokens/s, MLP and
// attention block sparsity and predictor recall, one chart each, for up to a few runs overlaid
// (a dense and a sparse run side by side). Graphs are made once per set of runs and only their
// data is replaced on each poll, so the charts update without flicker.
#pragma once

#include <QString>
#include <QWidget>
#include <vector>

#include "finetune/finetune_curves.h"

class QCPGraph;
class QCustomPlot;

namespace darkroom::views {

class FinetunePlots : public QWidget {
  Q_OBJECT

 public:
  enum Chart { Loss, StepTime, TokensPerSecond, MlpSparsity, AttentionSparsity, PredictorRecall,
               ChartCount };
  struct ShownRun {
    std::int64_t id = 0;
    QString label;  // "#12 dense"
  };

  explicit FinetunePlots(QWidget* parent = nullptr);

  // Makes the graphs for these runs (in colour order); empty clears the charts.
  void setRuns(const std::vector<ShownRun>& runs);
  // Copies the runs' current points into their graphs and redraws.
  void update(const FinetuneCurves& curves);
  void applyTheme();

  QCustomPlot* plot(Chart chart) const { return plots_[chart]; }

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  struct Series {
    Chart chart;
    std::int64_t run;
    std::string key;
    QCPGraph* raw = nullptr;     // faint raw points behind a smoothed curve, or the curve
    QCPGraph* smooth = nullptr;  // set for noisy keys
  };
  void rescale(Chart chart);

  QCustomPlot* plots_[ChartCount];
  bool follow_[ChartCount];  // autoscale until the user pans or zooms; double-click resumes
  std::vector<Series> series_;
};

}  // namespace darkroom::views

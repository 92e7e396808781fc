// The Runs panel: experiments and runs from the store, the selected runs' parameters side by
// side, and their metric curves overlaid (smoothing, log scale). It polls the store once a
// second, so runs written by a job or by darkroom-cli in another process appear live.
#pragma once

#include <QWidget>
#include <map>

#include "darkroom/store.h"

class QCheckBox;
class QCustomPlot;
class QLabel;
class QListWidget;
class QSlider;
class QStackedWidget;
class QTableWidget;
class QTimer;
class QTreeView;

namespace darkroom::views {

class RunTreeModel;

class RunsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit RunsPanel(QWidget* parent = nullptr);

  // The store to read (not owned); nullptr shows an empty panel.
  void setStore(Store* store);
  // Re-reads runs and, for selected runs that are still running, their metrics.
  void refresh();
  void selectRuns(const std::vector<std::int64_t>& run_ids);
  std::vector<std::int64_t> selectedRuns() const;
  // Checks exactly these metric keys (unknown keys are ignored).
  void showMetrics(const QStringList& keys);
  void setSmoothing(double weight);  // 0..0.99
  void setLogScale(bool on);

  QCustomPlot* plot() const { return plot_; }
  QTreeView* tree() const { return tree_; }
  QListWidget* metricList() const { return metric_list_; }
  QTableWidget* paramsTable() const { return params_; }

 public slots:
  void applyTheme();

 signals:
  // The user (or selectRuns) changed which runs are selected.
  void selectionChanged(const std::vector<std::int64_t>& run_ids);

 private:
  void onSelectionChanged();
  void reloadMetricKeys();
  // Re-reads the selected runs' checked metrics; only_new_points appends what was written since.
  void reloadCurves(bool only_new_points = false);
  void replot();
  void updateParams();
  QStringList checkedKeys() const;

  Store* store_ = nullptr;
  RunTreeModel* model_;
  QTreeView* tree_;
  QTableWidget* params_;
  QListWidget* metric_list_;
  QSlider* smoothing_;
  QLabel* smoothing_label_;
  QCheckBox* log_scale_;
  QStackedWidget* plot_stack_;
  QLabel* empty_label_;
  QCustomPlot* plot_;
  QTimer* poll_;
  // Raw points per (run, key), as read from the store.
  std::map<std::pair<std::int64_t, std::string>, std::vector<MetricPoint>> curves_;
};

}  // namespace darkroom::views

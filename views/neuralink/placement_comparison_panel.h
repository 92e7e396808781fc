// The Placement comparison panel (Neuralink's online stage, PAPERS.md §2): one activation trace
// replayed with real reads against flash layouts in different placements, under each cache
// policy with and without access collapse; grouped bar charts of reads and bytes per token,
// effective bandwidth, latency percentiles, the read-length histogram, and the flash model's
// prediction for a phone's UFS.
#pragma once

#include "neuralink/io_comparison.h"

#include <QString>
#include <QWidget>

#include <vector>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace darkroom {
class Workspace;
}

namespace darkroom::views {

class IoBarChart;
class JobBridge;

class PlacementComparisonPanel : public QWidget {
  Q_OBJECT

 public:
  enum class Chart {
    ReadsPerToken,
    MegabytesPerToken,
    Bandwidth,
    P50,
    P90,
    P99,
    ReadLengths,
    Predicted,
    Count
  };

  explicit PlacementComparisonPanel(JobBridge* jobs, QWidget* parent = nullptr);

  // Replays are stored in the workspace as "iobench" runs, and stored ones can be shown;
  // nullptr: neither.
  void setWorkspace(Workspace* workspace);
  // Shows the workspace's stored iobench runs (loaded as a job); 0 without a workspace.
  std::uint64_t showStoredRuns();
  void setTracePath(const QString& path);
  void setLayoutPaths(const QStringList& paths);
  QStringList layoutPaths() const;
  // Replays every layout × policy × collapse as a job; 0 when the inputs are missing.
  std::uint64_t run();
  // Shows results (the job's, or any others: the tests hand-build them).
  void setComparison(IoComparison comparison);
  const IoComparison& comparison() const { return comparison_; }
  // Which row kind the read-length histogram shows: index into comparedPolicies() × collapse.
  void setHistogramOf(int categoryIndex);

  IoBarChart* chart(Chart which) const { return charts_[std::size_t(which)]; }
  QString message() const;
  bool busy() const { return job_ != 0; }

 public slots:
  void applyTheme();

 private:
  void onJobEvent(const JobEvent& event);
  void drawCharts();
  void drawHistogram();
  void showMessage(const QString& text, bool error);
  void updateButtons();

  JobBridge* jobs_;
  Workspace* workspace_ = nullptr;
  IoComparison comparison_;
  std::uint64_t job_ = 0;

  QLineEdit* trace_;
  QListWidget* layouts_;
  QPushButton* addLayout_;
  QPushButton* removeLayout_;
  QDoubleSpinBox* cachePercent_;
  QSpinBox* queueDepth_;
  QSpinBox* maxTokens_;
  QComboBox* profile_;
  QPushButton* run_;
  QPushButton* stored_;
  QPushButton* stop_;
  QProgressBar* progress_;
  QLabel* message_;
  QLabel* summary_;
  QComboBox* histogramOf_;
  std::vector<IoBarChart*> charts_;
};

}  // namespace darkroom::views

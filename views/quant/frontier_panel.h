// The Frontier panel (PAPERS.md §3): accuracy against cost for every model × method × budget of
// the workspace's test-time-scaling runs (loadFrontier), with the Pareto points highlighted; the
// cost is chosen between generated tokens, wall time and CPU time. A sweep form launches
// runTestTimeScaling as a job (darkroom-cli tts does the same) and refreshes the plot after.
#pragma once

#include <darkroom/jobs.h>
#include <darkroom/scaling.h>

#include <QString>
#include <QWidget>

#include <vector>

class QComboBox;
class QLabel;
class QPushButton;

namespace darkroom {
class Workspace;
}

namespace darkroom::views {

class FrontierPlot;
class JobBridge;
class JobLauncher;
class TtsSweepForm;

class FrontierPanel : public QWidget {
  Q_OBJECT

 public:
  explicit FrontierPanel(JobBridge* jobs, QWidget* parent = nullptr);

  // Points are loaded from and sweeps stored in the workspace; nullptr: neither.
  void setWorkspace(Workspace* workspace);
  // Reloads every point of the workspace (as a job); 0 without a workspace.
  std::uint64_t refresh();
  // Runs the form's sweep as a job; 0 when refused (the message says why).
  std::uint64_t runSweep();
  // Shows points (what refresh does; tests hand-build them).
  void setPoints(std::vector<TtsPoint> points);
  void setCost(FrontierCost cost);

  TtsSweepForm* form() const { return form_; }
  FrontierPlot* plot() const { return plot_; }
  QComboBox* costBox() const { return cost_; }
  QString paretoSummary() const;
  QString message() const;
  bool busy() const;

 public slots:
  void applyTheme();

 private:
  void onJobEvent(const JobEvent& event);
  void showPareto();
  void updateButtons();

  JobBridge* jobs_;
  Workspace* workspace_ = nullptr;
  std::uint64_t loadJob_ = 0;  // a refresh; the sweep is the launcher's job

  TtsSweepForm* form_;
  JobLauncher* launcher_;
  QComboBox* cost_;
  QPushButton* refresh_;
  QLabel* pareto_;
  FrontierPlot* plot_;
};

}  // namespace darkroom::views

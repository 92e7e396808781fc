// The Kernels panel (PAPERS.md §3): measures the LUT and unpacking GEMV kernels against float32
// on tile and row layouts for growing batch sizes, and the LUT softmax against the float one per
// KV length, as a job (darkroom-cli kbench does the same); shows a run's "free compute" curve
// per weight shape and the softmax bars with their largest error. Stored kbench runs are picked
// from a list.
#pragma once

#include <darkroom/jobs.h>
#include <darkroom/quant.h>

#include <QString>
#include <QWidget>

#include "quant/kernel_charts.h"

class QComboBox;
class QLabel;

namespace darkroom {
class Workspace;
}

namespace darkroom::views {

class IoBarChart;
class JobBridge;
class JobLauncher;
class KernelBenchForm;

class KernelsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit KernelsPanel(JobBridge* jobs, QWidget* parent = nullptr);

  // Runs are measured into and listed from the workspace; nullptr: neither.
  void setWorkspace(Workspace* workspace);
  // Measures with the form's options as a job; 0 when refused (the message says why).
  std::uint64_t run();
  // Shows a stored kbench run (loaded as a job); 0 without a workspace.
  std::uint64_t showRun(std::int64_t run_id);
  // Lists the workspace's finished kbench runs in the run picker.
  void refreshRunList();
  // Shows a report (the job's, a stored one, or a hand-built one in tests).
  void setReport(KernelBenchReport report);
  const KernelBenchReport& report() const { return report_; }
  void setShape(int index);
  void setMetric(GemvMetric metric);

  KernelBenchForm* form() const { return form_; }
  GemvChart* gemvChart() const { return gemv_; }
  IoBarChart* softmaxChart() const { return softmax_; }
  QComboBox* runPicker() const { return runs_; }
  QComboBox* shapeBox() const { return shape_; }
  QString softmaxErrorLine() const;
  QString summaryText() const;
  QString message() const;
  bool busy() const;

 public slots:
  void applyTheme();

 private:
  void onJobEvent(const JobEvent& event);
  void drawGemv();
  void drawSoftmax();
  void updateButtons();

  JobBridge* jobs_;
  Workspace* workspace_ = nullptr;
  KernelBenchReport report_;

  KernelBenchForm* form_;
  JobLauncher* launcher_;
  QComboBox* runs_;
  QComboBox* shape_;
  QComboBox* metric_;
  QLabel* summary_;
  GemvChart* gemv_;
  IoBarChart* softmax_;
  QLabel* softmaxError_;
};

}  // namespace darkroom::views

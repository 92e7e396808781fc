// The Fine-tune panel: the launcher form, Launch / Stop / Resume / Export, the workspace's
// finetune runs, and live curves of the runs picked (a dense and a sparse run overlaid, with the
// measured speed-up). Training runs as jobs on the window's JobBridge, each opening its own
// Workspace; the panel reads the store on the UI thread a few times a second, fetching only
// the new points.
#pragma once

#include <QWidget>
#include <deque>
#include <map>
#include <vector>

#include "darkroom/finetune.h"
#include "finetune/finetune_curves.h"

class QLabel;
class QProgressBar;
class QPushButton;
class QTimer;

namespace darkroom::views {

class FinetuneForm;
class FinetunePlots;
class FinetuneRunList;
class JobBridge;

class FinetunePanel : public QWidget {
  Q_OBJECT

 public:
  explicit FinetunePanel(JobBridge* jobs, QWidget* parent = nullptr);

  // The workspace to launch in and read from (not owned); nullptr: none.
  void setWorkspace(Workspace* workspace);

  // Launches the form's run (or dense, then sparse). False, with the reason shown in the
  // panel, when it cannot start.
  bool launch();
  // Cancels the running job and drops the rest of the launch; the run ends `killed`.
  void stop();
  // Continues the selected killed or failed run from its last checkpoint.
  bool resumeSelected();
  // Writes the selected finished LoRA run's merged model into `out_dir`.
  bool exportSelected(const QString& out_dir);
  bool busy() const { return job_ != 0; }

  // The runs plotted now, in colour order (the dense baseline first).
  const std::vector<std::int64_t>& shownRuns() const { return shown_; }
  // Plots these runs (and selects them in the list).
  void showRuns(const std::vector<std::int64_t>& run_ids);

  FinetuneForm* form() const { return form_; }
  FinetunePlots* plots() const { return plots_; }
  FinetuneRunList* runList() const { return list_; }
  QLabel* comparisonLabel() const { return comparison_; }
  QLabel* messageLabel() const { return message_; }
  QPushButton* launchButton() const { return launch_; }
  QPushButton* stopButton() const { return stop_; }
  QPushButton* resumeButton() const { return resume_; }
  QPushButton* exportButton() const { return export_; }

 public slots:
  void applyTheme();

 private:
  struct PendingRun {
    FinetuneOptions options;
    QString title;
  };
  QWidget* buildControls();
  void onJobEvent(const JobEvent& event);
  void submitNext();
  void finishLaunch();
  // Reads new runs and points: a few times a second while something trains, every ~2 s when
  // idle (runs started by darkroom-cli still appear), at once when `now`.
  void poll(bool now);
  // Looks for the running launch's run among `runs`; true when newly found.
  bool findJobRun(const std::vector<RunInfo>& runs);
  void onRunsSelected(const std::vector<std::int64_t>& ids);
  const FinetuneOptions* optionsOf(std::int64_t run_id);
  QString runLabel(std::int64_t run_id);
  void updateComparison();
  void updateButtons();
  void showMessage(const QString& text, bool error);

  JobBridge* jobs_;
  Workspace* workspace_ = nullptr;
  FinetuneForm* form_;
  FinetunePlots* plots_;
  FinetuneRunList* list_;
  QLabel* comparison_;
  QLabel* message_;
  QProgressBar* progress_;
  QPushButton* launch_;
  QPushButton* stop_;
  QPushButton* resume_;
  QPushButton* export_;
  QTimer* poll_;
  int idle_ticks_ = 0;

  FinetuneCurves curves_;
  std::vector<std::int64_t> shown_;
  std::map<std::int64_t, FinetuneOptions> options_;  // per run, read once from its params

  // The launch in progress: the job running now, the runs still to start after it, and the
  // runs it made (shown together). A job's run is found by name among runs newer than
  // newest_before_, since finetune() returns its id only at the end.
  std::uint64_t job_ = 0;
  QString job_title_;
  std::string job_run_name_;
  std::int64_t job_run_ = 0;
  bool job_resumes_ = false;
  std::int64_t newest_before_ = 0;
  std::deque<PendingRun> pending_;
  std::vector<std::int64_t> launched_;
};

}  // namespace darkroom::views

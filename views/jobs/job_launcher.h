// The launching half of a panel that runs one job of its own at a time (Quantization, Kernels,
// Frontier): a group box with the panel's form, Run and Stop buttons, a progress bar and the
// job's progress line, plus a message line the panel places where it likes. It keeps the job's
// id and title, so a panel only builds the work and shows the result.
#pragma once

#include <darkroom/jobs.h>

#include <QGroupBox>
#include <QString>

#include <cstdint>

class QLabel;
class QProgressBar;
class QPushButton;

namespace darkroom::views {

class JobBridge;

class JobLauncher : public QGroupBox {
  Q_OBJECT

 public:
  // `form` is placed above the buttons and becomes a child of the box; `jobs` may be nullptr
  // (nothing can run then).
  JobLauncher(JobBridge* jobs, const QString& title, QWidget* form, const QString& runText,
              QWidget* parent = nullptr);

  // Says why a run cannot start and returns true: no workspace or job bridge (`ready` false),
  // or the form's problem when it has one. False when the run may start.
  bool refuses(bool ready, const QString& formProblem);
  // Submits `work` as the launcher's job under `title`, clears the progress and says
  // "title…"; returns the job's id. Needs a job bridge.
  std::uint64_t start(const QString& kind, const QString& title, JobFunction work);
  // Follows the launcher's job: its Running events move the progress bar (false); its final
  // event forgets the job, clears the progress and returns true. Other jobs' events: false.
  bool finished(const JobEvent& event);
  // For a final event that did not succeed: "<title> failed: <why>" as an error, or the
  // `stopped` text (by default "<title>: stopped.").
  void showEnd(const JobEvent& event, const QString& stopped = {});
  void showMessage(const QString& text, bool error);
  // Run is enabled while idle and `canRun`, the form while idle, Stop while a job runs.
  void updateButtons(bool canRun);

  std::uint64_t job() const { return job_; }
  bool busy() const { return job_ != 0; }
  const QString& jobTitle() const { return jobTitle_; }
  QPushButton* runButton() const { return run_; }
  // Not inside the box: the panel adds it to its own layout.
  QLabel* messageLabel() const { return message_; }
  QString message() const;

 signals:
  void runClicked();

 private:
  JobBridge* jobs_;
  std::uint64_t job_ = 0;
  QString jobTitle_;

  QWidget* form_;
  QPushButton* run_;
  QPushButton* stop_;
  QProgressBar* progress_;
  QLabel* progressText_;
  QLabel* message_;
};

}  // namespace darkroom::views

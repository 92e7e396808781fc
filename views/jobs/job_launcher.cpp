#include "jobs/job_launcher.h"

#include "jobs/job_bridge.h"
#include "plot/curve_style.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

#include <cmath>

namespace darkroom::views {

JobLauncher::JobLauncher(JobBridge* jobs, const QString& title, QWidget* form,
                         const QString& runText, QWidget* parent)
    : QGroupBox(title, parent), jobs_(jobs), form_(form) {
  run_ = new QPushButton(runText);
  stop_ = new QPushButton(tr("Stop"));
  progress_ = new QProgressBar;
  progress_->setRange(0, 1000);
  progress_->setTextVisible(false);
  progressText_ = new QLabel;
  progressText_->setForegroundRole(QPalette::PlaceholderText);
  progressText_->setWordWrap(true);
  // Parented to the box until the panel lays it out, so it is never leaked.
  message_ = new QLabel(this);
  message_->setWordWrap(true);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* buttons = new QHBoxLayout;
  buttons->addWidget(run_);
  buttons->addWidget(stop_);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(form_);
  layout->addLayout(buttons);
  layout->addWidget(progress_);
  layout->addWidget(progressText_);

  connect(run_, &QPushButton::clicked, this, &JobLauncher::runClicked);
  connect(stop_, &QPushButton::clicked, this, [this] {
    if (job_ && jobs_) jobs_->cancel(job_);
  });
}

bool JobLauncher::refuses(bool ready, const QString& formProblem) {
  if (!ready || !jobs_) {
    showMessage(tr("Open a workspace first (File ▸ Open Workspace)."), true);
    return true;
  }
  if (!formProblem.isEmpty()) {
    showMessage(formProblem, true);
    return true;
  }
  return false;
}

std::uint64_t JobLauncher::start(const QString& kind, const QString& title, JobFunction work) {
  jobTitle_ = title;
  job_ = jobs_->submit(kind, title, std::move(work));
  progress_->setValue(0);
  progressText_->clear();
  showMessage(title + QStringLiteral("…"), false);
  return job_;
}

bool JobLauncher::finished(const JobEvent& e) {
  if (e.id != job_ || job_ == 0) return false;
  if (e.state == JobState::Running) {
    progress_->setValue(int(std::lround(e.fraction * 1000)));
    progressText_->setText(QString::fromStdString(e.message));
    return false;
  }
  if (!isFinal(e.state)) return false;
  job_ = 0;
  progress_->setValue(0);
  progressText_->clear();
  return true;
}

void JobLauncher::showEnd(const JobEvent& e, const QString& stopped) {
  if (e.state == JobState::Failed)
    showMessage(tr("%1 failed: %2").arg(jobTitle_, QString::fromStdString(e.message)), true);
  else
    showMessage(stopped.isEmpty() ? tr("%1: stopped.").arg(jobTitle_) : stopped, false);
}

void JobLauncher::showMessage(const QString& text, bool error) {
  message_->setText(text);
  message_->setStyleSheet(error ? QString("color: %1;").arg(seriesColor(5).name()) : QString());
}

void JobLauncher::updateButtons(bool canRun) {
  const bool idle = job_ == 0;
  run_->setEnabled(idle && canRun && jobs_);
  form_->setEnabled(idle);
  stop_->setEnabled(!idle);
}

QString JobLauncher::message() const { return message_->text(); }

}  // namespace darkroom::views

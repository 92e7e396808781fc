#include "log/log_panel.h"

#include <QDateTime>
#include <QHeaderView>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

namespace darkroom::views {

namespace {
enum JobColumn { Title, Progress, Cancel, JobColumnCount };
}

LogPanel::LogPanel(QWidget* parent) : QWidget(parent) {
  jobs_ = new QTableWidget(0, JobColumnCount);
  jobs_->setHorizontalHeaderLabels({tr("Job"), tr("Progress"), QString()});
  jobs_->horizontalHeader()->setSectionResizeMode(Title, QHeaderView::ResizeToContents);
  jobs_->horizontalHeader()->setSectionResizeMode(Progress, QHeaderView::Stretch);
  jobs_->horizontalHeader()->setSectionResizeMode(Cancel, QHeaderView::ResizeToContents);
  jobs_->verticalHeader()->setVisible(false);
  jobs_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  jobs_->setSelectionMode(QAbstractItemView::NoSelection);
  jobs_->setMaximumHeight(110);
  jobs_->setVisible(false);  // shown while a job runs

  log_ = new QPlainTextEdit;
  log_->setReadOnly(true);
  log_->setMaximumBlockCount(5000);
  log_->setFont(QFont("monospace"));

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(jobs_);
  layout->addWidget(log_, 1);
}

void LogPanel::append(Level level, const QString& text) {
  static const char* colors[] = {"", "#e69f00", "#d55e00"};
  QString stamp = QDateTime::currentDateTime().toString("hh:mm:ss");
  QString line = QString("%1  %2").arg(stamp, text.toHtmlEscaped());
  if (level != Level::Info)
    line = QString("<span style='color:%1'>%2</span>").arg(colors[int(level)], line);
  log_->appendHtml(line);
}

QString LogPanel::text() const { return log_->toPlainText(); }

void LogPanel::onJobEvent(const JobEvent& event) {
  QString title = QString::fromStdString(event.title);
  QString message = QString::fromStdString(event.message);
  switch (event.state) {
    case JobState::Queued:
      break;
    case JobState::Running: {
      if (!started_ms_.count(event.id)) {
        started_ms_[event.id] = QDateTime::currentMSecsSinceEpoch();
        append(Level::Info, tr("%1: started").arg(title));
      }
      // The log keeps a line per 10%; the bar above shows every step.
      int decile = static_cast<int>(event.fraction * 10);
      auto& last = last_logged_decile_[event.id];
      if (decile > last) {
        last = decile;
        append(Level::Info, QString("%1: %2% %3").arg(title).arg(decile * 10).arg(message));
      }
      break;
    }
    case JobState::Succeeded: {
      double seconds =
          (QDateTime::currentMSecsSinceEpoch() - started_ms_[event.id]) / 1000.0;
      append(Level::Info, tr("%1: done in %2 s — %3").arg(title).arg(seconds, 0, 'f', 1).arg(message));
      break;
    }
    case JobState::Failed:
      append(Level::Error, tr("%1 failed: %2").arg(title, message));
      break;
    case JobState::Cancelled:
      append(Level::Warning, tr("%1: cancelled").arg(title));
      break;
    case JobState::Superseded:
      append(Level::Info, tr("%1: superseded by a newer request").arg(title));
      break;
  }
  if (isFinal(event.state)) {
    last_logged_decile_.erase(event.id);
    started_ms_.erase(event.id);
  }
  showJob(event);
}

void LogPanel::showJob(const JobEvent& event) {
  const QVariant id = QVariant::fromValue<qulonglong>(event.id);
  int row = -1;
  for (int r = 0; r < jobs_->rowCount(); ++r)
    if (jobs_->item(r, Title)->data(Qt::UserRole) == id) row = r;
  if (isFinal(event.state)) {
    if (row >= 0) jobs_->removeRow(row);
    jobs_->setVisible(jobs_->rowCount() > 0);
    return;
  }
  if (row < 0) {
    row = jobs_->rowCount();
    jobs_->insertRow(row);
    auto* title = new QTableWidgetItem(QString::fromStdString(event.title));
    title->setData(Qt::UserRole, id);
    jobs_->setItem(row, Title, title);
    auto* bar = new QProgressBar;
    bar->setRange(0, 1000);
    jobs_->setCellWidget(row, Progress, bar);
    auto* cancel = new QPushButton(tr("Cancel"));
    const std::uint64_t job_id = event.id;
    connect(cancel, &QPushButton::clicked, this, [this, job_id] { emit cancelRequested(job_id); });
    jobs_->setCellWidget(row, Cancel, cancel);
  }
  auto* bar = static_cast<QProgressBar*>(jobs_->cellWidget(row, Progress));
  bar->setValue(static_cast<int>(event.fraction * 1000));
  bar->setFormat(QString("%p% %1").arg(QString::fromStdString(event.message)));
  jobs_->setVisible(true);
}

}  // namespace darkroom::views

// The Log panel: the jobs running now (progress bar, message, Cancel) above a timestamped log of
// what every job did and of the application's own messages.
#pragma once

#include <QWidget>
#include <map>

#include "darkroom/jobs.h"

class QPlainTextEdit;
class QTableWidget;

namespace darkroom::views {

class LogPanel : public QWidget {
  Q_OBJECT

 public:
  enum class Level { Info, Warning, Error };
  explicit LogPanel(QWidget* parent = nullptr);

  void append(Level level, const QString& text);
  QString text() const;
  QTableWidget* jobTable() const { return jobs_; }

 public slots:
  void onJobEvent(const darkroom::JobEvent& event);

 signals:
  void cancelRequested(std::uint64_t job_id);

 private:
  void showJob(const JobEvent& event);

  QTableWidget* jobs_;
  QPlainTextEdit* log_;
  std::map<std::uint64_t, int> last_logged_decile_;
  std::map<std::uint64_t, qint64> started_ms_;
};

}  // namespace darkroom::views

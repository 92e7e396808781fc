// The Qt face of core's JobQueue: jobs are submitted from the UI thread and their events come
// back on it through queued signals, so views never touch worker threads.
#pragma once

#include <QObject>
#include <QString>

#include "darkroom/jobs.h"

namespace darkroom::views {

class JobBridge : public QObject {
  Q_OBJECT

 public:
  explicit JobBridge(unsigned workers = 2, QObject* parent = nullptr);
  ~JobBridge() override;

  std::uint64_t submit(const QString& kind, const QString& title, JobFunction work);
  void cancel(std::uint64_t id);
  std::vector<JobEvent> active() const;

 signals:
  // Delivered on the bridge's thread, in the order the queue emitted them.
  void jobEvent(const darkroom::JobEvent& event);

 private:
  std::unique_ptr<JobQueue> queue_;
};

}  // namespace darkroom::views

Q_DECLARE_METATYPE(darkroom::JobEvent)

#include "jobs/job_bridge.h"

#include <QMetaObject>

namespace darkroom::views {

JobBridge::JobBridge(unsigned workers, QObject* parent)
    : QObject(parent), queue_(std::make_unique<JobQueue>(workers)) {
  qRegisterMetaType<darkroom::JobEvent>();
  queue_->setListener([this](const JobEvent& event) {
    // `this` as context: events still in flight when the bridge dies are dropped, not delivered.
    QMetaObject::invokeMethod(this, [this, event] { emit jobEvent(event); },
                              Qt::QueuedConnection);
  });
}

JobBridge::~JobBridge() {
  queue_.reset();  // cancels and joins the workers while the listener's target is still alive
}

std::uint64_t JobBridge::submit(const QString& kind, const QString& title, JobFunction work) {
  return queue_->submit(kind.toStdString(), title.toStdString(), std::move(work));
}

void JobBridge::cancel(std::uint64_t id) { queue_->cancel(id); }

std::vector<JobEvent> JobBridge::active() const { return queue_->active(); }

}  // namespace darkroom::views

// Background jobs: long work runs on worker threads, reports progress (fraction + message), can
// be cancelled, and a newer job of the same kind supersedes an older one — the older one is
// cancelled and, should it still finish, its result is dropped (RenderDoc-style tagged requests).
#pragma once

#include <any>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace darkroom {

// Thrown out of JobContext::progress() once the job is cancelled; the queue catches it.
class JobCancelled : public std::runtime_error {
 public:
  JobCancelled() : std::runtime_error("cancelled") {}
};

enum class JobState { Queued, Running, Succeeded, Failed, Cancelled, Superseded };
const char* toString(JobState state);
inline bool isFinal(JobState s) { return s != JobState::Queued && s != JobState::Running; }

struct JobEvent {
  std::uint64_t id = 0;
  std::string kind;
  std::string title;
  std::uint64_t generation = 0;  // per kind; a higher one supersedes
  JobState state = JobState::Queued;
  double fraction = 0;  // never decreases within one job
  std::string message;  // progress message, or the error for Failed
  std::any result;      // set only with Succeeded
};

// What a job sees of itself.
class JobContext {
 public:
  // Reports progress; fraction is clamped to [0, 1] and never goes backwards. Throws
  // JobCancelled when the job was cancelled or superseded: call it often (it is cheap).
  void progress(double fraction, const std::string& message = {});
  // Same check without reporting, for loops that report rarely.
  void checkCancelled() const;
  bool cancelled() const { return cancel_->load(std::memory_order_relaxed); }
  std::uint64_t generation() const { return generation_; }
  // A context for one step of a longer job: its progress 0..1 is reported as
  // from..from + span of this one; cancellation is shared.
  JobContext slice(double from, double span) const;

 private:
  friend class JobQueue;
  JobContext(std::function<void(double, const std::string&)> report,
             std::shared_ptr<std::atomic<bool>> cancel, std::uint64_t generation)
      : report_(std::move(report)), cancel_(std::move(cancel)), generation_(generation) {}
  std::function<void(double, const std::string&)> report_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  std::uint64_t generation_;
  double last_fraction_ = 0;
};

using JobFunction = std::function<std::any(JobContext&)>;
using JobListener = std::function<void(const JobEvent&)>;

class JobQueue {
 public:
  explicit JobQueue(unsigned workers = 2);
  ~JobQueue();  // cancels everything and joins the workers
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Called on worker threads (and on the submitting thread for Queued/Superseded events); keep
  // it short. Set before submitting.
  void setListener(JobListener listener);

  // Queues work; any older queued or running job of the same kind is superseded.
  std::uint64_t submit(const std::string& kind, const std::string& title, JobFunction work);
  void cancel(std::uint64_t id);
  void cancelAll();
  // Waits until the job reached a final state; returns it (Queued if the timeout passed first).
  JobState wait(std::uint64_t id,
                std::chrono::milliseconds timeout = std::chrono::milliseconds::max());
  // Latest event of every job that is not final yet, oldest first (for a job list view).
  std::vector<JobEvent> active() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace darkroom

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "darkroom/jobs.h"

namespace darkroom {

const char* toString(JobState state) {
  switch (state) {
    case JobState::Queued: return "queued";
    case JobState::Running: return "running";
    case JobState::Succeeded: return "succeeded";
    case JobState::Failed: return "failed";
    case JobState::Cancelled: return "cancelled";
    case JobState::Superseded: return "superseded";
  }
  return "?";
}

void JobContext::progress(double fraction, const std::string& message) {
  checkCancelled();
  fraction = std::clamp(fraction, 0.0, 1.0);
  last_fraction_ = std::max(last_fraction_, fraction);
  report_(last_fraction_, message);
}

JobContext JobContext::slice(double from, double span) const {
  auto parent = report_;
  return JobContext(
      [parent, from, span](double f, const std::string& m) { parent(from + span * f, m); },
      cancel_, generation_);
}

void JobContext::checkCancelled() const {
  if (cancelled()) throw JobCancelled();
}

namespace {

struct Job {
  JobEvent event;  // the latest state, as listeners saw it
  JobFunction work;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  bool superseded = false;
};

}  // namespace

struct JobQueue::Impl {
  mutable std::mutex mutex;
  std::condition_variable wake;     // workers: new work or stop
  std::condition_variable changed;  // waiters: some job reached a final state
  std::deque<std::shared_ptr<Job>> queued;
  std::map<std::uint64_t, std::shared_ptr<Job>> live;  // queued or running
  std::map<std::uint64_t, JobState> finished;
  std::map<std::string, std::uint64_t> generations;
  std::uint64_t next_id = 1;
  bool stopping = false;
  JobListener listener;
  std::vector<std::thread> workers;

  void emit(const JobEvent& e) {
    if (listener) listener(e);
  }

  // Under the lock: moves a job to its final state. Returns the event for complete().
  JobEvent finish(const std::shared_ptr<Job>& job, JobState state, std::string message,
                  std::any result = {}) {
    job->event.state = state;
    job->event.message = std::move(message);
    job->event.result = std::move(result);
    live.erase(job->event.id);
    return job->event;
  }

  // Without the lock: tells the listener, then releases waiters, so whoever wait()s for a job
  // can rely on the listener having seen its final event.
  void complete(const JobEvent& e) {
    emit(e);
    std::lock_guard lock(mutex);
    finished[e.id] = e.state;
    changed.notify_all();
  }

  void run(const std::shared_ptr<Job>& job) {
    auto report = [this, job](double fraction, const std::string& message) {
      JobEvent e;
      {
        std::lock_guard lock(mutex);
        job->event.fraction = fraction;
        if (!message.empty()) job->event.message = message;
        e = job->event;
      }
      emit(e);
    };
    JobContext ctx(report, job->cancel, job->event.generation);
    JobState state;
    std::string message;
    std::any result;
    try {
      result = job->work(ctx);
      state = JobState::Succeeded;
      message = "done";
    } catch (const JobCancelled&) {
      state = JobState::Cancelled;
      message = "cancelled";
    } catch (const std::exception& e) {
      state = JobState::Failed;
      message = e.what();
    } catch (...) {
      state = JobState::Failed;
      message = "unknown error";
    }
    JobEvent e;
    {
      std::lock_guard lock(mutex);
      if (job->superseded) {  // a newer job of this kind exists: its result wins
        state = JobState::Superseded;
        message = "superseded by a newer request";
        result.reset();
      }
      if (state == JobState::Succeeded) job->event.fraction = 1.0;
      e = finish(job, state, message, std::move(result));
    }
    complete(e);
  }

  void workerLoop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [&] { return stopping || !queued.empty(); });
        if (stopping) return;
        job = queued.front();
        queued.pop_front();
        job->event.state = JobState::Running;
        job->event.message = "started";
      }
      emit(job->event);
      run(job);
    }
  }
};

JobQueue::JobQueue(unsigned workers) : impl_(std::make_unique<Impl>()) {
  for (unsigned i = 0; i < std::max(1u, workers); ++i)
    impl_->workers.emplace_back([this] { impl_->workerLoop(); });
}

JobQueue::~JobQueue() {
  std::vector<JobEvent> dropped;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    for (auto& [id, job] : impl_->live) job->cancel->store(true);
    for (auto& job : impl_->queued)
      dropped.push_back(impl_->finish(job, JobState::Cancelled, "queue shut down"));
    impl_->queued.clear();
  }
  for (auto& e : dropped) impl_->complete(e);
  impl_->wake.notify_all();
  for (auto& t : impl_->workers) t.join();
}

void JobQueue::setListener(JobListener listener) {
  std::lock_guard lock(impl_->mutex);
  impl_->listener = std::move(listener);
}

std::uint64_t JobQueue::submit(const std::string& kind, const std::string& title,
                               JobFunction work) {
  auto job = std::make_shared<Job>();
  std::vector<JobEvent> events;
  {
    std::lock_guard lock(impl_->mutex);
    job->event.id = impl_->next_id++;
    job->event.kind = kind;
    job->event.title = title;
    job->event.generation = ++impl_->generations[kind];
    job->event.message = "queued";
    job->work = std::move(work);
    // Supersede older jobs of the same kind: queued ones end now, running ones are cancelled.
    for (auto it = impl_->queued.begin(); it != impl_->queued.end();) {
      if ((*it)->event.kind == kind) {
        (*it)->superseded = true;
        events.push_back(impl_->finish(*it, JobState::Superseded, "superseded by a newer request"));
        it = impl_->queued.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [id, other] : impl_->live) {
      if (other->event.kind == kind) {
        other->superseded = true;
        other->cancel->store(true);
      }
    }
    impl_->live[job->event.id] = job;
  }
  for (auto& e : events) impl_->complete(e);  // the superseded ones
  impl_->emit(job->event);  // "queued" goes out before any worker can say "running"
  {
    std::lock_guard lock(impl_->mutex);
    impl_->queued.push_back(job);
  }
  impl_->wake.notify_one();
  return job->event.id;
}

void JobQueue::cancel(std::uint64_t id) {
  JobEvent e;
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->live.find(id);
    if (it == impl_->live.end()) return;
    auto job = it->second;
    job->cancel->store(true);
    auto queued = std::find(impl_->queued.begin(), impl_->queued.end(), job);
    if (queued == impl_->queued.end()) return;  // running: it stops at its next progress point
    impl_->queued.erase(queued);
    e = impl_->finish(job, JobState::Cancelled, "cancelled before it started");
  }
  impl_->complete(e);
}

void JobQueue::cancelAll() {
  std::vector<std::uint64_t> ids;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [id, job] : impl_->live) ids.push_back(id);
  }
  for (auto id : ids) cancel(id);
}

JobState JobQueue::wait(std::uint64_t id, std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  if (id == 0 || id >= impl_->next_id)
    throw std::invalid_argument("JobQueue::wait: no job " + std::to_string(id) + " was submitted");
  auto done = [&] { return impl_->finished.count(id) > 0; };
  if (timeout == std::chrono::milliseconds::max())
    impl_->changed.wait(lock, done);
  else if (!impl_->changed.wait_for(lock, timeout, done))
    return JobState::Queued;
  return impl_->finished[id];
}

std::vector<JobEvent> JobQueue::active() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<JobEvent> out;
  for (auto& [id, job] : impl_->live) {
    out.push_back(job->event);
    out.back().result.reset();
  }
  return out;
}

}  // namespace darkroom

#include "devices/task_queue.h"

#include <algorithm>
#include <cstdio>
#include <exception>

namespace darkroom::views {

TaskQueue::TaskQueue() : thread_([this] { loop(); }) {}

TaskQueue::~TaskQueue() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    tasks_.clear();
  }
  wake_.notify_all();
  thread_.join();
}

void TaskQueue::post(const std::string& tag, std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (!tag.empty())
      tasks_.erase(std::remove_if(tasks_.begin(), tasks_.end(),
                                  [&](const auto& queued) { return queued.first == tag; }),
                   tasks_.end());
    tasks_.emplace_back(tag, std::move(task));
  }
  wake_.notify_one();
}

int TaskQueue::pending() const {
  std::lock_guard lock(mutex_);
  return int(tasks_.size()) + (running_task_ ? 1 : 0);
}

void TaskQueue::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
    if (stop_) return;
    auto task = std::move(tasks_.front().second);
    tasks_.pop_front();
    running_task_ = true;
    lock.unlock();
    // A task reports its own errors (it knows what it was doing); one that throws anyway must not
    // take the panel's worker down; it is said on stderr.
    try {
      task();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "darkroom: a device task failed without reporting it: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "darkroom: a device task failed without reporting it\n");
    }
    lock.lock();
    running_task_ = false;
  }
}

}  // namespace darkroom::views

// One worker thread for the Devices panel's short blocking requests (describe a device, connect
// to a TCP one, start or stop the simulated phone). Requests carry a tag: a new request with
// the tag of a queued one replaces it (clicking through devices describes only the last one),
// as RenderDoc's replay queue does. Results go back to the UI thread by queued calls that the
// task makes itself on a QObject it names; destroying that object drops them.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace darkroom::views {

class TaskQueue {
 public:
  TaskQueue();
  ~TaskQueue();  // drops queued tasks, waits for the running one
  TaskQueue(const TaskQueue&) = delete;
  TaskQueue& operator=(const TaskQueue&) = delete;

  // Queues `task`; a queued (not yet running) task with the same non-empty tag is dropped.
  void post(const std::string& tag, std::function<void()> task);
  // Tasks queued or running.
  int pending() const;

 private:
  void loop();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::string, std::function<void()>>> tasks_;
  bool running_task_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace darkroom::views

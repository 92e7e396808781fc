// Helpers shared by the files of the session library (not part of its API).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "darkroom/adb/client.h"
#include "darkroom/jobs.h"

namespace darkroom::device {

// "SERIAL (state, model), ..." or "none", for error messages.
std::string deviceListText(const std::vector<adb::DeviceEntry>& devices);
// What a user can do about a device in `state` (unauthorized, offline, ...).
std::string stateAdvice(const std::string& state);

// The adb client stops on a plain atomic flag while a job's cancellation lives inside its
// JobContext; this raises the flag as soon as the job is cancelled, even while the client is
// blocked waiting for a device that prints nothing.
class CancelWatch {
 public:
  explicit CancelWatch(const JobContext& ctx);
  ~CancelWatch();
  CancelWatch(const CancelWatch&) = delete;
  CancelWatch& operator=(const CancelWatch&) = delete;
  adb::CancelFlag flag() const { return &flag_; }
  // Stops the transfer for a reason of our own (a bad line, a failing callback).
  void raise() { flag_ = true; }

 private:
  const JobContext& ctx_;
  std::atomic<bool> flag_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

// ctx.progress, returning false instead of throwing when the job was cancelled (for callbacks
// that run inside the adb client, which must not be unwound by our exception).
bool reportProgress(JobContext& ctx, double fraction, const std::string& message);

}  // namespace darkroom::device

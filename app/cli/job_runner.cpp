#include <csignal>
#include <mutex>

#include "command.h"
#include "progress_bar.h"

namespace darkroom::cli {
namespace {
volatile std::sig_atomic_t g_interrupted = 0;
// The first Ctrl-C asks the job to stop at its next progress point; a second one, for work
// that cannot stop soon (loading a large model), ends the process at once.
extern "C" void onInterrupt(int) {
  if (g_interrupted) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
  g_interrupted = 1;
}
}  // namespace

std::any runWithProgress(const std::string& title, JobFunction work) {
  JobQueue queue(1);
  ProgressBar bar(title);
  std::mutex mutex;
  JobEvent final_event;
  queue.setListener([&](const JobEvent& e) {
    std::lock_guard lock(mutex);
    if (e.state == JobState::Running) bar.update(e.fraction, e.message);
    if (isFinal(e.state)) final_event = e;
  });
  g_interrupted = 0;
  auto previous = std::signal(SIGINT, onInterrupt);
  auto id = queue.submit("cli", title, std::move(work));
  bool asked_to_cancel = false;
  while (queue.wait(id, std::chrono::milliseconds(50)) == JobState::Queued) {
    if (g_interrupted && !asked_to_cancel) {
      asked_to_cancel = true;
      std::fprintf(stderr, "\n%s: cancelling (Ctrl-C again to quit at once)...\n", title.c_str());
      queue.cancel(id);
    }
  }
  std::signal(SIGINT, previous);
  std::lock_guard lock(mutex);
  if (final_event.state == JobState::Succeeded) return final_event.result;
  if (final_event.state == JobState::Cancelled) throw JobCancelled();
  throw std::runtime_error(final_event.message);
}

}  // namespace darkroom::cli

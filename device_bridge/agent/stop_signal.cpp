#include "stop_signal.h"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace darkroom::agent {
namespace {

// Written by the handler: a lock-free atomic int is async-signal-safe.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the stop flag must be lock-free");

extern "C" void onStopSignal(int sig) { g_stop_signal.store(sig, std::memory_order_relaxed); }

}  // namespace

void installStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a sleep or a blocking read returns early with EINTR
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, nullptr);
}

bool stopRequested() { return g_stop_signal.load(std::memory_order_relaxed) != 0; }

const char* stopSignalName() {
  switch (g_stop_signal.load(std::memory_order_relaxed)) {
    case 0: return nullptr;
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
  }
  return "a signal";
}

bool sleepUntil(std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono;
  // Slices of at most 50 ms: a signal that lands between the check and the sleep (so no EINTR
  // wakes us) still ends the wait within one slice.
  while (!stopRequested()) {
    const auto left = deadline - steady_clock::now();
    if (left <= nanoseconds(0)) return true;
    const auto slice = std::min<nanoseconds>(duration_cast<nanoseconds>(left), milliseconds(50));
    timespec ts{};
    ts.tv_sec = time_t(slice.count() / 1000000000);
    ts.tv_nsec = long(slice.count() % 1000000000);
    nanosleep(&ts, nullptr);
  }
  return false;
}

}  // namespace darkroom::agent

// Victim of the crash test: opens the store, starts a run, and writes metrics in flushed batches
// forever, printing "committed N" after each commit. The parent SIGKILLs it at a random moment.
#include <cstdio>
#include <cstdlib>

#include "darkroom/store.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: store_crash_child DB\n");
    return 2;
  }
  auto store = darkroom::Store::open(argv[1]);
  auto run = store.createRun(store.ensureExperiment("crash"), "victim", "test");
  std::printf("run %lld\n", static_cast<long long>(run));
  std::fflush(stdout);
  darkroom::MetricBuffer buffer(store, run, 37);
  for (long long step = 0;; ++step) {
    buffer.add("loss", step, 1.0 / double(step + 1));
    if (buffer.pending() == 0) {
      std::printf("committed %lld\n", step + 1);
      std::fflush(stdout);
    }
  }
}

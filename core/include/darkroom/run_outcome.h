// Runs the work of one stored run and records how it ended: finished when the work returns,
// killed when the job was cancelled, failed (with the error as note) when it threw. The
// exception goes on to the caller either way.
#pragma once

#include "darkroom/jobs.h"
#include "darkroom/store.h"

namespace darkroom {

template <typename Work>
void recordRunOutcome(Store& store, std::int64_t run_id, Work&& work) {
  try {
    work();
  } catch (const JobCancelled&) {
    store.finishRun(run_id, RunStatus::Killed, "cancelled (by the user, or by a newer request)");
    throw;
  } catch (const std::exception& e) {
    store.finishRun(run_id, RunStatus::Failed, e.what());
    throw;
  }
  store.finishRun(run_id, RunStatus::Finished);
}

}  // namespace darkroom

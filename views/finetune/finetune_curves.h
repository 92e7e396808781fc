// The metric points of the runs the Fine-tune panel shows, fetched from the store incrementally:
// a live run's curves grow at their end, so each poll asks only for the steps after the last
// one held, and a run whose points did not change costs one count query.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "darkroom/store.h"

namespace darkroom::views {

class FinetuneCurves {
 public:
  // The metric keys the panel plots (see darkroom/finetune.h).
  static const std::vector<std::string>& keys();

  // The runs to hold; curves of runs that stay are kept, the others dropped.
  void setRuns(const std::vector<std::int64_t>& run_ids);
  const std::vector<std::int64_t>& runs() const { return runs_; }
  // Forgets one run's points so the next poll reads them all again (a resumed run rewrites
  // the steps after its checkpoint).
  void reset(std::int64_t run_id);

  // Fetches what is new; returns whether any curve changed. Throws StoreError.
  bool poll(const Store& store);

  // The points of one run and key in step order (empty when none).
  const std::vector<MetricPoint>& curve(std::int64_t run_id, const std::string& key) const;

 private:
  struct RunCurves {
    std::int64_t store_count = -1;  // the store's point count for the run at the last poll
    std::map<std::string, std::vector<MetricPoint>> by_key;
  };
  std::vector<std::int64_t> runs_;
  std::map<std::int64_t, RunCurves> curves_;
};

}  // namespace darkroom::views

// Runs out of the store as JSON or CSV, for scripts and notebooks. Field names are stable:
// JSON {"format":"darkroom.runs","version":1,"runs":[{id, experiment, name, kind, status,
// start_time, end_time, note, params:{}, metrics:{key:[{step, value, wall_time}]},
// artifacts:[{path, kind, bytes, sha256}]}]}; CSV in long form, one metric point per row:
// run_id,experiment,run,key,step,value,wall_time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <vector>

#include "darkroom/store.h"

namespace darkroom {

enum class ExportFormat { Json, Csv };

// Writes the given runs (all runs when ids is empty). Throws StoreError for an unknown id.
void exportRuns(const Store& store, const std::vector<std::int64_t>& ids, ExportFormat format,
                std::ostream& out);

// The same into a file, written beside it and renamed into place: a failed export leaves no
// half-written file (and whatever was at `file` before stays as it was).
void exportRunsToFile(const Store& store, const std::vector<std::int64_t>& ids,
                      ExportFormat format, const std::filesystem::path& file);

// A run's summary as one JSON object (no metric points: their keys and counts), as printed by
// `runs list --json` and `runs show --json`.
std::string runSummaryJson(const Store& store, const RunInfo& run, bool with_params, int indent);

}  // namespace darkroom

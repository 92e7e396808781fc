// The placement comparison's data: replays of one trace against several flash layouts under each
// cache policy with and without access collapse, each also predicted by the flash model of a
// phone's UFS. Only the loop over engine calls (replay), which the panel runs as a job.
#pragma once

#include <darkroom/jobs.h>
#include <darkroom/neuralink/io_engine.h>

#include <darkroom/store.h>

#include <filesystem>
#include <string>
#include <vector>

namespace darkroom::views {

struct IoComparisonRow {
  std::string placement;  // the layout's name
  neuralink::CachePolicy policy = neuralink::CachePolicy::None;
  bool collapse = false;
  neuralink::IoSummary summary;
};

struct IoComparison {
  std::string trace;  // what was replayed
  std::vector<IoComparisonRow> rows;
  // The flash model the replays also predicted with (IoSummary::predicted_*); empty: none.
  std::string profile;
};

struct IoComparisonRequest {
  std::vector<std::filesystem::path> layouts;
  std::filesystem::path trace;
  neuralink::IoOptions options;  // cache and collapse are set per row
  std::string profile = "ufs4.0";  // flash model profile to predict with; empty: none
  // Where each replay is stored as an "iobench" run (as darkroom-cli iobench stores them);
  // empty: not stored.
  std::filesystem::path workspace;
};

// The policies compared, in chart order.
const std::vector<neuralink::CachePolicy>& comparedPolicies();
// "s3fifo", "linked + collapse": one combination of the comparison.
std::string comparisonLabel(neuralink::CachePolicy policy, bool collapse);

double readsPerToken(const neuralink::IoSummary& summary);
double megabytesPerToken(const neuralink::IoSummary& summary);  // 10^6 bytes read
// "4K", "8K", … "1M": the label of read-length histogram bucket i (powers of two from 4 KiB).
std::string readLengthBucket(std::size_t index);

// The finished "iobench" runs of a store (the panel's and darkroom-cli iobench's), one row per
// layout × policy × collapse, the newest run winning. Read-length histograms are not stored, so
// those rows have none.
IoComparison loadStoredIoRuns(const Store& store);

// Every layout × policy × collapse, in that order. Throws NeuralinkError for a layout whose
// layers do not match the trace's.
IoComparison runIoComparison(const IoComparisonRequest& request, JobContext& ctx);

}  // namespace darkroom::views

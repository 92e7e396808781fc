// A quantized folder's report: report.json (everything but the per-tile errors) and
// tile_errors.safetensors (one F32 [tile_rows, tile_cols] tensor per matrix, named as the
// matrix), and the report's rows in the experiment store. Private to core.
#pragma once

#include <filesystem>
#include <string>

#include "darkroom/quant.h"
#include "darkroom/store.h"

namespace darkroom::quant {

inline constexpr const char* kReportFile = "report.json";
inline constexpr const char* kTileErrorsFile = "tile_errors.safetensors";

// Writes both files into `dir` (each replaced atomically).
void saveQuantizeReport(const QuantizeReport& report, const std::filesystem::path& dir);

// The run's metrics: quant/rel_frobenius, quant/max_abs, quant/worst_tile (step = the matrix's
// index in report.matrices), ppl/<source>/fp32 and ppl/<source>/quantized (source "corpus" or
// "text"), quant/bytes_fp32, quant/bytes_quantized, quant/bits_per_weight, quant/seconds.
void storeQuantizeMetrics(Store& store, std::int64_t run_id, const QuantizeReport& report);

}  // namespace darkroom::quant

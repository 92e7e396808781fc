// The Analyze path: model → calibration text → recorded activations → sparsity per layer,
// stored as an "analysis" run (summary numbers as metrics, step = layer) with its arrays in
// artifacts/run-N/sparsity.safetensors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "darkroom/jobs.h"
#include "darkroom/sparsity.h"
#include "darkroom/workspace.h"

namespace darkroom {

struct AnalysisRequest {
  std::string model = "demo-opt";  // a Hugging Face model folder, or a demo model name
  std::string text_file;           // calibration text; empty: the synthetic corpus
  std::int64_t tokens = 4096;      // calibration tokens in all
  std::int64_t batch = 8;          // sequences per forward
  std::int64_t sequence = 128;     // tokens per sequence
  std::string dtype = "float32";   // "float32" or "bfloat16"
  std::string device = "cpu";      // "cpu", "cuda", "cuda:N" (needs a CUDA LibTorch)
  SparsityOptions sparsity;
  std::string experiment = "analysis";  // the experiment the run is filed under
};

struct AnalysisResult {
  std::int64_t run_id = 0;
  SparsityAnalysis analysis;
  std::filesystem::path arrays;  // the safetensors file
  double seconds = 0;
};

// A demo model name resolves to the workspace's trained copy (trained on first use, with
// progress); anything else must be a model folder.
std::filesystem::path resolveModel(Workspace& workspace, const std::string& model, JobContext& ctx);

AnalysisResult analyzeSparsity(Workspace& workspace, const AnalysisRequest& request,
                               JobContext& ctx);

// Reads a stored analysis back (the views open old runs this way). Throws with the file and
// what is wrong when the run has no readable analysis.
SparsityAnalysis loadSparsityAnalysis(const Workspace& workspace, std::int64_t run_id);

}  // namespace darkroom

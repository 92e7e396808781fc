// Darkroom's two built-in demo models, one per family, byte-level vocabulary, a few million
// parameters, trained by Darkroom itself on the synthetic corpus (darkroom/corpus.h) so that
// their activations show real learned sparsity. Both use ReLU MLPs (OPT's own activation, and a
// ReLU-fied LLaMA as in ProSparse), so inactive neurons are exact zeros.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/model_config.h"
#include "darkroom/workspace.h"

namespace darkroom {

std::vector<std::string> demoModelNames();  // "demo-opt", "demo-llama"
// Two more, of two sizes, trained on the word problems of darkroom/corpus.h for test-time
// scaling: "demo-math-s" and "demo-math-m". Every name below accepts them too.
std::vector<std::string> mathModelNames();
bool isMathModelName(const std::string& name);
bool isDemoModelName(const std::string& name);  // any of the four
ModelConfig demoModelConfig(const std::string& name);  // throws ModelError for other names

struct DemoTrainOptions {
  int steps = 300;
  // Whole 1024-byte contexts, so that fine-tuning at that length stays in distribution.
  int batch = 2;
  int sequence = 1024;
  double lr = 2e-3;
  std::uint64_t seed = 7;
  bool force = false;  // retrain even when a trained checkpoint is there
};

// The training a model gets when first used (the math models train on short windows).
DemoTrainOptions demoTrainDefaults(const std::string& name);

struct DemoModelResult {
  std::string name;
  std::filesystem::path dir;
  std::int64_t run_id = 0;  // the training run (0 when reused from an older workspace)
  double final_loss = 0;
  bool reused = false;
};

// <workspace>/models/<name>: a Hugging Face style folder (config.json, model.safetensors,
// tokenizer.json).
std::filesystem::path demoModelDir(const Workspace& workspace, const std::string& name);

// Whether the folder holds a complete trained demo model (weights, config and tokenizer).
bool isDemoModelTrained(const Workspace& workspace, const std::string& name);

// Trains (or reuses) one demo model; two trainers of the same model (two processes, or two
// jobs) take turns on a lock file, and the second reuses what the first wrote. the training curve is recorded as a run of the
// "demo-models" experiment.
DemoModelResult trainDemoModel(Workspace& workspace, const std::string& name,
                               const DemoTrainOptions& options, JobContext& ctx);

}  // namespace darkroom

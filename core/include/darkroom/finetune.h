// Long Exposure fine-tuning (PAPERS.md §1): parameter-efficient fine-tuning (LoRA, Adapter,
// BitFit) of a frozen model, dense or sparse. Sparse mode forecasts per-step block layouts with
// sequence-oriented predictors and runs the MLP and attention through block-sparse operators.
// Every run is a "finetune" run in the store; its curves are metrics, its adapters and
// checkpoints live in the run's artifact folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "darkroom/jobs.h"
#include "darkroom/workspace.h"

namespace darkroom {

// Bad options or a bad dataset, found before any training starts.
class FinetuneError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class PeftMethod { Lora, Adapter, BitFit };
enum class FinetuneMode { Dense, Sparse };
const char* toString(PeftMethod method);
const char* toString(FinetuneMode mode);
PeftMethod parsePeftMethod(const std::string& text);      // "lora", "adapter", "bitfit"
FinetuneMode parseFinetuneMode(const std::string& text);  // "dense", "sparse"

struct PeftOptions {
  PeftMethod method = PeftMethod::Lora;
  // LoRA: W x + (alpha / rank) · B A dropout(x) on every linear whose module name ends with one
  // of `targets` ("q_proj", "v_proj", "fc1", "gate_proj", ...).
  int rank = 8;
  double alpha = 16;
  double dropout = 0.0;
  std::vector<std::string> targets = {"q_proj", "v_proj"};
  // Adapter: a bottleneck (down, ReLU, up; up starts at zero) after each attention output and
  // each MLP output.
  int bottleneck = 64;
  // BitFit trains the biases of every linear layer (zero biases are added where the model has
  // none).
};

// Where the training text comes from.
struct DatasetSpec {
  enum class Kind { Corpus, TextFile, Jsonl };
  Kind kind = Kind::Corpus;  // Corpus: the built-in synthetic corpus
  std::filesystem::path path;  // TextFile: plain UTF-8; Jsonl: {"prompt": ..., "completion": ...}
  // per line; the loss is taken on the completion tokens only.
};

// How sparse mode picks its thresholds.
struct ThresholdPolicy {
  bool automatic = true;  // calibrate: most aggressive thresholds whose loss stays within
                          // `tolerance` (relative) of dense on the first batches
  double mlp_p = 0.03;    // MLP block inactive when > 90% of its neurons < p × block max
  double attention_threshold = 10;  // attention block kept when its mass exceeds this
  double tolerance = 0.01;
};

struct FinetuneOptions {
  std::string model = "demo-opt";  // a demo model name or a Hugging Face model folder
  DatasetSpec dataset;
  PeftOptions peft;
  FinetuneMode mode = FinetuneMode::Dense;
  ThresholdPolicy thresholds;
  int steps = 200;
  int batch = 4;
  int sequence = 256;
  int grad_accumulation = 1;  // micro-batches per optimizer step
  double lr = 1e-3;
  int warmup_steps = 10;      // linear warm-up, then cosine decay to 10% of lr
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;  // clipping; 0 turns it off
  bool bf16 = false;           // bf16 autocast of the forward (CPU and CUDA)
  int eval_every = 25;         // steps between evaluations; 0: only at the end
  int eval_batches = 4;
  int checkpoint_every = 25;   // steps between checkpoints; 0: only at the end
  // Sparse mode: every `predictor_refresh_every` steps the true layouts of the current batch are
  // recorded (a dense forward without gradients), recall and precision are logged, and the
  // predictors take `predictor_refresh_steps` optimizer steps on them.
  int predictor_refresh_every = 10;
  int predictor_refresh_steps = 5;
  int predictor_calibration_batches = 4;  // batches recorded to train the predictors at start
  std::uint64_t seed = 0;
  std::string device = "cpu";            // "cpu" or "cuda[:N]" (needs a CUDA LibTorch)
  std::string experiment = "finetune";   // the experiment the run is filed under
  std::string name;                      // run name; empty: "<model> <method> <mode>"
};

struct FinetuneResult {
  std::int64_t run_id = 0;
  int steps_done = 0;
  double final_loss = 0;       // mean training loss of the last 10 steps
  double final_eval_loss = std::numeric_limits<double>::quiet_NaN();  // none ran: NaN
  double steps_per_second = 0;
  std::filesystem::path adapter;  // adapter.safetensors in the run's folder
};

// Validates the options and the dataset (throws FinetuneError before creating a run when either
// is wrong), then trains as a new run. Cancellation through ctx leaves the run `killed` with its
// metrics and its last checkpoint, ready for resumeFinetune.
FinetuneResult finetune(Workspace& workspace, const FinetuneOptions& options, JobContext& ctx);

// Continues a killed or failed finetune run from its last checkpoint, with the options it was
// started with; the steps after that checkpoint are trained again (their metrics are replaced).
FinetuneResult resumeFinetune(Workspace& workspace, std::int64_t run_id, JobContext& ctx);

// The options a finetune run was started with (from its params).
FinetuneOptions finetuneOptionsOf(Workspace& workspace, std::int64_t run_id);

// Writes the model with the run's LoRA adapter merged into the base weights, as a Hugging Face
// folder (config, tokenizer files and model.safetensors). Only LoRA runs can be merged.
void exportMergedModel(Workspace& workspace, std::int64_t run_id,
                       const std::filesystem::path& out_dir, JobContext& ctx);

// Metric keys written by every run (step = optimizer step):
//   train/loss, train/lr, train/grad_norm, train/step_time_s, train/tokens_per_s, eval/loss
// and by sparse runs also:
//   sparsity/mlp, sparsity/attention            fraction of blocks skipped (mean over layers)
//   predictor/mlp_recall, predictor/mlp_precision, predictor/attention_recall,
//   predictor/attention_precision               mean over layers, at each refresh
//   predictor/layerN/mlp_recall, ...            the same per layer
//   exposer/mlp_sparsity, exposer/attention_sparsity   the true layouts' sparsity at each refresh
//   layout/dense_fallback_layers                layers run dense by the cost model this step
}  // namespace darkroom

// darkroom-cli: the engine without a window. Exit codes: 0 ok, 1 failure (message on stderr),
// 2 bad usage, 130 cancelled with Ctrl-C.
#include <cstdio>
#include <cstring>

#include "command.h"

using namespace darkroom;
using namespace darkroom::cli;

static const char* kHelp = R"(usage: darkroom-cli [--workspace DIR] COMMAND [ARGS] [--help]

Darkroom: see, launch and measure sparse fine-tuning, flash placement and NPU quantization.

commands:
  workspace init|info   create a workspace, or describe one
  runs list|show|export experiments' runs, their params and metrics (JSON, CSV)
  demo                  train the demo models, analyse them, write a report
  model info            a model folder's family, shapes, parameters, tokenizer
  analyze               activation sparsity of a model on calibration text
  generate              continue a prompt with a model (streams the text)
  finetune              LoRA / Adapter / BitFit fine-tuning, dense or sparse; resume, export
  coact                 record FFN activation traces and count neuron co-activations
  place                 neuron placement for flash (greedy path, baselines) and expected I/O
  layout write|verify   flash layout files of a model's FFN bundles in placement order
  export gguf           a GGUF file of the model with its FFN neurons in placement order
  iobench               replay traces against a layout with real reads, per placement × policy
  quantize              tile-aligned 4-bit quantization of a model, per-matrix error, perplexity
  kbench                NPU kernels: quantized GEMV vs batch, LUT vs plain dequant and softmax
  tts                   test-time scaling: Best-of-N / beam search sweep over budgets N
  info                  the compute runtime: LibTorch, CUDA
  device                phones over adb: list, track, push, shell, profile, profiles, simphone

options:
  --workspace DIR       the workspace folder (default: $DARKROOM_WORKSPACE, else
                        $XDG_DATA_HOME/darkroom/default)
  --json                (table commands) machine-readable output with stable field names
  --help                help for darkroom-cli or for one command
)";

int main(int argc, char** argv) {
  Args args(std::vector<std::string>(argv + 1, argv + argc));
  try {
    Context ctx;
    ctx.workspace = args.option("--workspace").value_or(Workspace::defaultPath().string());
    auto command = args.next();
    if (!command) {
      if (args.flag("--help")) return std::printf("%s", kHelp), 0;
      throw UsageError("missing command");
    }
    if (*command == "help") return std::printf("%s", kHelp), 0;
    if (*command == "workspace") return workspaceCommand(ctx, args);
    if (*command == "runs") return runsCommand(ctx, args);
    if (*command == "demo") return demoCommand(ctx, args);
    if (*command == "info") return infoCommand(ctx, args);
    if (*command == "analyze") return analyzeCommand(ctx, args);
    if (*command == "model") return modelCommand(ctx, args);
    if (*command == "generate") return generateCommand(ctx, args);
    if (*command == "finetune") return finetuneCommand(ctx, args);
    if (*command == "coact") return coactCommand(ctx, args);
    if (*command == "place") return placeCommand(ctx, args);
    if (*command == "layout") return layoutCommand(ctx, args);
    if (*command == "export") return exportCommand(ctx, args);
    if (*command == "iobench") return iobenchCommand(ctx, args);
    if (*command == "quantize") return quantizeCommand(ctx, args);
    if (*command == "kbench") return kbenchCommand(ctx, args);
    if (*command == "tts") return ttsCommand(ctx, args);
    if (*command == "device") return deviceCommand(ctx, {argv + 1, argv + argc});
    throw UsageError("unknown command '" + *command + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "darkroom-cli: %s\nRun `darkroom-cli --help` for usage.\n", e.what());
    return 2;
  } catch (const JobCancelled&) {
    std::fprintf(stderr, "darkroom-cli: cancelled\n");
    return 130;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "darkroom-cli: %s\n", e.what());
    return 1;
  }
}

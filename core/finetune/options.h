// FinetuneOptions to and from run params (so that a run can be resumed with its own options).
#pragma once

#include "darkroom/finetune.h"
#include "darkroom/store.h"

namespace darkroom::training {

// The options as JSON under "options", plus the main ones as readable params for run tables.
Params optionsToParams(const FinetuneOptions& options);
// Throws FinetuneError when the run has no (readable) "options" param.
FinetuneOptions optionsFromParams(const Params& params);
// Throws FinetuneError naming the first option out of range.
void validateOptions(const FinetuneOptions& options);

}  // namespace darkroom::training

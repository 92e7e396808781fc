// The kernel back ends this agent offers (docs/agent-protocol.md, `info`.backends and
// `kernels --backend`): the SIMD CPU back end ("cpu-neon" or "cpu-avx2"), the scalar
// "reference", and the "npu" plug-in.
#pragma once

#include <string>

#include "record_writer.h"

namespace darkroom::agent {

// [{name, available, reason}] with reason "" for an available back end.
Json backendList();

}  // namespace darkroom::agent

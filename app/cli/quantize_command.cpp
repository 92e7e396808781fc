// Placeholder while this part is being written.
#include "command.h"

namespace darkroom::cli {
int quantizeCommand(const Context&, Args&) { throw std::runtime_error("quantize: not built yet"); }
int kbenchCommand(const Context&, Args&) { throw std::runtime_error("kbench: not built yet"); }
}  // namespace darkroom::cli

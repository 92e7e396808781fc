// Placeholder while this part is being written.
#include "command.h"

namespace darkroom::cli {
int ttsCommand(const Context&, Args&) { throw std::runtime_error("tts: not built yet"); }
}  // namespace darkroom::cli

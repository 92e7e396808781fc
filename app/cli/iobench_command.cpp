// Placeholder while the Neuralink commands are being built: says so instead of pretending.
#include "command.h"

namespace darkroom::cli {

int iobenchCommand(const Context&, Args&) { throw UsageError("this command is not built yet"); }

}  // namespace darkroom::cli

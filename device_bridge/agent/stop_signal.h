// SIGINT, SIGTERM and SIGHUP end a run cleanly: the handler only records the signal, and the
// subcommands poll stopRequested() between measurements and finish with a final record. SIGPIPE
// is ignored so that a reader that went away shows up as a failed write (RecordWriter::broken)
// instead of killing the agent mid-measurement.
#pragma once

#include <chrono>

namespace darkroom::agent {

void installStopHandlers();
bool stopRequested();
// The signal that asked to stop ("SIGINT", ...), or nullptr.
const char* stopSignalName();
// Sleeps until `deadline` or until a stop is requested, whichever comes first. Returns false
// when stopped.
bool sleepUntil(std::chrono::steady_clock::time_point deadline);

}  // namespace darkroom::agent

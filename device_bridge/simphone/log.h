// One line per event on stderr ("simphone: ..."), whole lines even from several threads. Stdout
// is reserved for the single "listening" line that other programs parse.
#pragma once

#include <string>

namespace darkroom::simphone {

void logLine(const std::string& line);

}  // namespace darkroom::simphone

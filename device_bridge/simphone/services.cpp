#include "services.h"

namespace darkroom::simphone {

namespace {

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

ServiceFn lookupService(const std::string& name, const Sandbox& sandbox) {
  if (name == "sync:") {
    return [&sandbox](Stream& stream) { runSync(stream, sandbox); };
  }
  ShellRequest request;
  if (startsWith(name, "exec:")) {
    // adb exec-out: raw bytes both ways, never a terminal.
    request.command = name.substr(5);
  } else if (name == "shell" || startsWith(name, "shell:") || startsWith(name, "shell,")) {
    // "shell,v2,TERM=xterm-256color,raw:CMD": options up to the first ':', the command after it.
    const std::size_t colon = name.find(':');
    const std::string options = name.substr(5, colon == std::string::npos ? std::string::npos
                                                                          : colon - 5);
    request.command = colon == std::string::npos ? std::string() : name.substr(colon + 1);
    // adbd's default: a terminal for an interactive shell, pipes for a command.
    request.terminal = request.command.empty();
    std::size_t pos = 0;
    while (pos < options.size()) {
      std::size_t comma = options.find(',', pos);
      if (comma == std::string::npos) comma = options.size();
      const std::string option = options.substr(pos, comma - pos);
      pos = comma + 1;
      if (option == "v2") {
        request.protocol_v2 = true;
      } else if (option == "raw") {
        request.terminal = false;
      } else if (option == "pty") {
        request.terminal = true;
      } else if (startsWith(option, "TERM=")) {
        request.term = option.substr(5);
      }
      // adbd ignores options it does not know, so newer hosts keep working.
    }
  } else {
    return {};
  }
  return [request, &sandbox](Stream& stream) { runShell(stream, request, sandbox); };
}

}  // namespace darkroom::simphone

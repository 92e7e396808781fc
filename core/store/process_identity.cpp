#include "store/process_identity.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace darkroom::store {
namespace {

struct StatFields {
  char state = '?';
  std::int64_t start_ticks = 0;
};

std::optional<StatFields> readStat(std::int64_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  StatFields out;
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return std::nullopt;
    if (i == 3) out.state = field[0];
  }
  out.start_ticks = std::stoll(field);
  return out;
}

}  // namespace

ProcessIdentity currentProcess() {
  ProcessIdentity me;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  me.host = host;
  me.pid = getpid();
  if (auto stat = readStat(me.pid)) me.start_ticks = stat->start_ticks;
  return me;
}

bool isAlive(const ProcessIdentity& owner) {
  if (owner.pid <= 0) return false;
  if (kill(static_cast<pid_t>(owner.pid), 0) != 0 && errno == ESRCH) return false;
  auto stat = readStat(owner.pid);
  if (!stat) return false;                              // exited between the two checks
  if (stat->state == 'Z' || stat->state == 'X') return false;  // dead, not yet reaped
  return owner.start_ticks == 0 || stat->start_ticks == owner.start_ticks;
}

}  // namespace darkroom::store

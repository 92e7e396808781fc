#include "cli_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace darkroom::test {

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CliResult cli(const std::vector<std::string>& args, const std::filesystem::path& scratch) {
  auto out_file = scratch / "stdout.txt", err_file = scratch / "stderr.txt";
  pid_t pid = fork();
  if (pid == 0) {
    if (!std::freopen(out_file.c_str(), "w", stdout) ||
        !std::freopen(err_file.c_str(), "w", stderr))
      _exit(126);
    std::vector<char*> argv{const_cast<char*>(DARKROOM_CLI)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(DARKROOM_CLI, argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(out_file),
          slurp(err_file)};
}

}  // namespace darkroom::test

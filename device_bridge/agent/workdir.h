// The one directory the agent writes in (docs/agent-protocol.md: "The agent writes nothing
// outside it"). Inputs (--layout, --trace) may be read from anywhere; every file the agent
// creates goes through fileForWriting, which refuses paths that leave the directory, also
// through `..` or a symbolic link.
#pragma once

#include <filesystem>
#include <string>

namespace darkroom::agent {

// Where the agent works when --workdir is not given: /data/local/tmp/darkroom on Android, the
// current directory elsewhere.
std::filesystem::path defaultWorkDir();
// Whether this looks like Android (it has /system/bin/getprop).
bool onAndroid();

class WorkDir {
 public:
  // Creates the directory (and its parents) when missing and resolves it to a canonical path.
  // Throws AgentError saying what failed and how to choose another one.
  static WorkDir open(const std::filesystem::path& requested);
  const std::filesystem::path& path() const { return path_; }

  // The path to create for `name` (relative: inside the work directory; absolute: must already
  // lie inside it). Throws UsageError naming `flag` when it would lie outside, or names the
  // directory itself.
  std::filesystem::path fileForWriting(const std::string& name, const std::string& flag) const;
  // Whether `p` (made absolute and resolved as far as it exists) lies inside the directory.
  bool contains(const std::filesystem::path& p) const;

 private:
  explicit WorkDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

}  // namespace darkroom::agent

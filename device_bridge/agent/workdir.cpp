#include "workdir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <system_error>

#include "agent_error.h"

namespace darkroom::agent {
namespace fs = std::filesystem;

bool onAndroid() { return ::access("/system/bin/getprop", X_OK) == 0; }

fs::path defaultWorkDir() {
  if (onAndroid()) return "/data/local/tmp/darkroom";
  std::error_code ec;
  auto cwd = fs::current_path(ec);
  return ec ? fs::path(".") : cwd;
}

WorkDir WorkDir::open(const fs::path& requested) {
  if (requested.empty())
    throw AgentError("the work directory is empty; pass --workdir DIR with a writable directory");
  std::error_code ec;
  const bool existed = fs::exists(requested, ec);
  if (existed && !fs::is_directory(requested, ec))
    throw AgentError("the work directory " + requested.string() +
                     " exists but is not a directory; pass --workdir with a directory");
  if (!existed) {
    fs::create_directories(requested, ec);
    if (ec)
      throw AgentError("cannot create the work directory " + requested.string() + ": " +
                       ec.message() + "; pass --workdir with a directory the agent may create");
  }
  auto canonical = fs::canonical(requested, ec);
  if (ec)
    throw AgentError("cannot resolve the work directory " + requested.string() + ": " +
                     ec.message());
  if (::access(canonical.c_str(), W_OK | X_OK) != 0)
    throw AgentError("the work directory " + canonical.string() +
                     " is not writable; pass --workdir with a writable directory");
  return WorkDir(canonical);
}

bool WorkDir::contains(const fs::path& p) const {
  std::error_code ec;
  // weakly_canonical resolves symbolic links in the part that exists, and `..` everywhere.
  const fs::path resolved = fs::weakly_canonical(p.is_absolute() ? p : path_ / p, ec);
  if (ec) return false;
  auto inside = resolved.begin();
  for (auto it = path_.begin(); it != path_.end(); ++it, ++inside) {
    if (inside == resolved.end() || *inside != *it) return false;
  }
  return true;
}

fs::path WorkDir::fileForWriting(const std::string& name, const std::string& flag) const {
  if (name.empty()) throw UsageError(flag, flag + " must name a file");
  const fs::path p(name);
  const fs::path full = p.is_absolute() ? p : path_ / p;
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(full, ec);
  if (ec || !contains(full))
    throw UsageError(flag, flag + " " + name + " lies outside the work directory " +
                               path_.string() +
                               "; the agent only writes inside it (use a name relative to it)");
  // A symbolic link as the last component (even a dangling one, which weakly_canonical cannot
  // follow) could send the write anywhere: refused; the file is also opened with O_NOFOLLOW.
  struct stat st {};
  if (::lstat(full.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
    throw UsageError(flag, flag + " " + name + " is a symbolic link; the agent only writes "
                               "regular files inside the work directory " + path_.string());
  if (resolved == path_)
    throw UsageError(flag, flag + " " + name + " names the work directory itself, not a file");
  return resolved;
}

}  // namespace darkroom::agent

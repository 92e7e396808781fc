#include "darkroom/workspace.h"

#include <cstdlib>

namespace darkroom {
namespace fs = std::filesystem;

fs::path Workspace::defaultPath() {
  if (const char* env = std::getenv("DARKROOM_WORKSPACE"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
    return fs::path(xdg) / "darkroom" / "default";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".local" / "share" / "darkroom" / "default";
}

bool Workspace::exists(const fs::path& root) { return fs::is_regular_file(root / "darkroom.db"); }

Workspace::Workspace(fs::path root, Store store) : root_(std::move(root)), store_(std::move(store)) {}

Workspace Workspace::create(const fs::path& root) {
  std::error_code ec;
  if (fs::exists(root) && !fs::is_directory(root))
    throw WorkspaceError(root.string() + ": exists and is not a folder; a workspace is a folder");
  fs::create_directories(root / "artifacts", ec);
  if (ec) throw WorkspaceError(root.string() + ": cannot create workspace folder: " + ec.message());
  return Workspace(fs::absolute(root), Store::open(root / "darkroom.db"));
}

Workspace Workspace::open(const fs::path& root) {
  if (!fs::exists(root))
    throw WorkspaceError(root.string() + ": no such workspace; create it with "
                         "`darkroom-cli workspace init " + root.string() + "`");
  if (!fs::is_directory(root))
    throw WorkspaceError(root.string() + ": is a file, not a workspace folder (a workspace is a "
                         "folder holding darkroom.db)");
  if (!exists(root))
    throw WorkspaceError(root.string() + ": not a Darkroom workspace (no darkroom.db); create it "
                         "with `darkroom-cli workspace init " + root.string() + "`");
  std::error_code ec;
  fs::create_directories(root / "artifacts", ec);
  return Workspace(fs::absolute(root), Store::open(root / "darkroom.db"));
}

fs::path Workspace::runDir(std::int64_t run_id) const {
  auto dir = artifactsDir() / ("run-" + std::to_string(run_id));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw WorkspaceError(dir.string() + ": cannot create: " + ec.message());
  return dir;
}

}  // namespace darkroom

// A workspace is a folder: darkroom.db (the store) plus artifacts/ for large arrays and reports.
#pragma once

#include <filesystem>
#include <stdexcept>

#include "darkroom/store.h"

namespace darkroom {

class WorkspaceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Workspace {
 public:
  // $DARKROOM_WORKSPACE, else $XDG_DATA_HOME/darkroom/default, else
  // ~/.local/share/darkroom/default.
  static std::filesystem::path defaultPath();
  static bool exists(const std::filesystem::path& root);

  // Creates the folder, its artifacts/ and the database; opening an existing one is fine.
  static Workspace create(const std::filesystem::path& root);
  // Opens an existing workspace; throws WorkspaceError saying how to make one when absent, and
  // StoreError when darkroom.db is not a usable database.
  static Workspace open(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path dbPath() const { return root_ / "darkroom.db"; }
  std::filesystem::path artifactsDir() const { return root_ / "artifacts"; }
  // A folder under artifacts/ for one run's files, created on demand.
  std::filesystem::path runDir(std::int64_t run_id) const;
  Store& store() { return store_; }

 private:
  Workspace(std::filesystem::path root, Store store);
  std::filesystem::path root_;
  Store store_;
};

}  // namespace darkroom

// The store's schema as an ordered list of migrations. Version N is reached by applying
// migrations 1..N in order, each in its own transaction together with the version bump, so a
// crash mid-migration leaves the previous version intact.
#pragma once

#include "store/sqlite.h"

namespace darkroom::store {

int latestVersion();
// The version recorded in the file; 0 for a new, empty database.
int currentVersion(sqlite::Db& db);
// Applies the missing migrations up to `target` (tests use a lower target to build old files).
// Throws StoreError when the file is newer than this build.
void migrate(sqlite::Db& db, int target);

}  // namespace darkroom::store

#include "store/sqlite.h"

namespace darkroom::sqlite {

Db::Db(const std::filesystem::path& file) : file_(file) {
  int rc = sqlite3_open_v2(file.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError(file.string() + ": cannot open database: " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  // A reader and a writer in different processes wait for each other instead of failing.
  sqlite3_busy_timeout(db_, 10000);
}

Db::~Db() { sqlite3_close_v2(db_); }

void Db::fail(const std::string& what, int rc) const {
  std::string msg = sqlite3_errmsg(db_);
  int primary = rc & 0xff;
  std::string hint;
  if (primary == SQLITE_NOTADB)
    hint = " — this file is not a Darkroom workspace database; choose a workspace folder or "
           "create one with `darkroom-cli workspace init DIR`";
  else if (primary == SQLITE_CORRUPT)
    hint = " — the database is damaged; restore it from a copy or start a new workspace";
  else if (primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN)
    hint = " — check that the workspace folder is writable";
  throw StoreError(file_.string() + ": " + what + ": " + msg + hint);
}

void Db::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    sqlite3_free(err);  // sqlite3_errmsg still holds the same text for fail()
    fail("cannot execute `" + sql.substr(0, 80) + "`", rc);
  }
}

Stmt::Stmt(Db& db, const char* sql) : db_(db), sql_(sql) {
  int rc = sqlite3_prepare_v2(db.handle(), sql, -1, &stmt_, nullptr);
  if (rc != SQLITE_OK) db_.fail("cannot prepare `" + sql_.substr(0, 80) + "`", rc);
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}
Stmt& Stmt::bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}
Stmt& Stmt::bind(int index, const std::string& value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  db_.fail("`" + sql_.substr(0, 80) + "` failed", rc);
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Stmt::text(int column) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
           : std::string();
}

Transaction::Transaction(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace darkroom::sqlite

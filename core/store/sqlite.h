// A thin RAII layer over the SQLite C API, private to the store: every error becomes a
// StoreError that names the database file and the statement that failed.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "darkroom/store.h"

namespace darkroom::sqlite {

class Db {
 public:
  explicit Db(const std::filesystem::path& file);  // opens read-write, creating the file
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* handle() const { return db_; }
  const std::filesystem::path& file() const { return file_; }
  void exec(const std::string& sql);
  [[noreturn]] void fail(const std::string& what, int rc) const;
  std::int64_t lastInsertId() const { return sqlite3_last_insert_rowid(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::filesystem::path file_;
};

class Stmt {
 public:
  Stmt(Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int index, std::int64_t value);
  Stmt& bind(int index, double value);
  Stmt& bind(int index, const std::string& value);
  Stmt& bindNull(int index);
  Stmt& bind(int index, std::optional<std::int64_t> value) {
    return value ? bind(index, *value) : bindNull(index);
  }
  // True while a row is available; false when done.
  bool step();
  void run() { step(); reset(); }
  void reset();

  std::int64_t int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  double real(int column) const { return sqlite3_column_double(stmt_, column); }
  bool isNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string text(int column) const;

 private:
  Db& db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed without commit (an exception unwound).
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  void commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace darkroom::sqlite

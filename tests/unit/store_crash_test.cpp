// A writer killed with SIGKILL mid-run: the database must open, pass integrity_check, keep every
// metric the writer saw committed, and report the run as killed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "darkroom/store.h"
#include "test_util.h"

using namespace darkroom;

TEST(StoreCrash, KilledWriterLeavesConsistentDatabaseAndKilledRun) {
  test::TempDir dir;
  auto db = (dir / "darkroom.db").string();
  { Store::open(db); }  // created beforehand so the child only migrates nothing

  int pipe_fd[2];
  ASSERT_EQ(pipe(pipe_fd), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    dup2(pipe_fd[1], STDOUT_FILENO);
    close(pipe_fd[0]);
    execl(DARKROOM_CRASH_CHILD, DARKROOM_CRASH_CHILD, db.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fd[1]);
  FILE* from_child = fdopen(pipe_fd[0], "r");
  std::uniform_int_distribution<int> wait_commits(5, 200);
  int target = wait_commits(test::rng());
  long long committed = 0, run_id = 0;
  char line[128];
  int commits_seen = 0;
  while (commits_seen < target && std::fgets(line, sizeof line, from_child)) {
    long long n;
    if (std::sscanf(line, "run %lld", &n) == 1) run_id = n;
    if (std::sscanf(line, "committed %lld", &n) == 1) {
      committed = n;
      ++commits_seen;
    }
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  std::fclose(from_child);
  ASSERT_GT(run_id, 0);
  ASSERT_EQ(commits_seen, target) << "the child stopped early";

  auto store = Store::open(db);  // recovery runs here
  EXPECT_EQ(store.integrityCheck(), "ok");
  EXPECT_GE(store.metricCount(run_id), committed);
  EXPECT_EQ(store.metricCount(run_id) % 37, 0) << "a batch was torn";
  auto run = store.run(run_id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, RunStatus::Killed);
  ASSERT_TRUE(run->end_time);
  EXPECT_NE(run->note.find("exited"), std::string::npos);
  EXPECT_EQ(store.recoverAbandonedRuns(), 0);  // already recovered
}

TEST(StoreCrash, RunOfALiveProcessIsNotRecovered) {
  test::TempDir dir;
  auto store = Store::open(dir / "darkroom.db");
  auto run = store.createRun(store.ensureExperiment("e"), "mine", "test");
  auto second = Store::open(dir / "darkroom.db");  // e.g. the GUI opening while a job runs
  EXPECT_EQ(second.recoverAbandonedRuns(), 0);
  EXPECT_EQ(second.run(run)->status, RunStatus::Running);
}

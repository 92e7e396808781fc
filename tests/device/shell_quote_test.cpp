// shellQuote / shellCommand: hostile arguments go through a real /bin/sh and must come out as
// exactly the same bytes, one argument each.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "darkroom/adb/client.h"

using namespace darkroom::adb;

namespace {

// Runs `/bin/sh -c command_line` and returns its stdout.
std::string runSh(const std::string& command_line) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl("/bin/sh", "sh", "-c", command_line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command_line;
  return out;
}

// The arguments as the shell handed them to printf: one NUL-terminated string each.
std::vector<std::string> argumentsSeenBySh(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"printf", "%s\\0"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string out = runSh(shellCommand(argv));
  std::vector<std::string> seen;
  std::size_t start = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\0') {
      seen.push_back(out.substr(start, i - start));
      start = i + 1;
    }
  }
  EXPECT_EQ(start, out.size()) << "output not NUL-terminated";
  return seen;
}

}  // namespace

TEST(ShellQuote, WrapsInSingleQuotesAndEscapesQuotes) {
  EXPECT_EQ(shellQuote("abc"), "'abc'");
  EXPECT_EQ(shellQuote(""), "''");
  EXPECT_EQ(shellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(shellQuote("'"), "''\\'''");
  EXPECT_EQ(shellCommand({"ls", "-l", "a b"}), "'ls' '-l' 'a b'");
  EXPECT_EQ(shellCommand({}), "");
}

TEST(ShellQuote, RefusesNulBytes) {
  EXPECT_THROW(shellQuote(std::string("a\0b", 3)), AdbError);
}

TEST(ShellQuote, HostileArgumentsReachShAsExactlyOneLiteralArgumentEach) {
  const std::vector<std::string> hostile = {
      "plain",
      "two words",
      "  leading and trailing  ",
      "it's",
      "''",
      "\"double\"",
      "semi;colon; rm -rf x",
      "$(rm -rf x)",
      "`touch pwned`",
      "${HOME}",
      "$HOME",
      "back\\slash\\",
      "new\nline\n",
      "\ttab",
      "",
      "*",
      "?",
      "[a-z]",
      "~",
      "-n",
      "--",
      "a|b&c>d<e",
      "!bang",
      "#comment",
      "{a,b}",
      "ünïcødé 名前 🙂",
      "\x01\x7f\xff\xfe",
      "%s%n%d",
      "'\\''",
  };
  EXPECT_EQ(argumentsSeenBySh(hostile), hostile);
  // Also one at a time, so a quoting bug cannot hide by merging with a neighbour.
  for (const std::string& arg : hostile) {
    const auto seen = argumentsSeenBySh({arg});
    ASSERT_EQ(seen.size(), 1u) << printableBytes(arg);
    EXPECT_EQ(seen[0], arg) << printableBytes(arg);
  }
}

TEST(ShellQuote, RandomByteStringsSurviveSh) {
  std::random_device rd;
  const unsigned seed = rd();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> args(1 + rng() % 30);
    for (std::string& a : args) {
      a.resize(rng() % 40);
      // Quotes and shell metacharacters are made more likely than uniform bytes would make them.
      const std::string special = "'\"\\$`;|&<>(){}[]*? \t\n!#~";
      for (char& c : a) {
        c = (rng() % 3 == 0) ? special[rng() % special.size()]
                             : static_cast<char>(1 + rng() % 255);
      }
    }
    EXPECT_EQ(argumentsSeenBySh(args), args);
  }
}

// darkroom-cli finetune end to end: a real process trains on a real workspace; its run row,
// metrics, exit codes, Ctrl-C and resume, and the refusals of bad data and bad flags.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "darkroom/store.h"
#include "cli_process.h"
#include "demo_workspace_fixture.h"
#include "test_util.h"

using namespace darkroom;
using nlohmann::json;
using test::cli;
using test::contains;
using test::slurp;
using Result = test::CliResult;

namespace {

// A tiny run: the commands must work, not the model learn.
const std::vector<std::string> kTiny = {"--model", "demo-opt", "--steps", "4", "--sequence", "32",
                                        "--batch", "2"};

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

// The shared trained workspace: see demo_workspace_fixture.h.
class FinetuneCli : public test::DemoWorkspaceTest {
 protected:
  std::size_t runCount() const {
    return Store::open(std::filesystem::path(ws_) / "darkroom.db").runs().size();
  }
  Store store() const { return Store::open(std::filesystem::path(ws_) / "darkroom.db"); }

};

TEST_F(FinetuneCli, TinyRunWritesARunRowWithMetrics) {
  auto r = cli(in(concat({"finetune", "--experiment", "ft-cli", "--json"}, kTiny)), own_.path());
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = json::parse(r.out);
  const auto id = j["run"].get<std::int64_t>();
  EXPECT_EQ(j["steps"], 4);
  EXPECT_EQ(j["method"], "lora");
  EXPECT_EQ(j["mode"], "dense");
  EXPECT_TRUE(std::isfinite(j["final_loss"].get<double>()));
  EXPECT_GT(j["steps_per_second"].get<double>(), 0);
  EXPECT_TRUE(std::filesystem::exists(j["adapter"].get<std::string>()));

  auto s = store();
  auto run = s.run(id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->kind, "finetune");
  EXPECT_EQ(run->experiment, "ft-cli");
  EXPECT_EQ(run->status, RunStatus::Finished);
  auto loss = s.metrics(id, "train/loss");
  ASSERT_EQ(loss.size(), 4u);
  for (const char* key : {"train/lr", "train/grad_norm", "train/step_time_s", "train/tokens_per_s"})
    EXPECT_EQ(s.metrics(id, key).size(), 4u) << key;
  EXPECT_FALSE(s.metrics(id, "eval/loss").empty());  // eval_every 25 > 4 steps: once, at the end

  // The plain output names the run, the losses, the speed and the adapter.
  auto text = cli(in(concat({"finetune", "--method", "bitfit", "--seed", "3"}, kTiny)), own_.path());
  ASSERT_EQ(text.code, 0) << text.err;
  for (const char* part : {"run ", "final loss", "eval loss", "steps/s", "adapter"})
    EXPECT_TRUE(contains(text.out, part)) << part << " missing from:\n" << text.out;

  // A finished LoRA run merges into a Hugging Face folder; a finished run has nothing to resume.
  auto out_dir = (own_ / "merged").string();
  auto exported = cli(in({"finetune", "export", std::to_string(id), out_dir}), own_.path());
  ASSERT_EQ(exported.code, 0) << exported.err;
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(out_dir) / "config.json"));
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(out_dir) / "model.safetensors"));
  auto resume_finished = cli(in({"finetune", "resume", std::to_string(id)}), own_.path());
  EXPECT_EQ(resume_finished.code, 1) << resume_finished.err;
}

TEST_F(FinetuneCli, BadDataFailsBeforeAnyRunIsCreated) {
  const auto before = runCount();
  auto empty = own_ / "empty.txt";
  std::ofstream(empty).close();
  auto r = cli(in(concat({"finetune", "--dataset", empty.string()}, kTiny)), own_.path());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "empty.txt")) << "the message should name the file: " << r.err;

  auto broken = own_ / "broken.jsonl";
  std::ofstream(broken) << "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\"\n";
  r = cli(in(concat({"finetune", "--dataset", broken.string()}, kTiny)), own_.path());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, "broken.jsonl")) << "the message should name the file: " << r.err;

  r = cli(in(concat({"finetune", "--dataset", (own_ / "missing.txt").string()}, kTiny)), own_.path());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(runCount(), before);
}

TEST_F(FinetuneCli, BadFlagsAreUsageErrors) {
  const auto before = runCount();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"finetune", "--steps", "0"}, "--steps must be a positive number"},
      {{"finetune", "--lr", "fast"}, "--lr expects a number"},
      {{"finetune", "--method", "prefix"}, "--method must be lora, adapter or bitfit"},
      {{"finetune", "--mode", "turbo"}, "--mode must be dense or sparse"},
      {{"finetune", "--method", "adapter", "--rank", "4"}, "--rank applies to --method lora"},
      {{"finetune", "--bottleneck", "16"}, "--bottleneck applies to --method adapter"},
      {{"finetune", "--thresholds", "auto"}, "--thresholds applies to --mode sparse"},
      {{"finetune", "--mode", "sparse", "--thresholds", "0.03"}, "P,ATT"},
      {{"finetune", "--mode", "sparse", "--thresholds", "0.03,10", "--tolerance", "0.1"},
       "--tolerance applies"},
      {{"finetune", "--targets", "q_proj,,v_proj"}, "--targets expects module names"},
      {{"finetune", "--stpes", "5"}, "unexpected argument '--stpes'"},
      {{"finetune", "--steps"}, "--steps needs a value"},
      {{"finetune", "polish"}, "unknown finetune subcommand 'polish'"},
      {{"finetune", "resume"}, "missing run ID"},
      {{"finetune", "resume", "abc"}, "run ID must be a positive number"},
      {{"finetune", "resume", "1", "--steps", "9"}, "--steps cannot be used with finetune resume"},
      {{"finetune", "export", "1"}, "missing output folder"},
      {{"finetune", "export", "1", "out", "extra"}, "unexpected argument 'extra'"},
  };
  for (const auto& [args, message] : cases) {
    auto r = cli(in(args), own_.path());
    EXPECT_EQ(r.code, 2) << args.back() << ": " << r.err;
    EXPECT_TRUE(contains(r.err, message)) << "expected '" << message << "' in: " << r.err;
  }
  EXPECT_EQ(runCount(), before);
  auto help = cli({"finetune", "--help"}, own_.path());
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(contains(help.out, "usage: darkroom-cli finetune"));
  EXPECT_TRUE(contains(cli({"--help"}, own_.path()).out, "finetune"));
}

TEST_F(FinetuneCli, CtrlCKillsTheRunAndResumeFinishesIt) {
  const std::string steps = "300";  // long enough that Ctrl-C comes first
  std::vector<std::string> args = in({"finetune", "--model", "demo-opt", "--steps", steps,
                                      "--sequence", "32", "--batch", "2", "--checkpoint-every", "2",
                                      "--experiment", "ft-stop"});
  pid_t pid = fork();
  if (pid == 0) {
    freopen((own_ / "err.txt").c_str(), "w", stderr);
    freopen("/dev/null", "w", stdout);
    std::vector<char*> argv{const_cast<char*>(DARKROOM_CLI)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(DARKROOM_CLI, argv.data());
    _exit(127);
  }
  struct Reaper {  // whatever fails below, the child must not outlive the test
    pid_t pid;
    ~Reaper() {
      if (pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid};
  // Interrupt once a few steps are stored.
  std::int64_t id = 0;
  for (int i = 0; i < 1200 && id == 0; ++i) {
    for (const auto& r : store().runs())
      if (r.experiment == "ft-stop" && store().metrics(r.id, "train/loss").size() >= 3) id = r.id;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_GT(id, 0) << "no steps recorded in 30 s: " << slurp(own_ / "err.txt");
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  reaper.pid = 0;
  ASSERT_TRUE(WIFEXITED(status)) << "darkroom-cli died of a signal instead of cancelling";
  auto err = slurp(own_ / "err.txt");
  if (WEXITSTATUS(status) == 0) GTEST_SKIP() << "the run finished before Ctrl-C arrived";
  EXPECT_EQ(WEXITSTATUS(status), 130) << err;
  EXPECT_TRUE(contains(err, "finetune resume " + std::to_string(id))) << err;
  auto run = store().run(id);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->status, RunStatus::Killed);
  const auto kept = store().metrics(id, "train/loss").size();
  EXPECT_GE(kept, 3u);  // what it measured is kept

  auto resumed = cli(in({"finetune", "resume", std::to_string(id), "--json"}), own_.path());
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(json::parse(resumed.out)["run"], id);
  EXPECT_EQ(store().run(id)->status, RunStatus::Finished);
  // Every step once: the steps after the checkpoint were trained again, not appended twice.
  auto loss = store().metrics(id, "train/loss");
  std::set<std::int64_t> steps_seen;
  for (const auto& p : loss) steps_seen.insert(p.step);
  EXPECT_EQ(loss.size(), std::size_t(std::stoi(steps)));
  EXPECT_EQ(steps_seen.size(), loss.size());
}

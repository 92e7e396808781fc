// Fine-tuning end to end on a tiny demo model: PEFT parameters, datasets and their errors,
// dense versus sparse runs from one seed, and killing and resuming a run.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "darkroom/demo_models.h"
#include "darkroom/finetune.h"
#include "darkroom/tokenizer.h"
#include "finetune/dataset.h"
#include "finetune/peft.h"
#include "model/checkpoint.h"
#include "test_util.h"

using namespace darkroom;

namespace {

// One workspace with a briefly trained demo-opt for the whole file (training it takes seconds).
class Finetune : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    auto ws = Workspace::create(dir_->path());
    JobQueue queue(1);
    DemoTrainOptions o;
    o.steps = 3;
    auto id = queue.submit("demo", "train", [&](JobContext& ctx) {
      trainDemoModel(ws, "demo-opt", o, ctx);
      return std::any();
    });
    ASSERT_EQ(queue.wait(id), JobState::Succeeded);
  }
  static void TearDownTestSuite() { delete dir_; }

  static FinetuneOptions tiny() {
    FinetuneOptions o;
    o.model = "demo-opt";
    o.steps = 6;
    o.batch = 2;
    o.sequence = 64;
    o.eval_every = 3;
    o.eval_batches = 1;
    o.checkpoint_every = 2;
    o.lr = 3e-3;
    o.warmup_steps = 1;
    o.predictor_calibration_batches = 1;
    o.predictor_refresh_every = 2;
    o.predictor_refresh_steps = 2;
    o.seed = 11;
    return o;
  }

  // Runs work as a job; `cancel_after` cancels it once progress passes that fraction.
  static JobState run(const std::function<void(JobContext&)>& work, double cancel_after = 2) {
    JobQueue queue(1);
    std::atomic<std::uint64_t> id{0};
    std::atomic<bool> cancelled{false};
    queue.setListener([&](const JobEvent& e) {
      if (e.state == JobState::Running && e.fraction > cancel_after && !cancelled.exchange(true))
        std::thread([&queue, jid = e.id] { queue.cancel(jid); }).detach();
    });
    id = queue.submit("finetune", "test", [&](JobContext& ctx) {
      work(ctx);
      return std::any();
    });
    auto state = queue.wait(id);
    return state;
  }

  static test::TempDir* dir_;
};
test::TempDir* Finetune::dir_ = nullptr;

std::vector<MetricPoint> curve(Workspace& ws, std::int64_t run, const std::string& key) {
  return ws.store().metrics(run, key);
}

TEST_F(Finetune, LoraStartsAtTheBaseModelAndMergesIntoIt) {
  auto ws = Workspace::open(dir_->path());
  auto model = model::loadCheckpoint(ws.root() / "models" / "demo-opt");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(test::rng()());
  PeftOptions po;
  po.targets = {"q_proj", "v_proj", "fc1"};
  training::Peft peft(model, po, gen);
  EXPECT_EQ(peft.parameters().size(), 3u * 2 * 4);  // 3 modules × (A, B) × 4 layers
  model::ForwardHooks hooks;
  hooks.linear = [&](const std::string& m, const at::Tensor& x, const at::Tensor& w,
                     const at::Tensor* b) { return peft.linear(m, x, w, b); };
  auto tokens = at::randint(259, {2, 20}, gen, at::kLong);
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::allclose(model.forward(tokens, nullptr, nullptr, &hooks), model.forward(tokens)));
  for (const auto& [name, t] : peft.parameters()) const_cast<at::Tensor&>(t).normal_(0, 0.05, gen);
  model::Transformer merged(model.config(), peft.merged(model.weights()));
  EXPECT_TRUE(at::allclose(model.forward(tokens, nullptr, nullptr, &hooks), merged.forward(tokens),
                           1e-4, 1e-4));
  po.targets = {"no_such_proj"};
  EXPECT_THROW(training::Peft(model, po, gen), FinetuneError);
}

TEST_F(Finetune, DatasetErrorsComeBeforeAnyRun) {
  auto ws = Workspace::open(dir_->path());
  const auto runs_before = ws.store().runs().size();
  auto expectError = [&](const std::string& content, const std::string& name,
                         DatasetSpec::Kind kind, const std::string& message) {
    auto path = dir_->path() / name;
    std::ofstream(path) << content;
    auto o = tiny();
    o.dataset = {kind, path};
    JobQueue queue(1);
    std::string error;
    queue.setListener([&](const JobEvent& e) {
      if (e.state == JobState::Failed) error = e.message;
    });
    auto id = queue.submit("t", "t", [&](JobContext& ctx) {
      finetune(ws, o, ctx);
      return std::any();
    });
    EXPECT_EQ(queue.wait(id), JobState::Failed);
    EXPECT_NE(error.find(message), std::string::npos) << error;
  };
  expectError("", "empty.txt", DatasetSpec::Kind::TextFile, "is empty");
  expectError("short", "short.txt", DatasetSpec::Kind::TextFile, "needs at least 65");
  expectError("{\"prompt\": \"a\", \"completion\": \"b\"}\n{oops\n", "bad.jsonl",
              DatasetSpec::Kind::Jsonl, "bad.jsonl line 2 is not JSON");
  expectError("{\"prompt\": \"a\"}\n", "missing.jsonl", DatasetSpec::Kind::Jsonl,
              "needs string fields");
  EXPECT_EQ(ws.store().runs().size(), runs_before);
}

TEST_F(Finetune, JsonlTakesTheLossOnCompletionsOnly) {
  auto path = dir_->path() / "pairs.jsonl";
  std::ofstream(path) << "{\"prompt\": \"2+2=\", \"completion\": \"4\"}\n"
                      << "{\"prompt\": \"3+4=\", \"completion\": \"7\"}\n";
  auto tokenizer = loadTokenizer(dir_->path() / "models" / "demo-opt");
  auto data = training::Dataset::load({DatasetSpec::Kind::Jsonl, path}, *tokenizer, 16, false);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto b = data.trainBatch(1, gen);
  auto targets = b.targets[0];
  auto counted = targets.ne(training::kIgnore);
  // "4" or "7" and the end-of-sequence token: two targets, both after the prompt.
  EXPECT_EQ(counted.sum().item<int>(), 2);
  EXPECT_EQ(b.loss_tokens, 2);
  const int first = counted.nonzero()[0].item<int>();
  EXPECT_EQ(first, 3);  // the input at position 3 is '=', which predicts the completion
}

TEST_F(Finetune, SparseRunTracksTheDenseRunFromTheSameSeed) {
  auto ws = Workspace::open(dir_->path());
  FinetuneResult dense, sparse;
  auto o = tiny();
  o.steps = 8;
  ASSERT_EQ(run([&](JobContext& ctx) { dense = finetune(ws, o, ctx); }), JobState::Succeeded);
  o.mode = FinetuneMode::Sparse;
  ASSERT_EQ(run([&](JobContext& ctx) { sparse = finetune(ws, o, ctx); }), JobState::Succeeded);
  auto d = curve(ws, dense.run_id, "train/loss"), s = curve(ws, sparse.run_id, "train/loss");
  ASSERT_EQ(d.size(), 8u);
  ASSERT_EQ(s.size(), 8u);
  // The same batches; the sparse forward drops only what the searched thresholds allow (1%
  // of dense on calibration), so each step's loss stays within 2%.
  for (std::size_t i = 0; i < d.size(); ++i)
    EXPECT_NEAR(s[i].value, d[i].value, 0.02 * d[i].value) << "step " << d[i].step;
  for (const char* key : {"sparsity/mlp", "sparsity/attention", "predictor/mlp_recall",
                          "predictor/attention_precision", "predictor/layer0/mlp_recall"})
    EXPECT_FALSE(curve(ws, sparse.run_id, key).empty()) << key;
  EXPECT_TRUE(std::filesystem::exists(sparse.adapter));
  EXPECT_NE(ws.store().params(sparse.run_id).at("long_exposure").find("cost model"),
            std::string::npos);
}

TEST_F(Finetune, Bf16AutocastAndAccumulationTrain) {
  auto ws = Workspace::open(dir_->path());
  auto o = tiny();
  o.steps = 3;
  o.bf16 = true;
  o.grad_accumulation = 2;
  o.peft.method = PeftMethod::BitFit;
  FinetuneResult r;
  ASSERT_EQ(run([&](JobContext& ctx) { r = finetune(ws, o, ctx); }), JobState::Succeeded);
  auto losses = curve(ws, r.run_id, "train/loss");
  ASSERT_EQ(losses.size(), 3u);
  for (const auto& p : losses) EXPECT_TRUE(std::isfinite(p.value) && p.value > 0);
  // Two micro-batches of 2 × 64 tokens per step.
  EXPECT_NEAR(curve(ws, r.run_id, "train/tokens_per_s")[0].value *
                  curve(ws, r.run_id, "train/step_time_s")[0].value,
              256, 1);
  EXPECT_EQ(ws.store().params(r.run_id).at("precision"), "bf16");
}

TEST_F(Finetune, AKilledRunResumesFromItsLastCheckpoint) {
  auto ws = Workspace::open(dir_->path());
  auto o = tiny();
  o.mode = FinetuneMode::Sparse;
  o.peft.method = PeftMethod::Adapter;
  o.peft.bottleneck = 8;
  std::int64_t run_id = 0;
  // Cancel once more than half of the steps are done: checkpoints at 2 and 4 exist by then.
  EXPECT_EQ(run([&](JobContext& ctx) { finetune(ws, o, ctx); }, 0.75), JobState::Cancelled);
  for (const auto& r : ws.store().runs())
    if (r.kind == "finetune") run_id = r.id;
  auto info = ws.store().run(run_id);
  ASSERT_EQ(info->status, RunStatus::Killed);
  const auto before = curve(ws, run_id, "train/loss").size();
  EXPECT_GE(before, 4u);
  FinetuneResult resumed;
  ASSERT_EQ(run([&](JobContext& ctx) { resumed = resumeFinetune(ws, run_id, ctx); }),
            JobState::Succeeded);
  EXPECT_EQ(ws.store().run(run_id)->status, RunStatus::Finished);
  auto losses = curve(ws, run_id, "train/loss");
  ASSERT_EQ(losses.size(), 6u);  // each step once: those after the checkpoint were redone
  for (std::size_t i = 0; i < losses.size(); ++i) EXPECT_EQ(losses[i].step, std::int64_t(i) + 1);
  EXPECT_EQ(resumed.steps_done, 6);
  EXPECT_EQ(run([&](JobContext& ctx) { resumeFinetune(ws, run_id, ctx); }), JobState::Failed)
      << "a finished run cannot be resumed";
}

}  // namespace

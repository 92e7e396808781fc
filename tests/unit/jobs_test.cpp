#include "darkroom/jobs.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>

#include "test_util.h"

using namespace darkroom;
using namespace std::chrono_literals;

namespace {

// Collects every event the queue emits, per job.
struct Recorder {
  std::mutex mutex;
  std::map<std::uint64_t, std::vector<JobEvent>> events;
  void attach(JobQueue& q) {
    q.setListener([this](const JobEvent& e) {
      std::lock_guard lock(mutex);
      events[e.id].push_back(e);
    });
  }
  std::vector<JobEvent> of(std::uint64_t id) {
    std::lock_guard lock(mutex);
    return events[id];
  }
};

}  // namespace

TEST(Jobs, ProgressIsMonotonicAndResultIsDelivered) {
  JobQueue queue(2);
  Recorder rec;
  rec.attach(queue);
  std::uniform_real_distribution<double> jitter(-0.3, 0.3);
  std::vector<double> reports;
  for (int i = 0; i <= 50; ++i) reports.push_back(i / 50.0 + jitter(test::rng()));
  auto id = queue.submit("analysis", "count", [&](JobContext& ctx) -> std::any {
    for (double f : reports) ctx.progress(f, "working");
    return 42;
  });
  ASSERT_EQ(queue.wait(id), JobState::Succeeded);
  auto events = rec.of(id);
  ASSERT_GE(events.size(), 3u);
  double last = 0;
  for (const auto& e : events) {
    EXPECT_GE(e.fraction, last);
    EXPECT_LE(e.fraction, 1.0);
    last = e.fraction;
  }
  EXPECT_EQ(events.front().state, JobState::Queued);
  EXPECT_EQ(events.back().state, JobState::Succeeded);
  EXPECT_DOUBLE_EQ(events.back().fraction, 1.0);
  EXPECT_EQ(std::any_cast<int>(events.back().result), 42);
}

TEST(Jobs, CancelStopsWithin100msOfTheNextProgressPoint) {
  JobQueue queue(1);
  Recorder rec;
  rec.attach(queue);
  std::uniform_int_distribution<int> period_ms(5, 40);
  const auto period = std::chrono::milliseconds(period_ms(test::rng()));
  std::atomic<int> points_after_cancel{0};
  std::atomic<bool> cancel_sent{false};
  auto id = queue.submit("train", "long", [&](JobContext& ctx) -> std::any {
    for (int i = 0; i < 100000; ++i) {
      std::this_thread::sleep_for(period);
      if (cancel_sent) ++points_after_cancel;
      ctx.progress(i / 100000.0, "step");
    }
    return {};
  });
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  cancel_sent = true;
  queue.cancel(id);
  ASSERT_EQ(queue.wait(id, 5000ms), JobState::Cancelled);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_LE(points_after_cancel.load(), 1);
  EXPECT_LT(elapsed, period + 100ms);
  EXPECT_FALSE(rec.of(id).back().result.has_value());
}

TEST(Jobs, NewerJobOfTheSameKindSupersedesAndDropsTheOlderResult) {
  JobQueue queue(2);
  Recorder rec;
  rec.attach(queue);
  std::atomic<bool> release{false};
  // The first job ignores cancellation (never calls progress) and still produces a result.
  auto first = queue.submit("heatmap", "layer 1", [&](JobContext&) -> std::any {
    while (!release) std::this_thread::sleep_for(1ms);
    return std::string("stale");
  });
  while (queue.active().empty() || queue.active().front().state != JobState::Running)
    std::this_thread::sleep_for(1ms);
  auto second = queue.submit("heatmap", "layer 2", [](JobContext&) -> std::any {
    return std::string("fresh");
  });
  auto other = queue.submit("train", "unrelated", [](JobContext&) -> std::any { return 1; });
  EXPECT_EQ(queue.wait(second), JobState::Succeeded);
  release = true;
  EXPECT_EQ(queue.wait(first), JobState::Superseded);
  EXPECT_EQ(queue.wait(other), JobState::Succeeded);  // other kinds are untouched
  EXPECT_FALSE(rec.of(first).back().result.has_value());
  EXPECT_EQ(std::any_cast<std::string>(rec.of(second).back().result), "fresh");
  EXPECT_GT(rec.of(second).back().generation, rec.of(first).back().generation);
}

TEST(Jobs, QueuedJobsOfTheSameKindAreSupersededBeforeRunning) {
  JobQueue queue(1);
  std::atomic<bool> release{false};
  auto blocker = queue.submit("a", "blocker", [&](JobContext&) -> std::any {
    while (!release) std::this_thread::sleep_for(1ms);
    return {};
  });
  std::atomic<int> ran{0};
  auto q1 = queue.submit("b", "q1", [&](JobContext&) -> std::any { ++ran; return {}; });
  auto q2 = queue.submit("b", "q2", [&](JobContext&) -> std::any { ++ran; return {}; });
  EXPECT_EQ(queue.wait(q1, 1000ms), JobState::Superseded);
  release = true;
  EXPECT_EQ(queue.wait(q2), JobState::Succeeded);
  EXPECT_EQ(queue.wait(blocker), JobState::Succeeded);
  EXPECT_EQ(ran.load(), 1);
}

TEST(Jobs, FailureCarriesTheErrorMessage) {
  JobQueue queue(1);
  Recorder rec;
  rec.attach(queue);
  auto id = queue.submit("x", "fails", [](JobContext&) -> std::any {
    throw std::runtime_error("checkpoint.safetensors: truncated header");
  });
  EXPECT_EQ(queue.wait(id), JobState::Failed);
  EXPECT_EQ(rec.of(id).back().message, "checkpoint.safetensors: truncated header");
  EXPECT_THROW(queue.wait(id + 100), std::invalid_argument);  // never submitted: no hang
}

TEST(Jobs, DestructorCancelsRunningWork) {
  auto t0 = std::chrono::steady_clock::now();
  {
    JobQueue queue(2);
    for (int i = 0; i < 4; ++i)
      queue.submit("k" + std::to_string(i), "spin", [](JobContext& ctx) -> std::any {
        for (;;) {
          std::this_thread::sleep_for(2ms);
          ctx.progress(0.5);
        }
      });
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

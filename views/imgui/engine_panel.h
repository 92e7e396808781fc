// The "Engine" panel: ImGui frame cost, the background job queue with cancel buttons, and an
// echo of the input ImGui receives — a small live view that also shows the Qt→ImGui bridge works.
#pragma once

#include "imgui/imgui_widget.h"

#include <darkroom/jobs.h>

#include <QSize>

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

namespace darkroom::views {

class EnginePanel : public ImGuiWidget {
  Q_OBJECT

 public:
  // Called once per frame (~30 Hz while visible) on the GUI thread: keep them cheap.
  // JobQueue::active() and JobQueue::cancel() fit.
  using JobsProvider = std::function<std::vector<darkroom::JobEvent>()>;
  using CancelJob = std::function<void(std::uint64_t id)>;

  explicit EnginePanel(QWidget* parent = nullptr);
  EnginePanel(JobsProvider jobs, CancelJob cancel, QWidget* parent = nullptr);

  void setJobSource(JobsProvider jobs, CancelJob cancel);

  // Left-button clicks ImGui registered inside the panel.
  int clicksSeen() const { return clicksSeen_; }

  QSize sizeHint() const override { return {420, 360}; }

 protected:
  void drawUi() override;

 private:
  static constexpr int kHistory = 120;  // frames in the frame-time plot

  void recordFrameTime();
  void drawFrameTimes();
  void drawJobs();
  void drawInputEcho();

  JobsProvider jobs_;
  CancelJob cancelJob_;
  std::array<float, kHistory> frameMs_{};  // ring buffer
  int historyNext_ = 0;
  int historyCount_ = 0;
  bool freezePlot_ = false;
  std::array<char, 64> jobFilter_{};
  int clicksSeen_ = 0;
};

}  // namespace darkroom::views

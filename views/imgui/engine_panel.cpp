#include "imgui/engine_panel.h"

#include <imgui.h>

#include <algorithm>
#include <cfloat>
#include <cstdio>
#include <numeric>
#include <string>
#include <utility>

namespace darkroom::views {

namespace {
constexpr float kPlotHeight = 64.0f;
}  // namespace

EnginePanel::EnginePanel(QWidget* parent) : ImGuiWidget(parent) {}

EnginePanel::EnginePanel(JobsProvider jobs, CancelJob cancel, QWidget* parent)
    : ImGuiWidget(parent), jobs_(std::move(jobs)), cancelJob_(std::move(cancel)) {}

void EnginePanel::setJobSource(JobsProvider jobs, CancelJob cancel) {
  jobs_ = std::move(jobs);
  cancelJob_ = std::move(cancel);
  update();
}

void EnginePanel::drawUi() {
  recordFrameTime();

  ImGui::SetNextWindowPos(ImVec2(0.0f, 0.0f));
  ImGui::SetNextWindowSize(ImGui::GetIO().DisplaySize);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowBorderSize, 0.0f);  // the widget's edge is the frame
  ImGui::Begin("Engine", nullptr,
               ImGuiWindowFlags_NoTitleBar | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize |
                   ImGuiWindowFlags_NoCollapse | ImGuiWindowFlags_NoSavedSettings);
  ImGui::PopStyleVar();
  // Checked before any item is submitted, so a click that lands on a button counts as well.
  if (ImGui::IsMouseClicked(ImGuiMouseButton_Left) &&
      ImGui::IsWindowHovered(ImGuiHoveredFlags_AllowWhenBlockedByActiveItem))
    ++clicksSeen_;

  ImGui::TextUnformatted("Engine");
  ImGui::Separator();
  drawFrameTimes();
  drawJobs();
  drawInputEcho();
  ImGui::End();
}

void EnginePanel::recordFrameTime() {
  if (freezePlot_ || frameCount() == 0) return;  // the first frame has no earlier one to show
  frameMs_[historyNext_] = static_cast<float>(lastFrameMs());
  historyNext_ = (historyNext_ + 1) % kHistory;
  historyCount_ = std::min(historyCount_ + 1, kHistory);
}

void EnginePanel::drawFrameTimes() {
  ImGui::TextUnformatted("Frame time (CPU, ImGui build + GL submit)");
  if (historyCount_ > 0) {
    const float* first = frameMs_.data();
    const float* last = first + historyCount_;
    const float low = *std::min_element(first, last);
    const float high = *std::max_element(first, last);
    const float mean = std::accumulate(first, last, 0.0f) / static_cast<float>(historyCount_);
    // Until the ring buffer has wrapped, the oldest sample is at 0 rather than at the cursor.
    const int oldest = historyCount_ == kHistory ? historyNext_ : 0;
    // PlotLines (unlike most items in 1.86) takes no negative "up to the edge" width.
    ImGui::PlotLines("##frame_ms", first, historyCount_, oldest, nullptr, 0.0f, high * 1.25f,
                     ImVec2(ImGui::GetContentRegionAvail().x, kPlotHeight));
    ImGui::Text("min %.2f  avg %.2f  max %.2f ms", static_cast<double>(low),
                static_cast<double>(mean), static_cast<double>(high));
  } else {
    ImGui::TextDisabled("No frames measured yet.");
  }
  ImGui::AlignTextToFramePadding();  // line the text up with the checkbox and button after it
  ImGui::Text("%.1f FPS", static_cast<double>(ImGui::GetIO().Framerate));
  ImGui::SameLine();
  ImGui::Checkbox("Freeze", &freezePlot_);
  ImGui::SameLine();
  if (ImGui::Button("Clear")) historyNext_ = historyCount_ = 0;
}

void EnginePanel::drawJobs() {
  ImGui::Spacing();
  ImGui::TextUnformatted("Jobs");
  ImGui::Separator();
  ImGui::SetNextItemWidth(-FLT_MIN);
  ImGui::InputTextWithHint("##job_filter", "Filter by title (a,b includes, -c excludes)",
                           jobFilter_.data(), jobFilter_.size());
  const ImGuiTextFilter filter(jobFilter_.data());

  const std::vector<darkroom::JobEvent> jobs = jobs_ ? jobs_() : std::vector<darkroom::JobEvent>{};
  if (jobs.empty()) {
    ImGui::TextDisabled("No jobs running.");
    return;
  }
  const ImGuiStyle& style = ImGui::GetStyle();
  const float cancelWidth = ImGui::CalcTextSize("Cancel").x + 2.0f * style.FramePadding.x;
  int shown = 0;
  for (const darkroom::JobEvent& job : jobs) {
    if (!filter.PassFilter(job.title.c_str())) continue;
    ++shown;
    ImGui::PushID(std::to_string(job.id).c_str());  // titles repeat; ids do not
    ImGui::TextUnformatted(job.title.c_str());
    ImGui::SameLine();
    ImGui::TextDisabled("%s", darkroom::toString(job.state));

    char overlay[160];
    std::snprintf(overlay, sizeof overlay, "%.0f%%  %s", job.fraction * 100.0, job.message.c_str());
    ImGui::ProgressBar(static_cast<float>(job.fraction),
                       ImVec2(-(cancelWidth + style.ItemSpacing.x), 0.0f), overlay);
    ImGui::SameLine();
    ImGui::BeginDisabled(!cancelJob_ || darkroom::isFinal(job.state));
    if (ImGui::Button("Cancel")) cancelJob_(job.id);
    ImGui::EndDisabled();
    ImGui::PopID();
  }
  if (shown == 0) ImGui::TextDisabled("No job matches the filter.");
}

void EnginePanel::drawInputEcho() {
  ImGui::Spacing();
  ImGui::TextUnformatted("Input");
  ImGui::Separator();
  const ImGuiIO& io = ImGui::GetIO();
  if (ImGui::IsMousePosValid())
    ImGui::Text("Mouse %.0f, %.0f", static_cast<double>(io.MousePos.x),
                static_cast<double>(io.MousePos.y));
  else
    ImGui::TextDisabled("Mouse outside");
  ImGui::SameLine();
  ImGui::Text("  left clicks %d", clicksSeen_);
  const bool anyModifier = io.KeyCtrl || io.KeyShift || io.KeyAlt;
  ImGui::Text("Modifiers %s%s%s%s", anyModifier ? "" : "none ", io.KeyCtrl ? "Ctrl " : "",
              io.KeyShift ? "Shift " : "", io.KeyAlt ? "Alt " : "");
  if (io.WantTextInput) {
    ImGui::SameLine();
    ImGui::TextDisabled("(typing)");
  }
}

}  // namespace darkroom::views

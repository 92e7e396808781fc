// Darkroom's main window: the Runs panel in the middle, dockable Log, Engine (Dear ImGui) and the
// panels later parts of Darkroom fill; File menu for workspaces, themes, a saved layout.
#pragma once

#include <QMainWindow>
#include <memory>

#include "theme/theme.h"

class QLabel;

namespace darkroom {
class Workspace;
}

namespace darkroom::views {

class CoactPanel;
class DevicesPanel;
class EnginePanel;
class FinetunePanel;
class FrontierPanel;
class JobBridge;
class KernelsPanel;
class LogPanel;
class PlacementComparisonPanel;
class ProfilePanel;
class QuantizationPanel;
class RunsPanel;
class SparsityPanel;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Opens an existing workspace (create=false) or creates one; on failure keeps the current
  // workspace and returns the reason in *error.
  bool openWorkspace(const QString& path, bool create, QString* error = nullptr);
  QString workspacePath() const;

  // Records a model's activation sparsity (a demo name or a model folder) as a background job;
  // the Sparsity panel shows the result.
  std::uint64_t analyzeModel(const QString& model);
  // Shows a stored analysis run in the Sparsity panel (loaded off the UI thread).
  std::uint64_t showAnalysis(std::int64_t run_id);

  // Trains and analyses the demo models in the current workspace as a background job;
  // steps <= 0 means the recipe's default.
  std::uint64_t createDemoRuns(bool force = false, int steps = 0);
  void setTheme(Theme theme);
  Theme theme() const { return theme_; }

  RunsPanel* runsPanel() const { return runs_; }
  LogPanel* logPanel() const { return log_; }
  EnginePanel* enginePanel() const { return engine_; }  // nullptr without OpenGL
  SparsityPanel* sparsityPanel() const { return sparsity_; }
  FinetunePanel* finetunePanel() const { return finetune_; }
  CoactPanel* coactPanel() const { return coact_; }
  PlacementComparisonPanel* placementComparisonPanel() const { return comparison_; }
  QuantizationPanel* quantizationPanel() const { return quantization_; }
  KernelsPanel* kernelsPanel() const { return kernels_; }
  FrontierPanel* frontierPanel() const { return frontier_; }
  DevicesPanel* devicesPanel() const { return devices_; }
  ProfilePanel* profilePanel() const { return profile_; }
  JobBridge* jobs() const { return jobs_; }

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildDocks();
  void buildMenus();
  void chooseWorkspace(bool create);
  void exportSelectedRuns();
  void saveLayout();
  void restoreLayout();

  std::unique_ptr<Workspace> workspace_;
  JobBridge* jobs_;
  RunsPanel* runs_;
  LogPanel* log_;
  EnginePanel* engine_ = nullptr;
  SparsityPanel* sparsity_;
  FinetunePanel* finetune_;
  CoactPanel* coact_;
  PlacementComparisonPanel* comparison_;
  QuantizationPanel* quantization_;
  KernelsPanel* kernels_;
  FrontierPanel* frontier_;
  DevicesPanel* devices_;
  ProfilePanel* profile_;
  QLabel* workspace_label_;
  QLabel* jobs_label_;
  QByteArray default_state_;
  Theme theme_ = Theme::Dark;
};

}  // namespace darkroom::views

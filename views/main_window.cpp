#include "main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>

#include "darkroom/demo.h"
#include "darkroom/run_export.h"
#include "darkroom/workspace.h"
#include "devices/devices_panel.h"
#include "devices/profile_panel.h"
#include "finetune/finetune_panel.h"
#include "imgui/engine_panel.h"
#include "jobs/job_bridge.h"
#include "log/log_panel.h"
#include "neuralink/coact_panel.h"
#include "neuralink/placement_comparison_panel.h"
#include "quant/frontier_panel.h"
#include "quant/kernels_panel.h"
#include "quant/quantization_panel.h"
#include "darkroom/analysis.h"
#include "runs/runs_panel.h"
#include "sparsity/sparsity_panel.h"

namespace darkroom::views {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(tr("Darkroom"));
  setWindowIcon(QIcon(":/icons/darkroom.svg"));
  setDockOptions(AnimatedDocks | AllowTabbedDocks | AllowNestedDocks);
  jobs_ = new JobBridge(2, this);
  runs_ = new RunsPanel;
  setCentralWidget(runs_);
  log_ = new LogPanel;
  connect(jobs_, &JobBridge::jobEvent, log_, &LogPanel::onJobEvent);
  connect(log_, &LogPanel::cancelRequested, jobs_, &JobBridge::cancel);

  workspace_label_ = new QLabel(tr("no workspace"));
  jobs_label_ = new QLabel;
  statusBar()->addWidget(workspace_label_, 1);
  statusBar()->addPermanentWidget(jobs_label_);
  connect(jobs_, &JobBridge::jobEvent, this, [this](const JobEvent& e) {
    auto n = jobs_->active().size();
    jobs_label_->setText(n ? tr("%n job(s) running", nullptr, int(n)) : QString());
    // Finished work may have written runs: show them now rather than at the next poll.
    if (isFinal(e.state)) runs_->refresh();
  });

  buildDocks();
  buildMenus();
  default_state_ = saveState();
  resize(1400, 860);
  restoreLayout();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildDocks() {
  auto addDock = [this](QWidget* widget, const QString& title, const QString& name,
                        Qt::DockWidgetArea area) {
    auto* dock = new QDockWidget(title, this);
    dock->setObjectName(name);  // saveState() needs stable names
    dock->setWidget(widget);
    addDockWidget(area, dock);
    return dock;
  };
  auto* log_dock = addDock(log_, tr("Log"), "dock.log", Qt::BottomDockWidgetArea);
  sparsity_ = new SparsityPanel;
  sparsity_->setMinimumSize(900, 620);  // below that, scroll rather than squeeze the plots
  auto* sparsity_scroll = new QScrollArea;
  sparsity_scroll->setWidget(sparsity_);
  sparsity_scroll->setWidgetResizable(true);
  sparsity_scroll->setFrameShape(QFrame::NoFrame);
  auto* sparsity_dock =
      addDock(sparsity_scroll, tr("Sparsity"), "dock.sparsity", Qt::BottomDockWidgetArea);
  tabifyDockWidget(log_dock, sparsity_dock);
  finetune_ = new FinetunePanel(jobs_);
  finetune_->setMinimumSize(1100, 640);  // form beside six charts; below that, scroll
  auto* finetune_scroll = new QScrollArea;
  finetune_scroll->setWidget(finetune_);
  finetune_scroll->setWidgetResizable(true);
  finetune_scroll->setFrameShape(QFrame::NoFrame);
  auto* finetune_dock =
      addDock(finetune_scroll, tr("Fine-tune"), "dock.finetune", Qt::BottomDockWidgetArea);
  tabifyDockWidget(log_dock, finetune_dock);
  // Neuralink: co-activation matrices and placements, then their I/O replayed.
  coact_ = new CoactPanel(jobs_);
  coact_->setMinimumSize(1000, 560);  // two heatmaps and the neuron list; below that, scroll
  auto* coact_scroll = new QScrollArea;
  coact_scroll->setWidget(coact_);
  coact_scroll->setWidgetResizable(true);
  coact_scroll->setFrameShape(QFrame::NoFrame);
  auto* coact_dock =
      addDock(coact_scroll, tr("Co-activation"), "dock.coact", Qt::BottomDockWidgetArea);
  tabifyDockWidget(log_dock, coact_dock);
  comparison_ = new PlacementComparisonPanel(jobs_);
  comparison_->setMinimumSize(1100, 600);  // eight charts; below that, scroll
  auto* comparison_scroll = new QScrollArea;
  comparison_scroll->setWidget(comparison_);
  comparison_scroll->setWidgetResizable(true);
  comparison_scroll->setFrameShape(QFrame::NoFrame);
  auto* comparison_dock = addDock(comparison_scroll, tr("Placement Comparison"),
                                  "dock.placement-comparison", Qt::BottomDockWidgetArea);
  tabifyDockWidget(log_dock, comparison_dock);
  connect(coact_, &CoactPanel::traceRecorded, comparison_,
          &PlacementComparisonPanel::setTracePath);
  // NPU test-time scaling: quantize, measure the kernels, then the accuracy-vs-cost frontier.
  auto addScrolledDock = [&](QWidget* panel, QSize minimum, const QString& title, const QString& name) {
    panel->setMinimumSize(minimum);  // below that, scroll rather than squeeze the plots
    auto* scroll = new QScrollArea;
    scroll->setWidget(panel);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* dock = addDock(scroll, title, name, Qt::BottomDockWidgetArea);
    tabifyDockWidget(log_dock, dock);
    return dock;
  };
  quantization_ = new QuantizationPanel(jobs_);
  addScrolledDock(quantization_, {1000, 520}, tr("Quantization"), "dock.quantization");
  kernels_ = new KernelsPanel(jobs_);
  addScrolledDock(kernels_, {1100, 480}, tr("Kernels"), "dock.kernels");
  frontier_ = new FrontierPanel(jobs_);
  addScrolledDock(frontier_, {1000, 480}, tr("Frontier"), "dock.frontier");
  // Phones: the devices adb sees, then profiles run on one of them and compared.
  devices_ = new DevicesPanel;
  auto* devices_dock = addScrolledDock(devices_, {900, 420}, tr("Devices"), "dock.devices");
  profile_ = new ProfilePanel(jobs_);
  auto* profile_dock = addScrolledDock(profile_, {1150, 560}, tr("Profile"), "dock.profile");
  connect(devices_, &DevicesPanel::devicesChanged, profile_, &ProfilePanel::setDevices);
  connect(devices_, &DevicesPanel::currentDeviceChanged, profile_, &ProfilePanel::selectDevice);
  // The device list is followed once either panel is on screen, not before. (A dock in a tab
  // that is not current is "visible" but off screen; visibilityChanged tells the difference.)
  for (auto* dock : {devices_dock, profile_dock})
    connect(dock, &QDockWidget::visibilityChanged, devices_, [this](bool visible) {
      if (visible) devices_->startTracking();
    });
  // Selecting one analysis run shows it; the newest request wins (job supersession).
  connect(runs_, &RunsPanel::selectionChanged, this, [this](const std::vector<std::int64_t>& ids) {
    if (ids.size() != 1 || !workspace_) return;
    auto run = workspace_->store().run(ids.front());
    if (run && run->kind == "analysis" && run->status == RunStatus::Finished) showAnalysis(run->id);
    if (run && run->kind == "kbench" && run->status == RunStatus::Finished) kernels_->showRun(run->id);
  });
  connect(jobs_, &JobBridge::jobEvent, this, [this, sparsity_dock](const JobEvent& e) {
    if (e.state != JobState::Succeeded || !e.result.has_value()) return;
    if (e.kind == "analysis") {
      auto result = std::any_cast<AnalysisResult>(e.result);
      sparsity_->setAnalysis(std::move(result.analysis), QString::fromStdString(e.title));
      sparsity_dock->raise();
    } else if (e.kind == "load-analysis") {
      sparsity_->setAnalysis(std::any_cast<SparsityAnalysis>(e.result), QString::fromStdString(e.title));
    }
  });

  QWidget* engine_widget;
  if (ImGuiWidget::platformSupported()) {
    engine_ = new EnginePanel;
    engine_->setJobSource([this] { return jobs_->active(); },
                          [this](std::uint64_t id) { jobs_->cancel(id); });
    engine_widget = engine_;
  } else {
    auto* label = new QLabel(tr("The Engine panel draws with OpenGL, which the '%1' platform "
                                "does not offer. Run Darkroom on a desktop or under Xvfb.")
                                 .arg(QGuiApplication::platformName()));
    label->setWordWrap(true);
    label->setObjectName("emptyState");
    engine_widget = label;
  }
  auto* engine_dock = addDock(engine_widget, tr("Engine"), "dock.engine", Qt::RightDockWidgetArea);
  log_dock->raise();
  resizeDocks({engine_dock}, {330}, Qt::Horizontal);
  resizeDocks({log_dock}, {220}, Qt::Vertical);
}

void MainWindow::buildMenus() {
  auto* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&New Workspace…"), QKeySequence::New, this, [this] { chooseWorkspace(true); });
  file->addAction(tr("&Open Workspace…"), QKeySequence::Open, this,
                  [this] { chooseWorkspace(false); });
  file->addAction(tr("&Export Selected Runs…"), this, &MainWindow::exportSelectedRuns);
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  auto* run = menuBar()->addMenu(tr("&Run"));
  for (const char* demo : {"demo-opt", "demo-llama"})
    run->addAction(tr("Analyze %1").arg(demo), this, [this, demo] { analyzeModel(demo); });
  run->addAction(tr("Analyze Model Folder…"), this, [this] {
    QString dir = QFileDialog::getExistingDirectory(this, tr("Hugging Face Model Folder"));
    if (!dir.isEmpty()) analyzeModel(dir);
  });
  run->addSeparator();
  for (const char* demo : {"demo-opt", "demo-llama"})
    run->addAction(tr("Record Co-activations of %1").arg(demo), this, [this, demo] {
      coact_->record(demo, 4096);
      if (auto* dock = findChild<QDockWidget*>("dock.coact")) dock->raise();
    });
  run->addSeparator();
  auto raise = [this](const char* dock) {
    if (auto* d = findChild<QDockWidget*>(dock)) d->raise();
  };
  run->addAction(tr("&Quantize (Quantization Panel Settings)"), this, [this, raise] {
    quantization_->quantize();
    raise("dock.quantization");
  });
  run->addAction(tr("Measure &Kernels (Kernels Panel Settings)"), this, [this, raise] {
    kernels_->run();
    raise("dock.kernels");
  });
  run->addAction(tr("Test-Time Scaling &Sweep (Frontier Panel Settings)"), this, [this, raise] {
    frontier_->runSweep();
    raise("dock.frontier");
  });
  run->addAction(tr("&Profile a Device (Profile Panel Settings)"), this, [this, raise] {
    raise("dock.profile");
    profile_->run();
  });
  run->addSeparator();
  run->addAction(tr("Create &Demo Models and Runs"), this, [this] { createDemoRuns(false); });
  run->addAction(tr("Retrain Demo Models"), this, [this] { createDemoRuns(true); });
  run->addAction(tr("&Refresh"), QKeySequence::Refresh, runs_, &RunsPanel::refresh);

  auto* view = menuBar()->addMenu(tr("&View"));
  for (auto* dock : findChildren<QDockWidget*>()) view->addAction(dock->toggleViewAction());
  view->addSeparator();
  auto* themes = new QActionGroup(this);
  for (Theme t : {Theme::Dark, Theme::Light}) {
    auto* action = view->addAction(t == Theme::Dark ? tr("&Dark Theme") : tr("&Light Theme"));
    action->setCheckable(true);
    action->setData(themeName(t));
    themes->addAction(action);
    connect(action, &QAction::triggered, this, [this, t] { setTheme(t); });
  }
  view->addSeparator();
  view->addAction(tr("&Reset Layout"), this, [this] { restoreState(default_state_); });

  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About Darkroom"), this, [this] {
    QMessageBox::about(this, tr("About Darkroom"),
                       tr("<b>Darkroom</b><p>A research workbench for making language models "
                          "cheaper to fine-tune and to run on phones: see activation sparsity, "
                          "launch sparse fine-tuning, place neurons in flash, quantize for NPUs "
                          "and profile on devices.</p><p>Everything here is also available "
                          "headless through <code>darkroom-cli</code>.</p>"));
  });
}

bool MainWindow::openWorkspace(const QString& path, bool create, QString* error) {
  try {
    auto root = std::filesystem::path(path.toStdString());
    auto ws = std::make_unique<Workspace>(create ? Workspace::create(root) : Workspace::open(root));
    runs_->setStore(nullptr);
    finetune_->setWorkspace(nullptr);
    coact_->setWorkspace(nullptr);
    comparison_->setWorkspace(nullptr);
    quantization_->setWorkspace(nullptr);
    kernels_->setWorkspace(nullptr);
    frontier_->setWorkspace(nullptr);
    profile_->setWorkspace(nullptr);
    workspace_ = std::move(ws);
    runs_->setStore(&workspace_->store());
    finetune_->setWorkspace(workspace_.get());
    coact_->setWorkspace(workspace_.get());
    comparison_->setWorkspace(workspace_.get());
    quantization_->setWorkspace(workspace_.get());
    kernels_->setWorkspace(workspace_.get());
    frontier_->setWorkspace(workspace_.get());
    profile_->setWorkspace(workspace_.get());
    workspace_label_->setText(tr("Workspace: %1").arg(QString::fromStdString(workspace_->root().string())));
    setWindowTitle(tr("Darkroom — %1").arg(QString::fromStdString(workspace_->root().filename().string())));
    QSettings().setValue("workspace/last", QString::fromStdString(workspace_->root().string()));
    log_->append(LogPanel::Level::Info, tr("opened workspace %1").arg(QString::fromStdString(workspace_->root().string())));
    return true;
  } catch (const std::exception& e) {
    QString reason = QString::fromUtf8(e.what());
    log_->append(LogPanel::Level::Error, reason);
    if (error) *error = reason;
    return false;
  }
}

QString MainWindow::workspacePath() const {
  return workspace_ ? QString::fromStdString(workspace_->root().string()) : QString();
}

void MainWindow::chooseWorkspace(bool create) {
  QString dir = create ? QFileDialog::getSaveFileName(this, tr("New Workspace Folder"))
                       : QFileDialog::getExistingDirectory(this, tr("Open Workspace Folder"));
  if (dir.isEmpty()) return;
  QString error;
  if (!openWorkspace(dir, create, &error))
    QMessageBox::critical(this, create ? tr("Cannot create workspace") : tr("Cannot open workspace"),
                          error);
}

std::uint64_t MainWindow::createDemoRuns(bool force, int steps) {
  if (!workspace_) {
    log_->append(LogPanel::Level::Warning, tr("open a workspace first (File ▸ Open Workspace)"));
    return 0;
  }
  auto root = workspace_->root();
  // The job opens its own connection: the window keeps reading while the job writes.
  return jobs_->submit("demo", tr("Demo runs"), [root, force, steps](JobContext& ctx) -> std::any {
    auto ws = Workspace::open(root);
    DemoOptions options;
    options.force = force;
    if (steps > 0) options.steps = steps;
    return createDemo(ws, ctx, options);
  });
}

std::uint64_t MainWindow::analyzeModel(const QString& model) {
  if (!workspace_) {
    log_->append(LogPanel::Level::Warning, tr("open a workspace first (File ▸ Open Workspace)"));
    return 0;
  }
  auto root = workspace_->root();
  AnalysisRequest request;
  request.model = model.toStdString();
  return jobs_->submit("analysis", tr("Analyze %1").arg(model),
                       [root, request](JobContext& ctx) -> std::any {
                         auto ws = Workspace::open(root);
                         return analyzeSparsity(ws, request, ctx);
                       });
}

std::uint64_t MainWindow::showAnalysis(std::int64_t run_id) {
  auto root = workspace_->root();
  auto run = workspace_->store().run(run_id);
  QString title = run ? QString("%1 #%2").arg(QString::fromStdString(run->name)).arg(run_id) : QString();
  return jobs_->submit("load-analysis", title, [root, run_id](JobContext&) -> std::any {
    return loadSparsityAnalysis(Workspace::open(root), run_id);
  });
}

void MainWindow::exportSelectedRuns() {
  auto ids = runs_->selectedRuns();
  if (!workspace_ || ids.empty()) {
    QMessageBox::information(this, tr("Export Runs"), tr("Select one or more runs first."));
    return;
  }
  QString selected_filter;
  QString file = QFileDialog::getSaveFileName(this, tr("Export Runs"), "runs.json",
                                              tr("JSON (*.json);;CSV (*.csv)"), &selected_filter);
  if (file.isEmpty()) return;
  // The extension decides; without one, the filter the user picked does.
  bool csv = file.endsWith(".csv", Qt::CaseInsensitive) ||
             (!file.endsWith(".json", Qt::CaseInsensitive) && selected_filter.startsWith("CSV"));
  auto format = csv ? ExportFormat::Csv : ExportFormat::Json;
  try {
    exportRunsToFile(workspace_->store(), ids, format, file.toStdString());
    log_->append(LogPanel::Level::Info, tr("exported %n run(s) to %1", nullptr, int(ids.size())).arg(file));
  } catch (const std::exception& e) {
    QMessageBox::critical(this, tr("Export failed"), QString::fromUtf8(e.what()));
  }
}

void MainWindow::setTheme(Theme theme) {
  theme_ = theme;
  applyTheme(*qApp, theme);
  runs_->applyTheme();
  sparsity_->applyTheme();
  finetune_->applyTheme();
  coact_->applyTheme();
  comparison_->applyTheme();
  quantization_->applyTheme();
  kernels_->applyTheme();
  frontier_->applyTheme();
  devices_->applyTheme();
  profile_->applyTheme();
  if (engine_) engine_->setDarkStyle(theme == Theme::Dark);
  for (auto* action : findChildren<QAction*>())
    if (action->isCheckable() && action->data().toString().size())
      action->setChecked(action->data().toString() == themeName(theme));
  QSettings().setValue("ui/theme", themeName(theme));
}

void MainWindow::saveLayout() {
  QSettings settings;
  settings.setValue("layout/geometry", saveGeometry());
  settings.setValue("layout/state", saveState());
}

void MainWindow::restoreLayout() {
  QSettings settings;
  restoreGeometry(settings.value("layout/geometry").toByteArray());
  restoreState(settings.value("layout/state").toByteArray());
  setTheme(themeFromName(settings.value("ui/theme", "dark").toString()));
}

void MainWindow::closeEvent(QCloseEvent* event) {
  saveLayout();
  event->accept();
}

}  // namespace darkroom::views

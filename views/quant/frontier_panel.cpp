#include "quant/frontier_panel.h"

#include "darkroom/workspace.h"
#include "jobs/job_bridge.h"
#include "jobs/job_launcher.h"
#include "quant/frontier_plot.h"
#include "quant/tts_sweep_form.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace darkroom::views {

namespace {
constexpr const char* kKind = "tts";
constexpr const char* kLoadKind = "frontier-load";

QString costValue(const TtsPoint& p, FrontierCost cost) {
  switch (cost) {
    case FrontierCost::Tokens: return QObject::tr("%1 tokens").arg(p.tokens, 0, 'f', 0);
    case FrontierCost::WallTime: return QObject::tr("%1 s wall").arg(p.wall_seconds, 0, 'g', 3);
    case FrontierCost::CpuTime: return QObject::tr("%1 s CPU").arg(p.cpu_seconds, 0, 'g', 3);
  }
  return {};
}
}  // namespace

FrontierPanel::FrontierPanel(JobBridge* jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
  form_ = new TtsSweepForm;
  launcher_ = new JobLauncher(jobs_, tr("Run a sweep"), form_, tr("Run Sweep"));
  auto* left = new QWidget;
  auto* leftLayout = new QVBoxLayout(left);
  leftLayout->setContentsMargins(0, 0, 0, 0);
  leftLayout->addWidget(launcher_);
  leftLayout->addWidget(launcher_->messageLabel());
  leftLayout->addStretch();
  left->setFixedWidth(320);

  cost_ = new QComboBox;
  cost_->addItem(tr("tokens per problem"), int(FrontierCost::Tokens));
  cost_->addItem(tr("wall time per problem"), int(FrontierCost::WallTime));
  cost_->addItem(tr("CPU time per problem"), int(FrontierCost::CpuTime));
  cost_->setToolTip(tr("The cost along x; the Pareto front is worked out for this cost"));
  refresh_ = new QPushButton(tr("Refresh"));
  refresh_->setToolTip(tr("Reload every test-time-scaling run of the workspace"));
  pareto_ = new QLabel;
  pareto_->setWordWrap(true);
  pareto_->setForegroundRole(QPalette::PlaceholderText);
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Cost")));
  controls->addWidget(cost_);
  controls->addWidget(refresh_);
  controls->addStretch();
  plot_ = new FrontierPlot;
  auto* right = new QVBoxLayout;
  right->addLayout(controls);
  right->addWidget(plot_, 1);
  right->addWidget(pareto_);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(left);
  layout->addLayout(right, 1);

  connect(launcher_, &JobLauncher::runClicked, this, [this] { runSweep(); });
  connect(refresh_, &QPushButton::clicked, this, [this] { refresh(); });
  connect(cost_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this] {
    plot_->setCost(static_cast<FrontierCost>(cost_->currentData().toInt()));
    showPareto();
  });
  if (jobs_) connect(jobs_, &JobBridge::jobEvent, this, &FrontierPanel::onJobEvent);
  showPareto();
  updateButtons();
}

void FrontierPanel::setWorkspace(Workspace* workspace) {
  workspace_ = workspace;
  setPoints({});
  updateButtons();
  if (workspace_) refresh();
}

std::uint64_t FrontierPanel::refresh() {
  if (!workspace_ || !jobs_) return 0;
  const auto root = workspace_->root();
  loadJob_ = jobs_->submit(kLoadKind, tr("Load the test-time-scaling frontier"),
                           [root](JobContext&) -> std::any {
                             auto ws = Workspace::open(root);
                             return loadFrontier(ws);
                           });
  updateButtons();
  return loadJob_;
}

std::uint64_t FrontierPanel::runSweep() {
  if (launcher_->refuses(workspace_ && jobs_, form_->problem())) return 0;
  const TtsOptions options = form_->options();
  const auto root = workspace_->root();
  const QString title =
      tr("Test-time scaling sweep (%n model(s)", nullptr, int(options.models.size())) +
      tr(", %1, %n budget(s))", nullptr, int(options.budgets.size()))
          .arg(QString::fromStdString(options.weights));
  launcher_->start(kKind, title, [root, options](JobContext& ctx) -> std::any {
    auto ws = Workspace::open(root);
    return runTestTimeScaling(ws, options, ctx);
  });
  updateButtons();
  return launcher_->job();
}

void FrontierPanel::setPoints(std::vector<TtsPoint> points) {
  plot_->setPoints(std::move(points), static_cast<FrontierCost>(cost_->currentData().toInt()));
  showPareto();
}

void FrontierPanel::setCost(FrontierCost cost) { cost_->setCurrentIndex(cost_->findData(int(cost))); }

void FrontierPanel::showPareto() {
  const auto& points = plot_->points();
  if (points.empty()) {
    pareto_->setText(workspace_ ? tr("The workspace has no test-time-scaling runs yet.")
                                : tr("Open a workspace to see its test-time-scaling runs."));
    return;
  }
  QStringList parts;
  for (const std::size_t i : plot_->pareto()) {
    const TtsPoint& p = points[i];
    parts << tr("%1 %2 N=%3 (%4 %, %5)")
                 .arg(modelDisplayName(p.model), methodDisplayName(p.method))
                 .arg(p.budget)
                 .arg(p.accuracy * 100, 0, 'f', 1)
                 .arg(costValue(p, plot_->cost()));
  }
  pareto_->setText(tr("Pareto front, cheapest first: %1").arg(parts.join(QStringLiteral(" → "))));
}

void FrontierPanel::onJobEvent(const JobEvent& e) {
  if (e.id == 0) return;
  if (e.id == loadJob_ && isFinal(e.state)) {
    loadJob_ = 0;
    if (e.state == JobState::Succeeded && e.result.type() == typeid(std::vector<TtsPoint>))
      setPoints(std::any_cast<std::vector<TtsPoint>>(e.result));
    else if (e.state == JobState::Failed)
      launcher_->showMessage(
          tr("Cannot load the frontier: %1").arg(QString::fromStdString(e.message)), true);
    updateButtons();
    return;
  }
  if (!launcher_->finished(e)) return;
  if (e.state == JobState::Succeeded && e.result.type() == typeid(TtsReport)) {
    const auto& report = std::any_cast<const TtsReport&>(e.result);
    launcher_->showMessage(
        tr("Done: %n point(s) measured and stored.", nullptr, int(report.points.size())), false);
  } else {
    // A stopped sweep keeps the points it finished (stored as a killed run).
    launcher_->showEnd(
        e, tr("%1: stopped; the points finished so far are kept.").arg(launcher_->jobTitle()));
  }
  updateButtons();
  refresh();
}

QString FrontierPanel::paretoSummary() const { return pareto_->text(); }
QString FrontierPanel::message() const { return launcher_->message(); }
bool FrontierPanel::busy() const { return launcher_->busy() || loadJob_ != 0; }

void FrontierPanel::updateButtons() {
  launcher_->updateButtons(workspace_ != nullptr);
  launcher_->runButton()->setToolTip(
      workspace_ ? tr("Decode every model × method × budget on the word problems in the "
                      "background; each model × method is stored as a run")
                 : tr("Needs a workspace (File ▸ Open Workspace)"));
  refresh_->setEnabled(workspace_ && jobs_ && loadJob_ == 0);
}

void FrontierPanel::applyTheme() { plot_->applyTheme(); }

}  // namespace darkroom::views

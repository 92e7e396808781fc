#include "quant/frontier_panel.h"

#include "darkroom/workspace.h"
#include "jobs/job_bridge.h"
#include "plot/curve_style.h"
#include "quant/frontier_plot.h"
#include "quant/tts_sweep_form.h"

#include <QComboBox>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

#include <cmath>

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
  run_ = new QPushButton(tr("Run Sweep"));
  stop_ = new QPushButton(tr("Stop"));
  progress_ = new QProgressBar;
  progress_->setRange(0, 1000);
  progress_->setTextVisible(false);
  progressText_ = new QLabel;
  progressText_->setForegroundRole(QPalette::PlaceholderText);
  progressText_->setWordWrap(true);
  message_ = new QLabel;
  message_->setWordWrap(true);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(run_);
  buttons->addWidget(stop_);
  auto* sweep = new QGroupBox(tr("Run a sweep"));
  auto* sweepLayout = new QVBoxLayout(sweep);
  sweepLayout->addWidget(form_);
  sweepLayout->addLayout(buttons);
  sweepLayout->addWidget(progress_);
  sweepLayout->addWidget(progressText_);
  auto* left = new QWidget;
  auto* leftLayout = new QVBoxLayout(left);
  leftLayout->setContentsMargins(0, 0, 0, 0);
  leftLayout->addWidget(sweep);
  leftLayout->addWidget(message_);
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

  connect(run_, &QPushButton::clicked, this, [this] { runSweep(); });
  connect(stop_, &QPushButton::clicked, this, [this] {
    if (job_) jobs_->cancel(job_);
  });
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
  if (!workspace_ || !jobs_) {
    showMessage(tr("Open a workspace first (File ▸ Open Workspace)."), true);
    return 0;
  }
  if (const QString problem = form_->problem(); !problem.isEmpty()) {
    showMessage(problem, true);
    return 0;
  }
  const TtsOptions options = form_->options();
  const auto root = workspace_->root();
  jobTitle_ = tr("Test-time scaling sweep (%n model(s)", nullptr, int(options.models.size())) +
              tr(", %1, %n budget(s))", nullptr, int(options.budgets.size()))
                  .arg(QString::fromStdString(options.weights));
  job_ = jobs_->submit(kKind, jobTitle_, [root, options](JobContext& ctx) -> std::any {
    auto ws = Workspace::open(root);
    return runTestTimeScaling(ws, options, ctx);
  });
  progress_->setValue(0);
  progressText_->clear();
  showMessage(jobTitle_ + QStringLiteral("…"), false);
  updateButtons();
  return job_;
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
      showMessage(tr("Cannot load the frontier: %1").arg(QString::fromStdString(e.message)), true);
    updateButtons();
    return;
  }
  if (e.id != job_) return;
  if (e.state == JobState::Running) {
    progress_->setValue(int(std::lround(e.fraction * 1000)));
    progressText_->setText(QString::fromStdString(e.message));
    return;
  }
  if (!isFinal(e.state)) return;
  job_ = 0;
  progress_->setValue(0);
  progressText_->clear();
  if (e.state == JobState::Succeeded && e.result.type() == typeid(TtsReport)) {
    const auto& report = std::any_cast<const TtsReport&>(e.result);
    showMessage(tr("Done: %n point(s) measured and stored.", nullptr, int(report.points.size())), false);
  } else if (e.state == JobState::Failed) {
    showMessage(tr("%1 failed: %2").arg(jobTitle_, QString::fromStdString(e.message)), true);
  } else {
    // A stopped sweep keeps the points it finished (stored as a killed run).
    showMessage(tr("%1: stopped; the points finished so far are kept.").arg(jobTitle_), false);
  }
  updateButtons();
  refresh();
}

QString FrontierPanel::paretoSummary() const { return pareto_->text(); }
QString FrontierPanel::message() const { return message_->text(); }

void FrontierPanel::showMessage(const QString& text, bool error) {
  message_->setText(text);
  message_->setStyleSheet(error ? QString("color: %1;").arg(seriesColor(5).name()) : QString());
}

void FrontierPanel::updateButtons() {
  const bool idle = job_ == 0;
  run_->setEnabled(idle && workspace_ && jobs_);
  run_->setToolTip(workspace_ ? tr("Decode every model × method × budget on the word problems in "
                                   "the background; each model × method is stored as a run")
                              : tr("Needs a workspace (File ▸ Open Workspace)"));
  form_->setEnabled(idle);
  stop_->setEnabled(!idle);
  refresh_->setEnabled(workspace_ && jobs_ && loadJob_ == 0);
}

void FrontierPanel::applyTheme() { plot_->applyTheme(); }

}  // namespace darkroom::views

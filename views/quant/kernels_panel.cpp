#include "quant/kernels_panel.h"

#include "darkroom/workspace.h"
#include "jobs/job_bridge.h"
#include "jobs/job_launcher.h"
#include "neuralink/io_bar_chart.h"
#include "quant/kernel_bench_form.h"
#include "quant/kernel_charts.h"

#include <QComboBox>
#include <QDateTime>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace darkroom::views {

namespace {
constexpr const char* kKind = "kbench";
constexpr const char* kLoadKind = "kbench-load";
}  // namespace

KernelsPanel::KernelsPanel(JobBridge* jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
  form_ = new KernelBenchForm;
  launcher_ = new JobLauncher(jobs_, tr("Measure the kernels"), form_, tr("Run"));
  runs_ = new QComboBox;
  runs_->setToolTip(tr("kbench runs stored in the workspace (this panel and darkroom-cli kbench "
                       "record them)"));
  runs_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  runs_->setMinimumContentsLength(18);

  auto* stored = new QGroupBox(tr("Stored runs"));
  auto* storedLayout = new QVBoxLayout(stored);
  storedLayout->addWidget(runs_);
  auto* left = new QWidget;
  auto* leftLayout = new QVBoxLayout(left);
  leftLayout->setContentsMargins(0, 0, 0, 0);
  leftLayout->addWidget(launcher_);
  leftLayout->addWidget(stored);
  leftLayout->addWidget(launcher_->messageLabel());
  leftLayout->addStretch();
  left->setFixedWidth(310);

  shape_ = new QComboBox;
  shape_->setToolTip(tr("The weight shape whose GEMV points are drawn"));
  shape_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  metric_ = new QComboBox;
  metric_->addItem(tr("time per call"), int(GemvMetric::TimePerCall));
  metric_->addItem(tr("weight GB/s"), int(GemvMetric::WeightBandwidth));
  metric_->setToolTip(tr("Time per call: flat while the batch is free. Weight GB/s: how close "
                         "each kernel comes to the copy bandwidth."));
  summary_ = new QLabel;
  summary_->setForegroundRole(QPalette::PlaceholderText);
  summary_->setWordWrap(true);
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Shape")));
  controls->addWidget(shape_);
  controls->addSpacing(12);
  controls->addWidget(new QLabel(tr("Show")));
  controls->addWidget(metric_);
  controls->addSpacing(12);
  controls->addWidget(summary_, 1);

  gemv_ = new GemvChart;
  softmax_ = new IoBarChart(tr("Decode attention per KV length: LUT vs float softmax"), tr("µs"));
  softmaxError_ = new QLabel;
  softmaxError_->setWordWrap(true);
  auto* softmaxBox = new QVBoxLayout;
  softmaxBox->addWidget(softmax_, 1);
  softmaxBox->addWidget(softmaxError_);
  auto* charts = new QHBoxLayout;
  charts->addWidget(gemv_, 2);
  charts->addLayout(softmaxBox, 1);

  auto* right = new QVBoxLayout;
  right->addLayout(controls);
  right->addLayout(charts, 1);
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(left);
  layout->addLayout(right, 1);

  connect(launcher_, &JobLauncher::runClicked, this, [this] { run(); });
  connect(runs_, QOverload<int>::of(&QComboBox::activated), this, [this](int index) {
    const auto id = runs_->itemData(index).toLongLong();
    if (id > 0) showRun(id);
  });
  connect(shape_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this] { drawGemv(); });
  connect(metric_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this] { drawGemv(); });
  if (jobs_) connect(jobs_, &JobBridge::jobEvent, this, &KernelsPanel::onJobEvent);

  setReport({});
  refreshRunList();
  updateButtons();
  applyTheme();
}

void KernelsPanel::setWorkspace(Workspace* workspace) {
  workspace_ = workspace;
  refreshRunList();
  updateButtons();
}

std::uint64_t KernelsPanel::run() {
  if (launcher_->refuses(workspace_ && jobs_, form_->problem())) return 0;
  const KernelBenchOptions options = form_->options();
  const auto root = workspace_->root();
  launcher_->start(kKind, tr("Kernel benchmark (%1)").arg(QString::fromStdString(options.backend)),
                   [root, options](JobContext& ctx) -> std::any {
                     auto ws = Workspace::open(root);
                     return runKernelBench(ws, options, ctx);
                   });
  updateButtons();
  return launcher_->job();
}

std::uint64_t KernelsPanel::showRun(std::int64_t run_id) {
  if (!workspace_ || !jobs_) return 0;
  const auto root = workspace_->root();
  launcher_->start(kLoadKind, tr("Load kbench run #%1").arg(run_id),
                   [root, run_id](JobContext&) -> std::any {
                     auto ws = Workspace::open(root);
                     return loadKernelBench(ws, run_id);
                   });
  updateButtons();
  return launcher_->job();
}

void KernelsPanel::refreshRunList() {
  const QSignalBlocker block(runs_);
  runs_->clear();
  if (!workspace_) {
    runs_->addItem(tr("no workspace"), 0);
    runs_->setEnabled(false);
    return;
  }
  std::vector<RunInfo> found;
  try {
    for (auto& run : workspace_->store().runs())
      if (run.kind == "kbench" && run.status == RunStatus::Finished) found.push_back(std::move(run));
  } catch (const std::exception& e) {
    launcher_->showMessage(tr("Cannot read the workspace: %1").arg(QString::fromUtf8(e.what())),
                           true);
  }
  runs_->addItem(found.empty() ? tr("no kbench runs yet") : tr("choose a stored run…"), 0);
  // Newest first.
  for (auto it = found.rbegin(); it != found.rend(); ++it)
    runs_->addItem(tr("#%1 %2 · %3")
                       .arg(it->id)
                       .arg(QString::fromStdString(it->name))
                       .arg(QDateTime::fromSecsSinceEpoch(qint64(it->start_time))
                                .toString(QStringLiteral("yyyy-MM-dd hh:mm"))),
                   qlonglong(it->id));
  const int shown = runs_->findData(qlonglong(report_.run_id));
  runs_->setCurrentIndex(report_.run_id > 0 && shown > 0 ? shown : 0);
  runs_->setEnabled(!found.empty());
}

void KernelsPanel::setReport(KernelBenchReport report) {
  report_ = std::move(report);
  {
    const QSignalBlocker block(shape_);
    shape_->clear();
    for (const auto& [rows, cols] : gemvShapes(report_))
      shape_->addItem(QStringLiteral("%1 × %2").arg(rows).arg(cols));
    shape_->setEnabled(shape_->count() > 1);
  }
  if (report_.gemv.empty() && report_.softmax.empty()) {
    summary_->setText(tr("Run the benchmark, or pick a stored run (darkroom-cli kbench records "
                         "the same)."));
  } else {
    const QString threads =
        report_.threads == 1 ? tr("1 thread") : tr("%1 threads").arg(report_.threads);
    QString text = tr("%1 on %2, %3 · copy bandwidth %4 GB/s")
                       .arg(QString::fromStdString(report_.backend),
                            report_.machine.empty() ? tr("this machine")
                                                    : QString::fromStdString(report_.machine),
                            threads)
                       .arg(report_.copy_gb_per_s, 0, 'f', 1);
    text += tr(" · %1 GEMV and %2 softmax points").arg(report_.gemv.size()).arg(report_.softmax.size());
    if (report_.run_id > 0) text += tr(" · run #%1").arg(report_.run_id);
    summary_->setText(text);
  }
  const int shown = runs_->findData(qlonglong(report_.run_id));
  if (report_.run_id > 0 && shown > 0) runs_->setCurrentIndex(shown);
  drawGemv();
  drawSoftmax();
}

void KernelsPanel::setShape(int index) { shape_->setCurrentIndex(index); }

void KernelsPanel::setMetric(GemvMetric metric) {
  metric_->setCurrentIndex(metric_->findData(int(metric)));
}

void KernelsPanel::drawGemv() {
  const auto shapes = gemvShapes(report_);
  const int index = shape_->currentIndex();
  if (shapes.empty() || index < 0 || index >= int(shapes.size())) {
    gemv_->clearChart(report_.softmax.empty()
                          ? tr("GEMV: run the benchmark or pick a stored run")
                          : tr("No GEMV points in this run"));
    return;
  }
  gemv_->setReport(report_, shapes[std::size_t(index)],
                   static_cast<GemvMetric>(metric_->currentData().toInt()));
}

void KernelsPanel::drawSoftmax() {
  const SoftmaxBars bars = softmaxBars(report_);
  if (bars.categories.isEmpty()) {
    softmax_->clearBars();
    softmaxError_->setText(report_.gemv.empty() ? QString() : tr("No softmax points in this run."));
    return;
  }
  softmax_->yAxis->setLabel(tr("time per call (%1)").arg(bars.unit));
  softmax_->setBars(bars.categories, bars.series, bars.values);
  // One row at the top left: the bars' headroom holds it.
  softmax_->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  softmax_->legend->setWrap(0);
  softmax_->legend->setVisible(true);
  softmax_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
  softmax_->xAxis->setLabel(tr("keys (KV length)"));
  softmax_->replot();
  softmaxError_->setText(softmaxErrorText(report_));
}

void KernelsPanel::onJobEvent(const JobEvent& e) {
  if (!launcher_->finished(e)) return;
  if (e.state == JobState::Succeeded && e.result.type() == typeid(KernelBenchReport)) {
    setReport(std::any_cast<KernelBenchReport>(e.result));
    refreshRunList();
    launcher_->showMessage(e.kind == kKind
                               ? tr("Done: stored as kbench run #%1.").arg(report_.run_id)
                               : tr("Showing kbench run #%1.").arg(report_.run_id),
                           false);
  } else {
    launcher_->showEnd(e);
  }
  updateButtons();
}

QString KernelsPanel::softmaxErrorLine() const { return softmaxError_->text(); }
QString KernelsPanel::message() const { return launcher_->message(); }
QString KernelsPanel::summaryText() const { return summary_->text(); }
bool KernelsPanel::busy() const { return launcher_->busy(); }

void KernelsPanel::updateButtons() {
  launcher_->updateButtons(workspace_ != nullptr);
  launcher_->runButton()->setToolTip(
      workspace_ ? tr("Measure every kernel and shape in the background; the run is stored as "
                      "a kbench run")
                 : tr("Needs a workspace (File ▸ Open Workspace)"));
}

void KernelsPanel::applyTheme() {
  gemv_->applyTheme();
  softmax_->applyTheme();
}

}  // namespace darkroom::views

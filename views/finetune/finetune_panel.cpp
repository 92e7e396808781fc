#include "finetune/finetune_panel.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSplitter>
#include <QTimer>
#include <QVBoxLayout>
#include <cmath>

#include "finetune/finetune_form.h"
#include "finetune/finetune_plots.h"
#include "finetune/finetune_run_list.h"
#include "finetune/run_comparison.h"
#include "jobs/job_bridge.h"
#include "plot/curve_style.h"

namespace darkroom::views {
namespace {

constexpr int kPollMs = 300;      // ~3 Hz while something trains
constexpr int kIdleEvery = 7;     // ~2 s otherwise: runs started by darkroom-cli still appear

std::string runName(const FinetuneOptions& o) {
  std::string model = QFileInfo(QString::fromStdString(o.model)).fileName().toStdString();
  if (model.empty()) model = o.model;
  return model + " " + toString(o.peft.method) + " " + toString(o.mode);
}

}  // namespace

FinetunePanel::FinetunePanel(JobBridge* jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
  form_ = new FinetuneForm;
  plots_ = new FinetunePlots;
  comparison_ = new QLabel;
  comparison_->setWordWrap(true);
  comparison_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* right = new QWidget;
  auto* right_layout = new QVBoxLayout(right);
  right_layout->setContentsMargins(4, 0, 0, 0);
  right_layout->addWidget(comparison_);
  right_layout->addWidget(plots_, 1);

  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(buildControls());
  split->addWidget(right);
  split->setStretchFactor(1, 1);
  split->setSizes({320, 1000});
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(split);

  connect(jobs_, &JobBridge::jobEvent, this, &FinetunePanel::onJobEvent);
  connect(list_, &FinetuneRunList::runsSelected, this, &FinetunePanel::onRunsSelected);
  poll_ = new QTimer(this);
  poll_->setInterval(kPollMs);
  connect(poll_, &QTimer::timeout, this, [this] { poll(false); });
  updateComparison();
  updateButtons();
}

QWidget* FinetunePanel::buildControls() {
  auto* scroll = new QScrollArea;
  scroll->setWidget(form_);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  scroll->setMinimumWidth(form_->sizeHint().width() + 20);

  launch_ = new QPushButton(tr("Launch"));
  launch_->setDefault(true);
  launch_->setToolTip(tr("Train with these settings; \"Both\" runs dense, then sparse"));
  stop_ = new QPushButton(tr("Stop"));
  stop_->setToolTip(tr("Stop training: the run ends killed, keeping its metrics and last "
                       "checkpoint (Resume continues it)"));
  connect(launch_, &QPushButton::clicked, this, &FinetunePanel::launch);
  connect(stop_, &QPushButton::clicked, this, &FinetunePanel::stop);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(launch_);
  buttons->addWidget(stop_);

  progress_ = new QProgressBar;
  progress_->setRange(0, 1000);
  progress_->setTextVisible(false);
  progress_->setMaximumHeight(8);
  message_ = new QLabel;
  message_->setWordWrap(true);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  list_ = new FinetuneRunList;
  list_->setMinimumHeight(110);
  resume_ = new QPushButton(tr("Resume"));
  resume_->setToolTip(tr("Continue the selected killed or failed run from its last checkpoint"));
  export_ = new QPushButton(tr("Export Merged…"));
  export_->setToolTip(tr("Write the selected finished LoRA run's model, with the adapter merged "
                         "into the weights, as a Hugging Face folder"));
  connect(resume_, &QPushButton::clicked, this, &FinetunePanel::resumeSelected);
  connect(export_, &QPushButton::clicked, this, [this] {
    QString dir = QFileDialog::getExistingDirectory(this, tr("Folder for the Merged Model"));
    if (!dir.isEmpty()) exportSelected(dir);
  });
  auto* run_buttons = new QHBoxLayout;
  run_buttons->addWidget(resume_);
  run_buttons->addWidget(export_);

  auto* box = new QWidget;
  auto* layout = new QVBoxLayout(box);
  layout->setContentsMargins(0, 0, 4, 0);
  layout->addWidget(scroll, 3);
  layout->addLayout(buttons);
  layout->addWidget(progress_);
  layout->addWidget(message_);
  layout->addWidget(list_, 1);
  layout->addLayout(run_buttons);
  return box;
}

void FinetunePanel::setWorkspace(Workspace* workspace) {
  workspace_ = workspace;
  options_.clear();
  shown_.clear();
  curves_.setRuns({});
  plots_->setRuns({});
  list_->reload({});
  if (workspace_) {
    poll_->start();
    poll(true);
  } else {
    poll_->stop();
  }
  updateComparison();
  updateButtons();
}

bool FinetunePanel::launch() {
  if (busy()) return false;
  if (!workspace_) {
    showMessage(tr("Open a workspace first (File ▸ Open Workspace)."), true);
    return false;
  }
  if (QString problem = form_->problem(); !problem.isEmpty()) {
    showMessage(problem, true);
    return false;
  }
  FinetuneOptions options = form_->options();
  pending_.clear();
  if (form_->mode() == FinetuneForm::Mode::Both) {
    // The same seed for both: the same data order and initialisation, so only the mode differs.
    options.mode = FinetuneMode::Dense;
    options.name = runName(options);
    pending_.push_back({options, tr("Fine-tune dense")});
    options.mode = FinetuneMode::Sparse;
    options.name = runName(options);
    pending_.push_back({options, tr("Fine-tune sparse")});
  } else {
    options.name = runName(options);
    pending_.push_back({options, tr("Fine-tune %1").arg(toString(options.mode))});
  }
  launched_.clear();
  showMessage(QString(), false);
  submitNext();
  return true;
}

void FinetunePanel::submitNext() {
  PendingRun next = pending_.front();
  pending_.pop_front();
  newest_before_ = 0;
  try {
    for (const auto& r : workspace_->store().runs()) newest_before_ = std::max(newest_before_, r.id);
  } catch (const StoreError& e) {
    showMessage(QString::fromUtf8(e.what()), true);
    pending_.clear();
    finishLaunch();
    return;
  }
  auto root = workspace_->root();
  job_title_ = next.title;
  job_run_name_ = next.options.name;
  job_run_ = 0;
  job_resumes_ = false;
  // The job opens its own connection: the panel keeps reading while the trainer writes.
  job_ = jobs_->submit("finetune", next.title, [root, options = next.options](JobContext& ctx) -> std::any {
    auto ws = Workspace::open(root);
    return finetune(ws, options, ctx);
  });
  progress_->setValue(0);
  updateButtons();
}

void FinetunePanel::stop() {
  if (!busy()) return;
  pending_.clear();
  jobs_->cancel(job_);
  showMessage(tr("Stopping…"), false);
}

bool FinetunePanel::resumeSelected() {
  auto ids = list_->selectedRuns();
  const RunInfo* run = ids.size() == 1 ? list_->run(ids.front()) : nullptr;
  if (busy() || !workspace_ || !run ||
      (run->status != RunStatus::Killed && run->status != RunStatus::Failed)) {
    showMessage(tr("Select one killed or failed run to resume."), true);
    return false;
  }
  const auto id = run->id;
  auto root = workspace_->root();
  job_title_ = tr("Resume #%1").arg(id);
  job_run_name_.clear();
  job_run_ = id;
  job_resumes_ = true;
  launched_ = {id};
  job_ = jobs_->submit("finetune", job_title_, [root, id](JobContext& ctx) -> std::any {
    auto ws = Workspace::open(root);
    return resumeFinetune(ws, id, ctx);
  });
  showMessage(QString(), false);
  // The steps after the checkpoint are trained again: read the run afresh as they come.
  curves_.reset(id);
  showRuns({id});
  updateButtons();
  return true;
}

bool FinetunePanel::exportSelected(const QString& out_dir) {
  auto ids = list_->selectedRuns();
  const FinetuneOptions* options = ids.size() == 1 ? optionsOf(ids.front()) : nullptr;
  const RunInfo* run = ids.size() == 1 ? list_->run(ids.front()) : nullptr;
  if (busy() || !workspace_ || !run || run->status != RunStatus::Finished || !options ||
      options->peft.method != PeftMethod::Lora) {
    showMessage(tr("Select one finished LoRA run to export (only LoRA merges into the weights)."),
                true);
    return false;
  }
  const auto id = run->id;
  auto root = workspace_->root();
  std::filesystem::path out = out_dir.toStdString();
  job_title_ = tr("Export #%1").arg(id);
  job_run_name_.clear();
  job_run_ = 0;
  job_resumes_ = false;
  job_ = jobs_->submit("finetune-export", job_title_, [root, id, out](JobContext& ctx) -> std::any {
    auto ws = Workspace::open(root);
    exportMergedModel(ws, id, out, ctx);
    return out;
  });
  showMessage(QString(), false);
  updateButtons();
  return true;
}

void FinetunePanel::onJobEvent(const JobEvent& e) {
  if (e.id != job_ || job_ == 0) return;
  if (e.state == JobState::Running) {
    progress_->setValue(int(std::lround(e.fraction * 1000)));
    if (!e.message.empty() && e.message != "started")
      showMessage(job_title_ + ": " + QString::fromStdString(e.message), false);
    return;
  }
  if (!isFinal(e.state)) return;
  job_ = 0;
  // A run stopped before the first poll saw it: find it now, so the message can name it.
  if (workspace_ && e.state != JobState::Succeeded) {
    try {
      findJobRun(workspace_->store().runs());
    } catch (const StoreError&) {
      // poll() below reports an unreadable store
    }
  }
  if (e.state == JobState::Succeeded && e.result.type() == typeid(FinetuneResult)) {
    const auto r = std::any_cast<FinetuneResult>(e.result);
    if (std::count(launched_.begin(), launched_.end(), r.run_id) == 0) launched_.push_back(r.run_id);
    QString eval = std::isnan(r.final_eval_loss) ? tr("no eval")
                                                 : tr("eval loss %1").arg(r.final_eval_loss, 0, 'f', 4);
    showMessage(tr("Run #%1 finished: %2 steps, loss %3, %4, %5 steps/s.")
                    .arg(r.run_id).arg(r.steps_done).arg(r.final_loss, 0, 'f', 4).arg(eval)
                    .arg(r.steps_per_second, 0, 'f', 2),
                false);
    if (job_resumes_) curves_.reset(r.run_id);
  } else if (e.state == JobState::Succeeded) {
    const auto out = e.result.type() == typeid(std::filesystem::path)
                         ? std::any_cast<std::filesystem::path>(e.result)
                         : std::filesystem::path();
    showMessage(tr("%1: merged model written to %2").arg(job_title_, QString::fromStdString(out.string())),
                false);
  } else if (e.state == JobState::Failed) {
    pending_.clear();
    showMessage(job_title_ + tr(" failed: ") + QString::fromStdString(e.message), true);
  } else {
    pending_.clear();
    showMessage(job_run_ ? tr("Stopped: run #%1 is killed with its metrics and last checkpoint "
                              "kept; Resume continues it.").arg(job_run_)
                         : tr("%1 stopped.").arg(job_title_),
                false);
  }
  if (!pending_.empty())
    submitNext();
  else
    finishLaunch();
  poll(true);  // the final points and status, and the run list
  if (!launched_.empty()) showRuns(launched_);
}

void FinetunePanel::finishLaunch() {
  job_ = 0;
  progress_->setValue(0);
  updateButtons();
}

void FinetunePanel::poll(bool now) {
  if (!workspace_) return;
  bool live = busy();
  for (auto id : shown_)
    if (auto* r = list_->run(id); r && r->status == RunStatus::Running) live = true;
  if (!now && !live && ++idle_ticks_ % kIdleEvery != 0) return;
  try {
    auto& store = workspace_->store();
    auto runs = store.runs();
    const bool statuses_changed = list_->reload(runs);
    if (busy() && findJobRun(runs)) showRuns(launched_);
    const bool points_changed = curves_.poll(store);
    if (points_changed) plots_->update(curves_);
    if (points_changed || statuses_changed) updateComparison();
  } catch (const StoreError& e) {
    showMessage(tr("Cannot read the workspace: %1").arg(e.what()), true);
  }
  updateButtons();
}

bool FinetunePanel::findJobRun(const std::vector<RunInfo>& runs) {
  if (job_run_ != 0 || job_run_name_.empty()) return false;
  for (const auto& r : runs)
    if (r.id > newest_before_ && r.kind == "finetune" && r.name == job_run_name_) {
      job_run_ = r.id;
      launched_.push_back(r.id);
      return true;
    }
  return false;
}

void FinetunePanel::showRuns(const std::vector<std::int64_t>& run_ids) {
  list_->selectRuns(run_ids);
  if (list_->selectedRuns().size() != run_ids.size()) onRunsSelected(run_ids);  // not listed yet
}

void FinetunePanel::onRunsSelected(const std::vector<std::int64_t>& ids) {
  // The dense run is the baseline, drawn first; otherwise the older run.
  std::vector<std::int64_t> ordered = ids;
  std::stable_sort(ordered.begin(), ordered.end(), [this](std::int64_t a, std::int64_t b) {
    auto sparse = [this](std::int64_t id) {
      const auto* o = optionsOf(id);
      return o && o->mode == FinetuneMode::Sparse;
    };
    return !sparse(a) && sparse(b);
  });
  if (ordered == shown_) return;
  shown_ = ordered;
  curves_.setRuns(shown_);
  std::vector<FinetunePlots::ShownRun> runs;
  for (auto id : shown_) runs.push_back({id, runLabel(id)});
  plots_->setRuns(runs);
  if (workspace_) {
    try {
      curves_.poll(workspace_->store());
    } catch (const StoreError& e) {
      showMessage(tr("Cannot read the workspace: %1").arg(e.what()), true);
    }
  }
  plots_->update(curves_);
  updateComparison();
  updateButtons();
}

const FinetuneOptions* FinetunePanel::optionsOf(std::int64_t run_id) {
  if (auto it = options_.find(run_id); it != options_.end()) return &it->second;
  if (!workspace_) return nullptr;
  try {
    return &options_.emplace(run_id, finetuneOptionsOf(*workspace_, run_id)).first->second;
  } catch (const std::exception&) {
    return nullptr;  // params not written yet (the run was just created), or not a finetune run
  }
}

QString FinetunePanel::runLabel(std::int64_t run_id) {
  const auto* o = optionsOf(run_id);
  return o ? QString("#%1 %2").arg(run_id).arg(toString(o->mode)) : QString("#%1").arg(run_id);
}

void FinetunePanel::updateComparison() {
  if (shown_.empty()) {
    comparison_->setText(workspace_ ? tr("Launch a run, or select finetune runs in the list to "
                                         "plot them (two runs: dense against sparse).")
                                    : tr("No workspace is open."));
    return;
  }
  if (shown_.size() == 1) {
    const auto id = shown_.front();
    const auto& loss = curves_.curve(id, "train/loss");
    const auto& time = curves_.curve(id, "train/step_time_s");
    const auto* o = optionsOf(id);
    const auto* run = list_->run(id);
    QString text = QString("<b>#%1</b>").arg(id);
    if (run)
      text = QString("<b>#%1 %2</b> — %3")
                 .arg(id)
                 .arg(QString::fromStdString(run->name).toHtmlEscaped())
                 .arg(QString::fromUtf8(toString(run->status)));
    if (!loss.empty()) {
      text += tr(", step %1").arg(loss.back().step);
      if (o) text += tr(" of %1").arg(o->steps);
      text += tr(": loss %1").arg(loss.back().value, 0, 'f', 4);
    }
    if (!time.empty()) text += tr(", %1 s/step").arg(time.back().value, 0, 'f', 3);
    comparison_->setText(text);
    return;
  }
  if (shown_.size() > 2) {
    comparison_->setText(tr("%1 runs overlaid; select exactly two for the speed-up.").arg(shown_.size()));
    return;
  }
  const auto base = shown_[0], other = shown_[1];
  auto c = compareRuns(curves_.curve(base, "train/step_time_s"),
                       curves_.curve(other, "train/step_time_s"),
                       curves_.curve(base, "train/loss"), curves_.curve(other, "train/loss"));
  const QString names = tr("<b>%1</b> against <b>%2</b>").arg(runLabel(other), runLabel(base));
  if (!c.valid()) {
    comparison_->setText(names + tr(": no steps in common yet."));
    return;
  }
  const double diff = c.other_loss - c.base_loss;
  comparison_->setText(
      names + (c.common_steps == 1 ? tr(" over 1 common step")
                                   : tr(" over %1 common steps").arg(c.common_steps)) +
      tr(": <b>speed-up %1×</b>%2 (%3 → %4 s/step) · final loss %5 vs %6 (<b>%7%8</b>)")
                  .arg(c.speedup, 0, 'f', 2)
                  .arg(c.speedup < 1 ? tr(" (slower)") : QString())
                  .arg(c.base_step_time, 0, 'f', 3)
                  .arg(c.other_step_time, 0, 'f', 3)
                  .arg(c.other_loss, 0, 'f', 4)
                  .arg(c.base_loss, 0, 'f', 4)
                  .arg(diff >= 0 ? "+" : "")
                  .arg(diff, 0, 'f', 4));
}

void FinetunePanel::updateButtons() {
  const bool has_ws = workspace_ != nullptr;
  form_->setEnabled(!busy());
  launch_->setEnabled(has_ws && !busy());
  stop_->setEnabled(busy());
  auto ids = list_->selectedRuns();
  const RunInfo* run = ids.size() == 1 ? list_->run(ids.front()) : nullptr;
  resume_->setEnabled(!busy() && run &&
                      (run->status == RunStatus::Killed || run->status == RunStatus::Failed));
  const FinetuneOptions* o = run && run->status == RunStatus::Finished ? optionsOf(run->id) : nullptr;
  export_->setEnabled(!busy() && o && o->peft.method == PeftMethod::Lora);
}

void FinetunePanel::showMessage(const QString& text, bool error) {
  message_->setText(text);
  message_->setStyleSheet(error ? QString("color: %1;").arg(seriesColor(5).name()) : QString());
}

void FinetunePanel::applyTheme() { plots_->applyTheme(); }

}  // namespace darkroom::views

#include "neuralink/placement_comparison_panel.h"

#include "darkroom/workspace.h"
#include "jobs/job_bridge.h"
#include "neuralink/io_bar_chart.h"
#include "plot/curve_style.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace darkroom::views {

namespace {

namespace nl = darkroom::neuralink;

constexpr const char* kKind = "neuralink-iobench";
constexpr const char* kLoadKind = "neuralink-iobench-load";

// The charts' x axis: the policies, twice (without, then with collapse); a divider names the
// halves.
QStringList axisLabels() {
  QStringList labels;
  for (int half = 0; half < 2; ++half)
    for (const auto policy : comparedPolicies())
      labels << QString::fromStdString(comparisonLabel(policy, false));
  return labels;
}

QStringList categoryLabels() {
  QStringList labels;
  for (const bool collapse : {false, true})
    for (const auto policy : comparedPolicies())
      labels << QString::fromStdString(comparisonLabel(policy, collapse));
  return labels;
}

int categoryOf(const IoComparisonRow& row) {
  const auto& policies = comparedPolicies();
  const auto at = std::find(policies.begin(), policies.end(), row.policy) - policies.begin();
  return int(at) + (row.collapse ? int(policies.size()) : 0);
}

// The placements in the order they first appear.
QStringList placementsOf(const IoComparison& c) {
  QStringList names;
  for (const auto& row : c.rows)
    if (!names.contains(QString::fromStdString(row.placement)))
      names << QString::fromStdString(row.placement);
  return names;
}

}  // namespace

PlacementComparisonPanel::PlacementComparisonPanel(JobBridge* jobs, QWidget* parent)
    : QWidget(parent), jobs_(jobs) {
  trace_ = new QLineEdit;
  trace_->setPlaceholderText(tr("activation trace (.trace.safetensors)"));
  trace_->setToolTip(tr("The trace to replay: the Co-activation panel's Record saves one in the "
                        "workspace's artifacts/neuralink, as does darkroom-cli coact"));
  auto* browseTrace = new QPushButton(tr("Trace…"));
  layouts_ = new QListWidget;
  layouts_->setMaximumHeight(64);
  layouts_->setToolTip(tr("Flash layout files, one per placement (darkroom-cli layout writes "
                          "them); each is one colour in the charts"));
  addLayout_ = new QPushButton(tr("Add Layouts…"));
  removeLayout_ = new QPushButton(tr("Remove"));
  cachePercent_ = new QDoubleSpinBox;
  cachePercent_->setRange(0.5, 100);
  cachePercent_->setValue(10);
  cachePercent_->setSuffix(tr(" % cache"));
  cachePercent_->setToolTip(tr("Cache size as a share of the FFN bytes (the paper's baselines "
                               "hold 10%)"));
  queueDepth_ = new QSpinBox;
  queueDepth_->setRange(1, 256);
  queueDepth_->setValue(32);
  queueDepth_->setPrefix(tr("depth "));
  queueDepth_->setToolTip(tr("Reads in flight (UFS has one command queue of 32)"));
  maxTokens_ = new QSpinBox;
  maxTokens_->setRange(0, 1 << 24);
  maxTokens_->setSpecialValueText(tr("all tokens"));
  maxTokens_->setSuffix(tr(" tokens"));
  maxTokens_->setSingleStep(256);
  profile_ = new QComboBox;
  profile_->addItem(tr("UFS 4.0 model"), "ufs4.0");
  profile_->addItem(tr("UFS 3.1 model"), "ufs3.1");
  profile_->addItem(tr("no phone model"), "");
  profile_->setToolTip(tr("Also predict each placement's I/O time per token on this phone "
                          "flash, from the flash model"));
  run_ = new QPushButton(tr("Run"));
  run_->setToolTip(tr("Replay the trace against every layout under every policy, with real "
                      "O_DIRECT reads, in the background"));
  stored_ = new QPushButton(tr("Stored Runs"));
  stop_ = new QPushButton(tr("Stop"));
  progress_ = new QProgressBar;
  progress_->setRange(0, 1000);
  progress_->setTextVisible(false);
  progress_->setMaximumWidth(140);

  auto* inputs = new QGridLayout;
  inputs->addWidget(new QLabel(tr("Trace")), 0, 0);
  inputs->addWidget(trace_, 0, 1);
  inputs->addWidget(browseTrace, 0, 2);
  inputs->addWidget(new QLabel(tr("Layouts")), 1, 0, Qt::AlignTop);
  inputs->addWidget(layouts_, 1, 1);
  auto* layoutButtons = new QVBoxLayout;
  layoutButtons->addWidget(addLayout_);
  layoutButtons->addWidget(removeLayout_);
  layoutButtons->addStretch();
  inputs->addLayout(layoutButtons, 1, 2);
  auto* options = new QVBoxLayout;
  options->addWidget(cachePercent_);
  options->addWidget(queueDepth_);
  options->addWidget(maxTokens_);
  auto* actions = new QVBoxLayout;
  actions->addWidget(profile_);
  auto* runRow = new QHBoxLayout;
  runRow->addWidget(run_);
  runRow->addWidget(stored_);
  runRow->addWidget(stop_);
  actions->addLayout(runRow);
  actions->addWidget(progress_);
  auto* top = new QHBoxLayout;
  top->addLayout(inputs, 1);
  top->addSpacing(12);
  top->addLayout(options);
  top->addSpacing(12);
  top->addLayout(actions);

  message_ = new QLabel;
  message_->setWordWrap(true);
  summary_ = new QLabel;
  summary_->setTextFormat(Qt::RichText);
  summary_->setWordWrap(true);
  histogramOf_ = new QComboBox;
  histogramOf_->addItems(categoryLabels());
  histogramOf_->setToolTip(tr("The policy whose read lengths the histogram shows"));

  const std::pair<QString, QString> titles[] = {
      {tr("Reads per token"), tr("reads")},
      {tr("Bytes read per token"), tr("MB")},
      {tr("Effective bandwidth (useful bytes / I/O time)"), tr("MB/s")},
      {tr("Token I/O latency, p50"), tr("ms")},
      {tr("Token I/O latency, p90"), tr("ms")},
      {tr("Token I/O latency, p99"), tr("ms")},
      {tr("Read lengths"), tr("reads")},
      {tr("Predicted I/O per token on a phone"), tr("ms")}};
  auto* grid = new QGridLayout;
  grid->setSpacing(4);
  for (int c = 0; c < 4; ++c) grid->setColumnStretch(c, 1);
  for (int r = 0; r < 2; ++r) grid->setRowStretch(r, 1);
  for (int i = 0; i < int(Chart::Count); ++i) {
    auto* chart = new IoBarChart(titles[i].first, titles[i].second);
    charts_.push_back(chart);
    if (Chart(i) == Chart::ReadLengths) {
      auto* box = new QWidget;
      auto* boxLayout = new QVBoxLayout(box);
      boxLayout->setContentsMargins(0, 0, 0, 0);
      boxLayout->setSpacing(2);
      auto* pick = new QHBoxLayout;
      pick->addWidget(new QLabel(tr("Read lengths of")));
      pick->addWidget(histogramOf_, 1);
      boxLayout->addLayout(pick);
      boxLayout->addWidget(chart, 1);
      grid->addWidget(box, i / 4, i % 4);
    } else {
      grid->addWidget(chart, i / 4, i % 4);
    }
  }

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addLayout(top);
  layout->addWidget(message_);
  layout->addWidget(summary_);
  layout->addLayout(grid, 1);

  connect(browseTrace, &QPushButton::clicked, this, [this] {
    const QString file = QFileDialog::getOpenFileName(this, tr("Activation Trace"), trace_->text(),
                                                      tr("Safetensors (*.safetensors);;All (*)"));
    if (!file.isEmpty()) setTracePath(file);
  });
  connect(addLayout_, &QPushButton::clicked, this, [this] {
    const QStringList files = QFileDialog::getOpenFileNames(this, tr("Flash Layouts"));
    setLayoutPaths(layoutPaths() + files);
  });
  connect(removeLayout_, &QPushButton::clicked, this, [this] {
    qDeleteAll(layouts_->selectedItems());
    updateButtons();
  });
  connect(layouts_, &QListWidget::itemSelectionChanged, this, [this] { updateButtons(); });
  connect(trace_, &QLineEdit::textChanged, this, [this] { updateButtons(); });
  connect(run_, &QPushButton::clicked, this, [this] { run(); });
  connect(stored_, &QPushButton::clicked, this, [this] { showStoredRuns(); });
  connect(stop_, &QPushButton::clicked, this, [this] {
    if (job_) jobs_->cancel(job_);
  });
  connect(histogramOf_, qOverload<int>(&QComboBox::currentIndexChanged), this,
          [this] { drawHistogram(); });
  if (jobs_) connect(jobs_, &JobBridge::jobEvent, this, &PlacementComparisonPanel::onJobEvent);
  showMessage(tr("Choose a trace and the layouts of the placements to compare, then Run. "
                 "darkroom-cli iobench runs the same replays headless."),
              false);
  updateButtons();
  applyTheme();
}

void PlacementComparisonPanel::setWorkspace(Workspace* workspace) {
  workspace_ = workspace;
  updateButtons();
}

std::uint64_t PlacementComparisonPanel::showStoredRuns() {
  if (!jobs_ || !workspace_) return 0;
  const auto root = workspace_->root();
  // Its own connection, off the UI thread: per-token metrics of many runs take a while to read.
  job_ = jobs_->submit(kLoadKind, tr("Load stored iobench runs"), [root](JobContext&) -> std::any {
    return loadStoredIoRuns(Workspace::open(root).store());
  });
  showMessage(tr("Loading stored iobench runs…"), false);
  updateButtons();
  return job_;
}

void PlacementComparisonPanel::setTracePath(const QString& path) { trace_->setText(path); }

void PlacementComparisonPanel::setLayoutPaths(const QStringList& paths) {
  layouts_->clear();
  QStringList unique;
  for (const QString& p : paths)
    if (!p.isEmpty() && !unique.contains(p)) unique << p;
  layouts_->addItems(unique);
  updateButtons();
}

QStringList PlacementComparisonPanel::layoutPaths() const {
  QStringList paths;
  for (int i = 0; i < layouts_->count(); ++i) paths << layouts_->item(i)->text();
  return paths;
}

std::uint64_t PlacementComparisonPanel::run() {
  if (!jobs_ || trace_->text().isEmpty() || layouts_->count() == 0) {
    showMessage(tr("Choose a trace and at least one layout first."), true);
    return 0;
  }
  IoComparisonRequest request;
  request.trace = trace_->text().toStdString();
  for (const QString& p : layoutPaths()) request.layouts.push_back(p.toStdString());
  request.options.cache_fraction = cachePercent_->value() / 100.0;
  request.options.queue_depth = queueDepth_->value();
  request.options.max_tokens = maxTokens_->value();
  request.profile = profile_->currentData().toString().toStdString();
  if (workspace_) request.workspace = workspace_->root();
  job_ = jobs_->submit(kKind, tr("Compare placements (%n layout(s))", nullptr, layouts_->count()),
                       [request](JobContext& ctx) -> std::any {
                         return runIoComparison(request, ctx);
                       });
  progress_->setValue(0);
  showMessage(tr("Replaying…"), false);
  updateButtons();
  return job_;
}

void PlacementComparisonPanel::setComparison(IoComparison comparison) {
  comparison_ = std::move(comparison);
  drawCharts();
}

void PlacementComparisonPanel::setHistogramOf(int categoryIndex) {
  histogramOf_->setCurrentIndex(categoryIndex);
}

QString PlacementComparisonPanel::message() const { return message_->text(); }

void PlacementComparisonPanel::drawCharts() {
  const QStringList categories = axisLabels();
  const QStringList placements = placementsOf(comparison_);
  const int half = int(comparedPolicies().size()) - 1;
  const auto nan = std::nan("");
  using Metric = double (*)(const nl::IoSummary&);
  const std::pair<Chart, Metric> metrics[] = {
      {Chart::ReadsPerToken, [](const nl::IoSummary& s) { return readsPerToken(s); }},
      {Chart::MegabytesPerToken, [](const nl::IoSummary& s) { return megabytesPerToken(s); }},
      {Chart::Bandwidth, [](const nl::IoSummary& s) { return s.effective_bandwidth_mb_s; }},
      {Chart::P50, [](const nl::IoSummary& s) { return s.p50_ms; }},
      {Chart::P90, [](const nl::IoSummary& s) { return s.p90_ms; }},
      {Chart::P99, [](const nl::IoSummary& s) { return s.p99_ms; }}};
  for (const auto& [which, metric] : metrics) {
    std::vector<std::vector<double>> values(std::size_t(placements.size()),
                                            std::vector<double>(std::size_t(categories.size()), nan));
    for (const auto& row : comparison_.rows)
      values[std::size_t(placements.indexOf(QString::fromStdString(row.placement)))]
            [std::size_t(categoryOf(row))] = metric(row.summary);
    chart(which)->setBars(categories, placements, values);
    chart(which)->setDivider(half, tr("no collapse"), tr("collapse"));
  }

  // The flash model's prediction of the same reads: what this placement would cost on a phone.
  if (comparison_.profile.empty()) {
    chart(Chart::Predicted)->clearBars();
  } else {
    std::vector<std::vector<double>> values(std::size_t(placements.size()),
                                            std::vector<double>(std::size_t(categories.size()), nan));
    for (const auto& row : comparison_.rows)
      values[std::size_t(placements.indexOf(QString::fromStdString(row.placement)))]
            [std::size_t(categoryOf(row))] = row.summary.predicted_mean_ms;
    chart(Chart::Predicted)->setBars(categories, placements, values);
    chart(Chart::Predicted)->setDivider(half, tr("no collapse"), tr("collapse"));
  }
  chart(Chart::Predicted)
      ->setTitle(comparison_.profile.empty()
                     ? tr("Predicted I/O per token on a phone (choose a flash model)")
                     : tr("Predicted I/O per token, %1 flash model (mean)")
                           .arg(QString::fromStdString(comparison_.profile)));
  drawHistogram();

  // One legend for every chart: a swatch per placement.
  QString legend;
  for (int i = 0; i < placements.size(); ++i)
    legend += QStringLiteral("&nbsp;&nbsp;<span style=\"color:%1\">&#9632;</span>&nbsp;%2")
                  .arg(seriesColor(i).name(), placements[i].toHtmlEscaped());
  summary_->setText(comparison_.rows.empty()
                        ? QString()
                        : tr("%1 · %n placement(s) × %2 cache policies, without and with "
                             "access collapse:",
                             nullptr, int(placements.size()))
                                  .arg(QString::fromStdString(comparison_.trace).toHtmlEscaped())
                                  .arg(comparedPolicies().size()) +
                              legend);
}

void PlacementComparisonPanel::drawHistogram() {
  const QStringList placements = placementsOf(comparison_);
  const int category = histogramOf_->currentIndex();
  std::size_t buckets = 0;
  for (const auto& row : comparison_.rows)
    if (categoryOf(row) == category)
      buckets = std::max(buckets, row.summary.read_length_histogram.size());
  if (buckets == 0) {
    chart(Chart::ReadLengths)->clearBars();
    return;
  }
  QStringList labels;
  for (std::size_t b = 0; b < buckets; ++b) labels << QString::fromStdString(readLengthBucket(b));
  std::vector<std::vector<double>> values(std::size_t(placements.size()),
                                          std::vector<double>(buckets, 0.0));
  for (const auto& row : comparison_.rows) {
    if (categoryOf(row) != category) continue;
    auto& series = values[std::size_t(placements.indexOf(QString::fromStdString(row.placement)))];
    for (std::size_t b = 0; b < row.summary.read_length_histogram.size(); ++b)
      series[b] = double(row.summary.read_length_histogram[b]);
  }
  chart(Chart::ReadLengths)->setBars(labels, placements, values);
}

void PlacementComparisonPanel::onJobEvent(const JobEvent& e) {
  if (e.id != job_ || job_ == 0) return;
  if (e.state == JobState::Running) {
    progress_->setValue(int(std::lround(e.fraction * 1000)));
    if (!e.message.empty() && e.message != "started")
      showMessage(tr("Replaying: %1").arg(QString::fromStdString(e.message)), false);
    return;
  }
  if (!isFinal(e.state)) return;
  job_ = 0;
  progress_->setValue(0);
  if (e.state == JobState::Succeeded && e.result.type() == typeid(IoComparison)) {
    setComparison(std::any_cast<IoComparison>(e.result));
    showMessage(e.kind == kLoadKind
                    ? (comparison_.rows.empty()
                           ? tr("The workspace has no finished iobench runs yet.")
                           : tr("%n stored iobench run(s); read-length histograms are not stored.",
                                nullptr, int(comparison_.rows.size())))
                    : workspace_ ? tr("Done: %n replay(s), stored as iobench runs.", nullptr,
                                      int(comparison_.rows.size()))
                                 : tr("Done: %n replay(s).", nullptr, int(comparison_.rows.size())),
                false);
  } else if (e.state == JobState::Failed) {
    showMessage(tr("The comparison failed: %1").arg(QString::fromStdString(e.message)), true);
  } else {
    showMessage(tr("Stopped."), false);
  }
  updateButtons();
}

void PlacementComparisonPanel::showMessage(const QString& text, bool error) {
  message_->setText(text);
  message_->setStyleSheet(error ? QString("color: %1;").arg(seriesColor(5).name()) : QString());
}

void PlacementComparisonPanel::updateButtons() {
  const bool idle = job_ == 0;
  run_->setEnabled(idle && jobs_ && !trace_->text().isEmpty() && layouts_->count() > 0);
  stop_->setEnabled(!idle);
  stored_->setEnabled(idle && jobs_ && workspace_);
  stored_->setToolTip(workspace_ ? tr("Show the iobench runs stored in the workspace (by this "
                                      "panel or darkroom-cli iobench)")
                                 : tr("Needs a workspace (File ▸ Open Workspace)"));
  addLayout_->setEnabled(idle);
  removeLayout_->setEnabled(idle && !layouts_->selectedItems().isEmpty());
}

void PlacementComparisonPanel::applyTheme() {
  for (IoBarChart* c : charts_) c->applyTheme();
}

}  // namespace darkroom::views

#include "runs/runs_panel.h"

#include <QAction>
#include <QCheckBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QSlider>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableWidget>
#include <QTimer>
#include <QTreeView>
#include <QVBoxLayout>
#include <cmath>
#include <qcustomplot.h>
#include <set>

#include "plot/curve_style.h"
#include "plot/smoothing.h"
#include "runs/run_tree_model.h"

namespace darkroom::views {

RunsPanel::RunsPanel(QWidget* parent) : QWidget(parent) {
  model_ = new RunTreeModel(this);
  tree_ = new QTreeView;
  tree_->setModel(model_);
  tree_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  tree_->setSelectionBehavior(QAbstractItemView::SelectRows);
  tree_->setUniformRowHeights(true);
  tree_->setAlternatingRowColors(true);
  tree_->header()->setStretchLastSection(false);
  tree_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
  tree_->header()->setSectionResizeMode(RunTreeModel::Name, QHeaderView::Stretch);
  tree_->setToolTip(tr("Ctrl- or Shift-click to overlay several runs"));
  // Kind and start time are one right-click on the header away; the rest fits the pane.
  tree_->header()->setContextMenuPolicy(Qt::ActionsContextMenu);
  for (int c = RunTreeModel::Status; c < RunTreeModel::ColumnCount; ++c) {
    auto* action = new QAction(model_->headerData(c, Qt::Horizontal).toString(), tree_->header());
    action->setCheckable(true);
    action->setChecked(c == RunTreeModel::Status || c == RunTreeModel::Duration);
    tree_->setColumnHidden(c, !action->isChecked());
    connect(action, &QAction::toggled, this, [this, c](bool on) { tree_->setColumnHidden(c, !on); });
    tree_->header()->addAction(action);
  }

  params_ = new QTableWidget;
  params_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  params_->verticalHeader()->setVisible(true);
  params_->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
  params_->horizontalHeader()->setStretchLastSection(true);
  params_->setToolTip(tr("Parameters of the selected runs; bold where they differ"));

  auto* left = new QSplitter(Qt::Vertical);
  left->addWidget(tree_);
  auto* params_box = new QWidget;
  auto* params_layout = new QVBoxLayout(params_box);
  params_layout->setContentsMargins(0, 4, 0, 0);
  params_layout->addWidget(new QLabel(tr("Parameters")));
  params_layout->addWidget(params_);
  left->addWidget(params_box);
  left->setStretchFactor(0, 3);
  left->setStretchFactor(1, 2);

  metric_list_ = new QListWidget;
  metric_list_->setToolTip(tr("Metrics to plot"));
  metric_list_->setMinimumWidth(150);

  smoothing_ = new QSlider(Qt::Horizontal);
  smoothing_->setRange(0, 99);
  smoothing_->setValue(60);
  smoothing_->setMaximumWidth(160);
  smoothing_label_ = new QLabel;
  smoothing_label_->setMinimumWidth(32);
  log_scale_ = new QCheckBox(tr("Log scale"));
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Smoothing")));
  controls->addWidget(smoothing_);
  controls->addWidget(smoothing_label_);
  controls->addSpacing(12);
  controls->addWidget(log_scale_);
  controls->addStretch();

  plot_ = new QCustomPlot;
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom | QCP::iSelectPlottables);
  plot_->xAxis->setLabel(tr("step"));
  plot_->legend->setVisible(true);
  plot_->setMinimumSize(320, 200);
  empty_label_ = new QLabel;
  empty_label_->setObjectName("emptyState");
  empty_label_->setAlignment(Qt::AlignCenter);
  empty_label_->setWordWrap(true);
  plot_stack_ = new QStackedWidget;
  plot_stack_->addWidget(empty_label_);
  plot_stack_->addWidget(plot_);

  auto* plot_box = new QWidget;
  auto* plot_layout = new QVBoxLayout(plot_box);
  plot_layout->setContentsMargins(0, 0, 0, 0);
  plot_layout->addLayout(controls);
  plot_layout->addWidget(plot_stack_, 1);

  auto* right = new QSplitter(Qt::Horizontal);
  right->addWidget(metric_list_);
  right->addWidget(plot_box);
  right->setStretchFactor(1, 1);
  right->setSizes({200, 760});

  auto* main = new QSplitter(Qt::Horizontal);
  main->addWidget(left);
  main->addWidget(right);
  main->setStretchFactor(0, 2);
  main->setStretchFactor(1, 5);
  main->setSizes({340, 960});
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(main);

  connect(tree_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
          &RunsPanel::onSelectionChanged);
  connect(metric_list_, &QListWidget::itemChanged, this, [this] { reloadCurves(); });
  connect(smoothing_, &QSlider::valueChanged, this, [this](int v) {
    smoothing_label_->setText(QString::number(v / 100.0, 'f', 2));
    replot();
  });
  connect(log_scale_, &QCheckBox::toggled, this, [this] { replot(); });
  smoothing_label_->setText(QString::number(smoothing_->value() / 100.0, 'f', 2));

  poll_ = new QTimer(this);
  poll_->setInterval(1000);
  connect(poll_, &QTimer::timeout, this, &RunsPanel::refresh);
  applyTheme();
  replot();
}

void RunsPanel::setStore(Store* store) {
  store_ = store;
  curves_.clear();
  model_->reload({}, {});
  refresh();
  tree_->expandAll();
  store_ ? poll_->start() : poll_->stop();
  if (!store_) return;
  // Open on something to look at: the runs of the newest experiment.
  try {
    auto experiments = store_->experiments();
    if (experiments.empty()) return;
    std::vector<std::int64_t> newest;
    for (const auto& r : store_->runs(experiments.back().id)) newest.push_back(r.id);
    selectRuns(newest);
  } catch (const StoreError&) {
    // refresh() already shows why the store cannot be read
  }
}

void RunsPanel::refresh() {
  if (!store_) {
    replot();
    return;
  }
  auto selected = selectedRuns();
  bool any_running = false;
  try {
    auto runs = store_->runs();
    for (const auto& r : runs)
      if (r.status == RunStatus::Running &&
          std::find(selected.begin(), selected.end(), r.id) != selected.end())
        any_running = true;
    if (model_->reload(store_->experiments(), runs)) {
      tree_->expandAll();
      selectRuns(selected);
    }
  } catch (const StoreError& e) {
    empty_label_->setText(tr("Cannot read the workspace:\n%1").arg(e.what()));
    plot_stack_->setCurrentWidget(empty_label_);
    return;
  }
  if (any_running) {
    reloadMetricKeys();
    reloadCurves(/*only_new_points=*/true);
  } else if (curves_.empty()) {
    replot();
  }
}

void RunsPanel::selectRuns(const std::vector<std::int64_t>& run_ids) {
  QItemSelection selection;
  for (auto id : run_ids) {
    QModelIndex index = model_->indexOfRun(id);
    if (index.isValid())
      selection.select(index, index.siblingAtColumn(RunTreeModel::ColumnCount - 1));
  }
  tree_->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect);
}

std::vector<std::int64_t> RunsPanel::selectedRuns() const {
  std::vector<std::int64_t> ids;
  for (const QModelIndex& index : tree_->selectionModel()->selectedRows()) {
    auto id = RunTreeModel::runId(index);
    if (id > 0) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

void RunsPanel::showMetrics(const QStringList& keys) {
  QSignalBlocker block(metric_list_);
  for (int i = 0; i < metric_list_->count(); ++i) {
    auto* item = metric_list_->item(i);
    item->setCheckState(keys.contains(item->text()) ? Qt::Checked : Qt::Unchecked);
  }
  reloadCurves();
}

void RunsPanel::setSmoothing(double weight) {
  smoothing_->setValue(static_cast<int>(std::lround(weight * 100)));
}

void RunsPanel::setLogScale(bool on) { log_scale_->setChecked(on); }

void RunsPanel::onSelectionChanged() {
  updateParams();
  reloadMetricKeys();
  reloadCurves();
  emit selectionChanged(selectedRuns());
}

QStringList RunsPanel::checkedKeys() const {
  QStringList keys;
  for (int i = 0; i < metric_list_->count(); ++i)
    if (metric_list_->item(i)->checkState() == Qt::Checked) keys << metric_list_->item(i)->text();
  return keys;
}

void RunsPanel::reloadMetricKeys() {
  if (!store_) return;
  std::set<QString> keys;
  for (auto id : selectedRuns())
    for (const auto& key : store_->metricKeys(id)) keys.insert(QString::fromStdString(key));
  QStringList checked = checkedKeys();
  QStringList current;
  for (int i = 0; i < metric_list_->count(); ++i) current << metric_list_->item(i)->text();
  QStringList wanted(keys.begin(), keys.end());
  if (wanted == current) return;
  // With nothing chosen yet, start from the training loss: it is what people look at first.
  if (checked.isEmpty() && !wanted.isEmpty()) {
    auto find = [&](auto pred) { return std::find_if(wanted.begin(), wanted.end(), pred); };
    auto pick = find([](const QString& k) { return k.contains("train") && k.contains("loss"); });
    if (pick == wanted.end()) pick = find([](const QString& k) { return k.contains("loss"); });
    if (pick == wanted.end()) pick = find([](const QString& k) { return k.contains("per_token"); });
    checked << (pick != wanted.end() ? *pick : wanted.front());
  }
  QSignalBlocker block(metric_list_);
  metric_list_->clear();
  for (const auto& key : wanted) {
    auto* item = new QListWidgetItem(key, metric_list_);
    item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
    item->setCheckState(checked.contains(key) ? Qt::Checked : Qt::Unchecked);
  }
}

void RunsPanel::reloadCurves(bool only_new_points) {
  if (!only_new_points) curves_.clear();
  if (store_) {
    auto keys = checkedKeys();
    for (auto id : selectedRuns())
      for (const auto& key : keys) {
        // A live run's curve grows at its end: fetch only the points after the last one held.
        auto& curve = curves_[{id, key.toStdString()}];
        std::optional<std::int64_t> after;
        if (!curve.empty()) after = curve.back().step;
        auto points = store_->metrics(id, key.toStdString(), after);
        curve.insert(curve.end(), points.begin(), points.end());
        if (curve.empty()) curves_.erase({id, key.toStdString()});
      }
  }
  replot();
}

void RunsPanel::replot() {
  plot_->clearGraphs();
  if (!store_) {
    empty_label_->setText(tr("No workspace is open.\n\nFile ▸ Open Workspace, or File ▸ New "
                             "Workspace to start one."));
    plot_stack_->setCurrentWidget(empty_label_);
    return;
  }
  if (model_->rowCount() == 0) {
    empty_label_->setText(
        tr("No runs in this workspace yet.\n\nRun ▸ Create Demo Models and Runs, or on a "
           "terminal:\ndarkroom-cli demo"));
    plot_stack_->setCurrentWidget(empty_label_);
    return;
  }
  if (selectedRuns().empty() || checkedKeys().isEmpty()) {
    empty_label_->setText(selectedRuns().empty()
                              ? tr("Select one or more runs to plot their metrics.")
                              : tr("Tick a metric on the left to plot it."));
    plot_stack_->setCurrentWidget(empty_label_);
    return;
  }
  plot_stack_->setCurrentWidget(plot_);
  const bool log = log_scale_->isChecked();
  std::map<std::int64_t, QString> run_names;
  bool all_analyses = true;  // their metrics are per layer, not per step
  for (auto id : selectedRuns())
    if (auto r = store_->run(id)) {
      run_names[id] = QString::fromStdString(r->name);
      all_analyses = all_analyses && r->kind == "analysis";
    }
  plot_->xAxis->setLabel(all_analyses ? tr("layer") : tr("step"));
  // Smoothing across layers would blend different layers' numbers: only curves over steps.
  const double weight = all_analyses ? 0.0 : smoothing_->value() / 100.0;
  smoothing_->setEnabled(!all_analyses);
  int series = 0;
  for (const auto& [id_key, points] : curves_) {
    QVector<double> x, y;
    for (const auto& p : points) {
      if (std::isnan(p.value) || (log && p.value <= 0)) continue;  // log axes cannot show them
      x << double(p.step);
      y << p.value;
    }
    QColor color = seriesColor(series++);
    QString name = QString("%1 · %2").arg(run_names[id_key.first]).arg(
        QString::fromStdString(id_key.second));
    if (weight > 0) {
      // The raw curve stays visible but faint behind the smoothed one.
      QColor faint = color;
      faint.setAlpha(60);
      auto* raw = plot_->addGraph();
      raw->setData(x, y, true);
      raw->setPen(QPen(faint, 1));
      raw->removeFromLegend();
      auto smoothed = smoothEma(std::vector<double>(y.begin(), y.end()), weight);
      auto* graph = plot_->addGraph();
      graph->setData(x, QVector<double>(smoothed.begin(), smoothed.end()), true);
      graph->setPen(QPen(color, 2));
      graph->setName(name);
    } else {
      auto* graph = plot_->addGraph();
      graph->setData(x, y, true);
      graph->setPen(QPen(color, 1.5));
      graph->setName(name);
    }
  }
  plot_->yAxis->setScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  if (log)
    plot_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
  else
    plot_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
  plot_->yAxis->setLabel(checkedKeys().size() == 1 ? checkedKeys().front() : tr("value"));
  plot_->rescaleAxes();
  // A little air above and below, so flat curves do not sit on the axes.
  QCPRange y = plot_->yAxis->range();
  if (log)
    plot_->yAxis->setRange(y.lower / 1.5, y.upper * 1.5);
  else
    plot_->yAxis->setRange(y.lower - 0.05 * y.size() - 1e-12, y.upper + 0.05 * y.size() + 1e-12);
  plot_->replot();
}

void RunsPanel::updateParams() {
  params_->clear();
  auto ids = selectedRuns();
  if (!store_ || ids.empty()) {
    params_->setRowCount(0);
    params_->setColumnCount(0);
    return;
  }
  std::vector<Params> all;
  std::set<std::string> keys;
  QStringList headers;
  for (auto id : ids) {
    all.push_back(store_->params(id));
    for (const auto& [k, v] : all.back()) keys.insert(k);
    auto r = store_->run(id);
    headers << QString("%1 #%2").arg(r ? QString::fromStdString(r->name) : QString()).arg(id);
  }
  params_->setColumnCount(static_cast<int>(ids.size()));
  params_->setRowCount(static_cast<int>(keys.size()));
  params_->setHorizontalHeaderLabels(headers);
  int row = 0;
  for (const auto& key : keys) {
    params_->setVerticalHeaderItem(row, new QTableWidgetItem(QString::fromStdString(key)));
    std::set<std::string> distinct;
    for (const auto& p : all) distinct.insert(p.count(key) ? p.at(key) : std::string("—"));
    for (std::size_t c = 0; c < all.size(); ++c) {
      auto it = all[c].find(key);
      auto* item = new QTableWidgetItem(
          it != all[c].end() ? QString::fromStdString(it->second) : QStringLiteral("—"));
      if (distinct.size() > 1) {
        QFont bold = item->font();
        bold.setBold(true);
        item->setFont(bold);
      }
      params_->setItem(row, static_cast<int>(c), item);
    }
    ++row;
  }
}

void RunsPanel::applyTheme() {
  applyPlotTheme(plot_);
  plot_->replot();
}

}  // namespace darkroom::views

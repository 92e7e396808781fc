#include "runs/run_tree_model.h"

#include <QDateTime>

namespace darkroom::views {

QString statusLabel(RunStatus status) { return QString::fromLatin1(toString(status)); }

QColor statusColor(RunStatus status) {
  switch (status) {
    case RunStatus::Scheduled: return QColor(150, 150, 150);
    case RunStatus::Running: return QColor(86, 180, 233);
    case RunStatus::Finished: return QColor(0, 158, 115);
    case RunStatus::Failed: return QColor(213, 94, 0);
    case RunStatus::Killed: return QColor(230, 159, 0);
  }
  return {};
}

static bool sameRuns(const std::vector<RunInfo>& a, const std::vector<RunInfo>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].id != b[i].id || a[i].status != b[i].status || a[i].end_time != b[i].end_time ||
        a[i].name != b[i].name)
      return false;
  return true;
}

RunTreeModel::RunTreeModel(QObject* parent) : QStandardItemModel(0, ColumnCount, parent) {
  setHorizontalHeaderLabels({tr("Name"), tr("Status"), tr("Kind"), tr("Started"), tr("Duration")});
}

bool RunTreeModel::reload(const std::vector<Experiment>& experiments,
                          const std::vector<RunInfo>& runs) {
  bool same_experiments = experiments.size() == experiments_.size();
  for (std::size_t i = 0; same_experiments && i < experiments.size(); ++i)
    same_experiments = experiments[i].id == experiments_[i].id;
  if (same_experiments && sameRuns(runs, runs_)) return false;
  experiments_ = experiments;
  runs_ = runs;

  removeRows(0, rowCount());
  for (const auto& e : experiments) {
    auto* exp_item = new QStandardItem(QString::fromStdString(e.name));
    exp_item->setData(QVariant::fromValue<qint64>(0), RunIdRole);
    exp_item->setToolTip(QString::fromStdString(e.description));
    QFont bold = exp_item->font();
    bold.setBold(true);
    exp_item->setFont(bold);
    QList<QStandardItem*> exp_row{exp_item};
    for (int c = 1; c < ColumnCount; ++c) exp_row << new QStandardItem();
    for (auto* item : exp_row) item->setEditable(false);
    for (const auto& r : runs) {
      if (r.experiment_id != e.id) continue;
      QList<QStandardItem*> row;
      row << new QStandardItem(QString("%1  #%2").arg(QString::fromStdString(r.name)).arg(r.id));
      auto* status = new QStandardItem(statusLabel(r.status));
      status->setForeground(statusColor(r.status));
      if (!r.note.empty()) status->setToolTip(QString::fromStdString(r.note));
      row << status << new QStandardItem(QString::fromStdString(r.kind))
          << new QStandardItem(QDateTime::fromSecsSinceEpoch(static_cast<qint64>(r.start_time))
                                   .toString("yyyy-MM-dd hh:mm:ss"));
      QString duration = r.end_time ? QString::number(*r.end_time - r.start_time, 'f', 1) + " s"
                                    : (r.status == RunStatus::Running ? tr("running") : "-");
      row << new QStandardItem(duration);
      for (auto* item : row) {
        item->setEditable(false);
        item->setData(QVariant::fromValue<qint64>(r.id), RunIdRole);
      }
      exp_item->appendRow(row);
    }
    appendRow(exp_row);
  }
  return true;
}

QModelIndex RunTreeModel::indexOfRun(std::int64_t run_id) const {
  for (int e = 0; e < rowCount(); ++e) {
    QModelIndex exp = index(e, 0);
    for (int r = 0; r < rowCount(exp); ++r) {
      QModelIndex run = index(r, 0, exp);
      if (runId(run) == run_id) return run;
    }
  }
  return {};
}

std::int64_t RunTreeModel::runId(const QModelIndex& index) {
  return index.isValid() ? index.data(RunIdRole).toLongLong() : 0;
}

}  // namespace darkroom::views

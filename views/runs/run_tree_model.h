// Experiments and their runs as a two-level tree for the Runs panel.
#pragma once

#include <QStandardItemModel>

#include "darkroom/store.h"

namespace darkroom::views {

class RunTreeModel : public QStandardItemModel {
  Q_OBJECT

 public:
  enum Column { Name, Status, Kind, Started, Duration, ColumnCount };
  static constexpr int RunIdRole = Qt::UserRole + 1;  // on run rows; 0 on experiment rows

  explicit RunTreeModel(QObject* parent = nullptr);

  // Rebuilds from the store's lists; returns false (and changes nothing) when nothing changed,
  // so a polling view keeps its selection and scroll position.
  bool reload(const std::vector<Experiment>& experiments, const std::vector<RunInfo>& runs);
  QModelIndex indexOfRun(std::int64_t run_id) const;
  static std::int64_t runId(const QModelIndex& index);

 private:
  std::vector<RunInfo> runs_;
  std::vector<Experiment> experiments_;
};

QString statusLabel(RunStatus status);
QColor statusColor(RunStatus status);

}  // namespace darkroom::views

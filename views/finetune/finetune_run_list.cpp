#include "finetune/finetune_run_list.h"

#include <QHeaderView>
#include <QSignalBlocker>
#include <algorithm>

namespace darkroom::views {

FinetuneRunList::FinetuneRunList(QWidget* parent) : QTreeWidget(parent) {
  setColumnCount(2);
  setHeaderLabels({tr("Fine-tune run"), tr("Status")});
  setRootIsDecorated(false);
  setUniformRowHeights(true);
  setSelectionMode(QAbstractItemView::ExtendedSelection);
  header()->setStretchLastSection(false);
  header()->setSectionResizeMode(0, QHeaderView::Stretch);
  header()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
  setToolTip(tr("Select a run to plot it; Ctrl-click a second one to overlay them"));
  connect(this, &QTreeWidget::itemSelectionChanged, this,
          [this] { emit runsSelected(selectedRuns()); });
}

bool FinetuneRunList::reload(const std::vector<RunInfo>& runs) {
  std::vector<RunInfo> kept;
  for (const auto& r : runs)
    if (r.kind == "finetune") kept.push_back(r);
  std::sort(kept.begin(), kept.end(), [](const RunInfo& a, const RunInfo& b) { return a.id > b.id; });
  auto same = [](const RunInfo& a, const RunInfo& b) {
    return a.id == b.id && a.status == b.status && a.name == b.name && a.note == b.note;
  };
  if (kept.size() == runs_.size() && std::equal(kept.begin(), kept.end(), runs_.begin(), same))
    return false;
  const auto selected = selectedRuns();
  runs_ = std::move(kept);
  {
    QSignalBlocker block(this);  // the selection is put back below; only a real change signals
    clear();
    for (const auto& r : runs_) {
      auto* item = new QTreeWidgetItem(
          this, {QString("#%1 %2").arg(r.id).arg(QString::fromStdString(r.name)),
                 QString::fromUtf8(toString(r.status))});
      item->setData(0, Qt::UserRole, qlonglong(r.id));
      if (!r.note.empty()) item->setToolTip(1, QString::fromStdString(r.note));
      item->setSelected(std::count(selected.begin(), selected.end(), r.id) > 0);
    }
  }
  if (selectedRuns() != selected) emit runsSelected(selectedRuns());  // a selected run vanished
  return true;
}

std::vector<std::int64_t> FinetuneRunList::selectedRuns() const {
  std::vector<std::int64_t> ids;
  for (auto* item : selectedItems()) ids.push_back(item->data(0, Qt::UserRole).toLongLong());
  std::sort(ids.begin(), ids.end());
  return ids;
}

void FinetuneRunList::selectRuns(const std::vector<std::int64_t>& ids) {
  const auto before = selectedRuns();
  {
    QSignalBlocker block(this);
    clearSelection();
    for (int i = 0; i < topLevelItemCount(); ++i) {
      auto* item = topLevelItem(i);
      const auto id = item->data(0, Qt::UserRole).toLongLong();
      if (std::count(ids.begin(), ids.end(), id)) item->setSelected(true);
    }
  }
  if (selectedRuns() != before) emit runsSelected(selectedRuns());
}

const RunInfo* FinetuneRunList::run(std::int64_t id) const {
  for (const auto& r : runs_)
    if (r.id == id) return &r;
  return nullptr;
}

}  // namespace darkroom::views

// The workspace's finetune runs, newest first, with their status: pick one or two to plot
// (a dense and a sparse run side by side), or one to resume or export.
#pragma once

#include <QTreeWidget>
#include <vector>

#include "darkroom/store.h"

namespace darkroom::views {

class FinetuneRunList : public QTreeWidget {
  Q_OBJECT

 public:
  explicit FinetuneRunList(QWidget* parent = nullptr);

  // Shows these runs (only "finetune" ones are kept); the selection survives when its runs do.
  // Returns whether anything shown changed.
  bool reload(const std::vector<RunInfo>& runs);
  std::vector<std::int64_t> selectedRuns() const;  // in id order
  void selectRuns(const std::vector<std::int64_t>& ids);
  const RunInfo* run(std::int64_t id) const;

 signals:
  void runsSelected(const std::vector<std::int64_t>& ids);

 private:
  std::vector<RunInfo> runs_;
};

}  // namespace darkroom::views

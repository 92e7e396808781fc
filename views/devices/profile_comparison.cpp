#include "devices/profile_comparison.h"

#include "darkroom/workspace.h"
#include "devices/profile_chart_set.h"
#include "jobs/job_bridge.h"
#include "plot/curve_style.h"

#include <QComboBox>
#include <QDateTime>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>

#include <algorithm>

namespace darkroom::views {

namespace {
constexpr const char* kLoadKind = "device-profiles-load";
}

QString ProfileComparison::sourceName(const device::StoredProfile& p) {
  QString device = QString::fromStdString(!p.device.model.empty() ? p.device.model : p.device.serial);
  QStringList parts{device};
  if (!p.label.empty()) parts << QString::fromStdString(p.label);
  parts << QDateTime::fromSecsSinceEpoch(qint64(p.row.created_at)).toString(QStringLiteral("yyyy-MM-dd hh:mm"));
  return parts.join(QStringLiteral(" · "));
}

ProfileComparison::ProfileComparison(JobBridge* jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
  kind_ = new QComboBox;
  kind_->addItem(tr("Flash sweep"), "flash-sweep");
  kind_->addItem(tr("Flash replay"), "flash-replay");
  kind_->addItem(tr("Kernels"), "kernels");
  kind_->addItem(tr("Monitor"), "monitor");
  kind_->addItem(tr("Device info"), "info");
  refresh_ = new QPushButton(tr("Refresh"));
  refresh_->setToolTip(tr("Read the workspace's stored profiles again (darkroom-cli device "
                          "profile stores them too)"));
  list_ = new QListWidget;
  list_->setToolTip(tr("Tick the profiles to overlay; they can come from different devices and "
                       "layouts"));
  list_->setWordWrap(true);
  list_->setTextElideMode(Qt::ElideRight);
  message_ = new QLabel;
  message_->setWordWrap(true);
  message_->setObjectName("emptyState");
  charts_ = new ProfileChartSet;

  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Kind")));
  top->addWidget(kind_);
  top->addStretch();
  top->addWidget(refresh_);
  auto* left = new QWidget;
  auto* leftLayout = new QVBoxLayout(left);
  leftLayout->setContentsMargins(0, 0, 0, 0);
  leftLayout->addLayout(top);
  leftLayout->addWidget(list_, 1);
  leftLayout->addWidget(message_);
  left->setMinimumWidth(260);
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(left);
  split->addWidget(charts_);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 3);
  split->setChildrenCollapsible(false);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);

  connect(kind_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this] {
    if (workspace_)
      refresh();
    else
      setProfiles({});
  });
  connect(refresh_, &QPushButton::clicked, this, [this] { refresh(); });
  connect(list_, &QListWidget::itemChanged, this, [this] { redraw(); });
  if (jobs_) connect(jobs_, &JobBridge::jobEvent, this, &ProfileComparison::onJobEvent);
  setProfiles({});
}

void ProfileComparison::setWorkspace(Workspace* workspace) {
  workspace_ = workspace;
  refresh_->setEnabled(workspace_ && jobs_);
  if (workspace_)
    refresh();
  else
    setProfiles({});
}

std::uint64_t ProfileComparison::refresh() {
  if (!workspace_ || !jobs_) return 0;
  const auto root = workspace_->root();
  const std::string kind = this->kind().toStdString();
  job_ = jobs_->submit(kLoadKind, tr("Load %1 profiles").arg(this->kind()),
                       [root, kind](JobContext&) -> std::any {
                         auto ws = Workspace::open(root);
                         return device::loadProfiles(ws.store(), kind);
                       });
  showMessage(tr("Reading the stored profiles…"), false);
  return job_;
}

void ProfileComparison::onJobEvent(const JobEvent& e) {
  if (e.id != job_ || !isFinal(e.state)) return;
  job_ = 0;
  if (e.state == JobState::Succeeded && e.result.type() == typeid(std::vector<device::StoredProfile>)) {
    setProfiles(std::any_cast<std::vector<device::StoredProfile>>(e.result));
  } else if (e.state == JobState::Failed) {
    showMessage(tr("Cannot read the stored profiles: %1").arg(QString::fromStdString(e.message)), true);
  }
}

void ProfileComparison::setKind(const QString& kind) {
  const int index = kind_->findData(kind);
  if (index >= 0) kind_->setCurrentIndex(index);
}

QString ProfileComparison::kind() const { return kind_->currentData().toString(); }

void ProfileComparison::setProfiles(std::vector<device::StoredProfile> profiles) {
  const std::string kind = this->kind().toStdString();
  profiles_.clear();
  for (auto& p : profiles)
    if (p.row.kind == kind) profiles_.push_back(std::move(p));
  std::stable_sort(profiles_.begin(), profiles_.end(), [](const auto& a, const auto& b) {
    return a.row.created_at > b.row.created_at;
  });
  {
    const QSignalBlocker block(list_);
    list_->clear();
    for (std::size_t i = 0; i < profiles_.size(); ++i) {
      const auto& p = profiles_[i];
      const bool simulated = p.device.simulated || p.request.simulated;
      QString text = QStringLiteral("#%1 %2").arg(p.row.id).arg(sourceName(p));
      if (simulated) text += tr(" · simulated");
      const auto headline = device::profileHeadline(p.row.kind, p.records);
      if (!headline.text.empty()) text += QStringLiteral("\n") + QString::fromStdString(headline.text);
      auto* item = new QListWidgetItem(text, list_);
      item->setData(Qt::UserRole, qlonglong(p.row.id));
      item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
      item->setCheckState(i < 2 ? Qt::Checked : Qt::Unchecked);
      item->setToolTip(tr("%1 (%2), profile #%3%4")
                           .arg(QString::fromStdString(p.device.model), QString::fromStdString(p.device.serial))
                           .arg(p.row.id)
                           .arg(p.row.backend.empty() ? QString() : tr(", measured %1").arg(QString::fromStdString(p.row.backend))));
      if (simulated) item->setForeground(seriesColor(1));
    }
  }
  if (profiles_.empty())
    showMessage(workspace_ ? tr("No %1 profiles stored in this workspace yet: run one (left), or "
                                "darkroom-cli device profile.").arg(this->kind())
                           : tr("Open a workspace to compare its stored profiles."),
                false);
  else
    showMessage(tr("%n stored profile(s); tick the ones to overlay.", nullptr, int(profiles_.size())), false);
  redraw();
}

void ProfileComparison::check(const std::vector<std::int64_t>& ids) {
  {
    const QSignalBlocker block(list_);
    for (int i = 0; i < list_->count(); ++i) {
      auto* item = list_->item(i);
      const auto id = item->data(Qt::UserRole).toLongLong();
      item->setCheckState(std::find(ids.begin(), ids.end(), id) != ids.end() ? Qt::Checked : Qt::Unchecked);
    }
  }
  redraw();
}

std::vector<std::int64_t> ProfileComparison::checkedIds() const {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < list_->count(); ++i)
    if (list_->item(i)->checkState() == Qt::Checked) ids.push_back(list_->item(i)->data(Qt::UserRole).toLongLong());
  return ids;
}

void ProfileComparison::redraw() {
  const std::string kind = this->kind().toStdString();
  if (charts_->kind() != kind) charts_->setKind(kind);
  data_.reset(kind);
  std::vector<ChartSource> sources;
  for (int i = 0; i < list_->count(); ++i) {
    if (list_->item(i)->checkState() != Qt::Checked) continue;
    const auto& p = profiles_[std::size_t(i)];
    data_.add(p.records, int(sources.size()));
    sources.push_back({sourceName(p), p.device.simulated || p.request.simulated});
  }
  // One ticked profile is drawn like a live run (colours for its series); a name in the legend
  // still says whose it is.
  const QString empty = profiles_.empty() ? tr("No stored profiles of this kind")
                                          : tr("Tick stored profiles (left) to overlay them");
  charts_->draw(data_, sources, sources.empty() ? empty : tr("No points in the ticked profiles"));
}

QString ProfileComparison::message() const { return message_->text(); }

void ProfileComparison::showMessage(const QString& text, bool error) {
  message_->setText(text);
  message_->setStyleSheet(error ? QStringLiteral("color: %1;").arg(seriesColor(5).name()) : QString());
}

void ProfileComparison::applyTheme() { charts_->applyTheme(); }

}  // namespace darkroom::views

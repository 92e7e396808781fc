#include "devices/profile_panel.h"

#include "darkroom/workspace.h"
#include "devices/profile_chart_set.h"
#include "devices/profile_comparison.h"
#include "devices/profile_form.h"
#include "jobs/job_bridge.h"
#include "jobs/job_launcher.h"
#include "plot/curve_style.h"

#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QTabWidget>
#include <QTimer>
#include <QVBoxLayout>

#include <cmath>

namespace darkroom::views {

namespace {
constexpr const char* kKind = "device-profile";

QString kindTitle(const QString& kind) {
  if (kind == QLatin1String("flash-sweep")) return ProfilePanel::tr("Flash sweep");
  if (kind == QLatin1String("flash-replay")) return ProfilePanel::tr("Flash replay");
  if (kind == QLatin1String("kernels")) return ProfilePanel::tr("Kernels");
  if (kind == QLatin1String("monitor")) return ProfilePanel::tr("Monitor");
  if (kind == QLatin1String("info")) return ProfilePanel::tr("Device info");
  return kind;
}

}  // namespace

ProfilePanel::ProfilePanel(JobBridge* jobs, QWidget* parent, adb::ServerAddress address)
    : QWidget(parent), jobs_(jobs), address_(std::move(address)), buffer_(std::make_shared<RecordBuffer>()) {
  form_ = new ProfileForm;
  launcher_ = new JobLauncher(jobs_, tr("Profile a device"), form_, tr("Run"));
  transfer_ = new QProgressBar;
  transfer_->setRange(0, 1000);
  transfer_->setTextVisible(false);
  transferText_ = new QLabel(tr("Nothing pushed yet."));
  transferText_->setWordWrap(true);
  transferText_->setForegroundRole(QPalette::PlaceholderText);
  auto* transferBox = new QGroupBox(tr("Transfers to the device"));
  transferBox->setToolTip(tr("The agent and the replay's inputs are pushed before the run, only "
                             "when the device's copy differs (same SHA-256: skipped)"));
  auto* transferLayout = new QVBoxLayout(transferBox);
  transferLayout->addWidget(transfer_);
  transferLayout->addWidget(transferText_);

  auto* left = new QWidget;
  auto* leftLayout = new QVBoxLayout(left);
  leftLayout->setContentsMargins(0, 0, 0, 0);
  leftLayout->addWidget(launcher_);
  leftLayout->addWidget(transferBox);
  leftLayout->addWidget(launcher_->messageLabel());
  leftLayout->addStretch();
  left->setFixedWidth(340);

  badge_ = new QLabel(tr("SIMULATED"));
  badge_->setToolTip(tr("These records come from darkroom-simphone, a phone simulated on this "
                        "computer: they say nothing about a real phone's flash or CPU"));
  badge_->hide();
  liveTitle_ = new QLabel;
  liveTitle_->setWordWrap(true);
  liveCharts_ = new ProfileChartSet;
  auto* live = new QWidget;
  auto* liveHead = new QHBoxLayout;
  liveHead->addWidget(badge_);
  liveHead->addWidget(liveTitle_, 1);
  auto* liveLayout = new QVBoxLayout(live);
  liveLayout->setContentsMargins(4, 4, 4, 4);
  liveLayout->addLayout(liveHead);
  liveLayout->addWidget(liveCharts_, 1);
  comparison_ = new ProfileComparison(jobs_);
  tabs_ = new QTabWidget;
  tabs_->addTab(live, tr("Live run"));
  tabs_->addTab(comparison_, tr("Compare stored profiles"));

  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(left);
  layout->addWidget(tabs_, 1);

  timer_ = new QTimer(this);
  timer_->setInterval(kRedrawIntervalMs);
  connect(timer_, &QTimer::timeout, this, &ProfilePanel::drainNow);
  connect(launcher_, &JobLauncher::runClicked, this, [this] { run(); });
  connect(form_, &ProfileForm::kindChanged, this, [this](const QString& kind) {
    if (!busy()) comparison_->setKind(kind);
  });
  if (jobs_) connect(jobs_, &JobBridge::jobEvent, this, &ProfilePanel::onJobEvent);

  beginLive(form_->kind());
  endLive();
  liveTitle_->setText(tr("Run a profile to see its records drawn as they arrive."));
  updateButtons();
  applyTheme();
}

void ProfilePanel::setWorkspace(Workspace* workspace) {
  workspace_ = workspace;
  comparison_->setWorkspace(workspace);
  updateButtons();
}

void ProfilePanel::setDevices(const std::vector<DeviceSummary>& devices) {
  form_->setDevices(devices);
  updateButtons();
}

void ProfilePanel::selectDevice(const QString& serial) {
  if (!busy()) form_->selectDevice(serial);
}

void ProfilePanel::beginLive(const QString& kind, bool simulatedDevice) {
  // A fresh buffer per run: records of an older job that is still winding down land in its own.
  buffer_ = std::make_shared<RecordBuffer>();
  live_.reset(kind.toStdString());
  liveDeviceSimulated_ = simulatedDevice;
  redraws_ = 0;
  liveTitle_->setText(tr("%1: live").arg(kindTitle(kind)));
  liveCharts_->setKind(kind.toStdString());
  liveCharts_->draw(live_, {}, tr("Waiting for the first records…"));
  updateBadge();
  timer_->start();
}

void ProfilePanel::drainNow() {
  if (auto transfer = buffer_->takeTransfer()) showTransfer(*transfer);
  auto records = buffer_->take();
  if (records.empty()) return;
  live_.add(records);
  liveCharts_->draw(live_, {}, tr("Waiting for the first records…"));
  ++redraws_;
  updateBadge();
}

void ProfilePanel::endLive() {
  drainNow();
  timer_->stop();
}

std::uint64_t ProfilePanel::run() {
  if (launcher_->refuses(workspace_ && jobs_, form_->problem())) return 0;
  const device::ProfileRequest request = form_->request();
  const DeviceSummary device = *form_->device();
  const auto root = workspace_->root();
  const auto address = address_;
  const std::string serial = device.serial.toStdString();
  const QString kind = QString::fromStdString(request.kind);
  beginLive(kind, device.simulated);
  liveDevice_ = device.displayName();
  liveTitle_->setText(tr("%1 on %2").arg(kindTitle(kind), liveDevice_));
  transfer_->setValue(0);
  transferText_->setText(tr("Checking what the device already has…"));
  comparison_->setKind(kind);
  auto buffer = buffer_;
  launcher_->start(kKind, tr("%1 on %2").arg(kindTitle(kind), device.model.isEmpty() ? device.serial : device.model),
                   [root, address, serial, request, buffer](JobContext& ctx) -> std::any {
                     auto ws = Workspace::open(root);
                     adb::Client client(address);
                     return device::runProfile(
                         ws.store(), client, serial, request,
                         [buffer](const device::AgentRecord& r) { buffer->append(r); }, ctx,
                         [buffer](const device::TransferUpdate& t) { buffer->setTransfer(t); });
                   });
  updateButtons();
  return launcher_->job();
}

void ProfilePanel::stop() {
  if (launcher_->job() && jobs_) jobs_->cancel(launcher_->job());
}

bool ProfilePanel::busy() const { return launcher_->busy(); }

void ProfilePanel::onJobEvent(const JobEvent& e) {
  if (!launcher_->finished(e)) return;
  endLive();
  if (e.state == JobState::Succeeded && e.result.type() == typeid(device::ProfileResult)) {
    const auto result = std::any_cast<device::ProfileResult>(e.result);
    lastProfile_ = result.profile_id;
    showPushes(result.pushes);
    launcher_->showMessage(tr("Done in %1 s: %n record(s), stored as profile #%2.", nullptr,
                              int(result.records.size()))
                               .arg(result.seconds, 0, 'f', 1)
                               .arg(result.profile_id),
                           false);
    comparison_->refresh();
    emit profileStored(result.profile_id);
  } else {
    launcher_->showEnd(e, tr("%1: stopped; nothing was stored.").arg(launcher_->jobTitle()));
    if (live_.records() == 0) liveCharts_->draw(live_, {}, tr("No records arrived."));
  }
  updateButtons();
}

void ProfilePanel::showTransfer(const device::TransferUpdate& t) {
  const QString name = QString::fromStdString(t.name);
  if (t.skipped) {
    transfer_->setValue(1000);
    transferText_->setText(tr("%1 is already on the device (same SHA-256): not pushed.").arg(name));
    return;
  }
  transfer_->setValue(t.total > 0 ? int(std::lround(1000.0 * double(t.done) / double(t.total))) : 0);
  transferText_->setText(tr("Pushing %1: %2 of %3 MB at %4 MB/s")
                             .arg(name)
                             .arg(double(t.done) / 1e6, 0, 'f', 1)
                             .arg(double(t.total) / 1e6, 0, 'f', 1)
                             .arg(t.mb_s, 0, 'f', 1));
}

void ProfilePanel::showPushes(const std::vector<device::PushReport>& pushes) {
  QStringList parts;
  for (const auto& p : pushes) {
    const QString name = QString::fromStdString(p.remote).section('/', -1);
    if (p.skipped)
      parts << tr("%1 already there").arg(name);
    else
      parts << tr("%1 %2 MB at %3 MB/s").arg(name).arg(double(p.bytes) / 1e6, 0, 'f', 1).arg(p.mb_s(), 0, 'f', 1);
  }
  transfer_->setValue(1000);
  transferText_->setText(parts.isEmpty() ? tr("Nothing to push.") : parts.join(QStringLiteral(" · ")));
}

bool ProfilePanel::simulatedBadgeShown() const { return !badge_->isHidden(); }

void ProfilePanel::updateBadge() {
  badge_->setVisible(live_.simulated() || liveDeviceSimulated_);
}

void ProfilePanel::updateButtons() {
  launcher_->updateButtons(workspace_ != nullptr);
  launcher_->runButton()->setToolTip(workspace_ ? tr("Push the agent, run the profile on the device "
                                                     "and store it in the workspace")
                                                : tr("Needs a workspace (File ▸ Open Workspace)"));
}

QString ProfilePanel::message() const { return launcher_->message(); }
QString ProfilePanel::transferText() const { return transferText_->text(); }
int ProfilePanel::transferPercent() const { return transfer_->value() / 10; }

void ProfilePanel::applyTheme() {
  badge_->setStyleSheet(QStringLiteral("QLabel { background: %1; color: #1c1d1f; font-weight: bold; "
                                       "border-radius: 3px; padding: 2px 6px; }")
                            .arg(seriesColor(1).name()));
  liveCharts_->applyTheme();
  comparison_->applyTheme();
}

}  // namespace darkroom::views

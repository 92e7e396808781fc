// The Profile panel: runs one profile on a phone as a job (runProfile: push the agent and the
// inputs, run the agent, store the profile) with Run/Stop, the pushes' progress and speed, and
// live charts of the records as they stream in; beside it, the comparison of stored profiles.
// Records reach the charts through a RecordBuffer: the job's callback appends, a 25 Hz timer
// takes what arrived and redraws once (ARCHITECTURE.md rule 5).
#pragma once

#include <darkroom/adb/client.h>
#include <darkroom/device/session.h>
#include <darkroom/jobs.h>

#include <QString>
#include <QWidget>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "devices/device_list_model.h"
#include "devices/profile_series.h"
#include "devices/record_buffer.h"

class QLabel;
class QProgressBar;
class QTabWidget;
class QTimer;

namespace darkroom {
class Workspace;
}

namespace darkroom::views {

class JobBridge;
class JobLauncher;
class ProfileChartSet;
class ProfileComparison;
class ProfileForm;

class ProfilePanel : public QWidget {
  Q_OBJECT

 public:
  // Redraws at most this often while records stream in.
  static constexpr int kRedrawIntervalMs = 40;

  explicit ProfilePanel(JobBridge* jobs, QWidget* parent = nullptr,
                        adb::ServerAddress address = adb::ServerAddress::fromEnvironment());

  // Profiles are stored in and compared from the workspace; nullptr: neither.
  void setWorkspace(Workspace* workspace);
  // The devices to choose from (the Devices panel's list) and the one it selected.
  void setDevices(const std::vector<DeviceSummary>& devices);
  void selectDevice(const QString& serial);

  // Runs the form's profile as a job; 0 when refused (the message says why).
  std::uint64_t run();
  void stop();
  bool busy() const;

  // The live view without a job (tests, and what run() does first): forget what was drawn and
  // draw records of `kind` appended to recordBuffer() from any thread from now on.
  void beginLive(const QString& kind, bool simulatedDevice = false);
  // Takes what arrived and redraws (the timer's tick; tests call it to not wait).
  void drainNow();
  // Stops the timer after a last drain.
  void endLive();
  std::shared_ptr<RecordBuffer> recordBuffer() const { return buffer_; }
  const ProfileSeriesBuilder& liveData() const { return live_; }
  // Redraws done since beginLive (one per tick that found records).
  int redrawCount() const { return redraws_; }

  ProfileForm* form() const { return form_; }
  ProfileChartSet* liveCharts() const { return liveCharts_; }
  ProfileComparison* comparison() const { return comparison_; }
  QTabWidget* tabs() const { return tabs_; }
  bool simulatedBadgeShown() const;
  QString message() const;
  QString transferText() const;
  int transferPercent() const;
  // The last stored profile's id (0 before any).
  std::int64_t lastProfileId() const { return lastProfile_; }

 signals:
  void profileStored(std::int64_t profile_id);

 public slots:
  void applyTheme();

 private:
  void onJobEvent(const JobEvent& event);
  void showTransfer(const device::TransferUpdate& transfer);
  void showPushes(const std::vector<device::PushReport>& pushes);
  void updateBadge();
  void updateButtons();

  JobBridge* jobs_;
  Workspace* workspace_ = nullptr;
  adb::ServerAddress address_;
  std::shared_ptr<RecordBuffer> buffer_;
  ProfileSeriesBuilder live_;
  bool liveDeviceSimulated_ = false;
  int redraws_ = 0;
  std::int64_t lastProfile_ = 0;
  QString liveDevice_;

  ProfileForm* form_;
  JobLauncher* launcher_;
  QProgressBar* transfer_;
  QLabel* transferText_;
  QLabel* badge_;
  QLabel* liveTitle_;
  ProfileChartSet* liveCharts_;
  ProfileComparison* comparison_;
  QTabWidget* tabs_;
  QTimer* timer_;
};

}  // namespace darkroom::views

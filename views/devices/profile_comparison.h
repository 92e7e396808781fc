// Stored device profiles side by side: the workspace's profiles of one kind (loadProfiles, as a
// job), each with its device, label, date and headline numbers; the ticked ones overlay in the
// same charts as a live run, one colour per profile, the legend naming device, label and date.
// Profiles of different devices and layouts compare this way (the CLI's `device profiles` lists
// the same).
#pragma once

#include <darkroom/device/session.h>
#include <darkroom/jobs.h>

#include <QWidget>

#include <cstdint>
#include <vector>

#include "devices/profile_chart.h"
#include "devices/profile_series.h"

class QComboBox;
class QLabel;
class QListWidget;
class QPushButton;

namespace darkroom {
class Workspace;
}

namespace darkroom::views {

class JobBridge;
class ProfileChartSet;

class ProfileComparison : public QWidget {
  Q_OBJECT

 public:
  explicit ProfileComparison(JobBridge* jobs, QWidget* parent = nullptr);

  void setWorkspace(Workspace* workspace);
  // Loads the current kind's profiles from the workspace as a job; 0 without one.
  std::uint64_t refresh();
  void setKind(const QString& kind);
  QString kind() const;
  // Lists these profiles (what refresh does with the store's; tests hand-build them). The
  // newest two are ticked.
  void setProfiles(std::vector<device::StoredProfile> profiles);
  // Ticks exactly the profiles with these ids.
  void check(const std::vector<std::int64_t>& ids);
  std::vector<std::int64_t> checkedIds() const;

  const std::vector<device::StoredProfile>& profiles() const { return profiles_; }
  const ProfileSeriesBuilder& data() const { return data_; }
  ProfileChartSet* charts() const { return charts_; }
  QListWidget* list() const { return list_; }
  QComboBox* kindBox() const { return kind_; }
  QString message() const;
  bool loading() const { return job_ != 0; }

  // "Pixel 8 · fast layout · 2024-05-01 14:03": a profile's name in legends.
  static QString sourceName(const device::StoredProfile& profile);

 public slots:
  void applyTheme();

 private:
  void onJobEvent(const JobEvent& event);
  void redraw();
  void showMessage(const QString& text, bool error);

  JobBridge* jobs_;
  Workspace* workspace_ = nullptr;
  std::uint64_t job_ = 0;
  std::vector<device::StoredProfile> profiles_;
  ProfileSeriesBuilder data_;

  QComboBox* kind_;
  QPushButton* refresh_;
  QListWidget* list_;
  QLabel* message_;
  ProfileChartSet* charts_;
};

}  // namespace darkroom::views
